// Package nodetest holds the helpers that tests of several packages need to
// run real nodes: free loopback addresses, polling with a deadline, and a
// single-node leader.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// WaitFor polls cond every 10ms until it holds, failing the test if timeout
// passes first. Tests poll with a deadline instead of sleeping.
func WaitFor(t testing.TB, cond func() bool, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MustLeader opens a bootstrapping single node in a temp dir with fast Raft
// timings and waits until it leads and serves consistent reads. cfg's zero
// fields get test defaults; the node is closed when the test ends.
func MustLeader(t testing.TB, cfg node.Config, schema fsm.Schema) *node.Node {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = "n1"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.RaftAddr == "" {
		cfg.RaftAddr = FreeAddr(t)
	}
	if cfg.HTTPURL == "" {
		cfg.HTTPURL = "http://" + cfg.NodeID + ".test:8180"
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Bootstrap = true
	n, err := node.Open(cfg, schema)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	WaitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return n.ReadBarrier(ctx) == nil
	}, 10*time.Second, "the node to lead")
	return n
}
