// Package mrf serves the Fabric3 Management Resource Framework dialect under
// /management: Cairn's HATEOAS root.
//
// Not built yet (its own issue): zones, zone runtime resources,
// contributions, deployments and components. Today only the domain root
// answers, and it links only to resources that exist.
package mrf

import (
	"net/http"

	"cairn/http/httpx"

	"github.com/gorilla/mux"
)

// Link is an MRF hyperlink.
type Link struct {
	Name string `json:"name"`
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// Register mounts the MRF routes on r. baseURL is the node's advertised
// HTTP address: links are built from it, never from the request's Host.
func Register(r *mux.Router, baseURL string) {
	r.HandleFunc("/management/domain", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]Link{
			"selfLink": {Name: "self", Rel: "self", Href: baseURL + "/management/domain"},
		})
	}).Methods(http.MethodGet)
}
