package native

import (
	"net/http"

	"cairn/http/httpx"
)

// status answers GET /cairn/v1/status: the node's Raft status (node.Status)
// and, with ?digest, a digest of its whole store and the index it was
// taken at, so that replicas can be compared.
func (a *API) status(w http.ResponseWriter, r *http.Request) {
	body := a.node.Status()
	if r.URL.Query().Has("digest") {
		body = a.node.StatusWithDigest()
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

// health answers 200 while the process serves HTTP at all.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers 200 once the node knows a leader and has applied all it
// knows to be committed; 503 with the reason otherwise.
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if ok, why := a.node.Ready(); !ok {
		WriteError(w, http.StatusServiceUnavailable, "not ready: "+why)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
