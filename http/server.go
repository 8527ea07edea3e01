// Package api (folder http/) is Cairn's HTTP front: the gorilla/mux router, the
// middleware every request passes (panic recovery, body size limit,
// deadline), and the mounting of each API dialect (sub-packages native,
// mrf, ...). Dialects never touch Raft; they call the node.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cairn/http/arm"
	"cairn/http/httpx"
	"cairn/http/maxscale"
	"cairn/http/mrf"
	"cairn/http/native"
	"cairn/http/topology"
	"cairn/http/ui"
	"cairn/node"
	"cairn/node/failpoint"
	"cairn/node/tlsconfig"
	nodetopo "cairn/node/topology"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// Limits are the request limits every member of a zone applies. They are
// atomics because a runtime resource may change them while serving.
type Limits struct {
	maxBodyBytes   atomic.Int64
	requestTimeout atomic.Int64 // nanoseconds
	maxConcurrent  atomic.Int64 // 0: unlimited
}

// NewLimits returns limits with the given values.
func NewLimits(maxBodyBytes int64, requestTimeout time.Duration) *Limits {
	l := &Limits{}
	l.Set(maxBodyBytes, requestTimeout)
	return l
}

// Set changes both limits.
func (l *Limits) Set(maxBodyBytes int64, requestTimeout time.Duration) {
	l.maxBodyBytes.Store(maxBodyBytes)
	l.requestTimeout.Store(int64(requestTimeout))
}

// SetMaxBodyBytes changes the largest request body accepted.
func (l *Limits) SetMaxBodyBytes(n int64) { l.maxBodyBytes.Store(n) }

// SetRequestTimeout changes the deadline of a request.
func (l *Limits) SetRequestTimeout(d time.Duration) { l.requestTimeout.Store(int64(d)) }

// SetMaxConcurrentRequests changes how many requests may be served at
// once; more get 503 with Retry-After. 0 means unlimited.
func (l *Limits) SetMaxConcurrentRequests(n int64) { l.maxConcurrent.Store(n) }

// MaxConcurrentRequests is how many requests may be served at once (0:
// unlimited).
func (l *Limits) MaxConcurrentRequests() int64 { return l.maxConcurrent.Load() }

// MaxBodyBytes is the largest request body accepted.
func (l *Limits) MaxBodyBytes() int64 { return l.maxBodyBytes.Load() }

// RequestTimeout is the deadline of a request (blocking reads get their
// wait on top).
func (l *Limits) RequestTimeout() time.Duration { return time.Duration(l.requestTimeout.Load()) }

// blockingReadAllowance is added to the deadline of requests that wait on
// purpose: GETs that block (?index=N), so a wait of up to five minutes is
// not cut short, and synchronous MRF deploys (mrf.Waits), which wait for
// their zones up to their own bound.
const blockingReadAllowance = 5 * time.Minute

// Server serves every dialect of one node.
type Server struct {
	handler http.Handler
	limits  *Limits
	log     *slog.Logger
	// auditLog writes the audit lines (component=audit).
	auditLog *slog.Logger
	// inFlight counts requests past the concurrency limit check.
	inFlight atomic.Int64
	// srv is made once, by whichever of Serve and Shutdown comes first:
	// cairn agent calls them from different goroutines, and a Shutdown
	// that wins the race must still stop the Serve that follows.
	srvOnce sync.Once
	srv     *http.Server
	// metrics is the main listener's HTTP metrics (nil without a
	// registry), shared with dialect listeners (DialectMetrics).
	metrics *httpMetrics
	// overloaded reports whether a write arriving now would be refused
	// as overload anyway (the leader's writes in flight, or this node's
	// forwards, at their bound): applyLimits then refuses it before
	// anything reads or parses it. nil: never.
	overloaded func() bool
}

// overloadedMessage is the answer to a write refused because the leader
// has its limit of writes in hand (before reading it, or once read).
const overloadedMessage = "this node has its limit of writes in flight (overloaded); retry"

// shedWrites makes s refuse writes at once while n or fwd is at its bound.
func (s *Server) shedWrites(n *node.Node, fwd *forwarder) {
	if max := n.MaxApplyInFlight(); max > 0 {
		fwd.forwarding = make(chan struct{}, max)
	}
	s.overloaded = func() bool { return n.Overloaded() || fwd.saturated() }
}

// Option adds an optional part to the server.
type Option func(*options)

type options struct {
	membership native.Membership
	registry   *prometheus.Registry
	runtime    mrf.Runtime
	maxscale   http.Handler
	apcera     http.Handler
	// deployTimeout bounds a synchronous MRF deploy or undeploy.
	deployTimeout time.Duration
	workloads     native.WorkloadOptions
	auth          AuthPolicy
	tokenTTL      time.Duration
	// peers is the TLS setup of requests to other nodes (nil: plain HTTP).
	peers *tlsconfig.Config
}

// WithTokenTTL sets how long a login's token is valid (0:
// native.DefaultTokenTTL).
func WithTokenTTL(d time.Duration) Option {
	return func(o *options) { o.tokenTTL = d }
}

// WithPeerTLS makes the requests this server sends to other nodes
// (forwarding to the zone leader, to the MRF controller) use TLS as tc
// says: https, peers verified against its CA. Nil leaves them plain HTTP.
func WithPeerTLS(tc *tlsconfig.Config) Option {
	return func(o *options) { o.peers = tc }
}

// WithWorkloads sets the workload API's options: this node's supervisor
// (for logs) and the artifact size limit.
func WithWorkloads(w native.WorkloadOptions) Option {
	return func(o *options) { o.workloads = w }
}

// WithMembership serves /cairn/v1/members from gossip.
func WithMembership(m native.Membership) Option {
	return func(o *options) { o.membership = m }
}

// WithRuntime serves the node's runtime resources under
// /management/runtime and /management/zone/runtime.
func WithRuntime(rt mrf.Runtime) Option {
	return func(o *options) { o.runtime = rt }
}

// WithDeployTimeout bounds how long an MRF deploy or undeploy waits for
// its target zones to report (0: mrf.DefaultDeployTimeout).
func WithDeployTimeout(d time.Duration) Option {
	return func(o *options) { o.deployTimeout = d }
}

// WithMaxScale serves h, the MaxScale API's handler, for every path under
// /maxscale/ (its routes answer at /maxscale/v1/...).
func WithMaxScale(h http.Handler) Option {
	return func(o *options) { o.maxscale = h }
}

// WithApcera serves h, the Apcera API's handler, for every path under
// /apcera/ (its routes answer at /apcera/v1/...).
func WithApcera(h http.Handler) Option {
	return func(o *options) { o.apcera = h }
}

// WithMetrics registers the HTTP metrics (requests, latency, in-flight,
// forwarding) on reg and serves everything reg gathers at GET /metrics.
func WithMetrics(reg *prometheus.Registry) Option {
	return func(o *options) { o.registry = reg }
}

// NewServer builds the router for n. Writes and consistent reads that
// reach a follower are forwarded to the zone leader.
func NewServer(n *node.Node, limits *Limits, log *slog.Logger, opts ...Option) *Server {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mrf.Owns(r.URL.Path) {
			mrf.NotFound(w, r)
			return
		}
		if topology.Owns(r.URL.Path) {
			topology.NotFound(w, r)
			return
		}
		if arm.Owns(r.URL.Path) {
			arm.NotFound(w, r)
			return
		}
		native.WriteError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mrf.Owns(r.URL.Path) {
			mrf.MethodNotAllowed(w, r)
			return
		}
		if topology.Owns(r.URL.Path) {
			topology.MethodNotAllowed(w, r)
			return
		}
		if arm.Owns(r.URL.Path) {
			arm.MethodNotAllowed(w, r)
			return
		}
		native.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	native.Register(r, n, o.membership, o.peers.Transport(2))
	native.RegisterWorkloads(r, n, o.membership, o.workloads)
	native.RegisterUsers(r, n, native.UsersOptions{Auth: o.auth.Auth, TokenTTL: o.tokenTTL})
	native.RegisterSnapshot(r, n)
	deps := mrf.Deps{Node: n, Runtime: o.runtime, DeployTimeout: o.deployTimeout, Credentials: o.auth.peerCredentials(), Peers: o.peers.HTTPClient(0)}
	if o.membership != nil {
		deps.Membership = o.membership
	}
	mrf.Register(r, deps)
	// API Gateway instances' files go under the data dir's topology/.
	tdeps := topology.Deps{Node: n, Files: &nodetopo.Files{Dir: filepath.Join(n.DataDir(), "topology")}, Logger: log,
		Client: &http.Client{Timeout: 30 * time.Second, Transport: o.auth.peerTransport()}}
	if o.membership != nil {
		tdeps.Membership = o.membership
	}
	topology.Register(r, tdeps)
	adeps := arm.Deps{Node: n, Auth: o.auth.Auth, TokenTTL: o.tokenTTL, MaxArtifactBytes: o.workloads.MaxArtifactBytes, Logger: log}
	if o.membership != nil {
		adeps.Membership = o.membership
	}
	arm.Register(r, adeps)
	ui.Register(r) // the web console at /ui/, and GET / redirects there
	if o.maxscale != nil {
		r.PathPrefix("/maxscale/").Handler(o.maxscale)
	}
	if o.apcera != nil {
		r.PathPrefix("/apcera/").Handler(o.apcera)
	}
	var hm *httpMetrics
	if o.registry != nil {
		hm = newHTTPMetrics()
		o.registry.MustRegister(hm)
		r.Handle("/metrics", metricsHandler(o.registry)).Methods(http.MethodGet, http.MethodHead)
	}
	s := &Server{limits: limits, log: log.With("component", "http"), auditLog: log.With("component", "audit"), metrics: hm}
	fwd := newForwarder(n, s.log)
	fwd.transport = o.peers.Transport(128)
	fwd.metrics = hm
	s.shedWrites(n, fwd)
	// Domain resources reach a controller in one hop, ahead of zone
	// forwarding (mrf.ToController).
	s.handler = mrf.CanonicalPaths(hm.instrument(r, maxscaleErrors(o.maxscale != nil, s.audit(s.recoverPanics(s.applyLimits(s.authenticate(o.auth, arm.CloseAfterPatch(topology.NodeLocal(tdeps, mrf.ToController(deps, fwd.wrap(r)))))))))))
	if fh := failpoint.Handler(); fh != nil {
		// Only in a failpoints build: arming is per node, never forwarded.
		m := http.NewServeMux()
		m.Handle(failpoint.HTTPPrefix, fh)
		m.Handle(failpoint.HTTPPrefix+"/", fh)
		m.Handle("/", s.handler)
		s.handler = m
	}
	return s
}

// maxscaleErrors marks requests for the MaxScale API on the main listener
// (/maxscale/...) so that the middleware's own refusals (413, 503, an
// auth failure, a panic) use MaxScale's error body, as the API's do, and
// lets the listener's authentication see MaxScale's token cookies.
func maxscaleErrors(on bool, next http.Handler) http.Handler {
	if !on {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, maxscale.MountPrefix+"/") || r.URL.Path == maxscale.MountPrefix {
			w = httpx.WithErrors(w, maxscale.WriteError)
			maxscale.CookieAuth(r)
		}
		next.ServeHTTP(w, r)
	})
}

// DialectErrors makes the middleware's own refusals on the listener (413,
// 503, a forward that failed, a panic) use the dialect's error body.
func DialectErrors(write httpx.ErrorFunc) DialectOption {
	return func(o *dialectOptions) { o.errors = write }
}

// DialectMetrics counts the listener's requests in main's HTTP metrics,
// under dialect, each under the route routeOf names.
func DialectMetrics(main *Server, dialect string, routeOf func(*http.Request) string) DialectOption {
	return func(o *dialectOptions) { o.metrics, o.dialect, o.routeOf = main.metrics, dialect, routeOf }
}

// NewDialectServer serves h, a dialect's handler, on a listener of the
// dialect's own (MaxScale's port 8989, say) with the middleware of the main
// listener: panic recovery, the limits, and forwarding to the zone leader.
// The leader is reached on its main listener, so mainPath maps a path of
// this listener to the same route there.
func NewDialectServer(n *node.Node, limits *Limits, log *slog.Logger, h http.Handler, mainPath func(string) string, opts ...DialectOption) *Server {
	var o dialectOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{limits: limits, log: log.With("component", "http"), auditLog: log.With("component", "audit"), metrics: o.metrics}
	fwd := newForwarder(n, s.log)
	fwd.transport = o.peers.Transport(128)
	fwd.rewritePath = mainPath
	fwd.metrics = o.metrics
	s.shedWrites(n, fwd)
	inner := fwd.wrap(h)
	if o.auth != nil {
		// Before forwarding, as on the main listener: the leader then
		// checks the caller's credentials again.
		inner = s.authenticateWith(*o.auth, o.exempt, o.refuse, inner)
	}
	s.handler = s.audit(s.recoverPanics(s.applyLimits(inner)))
	if o.errors != nil {
		inner := s.handler
		s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(httpx.WithErrors(w, o.errors), r)
		})
	}
	if o.metrics != nil {
		routeOf := o.routeOf
		if routeOf == nil {
			routeOf = func(*http.Request) string { return unmatchedRoute }
		}
		dialect := o.dialect
		s.handler = o.metrics.instrumentRoutes(routeOf, func(string) string { return dialect }, s.handler)
	}
	return s
}

// DialectOption adds an optional part to a dialect's own listener.
type DialectOption func(*dialectOptions)

type dialectOptions struct {
	auth   *AuthPolicy
	exempt func(*http.Request) bool
	refuse func(w http.ResponseWriter, status int, msg string)
	// peers is the TLS setup of forwards to the leader (nil: plain HTTP).
	peers *tlsconfig.Config
	// errors writes the middleware's own refusals in the dialect's body.
	errors  httpx.ErrorFunc
	metrics *httpMetrics
	dialect string
	routeOf func(*http.Request) string
}

// DialectPeerTLS makes a dialect's own listener forward to the zone
// leader over HTTPS as tc says (WithPeerTLS of the main listener).
func DialectPeerTLS(tc *tlsconfig.Config) DialectOption {
	return func(o *dialectOptions) { o.peers = tc }
}

// DialectAuth makes a dialect's own listener authenticate as the main
// listener does (HTTP Basic or a Bearer token against the zone's users;
// a readonly user may not write), before forwarding: exempt names the
// requests that need no credentials (a login call), refuse writes a 401
// or 403 in the dialect's error body.
func DialectAuth(p AuthPolicy, exempt func(*http.Request) bool, refuse func(w http.ResponseWriter, status int, msg string)) DialectOption {
	return func(o *dialectOptions) { o.auth, o.exempt, o.refuse = &p, exempt, refuse }
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// httpServer returns the one http.Server of s.
func (s *Server) httpServer() *http.Server {
	s.srvOnce.Do(func() {
		// Requests that wait on purpose (blocking reads) end their wait
		// when shutdown begins, rather than hold it up (httpx.AfterShutdown).
		shutdown, begin := context.WithCancel(context.Background())
		s.srv = &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// A backstop only: applyLimits sets each request's write
			// deadline from the live limits, and a request body's reads
			// have deadlines of their own (deadlineBody), so there is no
			// ReadTimeout to cut a large upload short.
			WriteTimeout:   blockingReadAllowance + 10*time.Minute,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       serverErrorLog(s.log),
			BaseContext: func(net.Listener) context.Context {
				return httpx.WithShutdown(context.Background(), shutdown)
			},
		}
		s.srv.RegisterOnShutdown(begin)
	})
	return s.srv
}

// Serve serves on l until Shutdown; after Shutdown it returns nil at once.
func (s *Server) Serve(l net.Listener) error {
	err := s.httpServer().Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for those in flight, up to
// ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.httpServer().Shutdown(ctx)
}

// applyLimits bounds how many requests run at once, and every request's
// body and time.
func (s *Server) applyLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := s.limits.RequestTimeout()
		if r.Method == http.MethodGet && r.URL.Query().Has("index") || mrf.Waits(r) {
			timeout += blockingReadAllowance
		}
		// The answer must be out by the request's deadline and writeGrace:
		// a client that stops reading it (a slow read) cannot hold the
		// connection and a slot of the concurrency limit for longer. An
		// error means the writer cannot set deadlines (a test recorder).
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + writeGrace))
		max := s.limits.MaxBodyBytes()
		if native.IsRestore(r) {
			// A backup is the whole store: a bound of its own, and the
			// time to send and install it.
			max, timeout = native.MaxRestoreBytes, timeout+blockingReadAllowance
		}
		if r.Body != nil && r.Body != http.NoBody {
			b := &deadlineBody{ReadCloser: http.MaxBytesReader(w, r.Body, max),
				rc: http.NewResponseController(w), end: time.Now().Add(timeout)}
			// Armed first, not at the first read: net/http drains an
			// unread body before it writes any answer, the 503 and 413
			// below included, and a stalled one must not hold that.
			b.arm()
			r.Body = b
		}
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		if limit := s.limits.MaxConcurrentRequests(); limit > 0 && n > limit {
			native.WriteError(w, http.StatusServiceUnavailable,
				fmt.Sprintf("this node is serving its limit of %d concurrent requests; retry", limit))
			return
		}
		if s.overloaded != nil && isWrite(r) && s.overloaded() {
			native.WriteNotApplied(w, http.StatusServiceUnavailable, overloadedMessage)
			return
		}
		if r.ContentLength > max {
			native.WriteError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, max))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// writeGrace is how long past a request's deadline its answer may still
// be being written: enough for a 503 or 504 said at the deadline, or the
// end of a large artifact to a client on a slow link.
var writeGrace = 10 * time.Second

// bodyIdleTimeout bounds how long a request body may go without a byte
// arriving: a client that sends headers with a Content-Length and then
// nothing held its connection (and a slot of maxConcurrentRequests)
// forever, since net/http's ReadHeaderTimeout ends with the headers. The
// same 10 s as ReadHeaderTimeout: a client that is sending at all sends
// a byte far more often.
var bodyIdleTimeout = 10 * time.Second

// deadlineBody reads a request body under a connection read deadline:
// bodyIdleTimeout from each read, and never past the request's own
// deadline. A read that times out fails with httpx.ErrBodyTimeout, which
// every dialect answers 408; net/http then closes the connection. Once the
// body has ended the deadline is lifted, so net/http's background read
// (which would cancel the request on a timeout) cannot end a handler
// still working after its body; after a failed read it is not, so
// nothing waits on the rest of a broken body.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	end  time.Time
	done bool
}

// arm sets the connection's read deadline bodyIdleTimeout from now, or at
// the request's deadline if that is sooner. An error means the writer
// cannot set deadlines (a test recorder): the body is then read as before.
func (b *deadlineBody) arm() {
	d := time.Now().Add(bodyIdleTimeout)
	if b.end.Before(d) {
		d = b.end
	}
	_ = b.rc.SetReadDeadline(d)
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	b.arm()
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// The deadline stays (or passes now): net/http drains an unread
		// body before it writes the answer, and must not wait for one
		// that is not coming.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Now())
		err = httpx.BodyError(err)
	}
	return n, err
}

// recoverPanics turns a handler's panic into a logged 500 instead of a
// dropped connection. A panic is always a bug: the log line says where.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
				native.WriteError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// CapConcurrency serves h with the concurrency cap of l (its
// MaxConcurrentRequests, live; 0: none) and nothing else of the API
// middleware: for a listener that is not an API's (the Apcera router's
// applications' traffic, whose bodies and durations are the apps' own).
// Requests beyond the cap get 503 with Retry-After.
func CapConcurrency(l *Limits, h http.Handler) http.Handler {
	var inFlight atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if limit := l.MaxConcurrentRequests(); limit > 0 && n > limit {
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("this node is serving its limit of %d concurrent requests; retry", limit), http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
