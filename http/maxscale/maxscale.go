// Package maxscale serves the MaxScale REST API (JSON:API documents, the
// API MaxScale 6.4 and its CLI maxctrl speak): servers, services, monitors,
// filters, listeners, admin users, JWT login, and the maxscale resource
// (runtime parameters, modules, threads, logs). The spec is
// seeds/maxscale-server-resource.md; where it is silent, the reference notes
// on MaxScale 6.4's server and maxctrl, and MaxScale 6.4.15's sources.
//
// Routes answer at /v1/... and /... on the dialect's own listener (default
// port 8989), and at /maxscale/v1/... on the main one. Every request needs
// the credentials of one of the zone's users (node/auth; HTTP Basic, a
// Bearer token, or MaxScale's token cookies; jwt.go), whatever the address
// the listener binds: MaxScale's own rule. Its default admin/mariadb is
// accepted while in use (auth.go).
//
// Objects are stored under a canonical id (the name lower-cased,
// whitespace as hyphens) and keep their display name. Each relationship is
// stored on one side only (a service holds its servers, services, monitors
// and filter chain; a server holds its monitor; a listener its service)
// and read from the other by index. Parameters are validated against the
// parameter sets of modules.go (params.go). Every write validates against the current state and applies ONE
// command in which every object read carries a version precondition; a lost
// race is retried once, then refused with 403.
//
// Running monitors probe their servers from the zone leader: the prober
// is cluster/monitor, which reads and writes them through Fleet.
//
// Filters and listeners are recorded with MaxScale's rules and
// relationships, but Cairn routes no SQL: no filter sees a query and no
// listener listens (its state says "Stopped").
package maxscale

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// Node is what the MaxScale API needs of the node it runs on.
type Node interface {
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
}

// MountPrefix is where the routes answer on the main listener.
const MountPrefix = "/maxscale/v1"

// Version is the MaxScale version /v1/maxscale reports: the one whose API
// and CLI this dialect follows.
const Version = "6.4.15"

// Options are the API's optional settings.
type Options struct {
	// NodeID names this node in /v1/maxscale.
	NodeID string
	// CairnVersion is reported as the commit in /v1/maxscale.
	CairnVersion string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives what the API logs, such as a corrupt record it
	// skipped (default: slog.Default()).
	Logger *slog.Logger
	// Auth checks credentials against the zone's users (default: one of
	// the node's own).
	Auth *auth.Authenticator
	// Logs keeps the node's recent log lines for /v1/maxscale/logs/data
	// (nil: none are shown).
	Logs *LogRing
}

// API holds the MaxScale handlers' dependencies.
type API struct {
	node    Node
	opts    Options
	auth    *auth.Authenticator
	started time.Time
	// lisRouter is the router of Listener, for Route.
	lisRouter *mux.Router
}

// logger is where the API reports what it skipped (a corrupt record).
func (a *API) logger() *slog.Logger {
	if a.opts.Logger != nil {
		return a.opts.Logger.With("component", "maxscale")
	}
	return slog.Default().With("component", "maxscale")
}

// New returns the API for n.
func New(n Node, opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Auth == nil {
		opts.Auth = auth.NewAuthenticator(n.View)
	}
	return &API{node: n, opts: opts, auth: opts.Auth, started: opts.Now()}
}

// Listener is the handler of the dialect's own listener: the routes at
// /v1/... and at /... .
func (a *API) Listener() http.Handler {
	r := a.router()
	a.register(r, "/v1")
	a.register(r, "")
	r.HandleFunc("/", a.health).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/v1", a.health).Methods(http.MethodGet, http.MethodHead)
	a.lisRouter = r
	return a.wrap(r)
}

// Mounted is the handler of the routes under MountPrefix on the main
// listener; the main router sends it every path under /maxscale/.
func (a *API) Mounted() http.Handler {
	r := a.router()
	a.register(r, MountPrefix)
	r.HandleFunc(MountPrefix, a.health).Methods(http.MethodGet, http.MethodHead)
	return a.wrap(r)
}

// MainPath maps a path of the dialect's own listener to the same route on
// the main listener: a follower forwards writes it gets on its MaxScale
// listener to the leader's main listener, which serves them there.
func MainPath(p string) string {
	if p == "/v1" || strings.HasPrefix(p, "/v1/") {
		return "/maxscale" + p
	}
	return MountPrefix + p
}

func (a *API) router() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed)
	})
	return r
}

// wrap authenticates every request and ignores trailing slashes, as
// MaxScale does.
func (a *API) wrap(r http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if p := req.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			req2 := req.WithContext(req.Context())
			u := *req.URL
			u.Path, u.RawPath = strings.TrimRight(p, "/"), ""
			if u.Path == "" {
				u.Path = "/"
			}
			req2.URL = &u
			req = req2
		}
		p, err := a.authorize(req)
		if err != nil {
			fail(w, err)
			return
		}
		r.ServeHTTP(w, withPrincipal(req, p))
	})
}

func (a *API) register(r *mux.Router, p string) {
	get := []string{http.MethodGet, http.MethodHead}
	for _, res := range []struct {
		typ  string
		kind string
	}{{"servers", KindServer}, {"services", KindService}, {"monitors", KindMonitor}, {"filters", KindFilter}, {"listeners", KindListener}} {
		kind := res.kind
		r.HandleFunc(p+"/"+res.typ, a.list(kind)).Methods(get...)
		r.HandleFunc(p+"/"+res.typ, a.create(kind)).Methods(http.MethodPost)
		r.HandleFunc(p+"/"+res.typ+"/{name}", a.get(kind)).Methods(get...)
		r.HandleFunc(p+"/"+res.typ+"/{name}", a.patch(kind)).Methods(http.MethodPatch)
		r.HandleFunc(p+"/"+res.typ+"/{name}", a.destroy(kind)).Methods(http.MethodDelete)
		r.HandleFunc(p+"/"+res.typ+"/{name}/relationships/{rel}", a.getRelationship(kind)).Methods(get...)
		r.HandleFunc(p+"/"+res.typ+"/{name}/relationships/{rel}", a.patchRelationship(kind)).Methods(http.MethodPatch)
	}
	r.HandleFunc(p+"/servers/{name}/set", a.setState(true)).Methods(http.MethodPut)
	r.HandleFunc(p+"/servers/{name}/clear", a.setState(false)).Methods(http.MethodPut)
	r.HandleFunc(p+"/services/{name}/start", a.startStop(KindService, false)).Methods(http.MethodPut)
	r.HandleFunc(p+"/services/{name}/stop", a.startStop(KindService, true)).Methods(http.MethodPut)
	r.HandleFunc(p+"/monitors/{name}/start", a.startStop(KindMonitor, false)).Methods(http.MethodPut)
	r.HandleFunc(p+"/monitors/{name}/stop", a.startStop(KindMonitor, true)).Methods(http.MethodPut)
	r.HandleFunc(p+"/listeners/{name}/start", a.startListener).Methods(http.MethodPut)
	r.HandleFunc(p+"/listeners/{name}/stop", a.stopListener).Methods(http.MethodPut)
	r.HandleFunc(p+"/services/{name}/listeners", a.serviceListeners).Methods(get...)
	r.HandleFunc(p+"/services/{name}/listeners", a.create(KindListener)).Methods(http.MethodPost)
	r.HandleFunc(p+"/services/{name}/listeners/{listener}", a.serviceListener).Methods(get...)
	r.HandleFunc(p+"/services/{name}/listeners/{listener}", a.destroyServiceListener).Methods(http.MethodDelete)
	r.HandleFunc(p+"/maxscale", a.maxscale).Methods(get...)
	r.HandleFunc(p+"/maxscale", a.patchGlobals).Methods(http.MethodPatch)
	r.HandleFunc(p+"/maxscale/logs", a.logs).Methods(get...)
	r.HandleFunc(p+"/maxscale/logs", a.patchGlobals).Methods(http.MethodPatch)
	r.HandleFunc(p+"/maxscale/logs/data", a.logData).Methods(get...)
	r.HandleFunc(p+"/maxscale/logs/flush", a.flushLogs).Methods(http.MethodPost)
	r.HandleFunc(p+"/maxscale/modules", a.listModules).Methods(get...)
	r.HandleFunc(p+"/maxscale/modules/{module}", a.getModule).Methods(get...)
	r.HandleFunc(p+"/maxscale/threads", a.threads).Methods(get...)
	r.HandleFunc(p+"/maxscale/threads/{id}", a.thread).Methods(get...)
	r.HandleFunc(p+"/maxscale/query_classifier", a.queryClassifier).Methods(get...)
	r.HandleFunc(p+"/maxscale/debug/server_diagnostics", a.serverDiagnostics).Methods(get...)
	r.HandleFunc(p+"/sessions", a.sessions).Methods(get...)
	r.HandleFunc(p+"/sessions/{id}", a.noSession)
	r.HandleFunc(p+"/services/{name}/reload", a.reloadService).Methods(http.MethodPost)
	r.HandleFunc(p+"/auth", a.issueToken).Methods(get...)
	r.HandleFunc(p+"/users", a.usersRoot).Methods(get...)
	r.HandleFunc(p+"/users/inet", a.listUsers).Methods(get...)
	r.HandleFunc(p+"/users/inet", a.createUser).Methods(http.MethodPost)
	r.HandleFunc(p+"/users/inet/{name}", a.getUser).Methods(get...)
	r.HandleFunc(p+"/users/inet/{name}", a.patchUser).Methods(http.MethodPatch)
	r.HandleFunc(p+"/users/inet/{name}", a.deleteUser).Methods(http.MethodDelete)
}

// health answers GET / and GET /v1/: 200 with no body, as MaxScale does.
func (a *API) health(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }

// write runs build against the current state and applies the command it
// gathers (see commit). Success is 204 with no body.
func (a *API) write(w http.ResponseWriter, r *http.Request, build func(t *txn) error) {
	idx, err := a.commit(r.Context(), build)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("X-Cairn-Index", strconv.FormatUint(idx, 10))
	w.WriteHeader(http.StatusNoContent)
}

// commit runs build against the current state and applies the one command
// it gathers. A command that lost a race with another write is rebuilt
// once on the newer state; a second loss is refused.
func (a *API) commit(ctx context.Context, build func(t *txn) error) (uint64, error) {
	for attempt := 0; ; attempt++ {
		t := newTxn(a.node.View())
		err := build(t)
		if err == nil {
			err = checkInvariants(t)
		}
		var idx uint64
		if err == nil {
			var cmd fsm.Command
			if cmd, err = t.command(a.opts.Now().UTC()); err == nil {
				var res *fsm.Result
				idx, res, err = a.node.Apply(ctx, cmd)
				if err == nil {
					err = res.Err()
				}
			}
		}
		if errors.Is(err, fsm.ErrConflict) && attempt == 0 {
			continue
		}
		if errors.Is(err, fsm.ErrConflict) {
			err = refuse("The objects this request changes were changed by another request at the same time; retry: " + err.Error())
		}
		return idx, err
	}
}

// checkInvariants refuses a transaction that would leave a service with
// both a cluster (monitors) and servers or services as targets, or a
// service that reaches itself through the services it uses (MaxScale
// refuses a cycle of services: a session would route into itself).
func checkInvariants(t *txn) error {
	var changed []*object
	for _, k := range t.order {
		if o := t.objs[k]; o != nil && t.dirty[k] && !t.deleted[k] && o.kind == KindService {
			changed = append(changed, o)
		}
	}
	for _, o := range changed {
		if len(o.Monitors) > 0 && (len(o.Servers) > 0 || len(o.Services) > 0) {
			return refuse("A service can use either a monitor (cluster) or servers and services, not both: '" + o.Name + "'")
		}
		if err := checkNoCycle(t, o); err != nil {
			return err
		}
	}
	return nil
}

// checkNoCycle refuses a service whose targets lead back to it. Every
// service it walks through is read into the transaction, so a concurrent
// change to any of them makes the command conflict.
func checkNoCycle(t *txn, o *object) error {
	seen := map[string]bool{}
	var reaches func(id string) (bool, error)
	reaches = func(id string) (bool, error) {
		if id == o.id {
			return true, nil
		}
		if seen[id] {
			return false, nil
		}
		seen[id] = true
		s, err := t.get(KindService, id)
		if err != nil || s == nil || t.deleted[key(s.kind, s.id)] {
			return false, err
		}
		for _, next := range s.Services {
			if found, err := reaches(next); found || err != nil {
				return found, err
			}
		}
		return false, nil
	}
	for _, id := range o.Services {
		found, err := reaches(id)
		if err != nil {
			return err
		}
		if found {
			return refuse("Service '" + o.Name + "' cannot use service '" + serviceName(t, id) + "' as a target: it would create a cycle of services")
		}
	}
	return nil
}

func serviceName(t *txn, id string) string {
	if s, err := t.get(KindService, id); err == nil && s != nil {
		return s.Name
	}
	return id
}

// Route names the route of the dialect's own listener r matches (its path
// template, "unmatched" if none), for the listener's HTTP metrics.
func (a *API) Route(r *http.Request) string {
	var m mux.RouteMatch
	if a.lisRouter != nil && a.lisRouter.Match(r, &m) && m.MatchErr == nil && m.Route != nil {
		if tpl, err := m.Route.GetPathTemplate(); err == nil {
			return tpl
		}
	}
	return "unmatched"
}
