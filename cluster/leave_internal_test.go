package cluster

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/hashicorp/memberlist"
)

// Test_Member_LeftThenStaleUpdate_StaysLeft: a leader that leaves first
// hands leadership over, and the metadata update advertising its successor
// may reach a peer after its "leaving" message. That update must not make
// the member alive again (the zone leader would then wait out
// -dead-server-timeout instead of removing it at once); a new run of the
// node must.
func Test_Member_LeftThenStaleUpdate_StaysLeft(t *testing.T) {
	c := &Cluster{log: slog.New(slog.NewTextHandler(io.Discard, nil)), members: map[string]*Member{}, changed: make(chan struct{}, 1)}
	node := func(m Meta) *memberlist.Node {
		b, err := m.encode()
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: m.ID, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, Meta: b}
	}
	status := func() string {
		m, ok := c.Member("n2")
		if !ok {
			t.Fatal("n2 unknown")
		}
		return m.Status
	}
	run1 := Meta{ID: "n2", Zone: "z", HTTP: "http://127.0.0.1:1", Raft: "127.0.0.1:2", Leader: "n2", Boot: "run1"}
	c.setMember(node(run1), StatusAlive)
	c.markLeft("n2")

	update := run1
	update.Leader = "n1" // sent before the goodbye, delivered after it
	c.setMember(node(update), StatusAlive)
	if got := status(); got != StatusLeft {
		t.Fatalf("after a stale update from the run that left: %s, want %s", got, StatusLeft)
	}
	c.setMember(node(update), StatusDead) // memberlist's own leave
	if got := status(); got != StatusLeft {
		t.Fatalf("after memberlist's leave: %s, want %s", got, StatusLeft)
	}

	run2 := run1
	run2.Boot, run2.Leader = "run2", ""
	c.setMember(node(run2), StatusAlive) // restarted: NotifyJoin
	if got := status(); got != StatusAlive {
		t.Fatalf("after a new run joined: %s, want %s", got, StatusAlive)
	}
}
