// Package ui serves Cairn's web console at /ui/ on every node: a few
// static files (HTML, CSS and plain JavaScript, no framework) embedded in
// the binary, so nothing is fetched from the network. The files hold no
// data: the page reads everything from the node's APIs with the
// credentials its user gives (native /cairn/v1, MRF /management, MaxScale
// /maxscale/v1), and the live domain view from the native API's event
// stream GET /cairn/v1/overview/events.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// Prefix is where the console is served.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// file is one embedded file, read once, with its ETag.
type file struct {
	body        []byte
	etag        string
	contentType string
}

// files maps a path under Prefix ("" is index.html) to its file.
var files = func() map[string]file {
	m := map[string]file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		m[strings.TrimPrefix(p, "static/")] = file{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		panic("ui: reading the embedded files: " + err.Error())
	}
	m[""] = m["index.html"]
	return m
}()

// Register serves the console under Prefix, and redirects GET / and
// GET /ui to it.
func Register(r *mux.Router) {
	redirect := http.RedirectHandler(Prefix, http.StatusFound)
	r.Handle("/", redirect).Methods(http.MethodGet, http.MethodHead)
	r.Handle(strings.TrimSuffix(Prefix, "/"), redirect).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(Prefix).HandlerFunc(serve).Methods(http.MethodGet, http.MethodHead)
}

// Exempt reports whether a request is for the console's static files or
// its redirects, which answer without credentials: they hold no data, and
// the page must load to ask for credentials.
func Exempt(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	return p == "/" || p == strings.TrimSuffix(Prefix, "/") || strings.HasPrefix(p, Prefix)
}

// serve answers one file. The browser revalidates each load (no-cache)
// and gets 304 while the binary is the same, so a new version shows at
// once and an unchanged one costs a round trip of headers.
func serve(w http.ResponseWriter, r *http.Request) {
	f, ok := files[strings.TrimPrefix(r.URL.Path, Prefix)]
	if !ok {
		http.Error(w, "no such console file", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
