// Package native serves Cairn's own API under /cairn/v1: node status,
// generic resources of any kind with ETag preconditions, and the health and
// readiness probes.
package native

import (
	"context"
	"net/http"
	"time"

	"cairn/fsm"
	"cairn/node"

	"github.com/gorilla/mux"
)

// Node is what the native API needs of the node it runs on.
type Node interface {
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	Store() *fsm.Store
	ReadBarrier(ctx context.Context) error
	Status() node.Status
	Ready() (bool, string)
	Leader() (id, httpURL string)
	LastContact() time.Duration
}

// API holds the native handlers' dependencies.
type API struct {
	node Node
	now  func() time.Time
}

// Register mounts the native API and the probes on r.
func Register(r *mux.Router, n Node) {
	a := &API{node: n, now: time.Now}
	r.HandleFunc("/health", a.health).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/ready", a.ready).Methods(http.MethodGet, http.MethodHead)
	// Full paths rather than a subrouter: gorilla/mux answers 404 instead
	// of 405 for a method mismatch inside a subrouter.
	r.HandleFunc("/cairn/v1/status", a.status).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/resources/{kind}", a.list).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/resources/{kind}/{id}", a.get).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/resources/{kind}/{id}", a.put).Methods(http.MethodPut)
	r.HandleFunc("/cairn/v1/resources/{kind}/{id}", a.delete).Methods(http.MethodDelete)
}
