// Package native serves Cairn's own API under /cairn/v1: node status,
// generic resources of any kind with ETag preconditions, and the health and
// readiness probes.
package native

import (
	"context"
	"net/http"
	"time"

	"cairn/cluster"
	"cairn/cluster/overview"
	"cairn/fsm"
	"cairn/node"

	"github.com/gorilla/mux"
)

// Node is what the native API needs of the node it runs on.
type Node interface {
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	WaitIndex(ctx context.Context, index uint64) error
	ReadBarrier(ctx context.Context) error
	Status() node.Status
	StatusWithDigest() node.Status
	Servers() ([]node.Server, error)
	Ready() (bool, string)
	Leader() (id, httpURL string)
	LastContact() time.Duration
}

// Membership is what the native API needs of gossip membership.
type Membership interface {
	Members() []cluster.Member
	ZoneLeaders() map[string]string
}

// API holds the native handlers' dependencies.
type API struct {
	node       Node
	membership Membership // nil when the node runs without gossip
	now        func() time.Time
	// overviewHub gathers the overview while event streams watch it,
	// reading the members' status with overviewClient.
	overviewHub    *overview.Hub
	overviewClient *http.Client
}

// Register mounts the native API and the probes on r. membership may be
// nil; /cairn/v1/members then lists this node alone.
func Register(r *mux.Router, n Node, membership Membership) {
	a := &API{node: n, membership: membership, now: time.Now}
	a.overviewClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}}
	a.overviewHub = overview.NewHub(overviewEvery, a.gatherOverviewJSON)
	r.HandleFunc("/health", a.health).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/ready", a.ready).Methods(http.MethodGet, http.MethodHead)
	// Full paths rather than a subrouter: gorilla/mux answers 404 instead
	// of 405 for a method mismatch inside a subrouter.
	// HEAD wherever GET is: net/http sends the headers without the body.
	r.HandleFunc("/cairn/v1/status", a.status).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/members", a.members).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/overview", a.overview).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/overview/events", a.overviewEvents).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/kinds", a.kinds).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/resources/{kind}", a.list).Methods(http.MethodGet, http.MethodHead)
	// {id:.+}: an id with a '/' (sent as %2F, or as more segments) is
	// matched, and refused by kindAndID with the rule, rather than
	// answered "no route".
	r.HandleFunc("/cairn/v1/resources/{kind}/{id:.+}", a.get).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/resources/{kind}/{id:.+}", a.put).Methods(http.MethodPut)
	r.HandleFunc("/cairn/v1/resources/{kind}/{id:.+}", a.delete).Methods(http.MethodDelete)
}
