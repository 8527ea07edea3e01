package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"cairn/fsm"
)

// Test_Apply_AtItsInFlightLimit_RefusedAtOnceNotApplied: a node with its
// limit of commands in flight refuses one more at once with ErrOverloaded,
// which says the command was never proposed (safe to retry); once one
// finishes, writes go through again (#23 item 2).
func Test_Apply_AtItsInFlightLimit_RefusedAtOnceNotApplied(t *testing.T) {
	n, putCtx := boundedLeader(t, 2)
	put := func(id string) error { return putCtx(context.Background(), id) }
	// Two commands in flight: hold both tokens as proposals would.
	n.inFlight <- struct{}{}
	n.inFlight <- struct{}{}
	before := n.View().Index()
	err := put("refused")
	if !errors.Is(err, ErrOverloaded) || !NotApplied(err) {
		t.Fatalf("at the limit: %v, want ErrOverloaded, which is NotApplied", err)
	}
	if n.View().Get("widget", "refused") != nil || n.View().Index() != before {
		t.Fatal("a refused command reached the store")
	}
	<-n.inFlight
	if err := put("after"); err != nil {
		t.Fatalf("below the limit again: %v", err)
	}
	<-n.inFlight
}

// Test_AdmitWrite_OneSlotCoversTheRequestsApplies: a request admitted with
// AdmitWrite holds one slot for all its Applies (they take none of their
// own, so a request never waits on itself); with the slots taken, another
// admission and an Apply without one are refused; the release frees it.
func Test_AdmitWrite_OneSlotCoversTheRequestsApplies(t *testing.T) {
	n, put := boundedLeader(t, 1)
	ctx, release, err := n.AdmitWrite(context.Background())
	if err != nil {
		t.Fatalf("admitting with a free slot: %v", err)
	}
	if !n.Overloaded() {
		t.Error("the admitted request's slot is not counted")
	}
	if _, r2, err := n.AdmitWrite(context.Background()); !errors.Is(err, ErrOverloaded) || r2 != nil {
		t.Fatalf("a second admission with the only slot taken: %v, want ErrOverloaded", err)
	}
	if err := put(context.Background(), "unadmitted"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("an Apply without a slot while the admitted request holds it: %v, want ErrOverloaded", err)
	}
	for _, id := range []string{"a1", "a2"} {
		if err := put(ctx, id); err != nil {
			t.Fatalf("the admitted request's Apply %s: %v", id, err)
		}
	}
	release()
	if n.Overloaded() {
		t.Error("the slot is still taken after its release")
	}
	if err := put(context.Background(), "after"); err != nil {
		t.Fatalf("after the release: %v", err)
	}
}

// boundedLeader opens a single-node zone whose node has max slots for
// writes in flight, and returns it once it has taken a write ("first"),
// with a function putting a widget through Apply under ctx.
func boundedLeader(t *testing.T, max int) (*Node, func(ctx context.Context, id string) error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	schema, _ := fsm.NewSchema()
	n, err := Open(Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: addr, Bootstrap: true, MaxApplyInFlight: max,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	put := func(ctx context.Context, id string) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, _, err := n.Apply(ctx, fsm.Command{Time: time.Now(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: "widget", ID: id, Body: []byte(`{}`)}}})
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for put(context.Background(), "first") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the node never took a write")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n, put
}
