package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"
)

// mustOpenFollower opens a second node and makes it a voter of leader's
// zone.
func mustOpenFollower(t *testing.T, leader *node.Node) *node.Node {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID, cfg.HTTPURL, cfg.Bootstrap = "n2", "http://n2.test:8180", false
	f := mustOpen(t, cfg, mustSchema(t))
	if err := leader.AddVoter(f.RaftID(), f.RaftAddr()); err != nil {
		t.Fatalf("add %s as a voter: %v", f.ID(), err)
	}
	nodetest.WaitFor(t, func() bool { id, _ := f.Leader(); return id == leader.ID() }, 10*time.Second, "the follower to know its leader")
	return f
}

func applyVia(n *node.Node, forward bool, ops ...fsm.Op) (uint64, *fsm.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if forward {
		ctx = node.ForwardCommand(ctx)
	}
	return n.Apply(ctx, fsm.Command{Ops: ops, Time: time.Now().UTC()})
}

// A follower's Apply with ForwardCommand goes to the leader and comes back
// with the leader's answer: the index, the resource as the leader stored
// it, the conflicts and refusals as errors of the same kinds. Without it a
// follower still refuses with ErrNotLeader.
func Test_ForwardCommand_FollowerGetsTheLeadersAnswer(t *testing.T) {
	t.Parallel()
	leader, _ := mustOpenLeader(t)
	f := mustOpenFollower(t, leader)

	if _, _, err := applyVia(f, false, putOp(kindItem, "a", `{"name":"a"}`)); !errors.Is(err, node.ErrNotLeader) {
		t.Fatalf("follower Apply without ForwardCommand = %v, want ErrNotLeader", err)
	}
	if !f.ForwardsCommands() {
		t.Fatal("ForwardsCommands() = false on a follower whose leader takes commands")
	}
	if leader.ForwardsCommands() {
		t.Error("ForwardsCommands() = true on the leader")
	}

	index, res, err := applyVia(f, true, putOp(kindItem, "a", `{ "name" : "a", "n": 1 }`))
	if err != nil {
		t.Fatalf("forwarded put: %v", err)
	}
	stored := leader.View().Get(kindItem, "a")
	if stored == nil || index == 0 || res.Index != index || stored.Version != index || res.Existed[0] {
		t.Fatalf("forwarded put: index %d, result %+v, leader holds %+v", index, res, stored)
	}
	got, want := string(res.Resources[0].AppendJSON(nil)), string(stored.AppendJSON(nil))
	if got != want {
		t.Errorf("the follower's copy of the written resource:\n got %s\nwant %s", got, want)
	}
	if f.Forwarded().WriteIndex() != index {
		t.Errorf("ForwardedIndex() = %d, want %d (read your writes)", f.Forwarded().WriteIndex(), index)
	}

	// A failed precondition: the leader's conflict, with the version.
	_, res, err = applyVia(f, true, fsm.Op{Type: fsm.OpPut, Kind: kindItem, ID: "a", Body: []byte(`{}`), Require: fsm.RequireVersion, Version: index + 100})
	var c *fsm.Conflict
	if !errors.Is(err, fsm.ErrConflict) || !errors.As(err, &c) || c.Version != index || res == nil || res.Conflict == nil {
		t.Fatalf("stale If-Match through the follower: %v (conflict %+v)", err, c)
	}
	// A unique index held by another resource.
	_, _, err = applyVia(f, true, putOp(kindItem, "b", `{"name":"a"}`))
	if !errors.As(err, &c) || c.Index == "" || c.HolderID != "a" {
		t.Fatalf("unique index clash through the follower: %v (conflict %+v)", err, c)
	}
	// A body that is not JSON is refused by the follower, never sent.
	before := leader.Status().AppliedIndex
	if index, _, err := applyVia(f, true, putOp(kindItem, "c", `{nope`)); !errors.Is(err, fsm.ErrInvalid) || index != 0 {
		t.Fatalf("invalid body through the follower: index %d, %v; want ErrInvalid and no index", index, err)
	}
	// A delete, then a delete of what is gone.
	_, res, err = applyVia(f, true, fsm.Op{Type: fsm.OpDelete, Kind: kindItem, ID: "a"})
	if err != nil || !res.Existed[0] {
		t.Fatalf("forwarded delete: %v, %+v", err, res)
	}
	_, res, err = applyVia(f, true, fsm.Op{Type: fsm.OpDelete, Kind: kindItem, ID: "a"})
	if err != nil || res.Existed[0] {
		t.Fatalf("forwarded delete of a deleted resource: %v, %+v", err, res)
	}
	if leader.Status().AppliedIndex < before+2 {
		t.Errorf("leader applied index %d, want at least %d", leader.Status().AppliedIndex, before+2)
	}
}

// The checks a ForwardCommand carries (what the follower's authorisation
// relied on: a user's record at a version) ride with the command: while
// the record is unchanged at the leader the write applies and its result
// holds only the caller's ops; once the leader has changed it, the write
// is refused whole as ErrCredentialsChanged, not applied.
func Test_ForwardCommand_Checks_RefuseAWriteOnAChangedRecord(t *testing.T) {
	t.Parallel()
	leader, _ := mustOpenLeader(t)
	f := mustOpenFollower(t, leader)
	userV, _, err := applyVia(leader, false, putOp(kindOther, "bob", `{"role":"admin"}`))
	if err != nil {
		t.Fatal(err)
	}
	check := fsm.Op{Type: fsm.OpCheck, Kind: kindOther, ID: "bob", Require: fsm.RequireVersion, Version: userV}
	apply := func(ops ...fsm.Op) (uint64, *fsm.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return f.Apply(node.ForwardCommand(ctx, check), fsm.Command{Ops: ops, Time: time.Now().UTC()})
	}

	_, res, err := apply(putOp(kindOther, "x", `{"n":1}`))
	if err != nil {
		t.Fatalf("forwarded put with a check that holds: %v", err)
	}
	if len(res.Resources) != 1 || len(res.Existed) != 1 || res.Resources[0].ID != "x" {
		t.Fatalf("result of one op with a check: %d resources, %d existed; want 1 each, x", len(res.Resources), len(res.Existed))
	}

	// The record changes at the leader: the follower's check is stale.
	if _, _, err := applyVia(leader, false, putOp(kindOther, "bob", `{"role":"readonly"}`)); err != nil {
		t.Fatal(err)
	}
	index, res, err := apply(putOp(kindOther, "x", `{"n":2}`), fsm.Op{Type: fsm.OpDelete, Kind: kindOther, ID: "y"})
	if !errors.Is(err, node.ErrCredentialsChanged) || !node.NotApplied(err) || res != nil {
		t.Fatalf("forwarded put with a stale check = %v (result %+v), want ErrCredentialsChanged, not applied", err, res)
	}
	if errors.Is(err, fsm.ErrConflict) {
		t.Errorf("a stale check is a precondition failure of the caller's write: %v", err)
	}
	if index == 0 || f.Forwarded().WriteIndex() != index {
		t.Errorf("refused at index %d, ForwardedIndex %d: the follower's next read must wait for the change", index, f.Forwarded().WriteIndex())
	}
	if got := leader.View().Get(kindOther, "x"); got == nil || string(got.Body) != `{"n":1}` {
		t.Fatalf("after the refused write the leader holds %+v, want x unchanged", got)
	}

	// The caller's own precondition failing is still its own conflict.
	_, _, err = apply(fsm.Op{Type: fsm.OpCheck, Kind: kindOther, ID: "nobody", Require: fsm.RequireExists})
	if !errors.Is(err, fsm.ErrConflict) || errors.Is(err, node.ErrCredentialsChanged) {
		t.Fatalf("the caller's failing precondition with a stale check = %v, want its ErrConflict", err)
	}
}

// A follower asks the leader for its read index over the command
// connection (CaughtUpWithLeader): when it says the follower has caught
// up, a read of the follower's store sees every write the leader had
// acknowledged before the call; right after such a write the follower is
// often behind (it learns of a commit only with the leader's next
// append), and says so rather than read stale.
func Test_CaughtUpWithLeader_OnlyWhenTheFollowerHoldsTheAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	leader, _ := mustOpenLeader(t)
	f := mustOpenFollower(t, leader)
	behind := 0
	for i := range 50 {
		id := fmt.Sprintf("r%02d", i)
		index, _, err := applyVia(leader, false, putOp(kindOther, id, `{}`))
		if err != nil {
			t.Fatal(err)
		}
		nodetest.WaitFor(t, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ok, err := f.CaughtUpWithLeader(ctx)
			if err != nil {
				t.Fatalf("CaughtUpWithLeader after write %d: %v", i, err)
			}
			if !ok {
				behind++
				return false
			}
			if got := f.View().Get(kindOther, id); got == nil || f.View().Index() < index {
				t.Fatalf("caught up, yet the follower is at index %d without %s, acknowledged at %d", f.View().Index(), id, index)
			}
			return true
		}, 10*time.Second, "the follower to catch up with write "+id)
	}
	t.Logf("the follower was behind %d times in 50 writes", behind)
	if _, err := leader.CaughtUpWithLeader(context.Background()); !errors.Is(err, node.ErrNotLeader) {
		t.Errorf("CaughtUpWithLeader on the leader = %v, want ErrNotLeader", err)
	}
	mustClose(t, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := f.CaughtUpWithLeader(ctx); ok || err == nil {
		t.Fatalf("CaughtUpWithLeader with the leader closed = %v, %v; want false and an error", ok, err)
	}
}

// With the leader gone and no quorum left, a forwarded command is refused
// as certainly not applied once the wait for a leader ends: its frame was
// never written anywhere. (One sent on the old connection before the
// follower saw it close has an unknown outcome, as a lost HTTP forward.)
func Test_ForwardCommand_LeaderGone_NotApplied(t *testing.T) {
	t.Parallel()
	leader, _ := mustOpenLeader(t)
	f := mustOpenFollower(t, leader)
	if _, _, err := applyVia(f, true, putOp(kindOther, "x", `{}`)); err != nil {
		t.Fatalf("forwarded put: %v", err)
	}
	mustClose(t, leader)
	nodetest.WaitFor(t, func() bool { return !f.ForwardsCommands() }, 10*time.Second, "the follower to find the leader gone")
	start := time.Now()
	_, _, err := applyVia(f, true, putOp(kindOther, "y", `{}`))
	if err == nil || !node.NotApplied(err) {
		t.Fatalf("forwarded put with the leader closed = %v, want an error that says not applied", err)
	}
	if !errors.Is(err, node.ErrNotLeader) && !errors.Is(err, node.ErrNoLeader) {
		t.Errorf("forwarded put with the leader closed = %v, want ErrNotLeader or ErrNoLeader", err)
	}
	t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// A leader proposes a forwarded command as the follower prepared it only
// when both run the same build (Config.Build); otherwise it prepares it
// again, with its own schema. The follower here declares no index on
// "name" where the leader declares one: the put is indexed at the leader
// only when the leader prepared it. (Nodes of one build have one schema;
// these two share a build name only to show which way the command went.)
func Test_ForwardCommand_PreparedAgainUnlessTheSameBuild(t *testing.T) {
	t.Parallel()
	bare, err := fsm.NewSchema(fsm.KindSchema{Kind: kindItem})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		leader, follower string
		preparedAgain    bool
	}{
		{"b1", "b2", true},
		{"", "", true},
		{"b1", "b1", false},
	} {
		t.Run(fmt.Sprintf("leader %q, follower %q", tc.leader, tc.follower), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, t.TempDir())
			cfg.Build = tc.leader
			leader := mustOpen(t, cfg, mustSchema(t))
			mustLeader(t, leader)
			cfg = testConfig(t, t.TempDir())
			cfg.NodeID, cfg.HTTPURL, cfg.Bootstrap, cfg.Build = "n2", "http://n2.test:8180", false, tc.follower
			f := mustOpen(t, cfg, bare)
			if err := leader.AddVoter(f.RaftID(), f.RaftAddr()); err != nil {
				t.Fatal(err)
			}
			nodetest.WaitFor(t, func() bool { id, _ := f.Leader(); return id == leader.ID() && f.ForwardsCommands() }, 10*time.Second, "the follower to forward commands")
			if leader.LogFormat() < fsm.FormatPrepared {
				t.Fatalf("log format %d: commands are not prepared", leader.LogFormat())
			}

			if _, _, err := applyVia(f, true, putOp(kindItem, "a", `{"name":"alpha"}`)); err != nil {
				t.Fatalf("forwarded put: %v", err)
			}
			found, err := leader.View().Lookup(kindItem, "name", "alpha")
			if err != nil {
				t.Fatal(err)
			}
			if indexed := len(found) == 1; indexed != tc.preparedAgain {
				t.Errorf("indexed by the leader's schema: %v, want %v", indexed, tc.preparedAgain)
			}
		})
	}
}
