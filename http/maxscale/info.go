package maxscale

import (
	"net/http"
	"time"
)

// maxscale serves GET /v1/maxscale: this node, described as MaxScale
// describes itself, with the zone's runtime parameters.
func (a *API) maxscale(w http.ResponseWriter, r *http.Request) {
	doc, mod, err := a.maxscaleDoc(newTxn(a.node.View()), r)
	if err != nil {
		fail(w, err)
		return
	}
	writeDoc(w, r, doc, mod)
}

// maxscaleDoc is the document of GET /v1/maxscale, and when it last
// changed.
func (a *API) maxscaleDoc(t *txn, r *http.Request) (document, time.Time, error) {
	base := baseURL(r)
	params, g, err := a.globals(t, r)
	if err != nil {
		return document{}, time.Time{}, err
	}
	delete(params, "highprecision") // a /v1/maxscale/logs parameter
	mod := a.started
	if g != nil && g.updated.After(mod) {
		mod = g.updated
	}
	attrs := map[string]any{
		"version":      Version,
		"commit":       "cairn " + a.opts.CairnVersion,
		"started_at":   httpDate(a.started),
		"activated_at": httpDate(a.started),
		"uptime":       int64(a.opts.Now().Sub(a.started) / time.Second),
		"config_sync":  nil,
		"node_id":      a.opts.NodeID,
		"parameters":   params,
	}
	return document{
		Links: links{Self: base + "/maxscale/"},
		Data: map[string]any{
			"id": "maxscale", "type": "maxscale", "attributes": attrs,
			"links": links{Self: base + "/maxscale/"},
		},
	}, mod, nil
}
