package maxscale

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// maxscale serves GET /v1/maxscale: this node, described as MaxScale
// describes itself.
func (a *API) maxscale(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	now := a.opts.Now()
	// admin_host and admin_port are two parameters in MaxScale: the host
	// and the port the REST API answers on, here the ones this request
	// reached.
	host, port := r.Host, 8989
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host = h
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	attrs := map[string]any{
		"version":      Version,
		"commit":       "cairn " + a.opts.CairnVersion,
		"started_at":   httpDate(a.started),
		"activated_at": httpDate(a.started),
		"uptime":       int64(now.Sub(a.started) / time.Second),
		"config_sync":  nil,
		"node_id":      a.opts.NodeID,
		"parameters": map[string]any{
			"admin_auth":          true,
			"admin_enabled":       true,
			"admin_host":          host,
			"admin_port":          port,
			"admin_secure_gui":    false,
			"passive":             false,
			"threads":             1,
			"config_sync_cluster": nil,
		},
	}
	writeDoc(w, r, document{
		Links: links{Self: base + "/maxscale/"},
		Data: map[string]any{
			"id": "maxscale", "type": "maxscale", "attributes": attrs,
			"links": links{Self: base + "/maxscale/"},
		},
	}, a.started)
}
