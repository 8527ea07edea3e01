// Package apcera serves the Apcera REST API (the seed
// apcera-api-recipes.txt, gaps from reference dialects.md section D):
// jobs, packages with verified uploads and staging, bindings and job
// links, runtimes, staging pipelines, policy documents, and tasks
// followed by polling or WebSocket. It answers on a listener of its own
// (routes at /v1/... and at /..., as the recipes' Host-relative paths
// show) and at /apcera/v1/... on the main listener.
//
// It only translates. Jobs are stored (kind apcera.job) and become
// workloads (node/workload) in the same Raft command: a started job's
// instances are the workload's, run by the zone's supervisors. A
// package's upload is checked against its declared SHA-1 and length and
// stored as a content-addressed artifact, held by the package
// (workload.KindArtifactRef). Long operations (a Docker job, a manifest)
// are tasks (cluster/tasks) that the zone leader's follower moves on;
// this package only writes them and reads them back. Every check a write
// depends on (a unique FQN, the job's version_id, a policy document's
// version) is a precondition of the write's own command (kinds.go); a
// write that loses a race is rebuilt from the state that beat it.
//
// Bodies are snake_case JSON, lists bare arrays, errors the APIError
// object {code, message, ...} (errors.go).
package apcera

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// Node is what the API needs of the node it runs on.
type Node interface {
	ID() string
	HTTPURL() string
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	WaitIndex(ctx context.Context, index uint64) error
}

// Deps are what New needs.
type Deps struct {
	Node Node
	// Auth checks a login's credentials; nil: POST /v1/login answers 503.
	Auth *auth.Authenticator
	// TokenTTL is how long a login's token lasts (0: one hour).
	TokenTTL time.Duration
	// Peers carries this node's own credentials when it reads its zone's
	// workload logs through the native API; nil: http.DefaultTransport.
	Peers  http.RoundTripper
	Logger *slog.Logger
	// MaxArtifactBytes bounds a package's resource (0: 256 MiB).
	MaxArtifactBytes int64
}

// API is the Apcera dialect of one node.
type API struct {
	Deps
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	// writeMu makes this node's writes take turns from reading the state
	// to applying: only for throughput (see topology's); correctness
	// rests on the preconditions.
	writeMu sync.Mutex
}

// New returns the dialect.
func New(d Deps) *API {
	if d.TokenTTL <= 0 {
		d.TokenTTL = time.Hour
	}
	if d.MaxArtifactBytes <= 0 {
		d.MaxArtifactBytes = 256 << 20
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	return &API{Deps: d, log: log.With("component", "apcera"), now: time.Now,
		client: &http.Client{Timeout: 10 * time.Second, Transport: d.Peers}}
}

// Prefix is where the API is mounted on the main listener.
const Prefix = "/apcera/v1"

// LoginPath is the login call on the main listener; on the dialect's own
// listener it is /v1/login (and /login).
const LoginPath = Prefix + "/login"

// prefixes are the three places the routes answer: the main listener's
// mount, and the own listener's /v1 and bare paths. The own listener
// serves the main listener's prefix too, so a task location built on the
// leader for a request a follower forwarded works on whichever listener
// the client used.
var prefixes = []string{Prefix, "/v1", ""}

// Owns reports whether path is under the API on the main listener.
func Owns(path string) bool { return path == Prefix || strings.HasPrefix(path, Prefix+"/") }

// MainPath maps a path of the own listener to the main listener's.
func MainPath(p string) string {
	switch {
	case Owns(p):
		return p
	case p == "/v1" || strings.HasPrefix(p, "/v1/"):
		return "/apcera" + p
	}
	return Prefix + p
}

// Exempt reports which requests need no credentials: the login calls.
func Exempt(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	switch r.URL.Path {
	case LoginPath, "/v1/login", "/login":
		return true
	}
	return false
}

// Mounted is the handler of /apcera/ on the main listener.
func (a *API) Mounted() http.Handler { return a.router([]string{Prefix}) }

// Listener is the handler of the API's own listener.
func (a *API) Listener() http.Handler { return a.router(prefixes) }

func (a *API) router(prefixes []string) *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail(w, notFound("no resource at %s", r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail(w, newError(errMethod, "method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	get := []string{http.MethodGet, http.MethodHead}
	for _, p := range prefixes {
		r.HandleFunc(p+"/login", a.login).Methods(http.MethodPost)
		r.HandleFunc(p+"/jobs", a.listJobs).Methods(get...)
		r.HandleFunc(p+"/jobs", a.createJob).Methods(http.MethodPost)
		r.HandleFunc(p+"/jobs/docker", a.createDockerJob).Methods(http.MethodPost)
		r.HandleFunc(p+"/jobs/{uuid}", a.getJob).Methods(get...)
		r.HandleFunc(p+"/jobs/{uuid}", a.putJob).Methods(http.MethodPut)
		r.HandleFunc(p+"/jobs/{uuid}", a.deleteJob).Methods(http.MethodDelete)
		r.HandleFunc(p+"/jobs/{uuid}/instances", a.jobInstances).Methods(get...)
		r.HandleFunc(p+"/jobs/{uuid}/logs", a.jobLogs).Methods(get...)
		r.HandleFunc(p+"/packages", a.listPackages).Methods(get...)
		r.HandleFunc(p+"/packages", a.createPackage).Methods(http.MethodPost)
		r.HandleFunc(p+"/packages/resources/{uuid}", a.uploadResource).Methods(http.MethodPut)
		r.HandleFunc(p+"/packages/{uuid}", a.getPackage).Methods(get...)
		r.HandleFunc(p+"/packages/{uuid}", a.putPackage).Methods(http.MethodPut)
		r.HandleFunc(p+"/packages/{uuid}", a.deletePackage).Methods(http.MethodDelete)
		r.HandleFunc(p+"/packages/{uuid}/resources/{resource}", a.uploadResource).Methods(http.MethodPut)
		r.HandleFunc(p+"/bindings", a.listBindings).Methods(get...)
		r.HandleFunc(p+"/bindings", a.createBinding).Methods(http.MethodPost)
		r.HandleFunc(p+"/runtimes", a.listRuntimes).Methods(get...)
		r.HandleFunc(p+"/stagingpipelines", a.listPipelines).Methods(get...)
		r.HandleFunc(p+"/stagingpipelines", a.createPipeline).Methods(http.MethodPost)
		r.HandleFunc(p+"/stagingpipelines/{uuid}", a.getPipeline).Methods(get...)
		r.HandleFunc(p+"/policy", a.listPolicy).Methods(get...)
		r.HandleFunc(p+"/policy", a.putPolicy).Methods(http.MethodPut)
		r.HandleFunc(p+"/policy/{name}", a.getPolicy).Methods(get...)
		r.HandleFunc(p+"/manifests", a.createManifest).Methods(http.MethodPost)
		r.HandleFunc(p+"/tasks/{uuid}", a.getTask).Methods(get...)
	}
	return r
}

// maxAttempts bounds how often a write lost to a concurrent one is
// rebuilt before the client is told to retry.
const maxAttempts = 20

// write builds a command from the current state and applies it; a
// command refused because another write got in first (a precondition
// failed) is built again from the state that write left, so the answer
// is always the one the state it applied to deserves. build's command
// must carry, as preconditions, every value of the view it depends on.
// A unique-index clash is not retried: it is the client's 409.
func (a *API) write(w http.ResponseWriter, r *http.Request, build func(v *fsm.View, now time.Time) ([]fsm.Op, error)) (*fsm.Result, error) {
	var last error
	for range maxAttempts {
		index, res, err := a.writeOnce(r.Context(), build)
		if index > 0 {
			w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
		}
		if err == nil {
			return res, nil
		}
		var c *fsm.Conflict
		if !errors.Is(err, fsm.ErrConflict) || index == 0 || (errors.As(err, &c) && c.Index != "") {
			httpx.MarkNotApplied(w, err)
			return nil, err
		}
		last = err
		if err := a.Node.WaitIndex(r.Context(), index); err != nil {
			return nil, err
		}
	}
	return nil, newError(errUnavailable, "the state changed under this request %d times; retry (%v)", maxAttempts, last)
}

func (a *API) writeOnce(ctx context.Context, build func(v *fsm.View, now time.Time) ([]fsm.Op, error)) (uint64, *fsm.Result, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	v := a.Node.View()
	now := a.now().UTC()
	ops, err := build(v, now)
	if err != nil {
		return 0, nil, err
	}
	return a.Node.Apply(ctx, fsm.Command{Ops: ops, Time: now})
}

// user is who a request acts as, for created_by and updated_by.
func user(r *http.Request) string {
	p := httpx.PrincipalFrom(r.Context())
	if p == auth.Anonymous {
		return ""
	}
	return p.Name
}

// nameUUID is a UUID made from name (version 5 style, SHA-1): the same
// name always gives the same UUID (built-in pipelines, instances).
func nameUUID(name string) string {
	s := sha1.Sum([]byte("cairn-apcera:" + name))
	b := s[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validUUID reports whether s looks like a UUID (ids in paths).
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// writeNull answers 200 with the body null, as the seed's uploads and
// deletes do.
func writeNull(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "4")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("null"))
}

// baseURL is the URL prefix of this API as the client reached it: its
// scheme and Host, and the mount of the path it used.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	mount := "/v1" // the own listener's, bare paths included
	if Owns(r.URL.Path) {
		mount = Prefix
	}
	return scheme + "://" + r.Host + mount
}
