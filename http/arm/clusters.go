package arm

import (
	"net"
	"net/http"

	"cairn/fsm"
)

// Cluster is a cluster as the API shows it.
type Cluster struct {
	ID               int64    `json:"id"`
	Name             string   `json:"name"`
	Type             string   `json:"type"`
	Status           string   `json:"status"`
	MulticastEnabled bool     `json:"multicastEnabled"`
	PrimaryNodeID    int64    `json:"primaryNodeId,omitempty"`
	TimeCreated      int64    `json:"timeCreated"`
	TimeUpdated      int64    `json:"timeUpdated"`
	Servers          []Server `json:"servers"`
}

// clusterView shows c; its primary node is its lowest-id running server.
func clusterView(v *fsm.View, c *clusterBody, res *fsm.Resource, alive members) Cluster {
	servers := membersView(v, c.serverIDs(), alive)
	out := Cluster{ID: c.ID, Name: c.Name, Type: targetCluster, Status: setStatus(servers), MulticastEnabled: c.Multicast,
		TimeCreated: millis(res.Created), TimeUpdated: millis(res.Updated), Servers: servers}
	for i := range servers {
		for _, m := range c.Servers {
			if m.ServerID == servers[i].ID && m.ServerIP != "" {
				servers[i].ClusterIP = m.ServerIP
			}
		}
		if servers[i].Status == statusRunning && out.PrimaryNodeID == 0 {
			out.PrimaryNodeID = servers[i].ID
		}
	}
	return out
}

// memberIn is one server of a cluster request.
type memberIn struct {
	ServerID flexID `json:"serverId"`
	ServerIP string `json:"serverIp"`
}

// checkMember checks m for a cluster: a unicast cluster needs every
// server's IP address.
func checkMember(m memberIn, multicast bool) (clusterMember, error) {
	if m.ServerID <= 0 {
		return clusterMember{}, badRequest("every server of a cluster needs a serverId")
	}
	if m.ServerIP != "" && net.ParseIP(m.ServerIP) == nil {
		return clusterMember{}, badRequest("serverIp %q of server %d is not an IP address", m.ServerIP, m.ServerID)
	}
	if !multicast && m.ServerIP == "" {
		return clusterMember{}, badRequest("server %d needs a serverIp: a unicast cluster (multicastEnabled false) must name each server's IP address", m.ServerID)
	}
	return clusterMember{ServerID: int64(m.ServerID), ServerIP: m.ServerIP}, nil
}

// createCluster is POST /clusters {name, multicastEnabled, servers:
// [{serverId, serverIp}]}.
func (a *api) createCluster(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name             string     `json:"name"`
		MulticastEnabled flexBool   `json:"multicastEnabled"`
		Servers          []memberIn `json:"servers"`
	}
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	if err := checkName("cluster", in.Name); err != nil {
		fail(w, err)
		return
	}
	multicast := in.MulticastEnabled.value
	var members []clusterMember
	seen := map[int64]bool{}
	for _, m := range in.Servers {
		cm, err := checkMember(m, multicast)
		if err != nil {
			fail(w, err)
			return
		}
		if seen[cm.ServerID] {
			fail(w, badRequest("server %d is named twice", cm.ServerID))
			return
		}
		seen[cm.ServerID] = true
		members = append(members, cm)
	}
	alive := a.alive()
	var cid int64
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		n, take, err := takeID(v, "target")
		if err != nil {
			return nil, err
		}
		cid = n
		c := clusterBody{ID: n, Name: in.Name, Multicast: multicast, Servers: members}
		if c.Servers == nil {
			c.Servers = []clusterMember{}
		}
		ops := []fsm.Op{take, putOp(KindCluster, n, c, nil)}
		for _, m := range members {
			s, res, err := individual(v, m.ServerID)
			if err != nil {
				return nil, err
			}
			s.ClusterID, s.ClusterIP = n, m.ServerIP
			s.Seen = s.Seen || alive.up(s.MuleLabel)
			ops = append(ops, putOp(KindServer, m.ServerID, s, res))
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerCluster(w, http.StatusCreated, index, cid, alive)
}

func (a *api) answerCluster(w http.ResponseWriter, status int, index uint64, id int64, alive members) {
	v := a.Node.View()
	c, res, err := existing[clusterBody](v, KindCluster, id, "cluster")
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, status, index, clusterView(v, c, res, alive))
}

func (a *api) listClusters(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	items, err := all[clusterBody](v, KindCluster)
	if err != nil {
		fail(w, err)
		return
	}
	alive := a.alive()
	out := make([]Cluster, 0, len(items))
	for _, it := range items {
		out = append(out, clusterView(v, it.body, it.res, alive))
	}
	writeData(w, http.StatusOK, 0, out)
}

func (a *api) getCluster(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "cluster")
	if err != nil {
		fail(w, err)
		return
	}
	a.answerCluster(w, http.StatusOK, 0, id, a.alive())
}

// renameCluster is PATCH /clusters/{id} {name}.
func (a *api) renameCluster(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "cluster")
	if err != nil {
		fail(w, err)
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	if err := checkName("cluster", in.Name); err != nil {
		fail(w, err)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		c, res, err := existing[clusterBody](v, KindCluster, id, "cluster")
		if err != nil {
			return nil, err
		}
		c.Name = in.Name
		return []fsm.Op{putOp(KindCluster, id, c, res)}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerCluster(w, http.StatusOK, index, id, a.alive())
}

// deleteCluster is DELETE /clusters/{id}: its servers become individual
// again; 400 while applications target it.
func (a *api) deleteCluster(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "cluster")
	if err != nil {
		fail(w, err)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		c, res, err := existing[clusterBody](v, KindCluster, id, "cluster")
		if err != nil {
			return nil, err
		}
		return dissolveOps(v, id, "cluster", deleteOp(KindCluster, res), c.serverIDs())
	})
	if err != nil {
		fail(w, err)
		return
	}
	noContent(w, index)
}

// reclusterOps rewrites the workloads of every application of cluster c
// (as the command leaves it) on all its servers, and on added if it is
// not among them yet: the peers of each instance changed, so they
// restart with the new list.
func reclusterOps(v *fsm.View, c *clusterBody, cres *fsm.Resource, added int64, alive members) ([]fsm.Op, error) {
	t := &target{ID: c.ID, Name: c.Name, Type: targetCluster, Servers: c.serverIDs(), res: cres, cluster: c}
	apps, _ := v.Lookup(KindApplication, "target", key(c.ID))
	var ops []fsm.Op
	for _, r := range apps {
		app, ares, err := get[application](v, KindApplication, parseKey(r.ID))
		if err != nil || app == nil {
			return nil, err
		}
		if added != 0 {
			app.Servers = sortedInts(append(app.Servers, added))
			ops = append(ops, putOp(KindApplication, app.ID, app, ares))
		} else {
			ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindApplication, ID: ares.ID, Require: fsm.RequireVersion, Version: ares.Version})
		}
		deploy, err := deployOps(v, app, t, alive, true)
		if err != nil {
			return nil, err
		}
		ops = append(ops, deploy...)
	}
	return ops, nil
}

// addClusterServer is POST /clusters/{id}/servers {serverId, serverIp}:
// the server joins (400 if it is in a group or cluster, or a unicast
// cluster's server has no IP), the cluster's applications are deployed
// onto it, and their instances learn of their new peer.
func (a *api) addClusterServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "cluster")
	if err != nil {
		fail(w, err)
		return
	}
	var in memberIn
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	alive := a.alive()
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		c, cres, err := existing[clusterBody](v, KindCluster, id, "cluster")
		if err != nil {
			return nil, err
		}
		m, err := checkMember(in, c.Multicast)
		if err != nil {
			return nil, err
		}
		s, sres, err := individual(v, m.ServerID)
		if err != nil {
			return nil, err
		}
		s.ClusterID, s.ClusterIP = id, m.ServerIP
		s.Seen = s.Seen || alive.up(s.MuleLabel)
		c.Servers = append(c.Servers, m)
		ops := []fsm.Op{putOp(KindCluster, id, c, cres), putOp(KindServer, m.ServerID, s, sres)}
		more, err := reclusterOps(v, c, cres, m.ServerID, alive)
		if err != nil {
			return nil, err
		}
		return append(ops, more...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerCluster(w, http.StatusOK, index, id, alive)
}

// removeClusterServer is DELETE /clusters/{id}/servers/{serverId}: the
// server leaves; the applications on it stay there (as a server group's
// do), no longer clustered, and the remaining instances learn their
// peers anew.
func (a *api) removeClusterServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "cluster")
	if err != nil {
		fail(w, err)
		return
	}
	sid, err := pathID(r, "serverId", "server")
	if err != nil {
		fail(w, err)
		return
	}
	alive := a.alive()
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		c, cres, err := existing[clusterBody](v, KindCluster, id, "cluster")
		if err != nil {
			return nil, err
		}
		s, sres, err := get[server](v, KindServer, sid)
		if err != nil {
			return nil, err
		}
		if s == nil || s.ClusterID != id {
			return nil, notFound("server %d is not in cluster %d", sid, id)
		}
		s.ClusterID, s.ClusterIP = 0, ""
		c.Servers = withoutMember(c.Servers, sid)
		ops := []fsm.Op{putOp(KindCluster, id, c, cres), putOp(KindServer, sid, s, sres)}
		more, err := reclusterOps(v, c, cres, 0, alive)
		if err != nil {
			return nil, err
		}
		return append(ops, more...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	noContent(w, index)
}
