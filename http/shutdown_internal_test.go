package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"
)

// A blocking read in flight does not hold up a graceful shutdown: it is
// answered with the current state as soon as shutdown begins.
func Test_Server_Shutdown_EndsBlockingReads(t *testing.T) {
	schema, err := fsm.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := nodetest.MustLeader(t, node.Config{Logger: discard}, schema)
	s := NewServer(n, NewLimits(1<<20, 5*time.Second), discard)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + l.Addr().String() + "/cairn/v1/resources/widget?index=1000000&wait=5m")
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	nodetest.WaitFor(t, func() bool { return s.inFlight.Load() == 1 }, 10*time.Second, "the blocking read to be in flight")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a blocking read in flight: %v", err)
	}
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("the blocking read was answered %d, want 200 with the current state", code)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
