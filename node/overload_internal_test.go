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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	schema, _ := fsm.NewSchema()
	n, err := Open(Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: addr, Bootstrap: true, MaxApplyInFlight: 2,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	put := func(id string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := n.Apply(ctx, fsm.Command{Time: time.Now(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: "widget", ID: id, Body: []byte(`{}`)}}})
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for put("first") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the node never took a write")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Two commands in flight: hold both tokens as proposals would.
	n.inFlight <- struct{}{}
	n.inFlight <- struct{}{}
	before := n.View().Index()
	err = put("refused")
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
