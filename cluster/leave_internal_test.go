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
// may reach a peer after gossip saw it go. That update must not make the
// member alive again (the zone leader would then wait out
// -dead-server-timeout instead of removing it at once); a new run of the
// node must.
func Test_Member_LeftThenStaleUpdate_StaysLeft(t *testing.T) {
	c, node, status := newLeaveTestCluster(t)
	run1 := Meta{ID: "n2", Zone: "z", HTTP: "http://127.0.0.1:1", Raft: "127.0.0.1:2", Leader: "n2", Boot: "run1"}
	c.setMember(node(run1), StatusAlive)
	c.announceLeaving("n2", "run1")
	if got := status(); got != StatusAlive {
		t.Fatalf("after the leaving message alone: %s, want %s (only gossip seeing it go makes it left)", got, StatusAlive)
	}
	c.setMember(node(run1), StatusDead) // memberlist's own leave
	if got := status(); got != StatusLeft {
		t.Fatalf("after memberlist's leave: %s, want %s", got, StatusLeft)
	}
	update := run1
	update.Leader = "n1" // sent before the goodbye, delivered after it
	c.setMember(node(update), StatusAlive)
	if got := status(); got != StatusLeft {
		t.Fatalf("after a stale update from the run that left: %s, want %s", got, StatusLeft)
	}

	run2 := run1
	run2.Boot, run2.Leader = "run2", ""
	c.setMember(node(run2), StatusAlive) // restarted: NotifyJoin
	if got := status(); got != StatusAlive {
		t.Fatalf("after a new run joined: %s, want %s", got, StatusAlive)
	}
}

// Test_Member_ForgedLeavingMessage_DoesNotRemoveIt: anyone can send the
// "leaving" message naming any node. Naming a live member changes nothing,
// a message naming another run is ignored, and a failure long after the
// message is a failure (dead), not a leave.
func Test_Member_ForgedLeavingMessage_DoesNotRemoveIt(t *testing.T) {
	c, node, status := newLeaveTestCluster(t)
	run1 := Meta{ID: "n2", Zone: "z", HTTP: "http://127.0.0.1:1", Raft: "127.0.0.1:2", Boot: "run1"}
	c.setMember(node(run1), StatusAlive)
	delegate{c}.NotifyMsg([]byte(leavingPrefix + "n2:run1"))
	c.setMember(node(run1), StatusAlive) // it keeps gossiping
	if got := status(); got != StatusAlive {
		t.Fatalf("after a forged leaving message: %s, want %s", got, StatusAlive)
	}
	c.mu.Lock()
	a := c.announced["n2"]
	a.at = a.at.Add(-2 * leaveWindow) // the message is long past
	c.announced["n2"] = a
	c.mu.Unlock()
	c.setMember(node(run1), StatusDead)
	if got := status(); got != StatusDead {
		t.Fatalf("a failure long after a forged message: %s, want %s", got, StatusDead)
	}

	run2 := run1
	run2.Boot = "run2"
	c.setMember(node(run2), StatusAlive)
	delegate{c}.NotifyMsg([]byte(leavingPrefix + "n2:run1")) // names the old run
	c.setMember(node(run2), StatusDead)
	if got := status(); got != StatusDead {
		t.Fatalf("a failure after a message naming another run: %s, want %s", got, StatusDead)
	}
}

func newLeaveTestCluster(t *testing.T) (*Cluster, func(Meta) *memberlist.Node, func() string) {
	c := &Cluster{log: slog.New(slog.NewTextHandler(io.Discard, nil)), members: map[string]*Member{},
		changed: make(chan struct{}, 1), announced: map[string]announcement{}, suspects: map[string]bool{}}
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
	return c, node, status
}

// A failed probe (which memberlist only logs) makes an alive member
// suspect; an answered probe or any news of it ends that.
func Test_Member_Suspect_FromFailedProbe_UntilItAnswers(t *testing.T) {
	c, node, status := newLeaveTestCluster(t)
	run1 := Meta{ID: "n2", Zone: "z", HTTP: "http://127.0.0.1:1", Raft: "127.0.0.1:2", Boot: "run1"}
	c.setMember(node(run1), StatusAlive)
	w := logWriter{log: c.log, suspect: c.markSuspect}
	w.Write([]byte("[INFO] memberlist: Suspect n2 has failed, no acks received"))
	if got := status(); got != StatusSuspect {
		t.Fatalf("after a failed probe: %s, want %s", got, StatusSuspect)
	}
	if ms := c.Members(); len(ms) != 1 || ms[0].Status != StatusSuspect {
		t.Fatalf("Members: %+v", ms)
	}
	pings{c}.NotifyPingComplete(&memberlist.Node{Name: "n2"}, 0, nil)
	if got := status(); got != StatusAlive {
		t.Fatalf("after it answered a probe: %s, want %s", got, StatusAlive)
	}
	w.Write([]byte("[INFO] memberlist: Suspect n2 has failed, no acks received"))
	c.setMember(node(run1), StatusDead)
	if got := status(); got != StatusDead {
		t.Fatalf("a suspect that failed: %s, want %s", got, StatusDead)
	}
}
