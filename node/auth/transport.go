package auth

import (
	"net/http"
	"sync"
	"time"

	"cairn/fsm"
)

// NodeCredentials is an http.RoundTripper for a member's own calls to
// other members of its zone (a supervisor's reports, gathering logs): it
// adds a token signed for this node when the request carries no
// credentials, so those calls pass where authentication is required.
// Before the zone has a signing key, requests go without.
type NodeCredentials struct {
	Base   http.RoundTripper // nil: http.DefaultTransport without a proxy
	View   func() *fsm.View
	NodeID string
	// DomainKey, if set, signs the tokens instead of the zone's key, so
	// that members of the domain's other zones accept them too.
	DomainKey *Key

	mu     sync.Mutex
	token  string
	exp    time.Time
	keyVer uint64 // the signing key's version the token was signed with
}

// directTransport is http.DefaultTransport without a proxy: members
// reach each other directly.
var directTransport = func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return t
}()

// nodeTokenTTL is how long a node token is valid; it is renewed when less
// than a third is left.
const nodeTokenTTL = 10 * time.Minute

// RoundTrip implements http.RoundTripper.
func (c *NodeCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	base := c.Base
	if base == nil {
		base = directTransport
	}
	return c.roundTrip(base, req)
}

// Wrap returns base with this node's credentials added, sharing the token.
func (c *NodeCredentials) Wrap(base http.RoundTripper) http.RoundTripper {
	return &credentialed{c: c, base: base}
}

type credentialed struct {
	c    *NodeCredentials
	base http.RoundTripper
}

func (t *credentialed) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.c.roundTrip(t.base, req)
}

func (c *NodeCredentials) roundTrip(base http.RoundTripper, req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		if tok := c.current(); tok != "" {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return base.RoundTrip(req)
}

func (c *NodeCredentials) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, v := time.Now(), c.View()
	if kv := KeyVersion(v); c.token == "" || c.exp.Sub(now) < nodeTokenTTL/3 || kv != c.keyVer {
		tok, exp, err := c.sign(v, now)
		if err != nil {
			return c.token // none yet, or keep the one held
		}
		c.token, c.exp, c.keyVer = tok, exp, kv
	}
	return c.token
}

func (c *NodeCredentials) sign(v *fsm.View, now time.Time) (string, time.Time, error) {
	if c.DomainKey != nil {
		return NodeTokenWith(c.DomainKey, c.NodeID, nodeTokenTTL, now)
	}
	return NodeToken(v, c.NodeID, nodeTokenTTL, now)
}
