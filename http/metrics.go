package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP metrics. Every label is bounded: the dialect comes from a fixed
// table of path prefixes, the route is the matched route's template (never
// the raw path, which carries ids), the method is one of the standard ones
// or "other", and the code is the status code.

// unmatchedRoute labels requests no route matched (404, 405).
const unmatchedRoute = "unmatched"

// dialectRoots maps the path roots of the main listener to the API dialect
// that owns them (DESIGN.md's table of dialects); a path belongs to a root
// if it is the root or continues it after a slash.
var dialectRoots = []struct{ root, dialect string }{
	{"/cairn", "native"},
	{"/management", "mrf"},
	{"/hybrid/api", "arm"},
	{"/maxscale", "maxscale"},
	{"/api/topology", "topology"},
	{"/apcera", "apcera"},
	{"/health", "ops"},
	{"/ready", "ops"},
	{"/metrics", "ops"},
}

// dialectOf names the dialect a path belongs to, "other" if none.
func dialectOf(path string) string {
	for _, d := range dialectRoots {
		if rest, ok := strings.CutPrefix(path, d.root); ok && (rest == "" || rest[0] == '/') {
			return d.dialect
		}
	}
	return "other"
}

// methodLabel keeps the standard methods and folds any other into "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// Reasons a forward to the leader failed: the values of
// cairn_http_forward_failures_total's reason label.
const (
	// forwardNoLeader: no leader was elected within leaderWait.
	forwardNoLeader = "no_leader"
	// forwardLeaderAddrUnknown: a leader is known but gossip has not told
	// its HTTP address yet.
	forwardLeaderAddrUnknown = "leader_address_unknown"
	// forwardHopRefused: another node forwarded the request here, but this
	// node does not lead either.
	forwardHopRefused = "hop_refused"
	// forwardBadLeaderURL: the leader advertises an address that is not a URL.
	forwardBadLeaderURL = "bad_leader_url"
	// forwardUnreachable: the proxied request to the leader failed.
	forwardUnreachable = "leader_unreachable"
	// forwardCanceled: the client went away or the deadline passed while
	// the leader was answering.
	forwardCanceled = "canceled"
	// forwardSaturated: this node was already forwarding its limit of
	// requests; refused at once.
	forwardSaturated = "saturated"
)

var forwardReasons = []string{forwardNoLeader, forwardLeaderAddrUnknown, forwardHopRefused,
	forwardBadLeaderURL, forwardUnreachable, forwardCanceled, forwardSaturated}

// httpMetrics are the metrics the HTTP front moves. A nil *httpMetrics is
// valid and records nothing (a server built without WithMetrics).
type httpMetrics struct {
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	inFlight        prometheus.Gauge
	forwarded       prometheus.Counter
	forwardFailures *prometheus.CounterVec
}

func newHTTPMetrics() *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_requests_total",
			Help: "HTTP requests answered, by dialect, route template, method and status code.",
		}, []string{"dialect", "route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (forwarding to the leader included), by dialect, route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"dialect", "route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_http_forwarded_requests_total",
			Help: "Requests (writes and consistent reads) this node proxied to its zone leader.",
		}),
		forwardFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_forward_failures_total",
			Help: "Requests this node had to forward to the zone leader but could not, by reason; each was answered 503.",
		}, []string{"reason"}),
	}
	for _, r := range forwardReasons {
		m.forwardFailures.WithLabelValues(r)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *httpMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.inFlight.Describe(ch)
	m.forwarded.Describe(ch)
	m.forwardFailures.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *httpMetrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.inFlight.Collect(ch)
	m.forwarded.Collect(ch)
	m.forwardFailures.Collect(ch)
}

func (m *httpMetrics) forwardedOne() {
	if m != nil {
		m.forwarded.Inc()
	}
}

func (m *httpMetrics) forwardFailed(reason string) {
	if m != nil {
		m.forwardFailures.WithLabelValues(reason).Inc()
	}
}

// instrument counts and times every request next serves. The route is
// found by matching router up front rather than with mux.CurrentRoute
// inside it: forwarding wraps the router, so a forwarded request never
// reaches a route handler, yet it should count under its route.
func (m *httpMetrics) instrument(router *mux.Router, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	// The router records the route it matched (recordRoute): a request
	// served here is matched once. One that never reached the router (it
	// was forwarded) is matched for its label afterwards.
	router.Use(recordRoute)
	labels := m.instrumentRoutes(func(r *http.Request) string {
		if h, _ := r.Context().Value(routeKey{}).(*matchedRoute); h != nil && h.label != "" {
			return h.label
		}
		var match mux.RouteMatch
		if router.Match(r, &match) && match.MatchErr == nil && match.Route != nil {
			if tpl, err := match.Route.GetPathTemplate(); err == nil {
				return routeLabel(tpl)
			}
		}
		return unmatchedRoute
	}, dialectOf, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		labels.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &matchedRoute{})))
	})
}

// matchedRoute carries, in a request's context, the route label of the
// route the router matched, from the router back out to the metrics.
type matchedRoute struct{ label string }

type routeKey struct{}

// recordRoute is router middleware: it notes the matched route's label.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, _ := r.Context().Value(routeKey{}).(*matchedRoute); h != nil {
			if route := mux.CurrentRoute(r); route != nil {
				if tpl, err := route.GetPathTemplate(); err == nil {
					h.label = routeLabel(tpl)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// instrumentRoutes is instrument with the route and dialect labels found
// by routeOf and dialect: a dialect's own listener (MaxScale's) has its
// own router and its own paths (/v1/... is not Apcera's there).
func (m *httpMetrics) instrumentRoutes(routeOf func(*http.Request) string, dialect func(string) string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		dialect, method := dialect(r.URL.Path), methodLabel(r.Method)
		rec := &statusRecorder{ResponseWriter: w}
		m.inFlight.Inc()
		// Deferred, so that a request whose handler panics (and is
		// aborted, http.ErrAbortHandler) still leaves in-flight. The
		// route is known once the router has seen the request.
		defer func() {
			route := routeOf(r)
			m.inFlight.Dec()
			m.requests.WithLabelValues(dialect, route, method, strconv.Itoa(rec.code())).Inc()
			m.duration.WithLabelValues(dialect, route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// metricsHandler serves reg in the Prometheus text format, or in
// OpenMetrics when the scraper asks for it (Accept negotiation).
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		Registry:          reg, // promhttp_metric_handler_errors_total
	})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code // 1xx informational answers are not the status
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (the reverse proxy's flushes) reach
// the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// code is the status answered; 200 if the handler wrote nothing.
func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// routeLabel is a route template without its variables' patterns
// ("{id:.+}" is "{id}"): the label names the route, not how it matches.
func routeLabel(tpl string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(tpl, '{')
		if open < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		end := strings.IndexByte(tpl[open:], '}')
		if end < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		v := tpl[open : open+end+1]
		if colon := strings.IndexByte(v, ':'); colon >= 0 {
			v = v[:colon] + "}"
		}
		b.WriteString(tpl[:open])
		b.WriteString(v)
		tpl = tpl[open+end+1:]
	}
}
