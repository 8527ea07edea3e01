package maxscale

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/node/auth"
)

// MaxScale's JWT login (admin.cc, resource.cc cb_auth): GET /v1/auth with
// credentials answers {"meta":{"token":"<jwt>"}}; with ?persist=yes it
// sets the token in two cookies instead (token_body: header and payload,
// readable by scripts; token_sig: the signature, HttpOnly) and answers
// 204. ?max-age=N is the token's life in seconds (default 28800, as
// MaxScale's). The token is Cairn's own (node/auth.Issue): signed with the
// zone's key from the replicated store, so any node of the zone verifies
// it, and every API of Cairn takes it as a Bearer token. This API also
// takes the two cookies, as MaxScale does.

// Cookie names MaxScale uses for a persisted token.
const (
	cookieBody = "token_body"
	cookieSig  = "token_sig"
)

// defaultTokenAge is MaxScale 6.4's default max-age of a token.
const defaultTokenAge = 28800 * time.Second

// maxTokenAge bounds ?max-age: a year.
const maxTokenAge = 365 * 24 * time.Hour

type principalKey struct{}

// withPrincipal records who the request acts as, for handlers that need
// the name (GET /v1/auth).
func withPrincipal(r *http.Request, p auth.Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

func principalOf(r *http.Request) (auth.Principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(auth.Principal)
	return p, ok
}

// cookieToken returns the token a request carries in MaxScale's two
// cookies ("" if not both are there): the body is header.payload, the
// signature keeps its leading '.'.
func cookieToken(r *http.Request) string {
	b, err1 := r.Cookie(cookieBody)
	s, err2 := r.Cookie(cookieSig)
	if err1 != nil || err2 != nil || b.Value == "" || s.Value == "" {
		return ""
	}
	sig := s.Value
	if !strings.HasPrefix(sig, ".") {
		sig = "." + sig
	}
	return b.Value + sig
}

// CookieAuth gives a request that carries MaxScale's token cookies and
// no Authorization header that token as its Bearer credentials, so that
// whatever authenticates it (this API, or the main listener's middleware
// in front of /maxscale/) takes the cookies as MaxScale does.
func CookieAuth(r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		if tok := cookieToken(r); tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
	}
}

// issueToken serves GET /v1/auth.
func (a *API) issueToken(w http.ResponseWriter, r *http.Request) {
	p, ok := principalOf(r)
	if !ok || p.Name == "" || strings.HasPrefix(p.Name, "node:") {
		fail(w, errUnauthorized)
		return
	}
	age := defaultTokenAge
	if s := r.URL.Query().Get("max-age"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || time.Duration(n)*time.Second > maxTokenAge {
			fail(w, refuse("Invalid value for 'max-age': "+s+" (want a number of seconds, at most a year)"))
			return
		}
		age = time.Duration(n) * time.Second
	}
	v := a.node.View()
	token, _, err := auth.Issue(v, p.Name, age, a.opts.Now())
	if errors.Is(err, auth.ErrNoKey) || (err != nil && v.Count(auth.UserKind) == 0) {
		// A new zone's leader writes its key and first user as it starts
		// (MaxScale's default admin is accepted before that).
		fail(w, errors.Join(errUnavailable, errors.New("the zone has no signing key or users yet; retry")))
		return
	}
	if err != nil {
		fail(w, errUnauthorized)
		return
	}
	if !strings.EqualFold(r.URL.Query().Get("persist"), "yes") {
		writeDoc(w, r, map[string]any{"meta": map[string]any{"token": token}}, time.Time{})
		return
	}
	// As MaxScale's HttpResponse::add_split_cookie.
	opts := "; Path=/"
	if r.TLS != nil {
		opts += "; Secure"
	}
	opts += "; Max-Age=" + strconv.FormatInt(int64(age/time.Second), 10)
	i := strings.LastIndexByte(token, '.')
	w.Header().Add("Set-Cookie", cookieBody+"="+token[:i]+opts+"; SameSite=Lax")
	w.Header().Add("Set-Cookie", cookieSig+"="+token[i:]+opts+"; SameSite=Strict; HttpOnly")
	w.WriteHeader(http.StatusNoContent)
}
