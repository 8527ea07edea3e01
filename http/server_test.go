package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/http"
	"cairn/node"
	"cairn/node/nodetest"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// mustLeaderNode opens a bootstrapping single node in a temp dir and waits
// until it leads.
func mustLeaderNode(t *testing.T) *node.Node {
	t.Helper()
	schema, err := fsm.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.MustLeader(t, node.Config{CommitTimeout: 5 * time.Millisecond, Logger: discard}, schema)
}

// mustServe serves s on a fresh 127.0.0.1 listener in the background and
// returns the base URL and a channel that yields Serve's result.
func mustServe(t *testing.T, s *api.Server) (string, <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		l.Close()
	})
	return "http://" + l.Addr().String(), done
}

func Test_Limits_SetAndRead(t *testing.T) {
	l := api.NewLimits(100, time.Second)
	if l.MaxBodyBytes() != 100 || l.RequestTimeout() != time.Second {
		t.Errorf("limits = %d, %s", l.MaxBodyBytes(), l.RequestTimeout())
	}
	l.Set(5, 2*time.Minute)
	if l.MaxBodyBytes() != 5 || l.RequestTimeout() != 2*time.Minute {
		t.Errorf("after Set: %d, %s", l.MaxBodyBytes(), l.RequestTimeout())
	}
}

func Test_Server_ServeThenShutdown_ServeReturnsNil(t *testing.T) {
	n := mustLeaderNode(t)
	s := api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard)
	base, done := mustServe(t, s)

	// The listener is bound before Serve starts, so the request waits in
	// its backlog rather than failing.
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health: %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mustReturnNil(t, done)
}

// Test_Server_ShutdownRacingServe_Stops is cairn agent's own sequence: Serve
// in a goroutine, Shutdown from another as soon as a signal comes, possibly
// before Serve has started. Serve must not keep serving after Shutdown.
func Test_Server_ShutdownRacingServe_Stops(t *testing.T) {
	n := mustLeaderNode(t)
	s := api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mustReturnNil(t, done)
}

func Test_Server_ShutdownWithoutServe_Nil(t *testing.T) {
	n := mustLeaderNode(t)
	s := api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Serve = %v", err)
	}
}

// Test_Server_LimitsChangeWhileServing checks that the body limit is read
// per request, so a runtime change takes effect at once.
func Test_Server_LimitsChangeWhileServing(t *testing.T) {
	n := mustLeaderNode(t)
	limits := api.NewLimits(1<<20, 5*time.Second)
	base, _ := mustServe(t, api.NewServer(n, limits, discard))
	put := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPut, base+"/cairn/v1/resources/t.item/a", stringsReader(`{"pad":"0123456789"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT: %v", err)
		}
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
			Code  int    `json:"code"`
		}
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Error
	}
	if code, msg := put(); code != http.StatusCreated {
		t.Fatalf("PUT under the limit: %d %s", code, msg)
	}
	limits.Set(8, 5*time.Second)
	if code, msg := put(); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("PUT over the lowered limit: %d %s", code, msg)
	}
}

type stringReader struct {
	s string
	i int
}

func (r *stringReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}

// stringsReader returns a reader whose length the client cannot see, so
// the body goes out chunked.
func stringsReader(s string) io.Reader { return &stringReader{s: s} }

// mustReturnNil waits for Serve's result after Shutdown: nil, within 5s.
func mustReturnNil(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Shutdown = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5s after Shutdown")
	}
}
