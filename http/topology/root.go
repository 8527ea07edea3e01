package topology

import (
	"net/http"
)

// Topology is the whole topology as GET /api/topology shows it.
type Topology struct {
	ID string `json:"id"`
	// Version is the Raft index of the last topology change: it grows
	// with every change.
	Version uint64 `json:"version"`
	// Timestamp is when the last change was made, in epoch milliseconds.
	Timestamp      int64   `json:"timestamp"`
	ProductVersion string  `json:"productVersion"`
	Hosts          []Host  `json:"hosts"`
	Groups         []Group `json:"groups"`
}

// getTopology answers GET /api/topology[?serviceType=gateway|nodemanager]:
// with serviceType, only the services of that type, in the groups that
// hold one.
func (a *api) getTopology(w http.ResponseWriter, r *http.Request) {
	st := r.URL.Query().Get("serviceType")
	if st != "" && st != TypeGateway && st != TypeNodeManager {
		fail(w, badRequest("Invalid serviceType %q: it is %q or %q", st, TypeGateway, TypeNodeManager))
		return
	}
	v := a.Node.View()
	t := Topology{ProductVersion: ProductVersion, Hosts: []Host{}, Groups: []Group{}}
	if m := v.Get(KindMeta, metaID); m != nil {
		var mb meta
		if err := decode(m, &mb); err != nil {
			fail(w, err)
			return
		}
		t.ID, t.Version, t.Timestamp = mb.ID, m.Version, m.Updated.UnixMilli()
	}
	hosts, err := all[host](v, KindHost)
	if err != nil {
		fail(w, err)
		return
	}
	for _, h := range hosts {
		t.Hosts = append(t.Hosts, h.Host)
	}
	groups, err := all[group](v, KindGroup)
	if err != nil {
		fail(w, err)
		return
	}
	for i := range groups {
		g, err := showGroup(v, &groups[i])
		if err != nil {
			fail(w, err)
			return
		}
		if st != "" {
			kept := []Service{}
			for _, s := range g.Services {
				if s.Type == st {
					kept = append(kept, s)
				}
			}
			if len(kept) == 0 {
				continue
			}
			g.Services = kept
		}
		t.Groups = append(t.Groups, g)
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, t)
}
