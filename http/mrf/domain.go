package mrf

import (
	"fmt"
	"net/http"

	"cairn/cluster"
)

// notBuilt are the domain sub-resources of the seed that Cairn does not
// serve yet: the root links them, and they answer 501.
var notBuilt = []string{"components", "contributions", "deployments"}

// controllerURL returns the advertised HTTP URL of the controller whose
// domain resources this node serves: itself if it is a controller, else
// the first live controller gossip knows (by id).
func (a *api) controllerURL() (string, error) {
	if a.Membership == nil {
		return a.Node.HTTPURL(), nil
	}
	var found string
	for _, m := range a.Membership.Members() {
		if !m.Controller || !live(m) || m.HTTP == "" {
			continue
		}
		if m.ID == a.Node.ID() {
			return a.Node.HTTPURL(), nil
		}
		if found == "" {
			found = m.HTTP
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: no controller of the domain is known to node %s (start one with -controller)", errUnavailable, a.Node.ID())
	}
	return found, nil
}

// live reports whether gossip still counts m as a member that serves.
func live(m cluster.Member) bool {
	return m.Status == cluster.StatusAlive || m.Status == cluster.StatusSuspect
}

// domain serves the root. Every node answers it; on a node that is not a
// controller every href (selfLink included) points at a controller, so a
// client that started anywhere continues from the stable controller URI.
// The content is the same either way: it is built from gossip, which every
// node of the domain shares.
func (a *api) domain(w http.ResponseWriter, r *http.Request) {
	base, err := a.controllerURL()
	if err != nil {
		fail(w, err)
		return
	}
	res := newResource(base, "/management/domain")
	for _, p := range append([]string{"zones"}, notBuilt...) {
		res[p] = editLink(p, base+"/management/domain/"+p)
	}
	res["runtime"] = editLink("runtime", base+"/management/runtime")
	writeResource(w, http.StatusOK, res)
}

// notBuilt answers the domain sub-resources Cairn does not serve yet.
func (a *api) notBuilt(w http.ResponseWriter, r *http.Request) {
	fail(w, fmt.Errorf("%w: %s is part of MRF but Cairn does not serve it yet", errNotBuilt, r.URL.Path))
}
