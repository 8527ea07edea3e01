package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/http/native"
	"cairn/node"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// followerOf is a Leadership that never leads and names a fixed leader.
type followerOf struct{ leaderID, leaderURL string }

func (f followerOf) ID() string                                    { return "n1" }
func (f followerOf) IsLeader() bool                                { return false }
func (f followerOf) Leader() (string, string)                      { return f.leaderID, f.leaderURL }
func (f followerOf) WaitIndex(ctx context.Context, _ uint64) error { return nil }
func (f followerOf) AppliedIndex() uint64                          { return 0 }
func (f followerOf) Forwarded() *node.Forwarded                    { return &node.Forwarded{} }
func (f followerOf) ReadBarrier(ctx context.Context) error         { return nil }

// Servers puts every member at 192.0.2.1, the address httptest requests
// come from.
func (f followerOf) Servers() ([]node.Server, error) {
	return []node.Server{{ID: "n1", Address: "192.0.2.1:1"}, {ID: "n2", Address: "192.0.2.1:2"}, {ID: "n3", Address: "192.0.2.1:3"}}, nil
}

// forwardOnce sends one PUT through a forwarder that sees leader, with the
// request's context bounded by timeout, and returns the status answered.
func forwardOnce(t *testing.T, m *httpMetrics, leader followerOf, header http.Header, timeout time.Duration) int {
	t.Helper()
	f := newForwarder(leader, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.metrics = m
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a follower served a write itself")
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPut, "/cairn/v1/resources/widget/w1", strings.NewReader(`{}`))
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	f.wrap(local).ServeHTTP(rec, req)
	return rec.Code
}

func Test_Forwarder_CountsForwardsAndFailuresByReason(t *testing.T) {
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cairn-Index", "7")
		w.WriteHeader(http.StatusCreated)
	}))
	defer leader.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handler
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()

	m := newHTTPMetrics()
	cases := []struct {
		name     string
		leader   followerOf
		header   http.Header
		timeout  time.Duration
		wantCode int
		reason   string // "" means the forward succeeded
	}{
		{"forwarded", followerOf{"n2", leader.URL}, nil, 5 * time.Second, http.StatusCreated, ""},
		{"hop", followerOf{"n2", leader.URL}, http.Header{HopHeader: {"n3"}}, 5 * time.Second, http.StatusServiceUnavailable, forwardHopRefused},
		{"no leader", followerOf{"", ""}, nil, 100 * time.Millisecond, http.StatusServiceUnavailable, forwardNoLeader},
		{"no address", followerOf{"n2", ""}, nil, 100 * time.Millisecond, http.StatusServiceUnavailable, forwardLeaderAddrUnknown},
		{"bad url", followerOf{"n2", "http://[::1"}, nil, 5 * time.Second, http.StatusServiceUnavailable, forwardBadLeaderURL},
		{"unreachable", followerOf{"n2", closedURL}, nil, 5 * time.Second, http.StatusServiceUnavailable, forwardUnreachable},
		{"canceled", followerOf{"n2", slow.URL}, nil, 200 * time.Millisecond, http.StatusServiceUnavailable, forwardCanceled},
	}
	for _, c := range cases {
		forwardedBefore := testutil.ToFloat64(m.forwarded)
		failedBefore := map[string]float64{}
		for _, r := range forwardReasons {
			failedBefore[r] = testutil.ToFloat64(m.forwardFailures.WithLabelValues(r))
		}
		if code := forwardOnce(t, m, c.leader, c.header, c.timeout); code != c.wantCode {
			t.Errorf("%s: status %d, want %d", c.name, code, c.wantCode)
		}
		for _, r := range forwardReasons {
			want := failedBefore[r]
			if r == c.reason {
				want++
			}
			if got := testutil.ToFloat64(m.forwardFailures.WithLabelValues(r)); got != want {
				t.Errorf("%s: forward failures{reason=%s} = %v, want %v", c.name, r, got, want)
			}
		}
		// A forward that reached the proxy counts as forwarded, whether
		// the leader then answered or not.
		proxied := c.reason == "" || c.reason == forwardUnreachable || c.reason == forwardCanceled || c.reason == forwardBadLeaderURL
		want := forwardedBefore
		if proxied {
			want++
		}
		if got := testutil.ToFloat64(m.forwarded); got != want {
			t.Errorf("%s: forwarded = %v, want %v", c.name, got, want)
		}
	}
}

func Test_DialectOf_FixedTable(t *testing.T) {
	for path, want := range map[string]string{
		"/cairn/v1/resources/x/y":  "native",
		"/management/domain":       "mrf",
		"/hybrid/api/v1/servers/1": "arm",
		"/maxscale/v1/servers":     "maxscale",
		"/api/topology/groups":     "topology",
		"/apcera/v1/jobs":          "apcera",
		"/health":                  "ops",
		"/metrics":                 "ops",
		"/metricsx":                "other",
		"/":                        "other",
		"/management":              "mrf",
	} {
		if got := dialectOf(path); got != want {
			t.Errorf("dialectOf(%q) = %q, want %q", path, got, want)
		}
	}
}

// switchingLeader names a leader whose URL changes when switched.
type switchingLeader struct {
	followerOf
	url atomic.Value
}

func (s *switchingLeader) Leader() (string, string) { return "n2", s.url.Load().(string) }

// A leader that refuses the connection never saw the write: the follower
// forwards it again to the next leader, and when none takes it answers 503
// saying it was not applied.
func Test_Forwarder_LeaderRefuses_RetriesThenNotApplied(t *testing.T) {
	var got atomic.Int32
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"x":1}` {
			t.Errorf("the retried forward carried %q", b)
		}
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer next.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	put := func(n Leadership) *httptest.ResponseRecorder {
		f := newForwarder(n, slog.New(slog.NewTextHandler(io.Discard, nil)))
		req := httptest.NewRequest(http.MethodPut, "/cairn/v1/resources/widget/w1", strings.NewReader(`{"x":1}`))
		rec := httptest.NewRecorder()
		f.wrap(http.NotFoundHandler()).ServeHTTP(rec, req)
		return rec
	}

	s := &switchingLeader{}
	s.url.Store(dead)
	time.AfterFunc(300*time.Millisecond, func() { s.url.Store(next.URL) }) // the zone elects another leader
	if rec := put(s); rec.Code != http.StatusCreated || got.Load() != 1 {
		t.Fatalf("after the leader changed: %d (%s), %d writes reached the new leader", rec.Code, rec.Body, got.Load())
	}

	rec := put(followerOf{"n2", dead}) // the leader stays unreachable
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get(native.AppliedHeader) != "false" {
		t.Fatalf("unreachable leader: %d, %s=%q, want 503 and false", rec.Code, native.AppliedHeader, rec.Header().Get(native.AppliedHeader))
	}
	if rec := put(followerOf{"", ""}); rec.Header().Get(native.AppliedHeader) != "false" {
		t.Fatalf("no leader: %s=%q, want false", native.AppliedHeader, rec.Header().Get(native.AppliedHeader))
	}
	// A consistent read is refused alike, but says nothing of applying.
	f := newForwarder(followerOf{"", ""}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec = httptest.NewRecorder()
	f.wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cairn/v1/resources/widget/w1?consistent", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get(native.AppliedHeader) != "" {
		t.Fatalf("consistent read with no leader: %d, %s=%q, want 503 and none", rec.Code, native.AppliedHeader, rec.Header().Get(native.AppliedHeader))
	}
}
