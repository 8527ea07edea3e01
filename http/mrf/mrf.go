// Package mrf serves the Fabric3 Management Resource Framework dialect under
// /management: Cairn's HATEOAS root.
//
// A client starts at a controller's /management/domain and reaches
// everything else by following hrefs: /management/domain/zones links each
// zone to its current leader's /management/zone (from gossip, so the link
// moves when a new leader is elected); a zone links its runtime resources.
// /management/runtime/{resource} shows this process's live values;
// /management/zone/runtime/{resource} shows the zone's stored values, and a
// PUT or POST there changes them for every member of the zone through Raft.
//
// Conventions follow Fabric3's management REST module (2014): links are
// {"name","rel","href"}; every resource is {"selfLink": ..., properties};
// a value that is not a resource is wrapped as {"selfLink":..., "value":...};
// paths are case-insensitive and a trailing slash is ignored (CanonicalPaths);
// errors are a JSON string with the status code. Hrefs are absolute URLs built
// from advertised HTTP addresses (this node's, or a peer's from gossip),
// never from the request's Host.
//
// Contributions, deployments and components are the domain's, held in the
// controller zone's Raft group: a contribution's archive is stored
// content-addressed (kind mrf.archive, id = its SHA-1) beside the
// contribution; a deployment records its target zones, each pending until
// that zone's leader, which follows the controller's deployments with
// blocking reads (the Deployer of cluster/deploy, a leader loop: this
// package runs none), has applied it into its own zone's store and
// reported deployed or failed; a deploy or undeploy answers once every
// target zone has (await.go), as Fabric3's does. Components are those of
// the deployable SCA composites of a deployed contribution
// (SCAContributionPath) and those its Cairn manifest names
// (ManifestPath), listed per zone that runs them; a contribution whose
// manifest says what to run runs as a workload in each zone, and its
// components' state is read from that zone's instances (running.go). Profiles install and
// uninstall several contributions as one. A node that is no controller
// forwards requests for the domain's resources to one (ToController).
// Names a client gives keep their case and match in any case (nameVar,
// key).
package mrf

import (
	"context"
	"net/http"
	"time"

	"cairn/cluster"
	"cairn/fsm"

	"github.com/gorilla/mux"
)

// Node is what MRF needs of the node it runs on.
type Node interface {
	ID() string
	Zone() string
	// HTTPURL is this node's advertised HTTP base URL.
	HTTPURL() string
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	// WaitIndex blocks until the local store has applied index, or ctx
	// ends.
	WaitIndex(ctx context.Context, index uint64) error
	// Leader is the zone leader's id and HTTP URL as Raft knows them.
	Leader() (id, httpURL string)
}

// Membership is what MRF needs of gossip: the domain's members (this node
// included) and each zone's leader.
type Membership interface {
	Members() []cluster.Member
	ZoneLeaders() map[string]string
}

// Runtime is this process's runtime resources (the node/runtime package).
// Errors of SetCommand and InvokeCommand are the client's mistakes: the
// handlers check first that the resource and operation exist.
type Runtime interface {
	Resources() []string
	Operations(resource string) []string
	// Live is this process's current values of resource, JSON-ready.
	Live(resource string) (map[string]any, bool)
	// Zone is the zone's values of resource as stored in v.
	Zone(v *fsm.View, resource string) (map[string]any, bool)
	// SetCommand validates body and builds the zone-wide write.
	SetCommand(v *fsm.View, resource string, body []byte, now time.Time) (fsm.Command, error)
	// ResetCommand builds the write that deletes the zone's values, so
	// every member returns to its flags; ok is false when none is stored.
	ResetCommand(v *fsm.View, resource string, now time.Time) (cmd fsm.Command, ok bool, err error)
	// InvokeCommand builds the write that runs op on every member.
	InvokeCommand(resource, op, by string, now time.Time) (fsm.Command, error)
}

// Deps are what Register needs. Membership may be nil (a node without
// gossip: it is the controller and its zone's only known member); Runtime
// may be nil (no runtime resources are served).
type Deps struct {
	Node       Node
	Membership Membership
	Runtime    Runtime
	// DeployTimeout bounds a synchronous deploy or undeploy (0:
	// DefaultDeployTimeout).
	DeployTimeout time.Duration
	// Credentials, if not nil, adds this node's own credentials to a
	// transport (auth.NodeCredentials.Wrap): for the reads this API makes
	// of other zones (deployment progress, run states). Never for a
	// client's request passed on, which keeps the client's.
	Credentials func(http.RoundTripper) http.RoundTripper
}

// api holds the handlers' dependencies.
type api struct {
	Deps
	now func() time.Time
	// peers reads other nodes with this node's credentials.
	peers *http.Client
}

// Register mounts the MRF routes on r. Requests must reach r through
// CanonicalPaths, which lower-cases /management paths and drops a trailing
// slash. Full paths rather than a subrouter: gorilla/mux answers 404
// instead of 405 for a method mismatch inside a subrouter.
func Register(r *mux.Router, d Deps) {
	a := &api{Deps: d, now: time.Now, peers: peerClient}
	if d.Credentials != nil {
		a.peers = &http.Client{Transport: d.Credentials(peerClient.Transport), CheckRedirect: peerClient.CheckRedirect}
	}
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/management/domain", a.domain).Methods(get...)
	r.HandleFunc("/management/domain/zones", a.zones).Methods(get...)
	r.HandleFunc("/management/domain/runtimes", a.runtimes).Methods(get...)
	dom := func(path string, h http.HandlerFunc, methods ...string) {
		r.HandleFunc(path, a.onController(h)).Methods(methods...)
	}
	one := contributionPath + "{uri}"
	dom(contributionsPath, a.contributions, get...)
	dom(one, a.contribution, get...)
	dom(one, a.installContribution, http.MethodPut)
	dom(one, a.uninstallContribution, http.MethodDelete)
	dom(profilesPath, a.profiles, get...)
	// The CLI's path, and the older one Fabric3's module also mapped.
	for _, one := range []string{profilePath + "{uri}", contributionsPath + "/profile/{uri}"} {
		dom(one, a.getProfile, get...)
		dom(one, a.installProfile, http.MethodPut)
		dom(one, a.uninstallProfile, http.MethodDelete)
	}
	one = deploymentPath + "{uri}"
	dom(deploymentsPath, a.deployments, get...)
	dom(one, a.deployment, get...)
	dom(one, a.deploy, http.MethodPut, http.MethodPost)
	dom(one, a.undeploy, http.MethodDelete)
	dom(one+"/report", a.report, http.MethodPost)
	dom(componentsPath, a.components, get...)
	dom(componentsPath+"/{name}", a.componentByName, get...)
	r.HandleFunc("/management/zone/deployments", a.zoneDeployments).Methods(get...)
	r.HandleFunc("/management/zone", a.zone).Methods(get...)
	r.HandleFunc("/management/zone/runtime", a.zoneRuntime).Methods(get...)
	r.HandleFunc("/management/zone/runtime/{resource}", a.zoneResource).Methods(get...)
	r.HandleFunc("/management/zone/runtime/{resource}", a.setZoneResource).Methods(http.MethodPut, http.MethodPost)
	r.HandleFunc("/management/zone/runtime/{resource}", a.resetZoneResource).Methods(http.MethodDelete)
	r.HandleFunc("/management/zone/runtime/{resource}/{operation}", a.invokeZoneOperation).Methods(http.MethodPost)
	// The seed names the runtime root both /management/runtime and
	// /management/domain/runtime; both serve this process's values.
	// A write to a runtime's resource is a write to its zone's, as
	// Fabric3 replicates every non-GET request on a runtime resource to
	// the runtime's zone (ResourceReplicationHandler).
	for _, root := range []string{"/management/runtime", "/management/domain/runtime"} {
		r.HandleFunc(root, a.runtime).Methods(get...)
		r.HandleFunc(root+"/{resource}", a.runtimeResource).Methods(get...)
		r.HandleFunc(root+"/{resource}", a.setZoneResource).Methods(http.MethodPut, http.MethodPost)
		r.HandleFunc(root+"/{resource}/{operation}", a.invokeZoneOperation).Methods(http.MethodPost)
	}
}
