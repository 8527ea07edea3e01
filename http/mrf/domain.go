package mrf

import (
	"net/http"

	"cairn/cluster"
	"cairn/cluster/deploy"
)

// domainParts are the domain's sub-resources the root links, besides
// zones and runtime.
var domainParts = []string{"components", "contributions", "deployments"}

// controllerURL returns the advertised HTTP URL of the controller whose
// domain resources this node serves: itself if it is a controller, else
// the first live controller gossip knows (by id).
func (a *api) controllerURL() (string, error) {
	var ms deploy.Members
	if a.Membership != nil {
		ms = a.Membership
	}
	return deploy.FindController(a.Node.ID(), a.Node.HTTPURL(), ms)
}

// isController reports whether this node holds the domain's resources.
func (a *api) isController() bool { return a.mode() == "CONTROLLER" }

// onController serves h on a controller. Any other node forwards the
// request to a live controller (forwardToController): only the controller
// zone's store holds contributions and deployments. (On a server,
// ToController does so before the request reaches this router.)
func (a *api) onController(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.isController() {
			h(w, r)
			return
		}
		a.forwardToController(w, r)
	}
}

// live reports whether gossip still counts m as a member that serves.
func live(m cluster.Member) bool { return deploy.Live(m) }

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
	for _, p := range append([]string{"zones", "runtimes"}, domainParts...) {
		res[p] = editLink(p, base+"/management/domain/"+p)
	}
	res["runtime"] = editLink("runtime", base+"/management/runtime")
	writeResource(w, http.StatusOK, res)
}
