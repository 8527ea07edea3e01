package mrf

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// ControllerHopHeader marks a request a node that is no controller
// forwarded to a controller. A node that gets it and is no controller
// either answers 503 rather than forward it again.
const ControllerHopHeader = "X-Cairn-Controller-Forwarded-By"

// zoneHopHeader is the http package's hop header (X-Cairn-Forwarded-By),
// which this package cannot import: a request forwarded to a zone leader
// and then to the controller is a new hop in the controller's zone, where
// a follower must be free to forward it to its own leader.
const zoneHopHeader = "X-Cairn-Forwarded-By"

// domainPrefixes are the paths of the domain's resources, which only a
// controller's store holds.
var domainPrefixes = []string{contributionsPath, deploymentsPath, componentsPath}

// onDomain reports whether a canonical path names a domain resource.
func onDomain(path string) bool {
	for _, p := range domainPrefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// Waits reports whether r is a request that waits on purpose beyond the
// request deadline: a deploy or undeploy without ?async waits for the
// target zones (Deps.DeployTimeout). The path is canonical.
func Waits(r *http.Request) bool {
	switch r.Method {
	case http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		return false
	}
	return strings.HasPrefix(r.URL.Path, deploymentPath) && !strings.HasSuffix(r.URL.Path, "/report") &&
		!r.URL.Query().Has("async")
}

// ToController serves next, except a request for a domain resource on a
// node that is no controller: that one is forwarded to a live controller
// as it is, the body streamed (Fabric3's CLI PUTs an archive chunked and
// cannot follow a redirect of it), and the controller's answer returned.
// Mount it ahead of zone-leader forwarding: the request goes to the
// controller in one hop, and the controller's answer (whose X-Cairn-Index
// is the controller zone's) is not mistaken for this zone's.
func ToController(d Deps, next http.Handler) http.Handler {
	a := &api{Deps: d}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Owns(r.URL.Path) || !onDomain(r.URL.Path) || a.isController() {
			next.ServeHTTP(w, r)
			return
		}
		a.forwardToController(w, r)
	})
}

// controllerTarget returns the HTTP URL of the controller to forward to:
// one that leads its zone if gossip knows it (it can apply the write
// without forwarding again), else the first live one.
func (a *api) controllerTarget() (string, error) {
	if a.Membership != nil {
		for _, m := range a.Membership.Members() {
			if m.Controller && live(m) && m.HTTP != "" && m.Leader == m.ID {
				return m.HTTP, nil
			}
		}
	}
	return a.controllerURL()
}

// forwardToController proxies r to a live controller.
func (a *api) forwardToController(w http.ResponseWriter, r *http.Request) {
	if by := r.Header.Get(ControllerHopHeader); by != "" {
		fail(w, fmt.Errorf("%w: node %s forwarded this request here as to a controller, but runtime %s is no controller (the domain's controllers are changing); retry",
			errUnavailable, by, a.Node.ID()))
		return
	}
	base, err := a.controllerTarget()
	if err != nil {
		fail(w, err)
		return
	}
	target, err := url.Parse(base)
	if err != nil {
		fail(w, fmt.Errorf("%w: the controller's address %q is not a URL", errUnavailable, base))
		return
	}
	// The path as the client sent it: names keep their case.
	path := r.URL.Path
	if orig, ok := r.Context().Value(originalPathKey{}).(string); ok && orig != "" {
		path = orig
	}
	proxy := &httputil.ReverseProxy{
		Transport: a.base().Transport, // the client's credentials, not this node's
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path, pr.Out.URL.RawPath = path, ""
			pr.SetXForwarded()
			pr.Out.Header.Del(zoneHopHeader)
			pr.Out.Header.Set(ControllerHopHeader, a.Node.ID())
		},
		// A chunked archive is passed on as it arrives, never buffered
		// here; the answer too.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			fail(w, fmt.Errorf("%w: forwarding to the controller at %s failed: %v; retry", errUnavailable, base, err))
		},
	}
	proxy.ServeHTTP(w, r)
}
