package arm

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/auth"
	"cairn/node/pki"
)

// Server statuses: RUNNING while the node is alive in the zone,
// DISCONNECTED when it is not, CREATED before it was first seen.
const (
	statusRunning      = "RUNNING"
	statusDisconnected = "DISCONNECTED"
	statusCreated      = "CREATED"
)

// serverValidity is how long a registered server's certificate lasts.
const serverValidity = 2 * 365 * 24 * time.Hour

// registrationPurpose names the registration token among the secrets
// derived from the zone's signing key (auth.Derive): every member gives
// the same, and a rotation of the key changes it.
const registrationPurpose = "arm registration token"

// Address is one of a server's network addresses.
type Address struct {
	IP               string `json:"ip"`
	NetworkInterface string `json:"networkInterface"`
}

// Server is a server as the API shows it.
type Server struct {
	ID              int64     `json:"id"`
	TimeCreated     int64     `json:"timeCreated"`
	TimeUpdated     int64     `json:"timeUpdated"`
	Name            string    `json:"name"`
	Type            string    `json:"type"`
	ServerType      string    `json:"serverType"`
	MuleVersion     string    `json:"muleVersion"`
	GatewayVersion  string    `json:"gatewayVersion,omitempty"`
	AgentVersion    string    `json:"agentVersion"`
	MuleLabel       string    `json:"muleLabel"`
	Status          string    `json:"status"`
	ServerGroupID   int64     `json:"serverGroupId,omitempty"`
	ServerGroupName string    `json:"serverGroupName,omitempty"`
	ClusterID       int64     `json:"clusterId,omitempty"`
	ClusterName     string    `json:"clusterName,omitempty"`
	ClusterIP       string    `json:"clusterIp,omitempty"`
	Addresses       []Address `json:"addresses"`
	// Certificate is the signed certificate, in the registration's answer
	// only.
	Certificate string `json:"certificate,omitempty"`
}

// members are the zone's members as gossip knows them, by id, whatever
// their status: gossip keeps a member that failed or left for the life of
// this process, so a node it knows has been seen.
type members map[string]cluster.Member

// up reports whether node id is alive.
func (m members) up(id string) bool { return m[id].Status == cluster.StatusAlive }

// known reports whether gossip has known node id at all.
func (m members) known(id string) bool { return m[id].ID != "" }

// alive returns the zone's members as gossip knows them.
func (a *api) alive() members {
	out := members{}
	if a.Membership == nil {
		out[a.Node.ID()] = cluster.Member{Meta: cluster.Meta{ID: a.Node.ID(), Zone: a.Node.Zone()}, Status: cluster.StatusAlive}
		return out
	}
	for _, m := range a.Membership.Members() {
		if m.Zone == a.Node.Zone() {
			out[m.ID] = m
		}
	}
	return out
}

// zoneOf is the zone of the domain's member id as gossip knows it ("":
// unknown).
func (a *api) zoneOf(id string) string {
	if a.Membership == nil {
		return ""
	}
	for _, m := range a.Membership.Members() {
		if m.ID == id {
			return m.Zone
		}
	}
	return ""
}

// hostOf is the host of a member's advertised HTTP address.
func hostOf(m cluster.Member) string {
	if u, err := url.Parse(m.HTTP); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	if h, _, err := net.SplitHostPort(m.HTTP); err == nil {
		return h
	}
	return ""
}

// serverStatus is s's status given the zone's members: RUNNING while its
// node is alive, DISCONNECTED once it has been seen (alive at a write
// that touched the server, or known to gossip since this node started),
// CREATED before.
func serverStatus(s *server, alive members) string {
	switch {
	case alive.up(s.MuleLabel):
		return statusRunning
	case s.Seen || alive.known(s.MuleLabel):
		return statusDisconnected
	}
	return statusCreated
}

// serverView shows stored server s (resource res).
func serverView(v *fsm.View, s *server, res *fsm.Resource, alive members) Server {
	out := Server{ID: s.ID, TimeCreated: millis(res.Created), TimeUpdated: millis(res.Updated), Name: s.Name,
		Type: "SERVER", ServerType: "MULE", MuleVersion: s.MuleVersion, GatewayVersion: s.GatewayVersion,
		MuleLabel: s.MuleLabel, Status: serverStatus(s, alive), ClusterIP: s.ClusterIP, Addresses: []Address{}}
	if m := alive[s.MuleLabel]; alive.up(s.MuleLabel) {
		out.AgentVersion = m.Version
		if h := hostOf(m); h != "" {
			out.Addresses = append(out.Addresses, Address{IP: h, NetworkInterface: "cairn-http"})
		}
	}
	if s.GroupID != 0 {
		out.ServerGroupID = s.GroupID
		if g, _, _ := get[group](v, KindGroup, s.GroupID); g != nil {
			out.ServerGroupName = g.Name
		}
	}
	if s.ClusterID != 0 {
		out.ClusterID = s.ClusterID
		if c, _, _ := get[clusterBody](v, KindCluster, s.ClusterID); c != nil {
			out.ClusterName = c.Name
		}
	}
	return out
}

// registrationToken is GET /servers/registrationToken: {"data": token};
// 403 for a readonly user.
func (a *api) registrationToken(w http.ResponseWriter, r *http.Request) {
	// The token registers servers (a write) without further credentials:
	// only a user who may write gets it.
	if p := httpx.PrincipalFrom(r.Context()); !p.Role.CanWrite() {
		fail(w, newError(errForbidden, "user %q has the %s role: the registration token is for users who may write", p.Name, p.Role))
		return
	}
	token, err := auth.Derive(a.Node.View(), registrationPurpose)
	if err != nil {
		fail(w, newError(errUnavailable, "%v", err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeData(w, http.StatusOK, 0, token)
}

// registrationHeader carries the registration token on POST /servers.
const registrationHeader = "X-ANYPNT-REGISTRATION-TOKEN"

// Registration reports whether r is a server registration that carries a
// registration token: the authentication middleware lets it through
// without user credentials (a registering agent holds only the token),
// and registerServer refuses it unless the token is the zone's.
func Registration(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == Prefix+"/servers" &&
		(r.Header.Get(registrationHeader) != "" || r.URL.Query().Get("registrationToken") != "")
}

// checkRegistrationToken finds the registration token in the request
// (header X-ANYPNT-REGISTRATION-TOKEN, or ?registrationToken=) and
// checks it.
func (a *api) checkRegistrationToken(r *http.Request) error {
	got := r.Header.Get(registrationHeader)
	if got == "" {
		got = r.URL.Query().Get("registrationToken")
	}
	if got == "" {
		return newError(errUnauthorized, "registering a server needs the registration token (GET %s/servers/registrationToken) in the X-ANYPNT-REGISTRATION-TOKEN header", Prefix)
	}
	want, err := auth.Derive(a.Node.View(), registrationPurpose)
	if err != nil {
		return newError(errUnavailable, "%v", err)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return newError(errUnauthorized, "the registration token is not this zone's (it changes when the zone's signing key is rotated)")
	}
	return nil
}

// registerServer is POST /servers: {muleVersion, gatewayVersion,
// signatureRequest, muleLabel} → 201 with the new server and its signed
// certificate.
func (a *api) registerServer(w http.ResponseWriter, r *http.Request) {
	if err := a.checkRegistrationToken(r); err != nil {
		fail(w, err)
		return
	}
	var in struct {
		MuleVersion      string `json:"muleVersion"`
		GatewayVersion   string `json:"gatewayVersion"`
		SignatureRequest string `json:"signatureRequest"`
		MuleLabel        string `json:"muleLabel"`
		Name             string `json:"name"`
	}
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	if err := checkName("server", in.MuleLabel); err != nil {
		fail(w, badRequest("muleLabel is required: the id of the Cairn node the server is"))
		return
	}
	if in.MuleVersion == "" {
		fail(w, badRequest("muleVersion is required"))
		return
	}
	if z := a.zoneOf(in.MuleLabel); z != "" && z != a.Node.Zone() {
		fail(w, badRequest("node %s is in zone %s: register it through a node of that zone (this is zone %s)", in.MuleLabel, z, a.Node.Zone()))
		return
	}
	csr, err := pki.ParseCSR(in.SignatureRequest)
	if err != nil {
		fail(w, badRequest("signatureRequest: %v", err))
		return
	}
	// Checked again in the write; here first, so that a refused
	// registration does not make the CA.
	if err := labelFree(a.Node.View(), in.MuleLabel); err != nil {
		fail(w, err)
		return
	}
	if _, err := pki.Ensure(r.Context(), a.Node, KindCA, caID, "", a.now()); err != nil {
		if errors.Is(err, fsm.ErrConflict) {
			err = newError(errUnavailable, "could not make the CA; retry")
		}
		fail(w, err)
		return
	}
	ca, err := pki.Stored(a.Node.View(), KindCA, caID)
	if err != nil {
		fail(w, err)
		return
	}
	cert, err := ca.SignCSR(csr, in.MuleLabel, serverValidity, a.now())
	if err != nil {
		fail(w, err)
		return
	}
	name := in.Name
	if name == "" {
		name = in.MuleLabel
	}
	alive := a.alive()
	var id int64
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		if err := labelFree(v, in.MuleLabel); err != nil {
			return nil, err
		}
		n, take, err := takeID(v, "target")
		if err != nil {
			return nil, err
		}
		id = n
		s := server{ID: n, Name: name, MuleLabel: in.MuleLabel, MuleVersion: in.MuleVersion, GatewayVersion: in.GatewayVersion,
			Certificate: string(cert), Seen: alive.up(in.MuleLabel)}
		return []fsm.Op{take, putOp(KindServer, n, s, nil)}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	s, res, err := get[server](v, KindServer, id)
	if err != nil || s == nil {
		fail(w, newError(errUnavailable, "server %d was registered but is not readable on this node yet; GET it", id))
		return
	}
	out := serverView(v, s, res, alive)
	out.Certificate = s.Certificate
	a.log.Info(fmt.Sprintf("server %d registered for node %s (%s)", id, s.MuleLabel, out.Status), "server", id, "node", s.MuleLabel)
	writeData(w, http.StatusCreated, index, out)
}

// labelFree refuses (409) a muleLabel a server already has.
func labelFree(v *fsm.View, label string) error {
	if rs, _ := v.Lookup(KindServer, "label", label); len(rs) > 0 {
		return newError(errDuplicate, "a server with muleLabel %q is already registered (id %s); delete it first", label, rs[0].ID)
	}
	return nil
}

// listServers is GET /servers. ?limit, ?offset and ?sort are accepted
// and ignored: every server is listed.
func (a *api) listServers(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	items, err := all[server](v, KindServer)
	if err != nil {
		fail(w, err)
		return
	}
	alive := a.alive()
	out := make([]Server, 0, len(items))
	for _, it := range items {
		out = append(out, serverView(v, it.body, it.res, alive))
	}
	writeData(w, http.StatusOK, 0, out)
}

func (a *api) getServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server")
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	s, res, err := existing[server](v, KindServer, id, "server")
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, http.StatusOK, 0, serverView(v, s, res, a.alive()))
}

// renameServer is PATCH /servers/{id} {name}.
func (a *api) renameServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server")
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
	if err := checkName("server", in.Name); err != nil {
		fail(w, err)
		return
	}
	alive := a.alive()
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		s, res, err := existing[server](v, KindServer, id, "server")
		if err != nil {
			return nil, err
		}
		s.Name = in.Name
		s.Seen = s.Seen || alive.up(s.MuleLabel)
		return []fsm.Op{putOp(KindServer, id, s, res)}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	s, res, _ := get[server](v, KindServer, id)
	if s == nil {
		fail(w, notFound("server %d does not exist", id))
		return
	}
	writeData(w, http.StatusOK, index, serverView(v, s, res, alive))
}

// deleteServer is DELETE /servers/{id}: always 204, as the seed says,
// whether it existed or not. It leaves its group or cluster, and the
// applications' workloads on it are removed (the processes stop).
func (a *api) deleteServer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "server")
	if err != nil {
		noContent(w, 0)
		return
	}
	index, _, err := a.write(r.Context(), func(v *fsm.View) ([]fsm.Op, error) {
		s, res, err := get[server](v, KindServer, id)
		if err != nil || s == nil {
			return nil, err
		}
		ops := []fsm.Op{deleteOp(KindServer, res)}
		if s.GroupID != 0 {
			if g, gres, err := get[group](v, KindGroup, s.GroupID); err == nil && g != nil {
				g.ServerIDs = without(g.ServerIDs, id)
				ops = append(ops, putOp(KindGroup, g.ID, g, gres))
			}
		}
		if s.ClusterID != 0 {
			if c, cres, err := get[clusterBody](v, KindCluster, s.ClusterID); err == nil && c != nil {
				c.Servers = withoutMember(c.Servers, id)
				ops = append(ops, putOp(KindCluster, c.ID, c, cres))
			}
		}
		apps, _ := v.Lookup(KindApplication, "server", key(id))
		for _, res := range apps {
			app, ares, err := get[application](v, KindApplication, parseKey(res.ID))
			if err != nil || app == nil {
				continue
			}
			app.Servers = without(app.Servers, id)
			ops = append(ops, putOp(KindApplication, app.ID, app, ares))
			ops = append(ops, undeployOps(v, app.ID, id)...)
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	noContent(w, index)
}

// without returns ids without id.
func without(ids []int64, id int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, n := range ids {
		if n != id {
			out = append(out, n)
		}
	}
	return out
}

func withoutMember(ms []clusterMember, id int64) []clusterMember {
	out := make([]clusterMember, 0, len(ms))
	for _, m := range ms {
		if m.ServerID != id {
			out = append(out, m)
		}
	}
	return out
}
