package native

import (
	"net/http"

	"cairn/http/httpx"
)

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, a.node.Status())
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
