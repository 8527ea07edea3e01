package mrf

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"cairn/cluster/deploy"
	"cairn/http/httpx"

	"github.com/gorilla/mux"
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

// originalPathKey is the context key of a /management request's path as
// the client sent it, before CanonicalPaths lower-cased it.
type originalPathKey struct{}

// CanonicalPaths makes /management paths case-insensitive and ignores a
// trailing slash, as Fabric3's ResourceHostImpl does: such a path is
// lower-cased and its trailing slashes dropped before routing. Other paths
// pass unchanged. The path as sent is kept in the request's context:
// Fabric3 matches resources case-insensitively but keeps the case of the
// names a client gives (a contribution MyApp.zip stays MyApp.zip), and so
// does Cairn (nameVar).
func CanonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Owns(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		orig := r.URL.Path
		for len(orig) > 1 && strings.HasSuffix(orig, "/") {
			orig = orig[:len(orig)-1]
		}
		p := strings.ToLower(orig)
		r2 := r.WithContext(context.WithValue(r.Context(), originalPathKey{}, orig))
		if p == r.URL.Path && r.URL.RawPath == "" {
			next.ServeHTTP(w, r2)
			return
		}
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}

// nameVar returns the path variable name of r with the case the client
// sent it in: the segment of the original path at the position of the
// last segment of the routed (lower-cased) path that holds the variable.
// Lower-casing keeps the segments where they are, so the positions agree;
// a request that did not pass CanonicalPaths keeps the routed value.
func nameVar(r *http.Request, name string) string {
	v := mux.Vars(r)[name]
	orig, _ := r.Context().Value(originalPathKey{}).(string)
	if orig == "" {
		return v
	}
	routed := strings.Split(r.URL.Path, "/")
	sent := strings.Split(orig, "/")
	if len(routed) != len(sent) {
		return v
	}
	for i := len(routed) - 1; i >= 0; i-- {
		if routed[i] == v && strings.ToLower(sent[i]) == v {
			return sent[i]
		}
	}
	return v
}

// key is the store id of a name the client gave: names keep their case,
// but they match case-insensitively, as every MRF path does, so MyApp.zip
// and myapp.zip are one contribution.
func key(name string) string { return deploy.Key(name) }
