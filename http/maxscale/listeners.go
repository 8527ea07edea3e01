package maxscale

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Listeners are not modelled: a Cairn node does not accept SQL clients.
// The collections still answer, empty, because maxctrl reads them (`list
// listeners` fetches /v1/listeners, `list listeners <service>` and `destroy
// listener <service> <name>` a service's listeners); a named listener is
// unknown, 404 as MaxScale answers for one that does not exist.

// listeners serves GET /v1/listeners: an empty collection.
func (a *API) listeners(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, r, document{Links: links{Self: baseURL(r) + "/listeners/"}, Data: []any{}})
}

// serviceListeners serves GET /v1/services/:name/listeners: the service's
// listeners, none; 404 for an unknown service.
func (a *API) serviceListeners(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	if !a.exists(w, KindService, name) {
		return
	}
	writeDoc(w, r, document{Links: links{Self: baseURL(r) + "/services/" + pathName(name) + "/listeners/"}, Data: []any{}})
}

// createListener serves POST /v1/listeners: refused, as Cairn cannot run
// one (403 with the reason, which maxctrl prints).
func (a *API) createListener(w http.ResponseWriter, r *http.Request) {
	fail(w, refuse("Cairn does not run listeners: it manages MaxScale's objects but routes no SQL traffic, so a listener cannot be created"))
}

// noListener serves the routes of one listener: there is none, so 404.
func (a *API) noListener(w http.ResponseWriter, r *http.Request) { fail(w, errNotFound) }
