package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cairn/http/apcera"
	"cairn/http/arm"
	"cairn/http/httpx"
	"cairn/http/mrf"
	"cairn/http/native"
	"cairn/http/topology"
	"cairn/http/ui"
	"cairn/node/auth"
)

// AuthPolicy is how a listener authenticates requests.
type AuthPolicy struct {
	// Auth checks credentials against the zone's users; nil: nothing is
	// checked and every request acts as auth.Anonymous (tests of other
	// layers).
	Auth *auth.Authenticator
	// Required refuses requests without credentials (401). Whatever it
	// says, credentials that are sent are checked, and a readonly user
	// may not write.
	Required bool
	// Peers carries this node's own credentials on its calls to other
	// members; nil: none. Never used for a client's request passed on:
	// those keep the client's.
	Peers *auth.NodeCredentials
}

// peerTransport is a transport with this node's credentials, or nil
// (http.DefaultTransport) when it has none.
func (p AuthPolicy) peerTransport() http.RoundTripper {
	if p.Peers == nil {
		return nil
	}
	return p.Peers
}

// peerCredentials wraps a transport with this node's credentials, or is
// nil when it has none.
func (p AuthPolicy) peerCredentials() func(http.RoundTripper) http.RoundTripper {
	if p.Peers == nil {
		return nil
	}
	return p.Peers.Wrap
}

// WithAuth sets the main listener's authentication.
func WithAuth(p AuthPolicy) Option {
	return func(o *options) { o.auth = p }
}

// authExempt lists what answers without credentials: the probes and
// scrape target that load balancers and Prometheus reach, the node status
// members read from each other, the login calls, a Runtime Manager server
// registration that carries a registration token (all a registering
// agent holds; its handler checks it), and the MaxScale API,
// which authenticates every request itself (its own rule, on any address).
func authExempt(r *http.Request) bool {
	p := r.URL.Path
	switch p {
	case "/metrics", "/health", "/ready", "/cairn/v1/status":
		return r.Method == http.MethodGet || r.Method == http.MethodHead
	case native.LoginPath, arm.LoginPath, arm.TokenPath, apcera.LoginPath:
		return true
	}
	if arm.Registration(r) {
		return true // the handler requires Runtime Manager's registration token
	}
	return strings.HasPrefix(p, "/maxscale/") || ui.Exempt(r) // the console's files hold no data
}

// writes reports whether method changes something.
func writes(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authenticate finds who a request acts as and refuses it when it may
// not: 401 without valid credentials where they are required (or when
// wrong ones are sent), 403 for a write by a readonly user. Forwarding
// comes after it, and carries the caller's own credentials to the leader,
// which checks them again: the leader authorises the caller, never the
// forwarding node. A native resource write a follower serves itself
// carries instead the version of the user record that vouched for the
// caller, which the leader requires unchanged (auth.Principal.Checks).
func (s *Server) authenticate(policy AuthPolicy, next http.Handler) http.Handler {
	return s.authenticateWith(policy, authExempt, nil, next)
}

// authenticateWith is authenticate for a listener whose exempt requests
// and error body are its own (refuse nil: refuseRequest's, by path).
func (s *Server) authenticateWith(policy AuthPolicy, exempt func(*http.Request) bool, refuse func(http.ResponseWriter, int, string), next http.Handler) http.Handler {
	if policy.Auth == nil {
		return next
	}
	deny := func(w http.ResponseWriter, r *http.Request, status int, msg string) {
		if refuse == nil {
			refuseRequest(w, r, status, msg)
			return
		}
		w.Header().Set(httpx.AppliedHeader, "false")
		refuse(w, status, msg)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if exempt != nil && exempt(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := policy.Auth.Request(r, false)
		if errors.Is(err, auth.ErrNoCredentials) && !policy.Required {
			p, err = auth.Anonymous, nil
		}
		switch {
		case err != nil && auth.Unauthenticated(err):
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn", Bearer realm="cairn"`)
			deny(w, r, http.StatusUnauthorized, err.Error())
			return
		case err != nil:
			s.log.Warn("could not check a request's credentials", "path", r.URL.Path, "err", err)
			deny(w, r, http.StatusServiceUnavailable, "could not check the credentials: "+err.Error())
			return
		case writes(r.Method) && !p.Role.CanWrite():
			deny(w, r, http.StatusForbidden, fmt.Sprintf("user %q has the %s role: it may read, not write", p.Name, p.Role))
			return
		}
		next.ServeHTTP(w, r.WithContext(httpx.WithPrincipal(r.Context(), p)))
	})
}

// refuseRequest answers a request refused before it reached its API, in
// that API's error format.
func refuseRequest(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set(httpx.AppliedHeader, "false")
	switch {
	case mrf.Owns(r.URL.Path):
		mrf.WriteError(w, status, msg)
		return
	case topology.Owns(r.URL.Path):
		topology.WriteError(w, status, msg)
		return
	case arm.Owns(r.URL.Path):
		arm.WriteError(w, status, msg)
		return
	case apcera.Owns(r.URL.Path):
		apcera.WriteError(w, status, msg)
		return
	}
	native.WriteError(w, status, msg)
}
