package cluster

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"
)

// freeGossipAddr returns a loopback address whose port is free for TCP
// (memberlist also binds UDP on it; a clash fails Start, and the test).
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
}

func mustStartCluster(t *testing.T, id string, cfg Config) *Cluster {
	t.Helper()
	cfg.Self = Meta{ID: id, Zone: "z", HTTP: "http://" + id, Raft: "127.0.0.1:1"}
	if cfg.GossipAddr == "" {
		cfg.GossipAddr = freeGossipAddr(t)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c
}

func sees(c *Cluster, id string) bool {
	m, ok := c.Member(id)
	return ok && m.Status == StatusAlive
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Test_Join_DeadJoinAddress_FallsBackToRetryJoin: a -join that never
// answers within its timeout does not end the start when -retry-join is
// given; the node joins through a -retry-join address.
func Test_Join_DeadJoinAddress_FallsBackToRetryJoin(t *testing.T) {
	a := mustStartCluster(t, "a", Config{})
	b := mustStartCluster(t, "b", Config{Join: []string{freeGossipAddr(t)}, JoinTimeout: 300 * time.Millisecond,
		RetryJoin: []string{a.GossipAddr()}, RetryInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	waitUntil(t, "a and b to see each other", func() bool { return sees(a, "b") && sees(b, "a") })
}

// Test_KeepJoined_PeerRestartedAlone_BroughtBack: a member restarted on
// its address without joining anybody is contacted again by a peer that
// lists it in RetryJoin, and learns the pool.
func Test_KeepJoined_PeerRestartedAlone_BroughtBack(t *testing.T) {
	aAddr, bAddr := freeGossipAddr(t), freeGossipAddr(t)
	a := mustStartCluster(t, "a", Config{GossipAddr: aAddr, RetryJoin: []string{aAddr, bAddr}, RetryInterval: 100 * time.Millisecond})
	b := mustStartCluster(t, "b", Config{GossipAddr: bAddr})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Join(ctx); err != nil {
		t.Fatal(err)
	}
	go a.KeepJoined(ctx)
	waitUntil(t, "a and b to see each other", func() bool { return sees(a, "b") && sees(b, "a") })
	b.Shutdown() // killed: no leave
	// Declared dead: memberlist never contacts it again by itself, and the
	// broadcasts that could reach a new run have long been sent.
	waitUntil(t, "a to see b dead", func() bool { m, _ := a.Member("b"); return m.Status == StatusDead })
	b2 := mustStartCluster(t, "b", Config{GossipAddr: bAddr})
	waitUntil(t, "the restarted b to see a", func() bool { return sees(b2, "a") })
}
