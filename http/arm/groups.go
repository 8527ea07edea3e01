package arm

import (
	"net/http"

	"cairn/fsm"
)

// ServerGroup is a server group as the API shows it.
type ServerGroup struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Status      string   `json:"status"`
	TimeCreated int64    `json:"timeCreated"`
	TimeUpdated int64    `json:"timeUpdated"`
	Servers     []Server `json:"servers"`
}

// setStatus is a group's or cluster's status from its servers': RUNNING
// when all run, DISCONNECTED when none does, else PARTIALLY_RUNNING.
func setStatus(servers []Server) string {
	running := 0
	for _, s := range servers {
		if s.Status == statusRunning {
			running++
		}
	}
	switch {
	case len(servers) > 0 && running == len(servers):
		return statusRunning
	case running == 0:
		return statusDisconnected
	}
	return "PARTIALLY_RUNNING"
}

// membersView shows the servers ids.
func membersView(v *fsm.View, ids []int64, alive members) []Server {
	out := make([]Server, 0, len(ids))
	for _, id := range ids {
		if s, res, err := get[server](v, KindServer, id); err == nil && s != nil {
			out = append(out, serverView(v, s, res, alive))
		}
	}
	return out
}

func groupView(v *fsm.View, g *group, res *fsm.Resource, alive members) ServerGroup {
	servers := membersView(v, g.ServerIDs, alive)
	return ServerGroup{ID: g.ID, Name: g.Name, Type: targetGroup, Status: setStatus(servers),
		TimeCreated: millis(res.Created), TimeUpdated: millis(res.Updated), Servers: servers}
}

// individual reads server id for a group or cluster to take: it must be
// a server (not a group or cluster) in neither a group nor a cluster.
func individual(v *fsm.View, id int64) (*server, *fsm.Resource, error) {
	s, res, err := get[server](v, KindServer, id)
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		if g, _, _ := get[group](v, KindGroup, id); g != nil {
			return nil, nil, badRequest("%d is a server group: groups and clusters are made of individual servers only", id)
		}
		if c, _, _ := get[clusterBody](v, KindCluster, id); c != nil {
			return nil, nil, badRequest("%d is a cluster: groups and clusters are made of individual servers only", id)
		}
		return nil, nil, badRequest("server %d does not exist", id)
	}
	if s.GroupID != 0 {
		return nil, nil, badRequest("server %d already belongs to server group %d", id, s.GroupID)
	}
	if s.ClusterID != 0 {
		return nil, nil, badRequest("server %d already belongs to cluster %d", id, s.ClusterID)
	}
	return s, res, nil
}

// createGroup is POST /serverGroups {name, serverIds}.
func (a *api) createGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name      string   `json:"name"`
		ServerIDs []flexID `json:"serverIds"`
	}
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	if err := checkName("server group", in.Name); err != nil {
		fail(w, err)
		return
	}
	ids := make([]int64, len(in.ServerIDs))
	for i, id := range in.ServerIDs {
		ids[i] = int64(id)
	}
	ids = sortedInts(ids)
	alive := a.alive()
	var gid int64
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		n, take, err := takeID(v, "target")
		if err != nil {
			return nil, err
		}
		gid = n
		ops := []fsm.Op{take, putOp(KindGroup, n, group{ID: n, Name: in.Name, ServerIDs: ids}, nil)}
		for _, id := range ids {
			s, res, err := individual(v, id)
			if err != nil {
				return nil, err
			}
			s.GroupID = n
			s.Seen = s.Seen || alive.up(s.MuleLabel)
			ops = append(ops, putOp(KindServer, id, s, res))
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerGroup(w, http.StatusCreated, index, gid, alive)
}

func (a *api) answerGroup(w http.ResponseWriter, status int, index uint64, id int64, alive members) {
	v := a.Node.View()
	g, res, err := existing[group](v, KindGroup, id, "server group")
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, status, index, groupView(v, g, res, alive))
}

func (a *api) listGroups(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	items, err := all[group](v, KindGroup)
	if err != nil {
		fail(w, err)
		return
	}
	alive := a.alive()
	out := make([]ServerGroup, 0, len(items))
	for _, it := range items {
		out = append(out, groupView(v, it.body, it.res, alive))
	}
	writeData(w, http.StatusOK, 0, out)
}

func (a *api) getGroup(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server group")
	if err != nil {
		fail(w, err)
		return
	}
	a.answerGroup(w, http.StatusOK, 0, id, a.alive())
}

// renameGroup is PATCH /serverGroups/{id} {name}.
func (a *api) renameGroup(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server group")
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
	if err := checkName("server group", in.Name); err != nil {
		fail(w, err)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		g, res, err := existing[group](v, KindGroup, id, "server group")
		if err != nil {
			return nil, err
		}
		g.Name = in.Name
		return []fsm.Op{putOp(KindGroup, id, g, res)}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerGroup(w, http.StatusOK, index, id, a.alive())
}

// deleteGroup is DELETE /serverGroups/{id}: its servers become individual
// again. 400 while applications target it (delete them first); 204 when
// it does not exist.
func (a *api) deleteGroup(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server group")
	if err != nil {
		fail(w, err)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		g, res, err := existing[group](v, KindGroup, id, "server group")
		if err != nil {
			return nil, err
		}
		return dissolveOps(v, id, "server group", deleteOp(KindGroup, res), g.ServerIDs)
	})
	if err != nil {
		fail(w, err)
		return
	}
	noContent(w, index)
}

// dissolveOps deletes a group or cluster (del) and frees its servers;
// refused while an application targets it.
func dissolveOps(v *fsm.View, id int64, what string, del fsm.Op, servers []int64) ([]fsm.Op, error) {
	if apps, _ := v.Lookup(KindApplication, "target", key(id)); len(apps) > 0 {
		return nil, badRequest("%s %d is the target of application %s: delete its applications first", what, id, apps[0].ID)
	}
	ops := []fsm.Op{del}
	for _, sid := range servers {
		s, res, err := get[server](v, KindServer, sid)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		if s.GroupID == id {
			s.GroupID = 0
		}
		if s.ClusterID == id {
			s.ClusterID, s.ClusterIP = 0, ""
		}
		ops = append(ops, putOp(KindServer, sid, s, res))
	}
	return ops, nil
}

// addGroupServer is POST /serverGroups/{id}/servers/{serverId}: the
// server joins (a server that is not running may), and every application
// of the group is deployed onto it. 400 when it already belongs to a
// group or cluster.
func (a *api) addGroupServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server group")
	if err != nil {
		fail(w, err)
		return
	}
	sid, err := pathID(r, "serverId", "server")
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	alive := a.alive()
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		g, gres, err := existing[group](v, KindGroup, id, "server group")
		if err != nil {
			return nil, err
		}
		s, sres, err := individual(v, sid)
		if err != nil {
			return nil, err
		}
		s.GroupID = id
		s.Seen = s.Seen || alive.up(s.MuleLabel)
		g.ServerIDs = sortedInts(append(g.ServerIDs, sid))
		ops := []fsm.Op{putOp(KindGroup, id, g, gres), putOp(KindServer, sid, s, sres)}
		more, err := joinOps(v, id, sid, alive)
		if err != nil {
			return nil, err
		}
		return append(ops, more...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	a.answerGroup(w, http.StatusOK, index, id, alive)
}

// joinOps deploys every application of target id onto server sid, which
// joins it in the same command. The view's target still lacks sid: the
// applications are rewritten with it.
func joinOps(v *fsm.View, id, sid int64, alive members) ([]fsm.Op, error) {
	apps, _ := v.Lookup(KindApplication, "target", key(id))
	var ops []fsm.Op
	for _, r := range apps {
		app, ares, err := get[application](v, KindApplication, parseKey(r.ID))
		if err != nil || app == nil {
			return nil, err
		}
		app.Servers = sortedInts(append(app.Servers, sid))
		only := *app
		only.Servers = []int64{sid}
		deploy, err := deployOps(v, &only, nil, alive, true)
		if err != nil {
			return nil, err
		}
		ops = append(ops, putOp(KindApplication, app.ID, app, ares))
		ops = append(ops, deploy...)
	}
	return ops, nil
}

// removeGroupServer is DELETE /serverGroups/{id}/servers/{serverId}: the
// server leaves; the applications on it stay there, as the seed says.
func (a *api) removeGroupServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server group")
	if err != nil {
		fail(w, err)
		return
	}
	sid, err := pathID(r, "serverId", "server")
	if err != nil {
		fail(w, err)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		g, gres, err := existing[group](v, KindGroup, id, "server group")
		if err != nil {
			return nil, err
		}
		s, sres, err := get[server](v, KindServer, sid)
		if err != nil {
			return nil, err
		}
		if s == nil || s.GroupID != id {
			return nil, notFound("server %d is not in server group %d", sid, id)
		}
		s.GroupID = 0
		g.ServerIDs = without(g.ServerIDs, sid)
		return []fsm.Op{putOp(KindGroup, id, g, gres), putOp(KindServer, sid, s, sres)}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	noContent(w, index)
}
