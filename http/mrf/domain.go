package mrf

import (
	"fmt"
	"net/http"

	"cairn/cluster"
	"cairn/http/httpx"
)

// domainParts are the domain's sub-resources the root links, besides
// zones and runtime.
var domainParts = []string{"components", "contributions", "deployments"}

// controllerURL returns the advertised HTTP URL of the controller whose
// domain resources this node serves: itself if it is a controller, else
// the first live controller gossip knows (by id).
func (a *api) controllerURL() (string, error) {
	return findController(a.Node, a.Membership)
}

// findController returns self's URL if self is a controller (or runs
// without gossip), else the first live controller in ms.
func findController(self Node, ms Membership) (string, error) {
	if ms == nil {
		return self.HTTPURL(), nil
	}
	var found string
	for _, m := range ms.Members() {
		if !m.Controller || !live(m) || m.HTTP == "" {
			continue
		}
		if m.ID == self.ID() {
			return self.HTTPURL(), nil
		}
		if found == "" {
			found = m.HTTP
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: no controller of the domain is known to node %s (start one with -controller)", errUnavailable, self.ID())
	}
	return found, nil
}

// isController reports whether this node holds the domain's resources.
func (a *api) isController() bool { return a.mode() == "CONTROLLER" }

// onController serves h on a controller. Any other node answers 307 with
// the same path on a live controller: only the controller zone's store
// holds contributions and deployments. (A write reaching a follower of a
// zone is forwarded to its leader first, which then answers the redirect.)
func (a *api) onController(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.isController() {
			h(w, r)
			return
		}
		base, err := a.controllerURL()
		if err != nil {
			fail(w, err)
			return
		}
		target := base + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		httpx.WriteJSON(w, http.StatusTemporaryRedirect, "Runtime "+a.Node.ID()+" is not a controller; the domain's resources are at "+target)
	}
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
	for _, p := range append([]string{"zones"}, domainParts...) {
		res[p] = editLink(p, base+"/management/domain/"+p)
	}
	res["runtime"] = editLink("runtime", base+"/management/runtime")
	writeResource(w, http.StatusOK, res)
}
