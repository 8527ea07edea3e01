package mrf

import (
	"net/http"
	"net/url"
	"strings"

	"cairn/http/httpx"
)

// Link is an MRF hyperlink. Status is Cairn's addition, set only on a link
// that cannot be followed right now (a zone with no known leader), which
// then has no href.
type Link struct {
	Name   string `json:"name"`
	Rel    string `json:"rel"`
	Href   string `json:"href,omitempty"`
	Status string `json:"status,omitempty"`
}

// Link relations Fabric3 uses (model/Link.java).
const (
	relSelf    = "self"
	relEdit    = "edit"
	relRelated = "related"
)

// seg is name as one path segment of an href or Location: percent-encoded,
// so that a name holding '?', '#', '/', '%' or non-ASCII addresses itself
// and nothing else. Every href built from a name goes through it.
func seg(name string) string { return url.PathEscape(name) }

func selfLink(href string) Link { return Link{Name: "self", Rel: relSelf, Href: href} }

func editLink(name, href string) Link { return Link{Name: name, Rel: relEdit, Href: href} }

// resource is an MRF resource: a selfLink and properties at the top level.
type resource map[string]any

// newResource returns a resource whose selfLink is base + path.
func newResource(base, path string) resource {
	return resource{"selfLink": selfLink(base + path)}
}

// wrap returns a value that is not a resource as Fabric3 does:
// {"selfLink": ..., "value": v}.
func wrap(base, path string, v any) resource {
	return resource{"selfLink": selfLink(base + path), "value": v}
}

func writeResource(w http.ResponseWriter, status int, res resource) {
	httpx.WriteJSON(w, status, res)
}

// Owns reports whether path belongs to MRF (/management and below, in any
// case).
func Owns(path string) bool {
	p := strings.ToLower(path)
	return p == "/management" || strings.HasPrefix(p, "/management/")
}

// CanonicalPaths makes /management paths case-insensitive and ignores a
// trailing slash, as Fabric3's ResourceHostImpl does: such a path is
// lower-cased and its trailing slashes dropped before routing. Other paths
// pass unchanged.
func CanonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Owns(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		p := strings.ToLower(r.URL.Path)
		for len(p) > 1 && strings.HasSuffix(p, "/") {
			p = p[:len(p)-1]
		}
		if p == r.URL.Path && r.URL.RawPath == "" {
			next.ServeHTTP(w, r)
			return
		}
		r2 := r.WithContext(r.Context())
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}
