package tasks

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node/workload"
)

// fakeNode applies commands to an in-memory store, one index each.
type fakeNode struct {
	mu    sync.Mutex
	store *fsm.Store
	index uint64
}

func newFakeNode(t *testing.T) *fakeNode {
	schema, err := fsm.NewSchema(append(Kinds(), workload.Kinds()...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeNode{store: fsm.NewStore(schema)}
}

func (n *fakeNode) Apply(_ context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	res := n.store.Apply(n.index, cmd)
	return n.index, res, res.Err()
}

func (n *fakeNode) View() *fsm.View { return n.store.View() }

func (n *fakeNode) WaitIndex(ctx context.Context, index uint64) error {
	<-ctx.Done()
	return nil
}

func (n *fakeNode) mustPut(t *testing.T, kind, id string, v any) {
	b, _ := json.Marshal(v)
	if _, _, err := n.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: kind, ID: id, Body: b}}}); err != nil {
		t.Fatal(err)
	}
}

func (n *fakeNode) task(t *testing.T, id string) Task {
	r := n.View().Get(Kind, id)
	if r == nil {
		t.Fatalf("task %s gone", id)
	}
	tk, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Test_Follower_CompletesWhenRunning_FailsWithTheReason: a task ends
// complete (eos last) once its workload runs every instance, and stopped,
// errored, with the failed instance's reason in an error event's
// payload.error otherwise; a deadline ends one that never finishes.
func Test_Follower_CompletesWhenRunning_FailsWithTheReason(t *testing.T) {
	n := newFakeNode(t)
	f := NewFollower(n, slog.Default())
	now := time.Now()
	spec := map[string]any{"command": []string{"true"}, "instances": 1, "state": "started"}
	n.mustPut(t, workload.KindWorkload, "ok", spec)
	n.mustPut(t, workload.KindWorkload, "bad", spec)
	n.mustPut(t, workload.KindWorkload, "never", spec) // no instance ever reports
	for _, id := range []string{"t-ok", "t-bad", "t-late"} {
		wl := id[2:]
		tk := New(id, []Follow{{Workload: wl, Thread: wl, Name: "job::/x::" + wl}}, now, time.Minute)
		if id == "t-late" {
			tk = New(id, []Follow{{Workload: "never", Thread: "late"}}, now.Add(-time.Hour), time.Millisecond)
		}
		if _, _, err := n.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{tk.Op()}}); err != nil {
			t.Fatal(err)
		}
	}
	n.mustPut(t, workload.KindInstance, workload.InstanceID("ok", 0), workload.Status{Workload: "ok", Index: 0, Node: "n1", State: workload.InstanceRunning})
	n.mustPut(t, workload.KindInstance, workload.InstanceID("bad", 0), workload.Status{Workload: "bad", Index: 0, Node: "n1",
		State: workload.InstanceCrashed, Failed: true, Reason: "no container engine on any node"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	f.Every = 10 * time.Millisecond
	f.Run(ctx)

	ok := n.task(t, "t-ok")
	if ok.State != StateComplete || ok.Errored != Unerrored || ok.Events[len(ok.Events)-1].Type != EventEOS {
		t.Fatalf("t-ok %+v: want complete, unerrored, eos last", ok)
	}
	bad := n.task(t, "t-bad")
	last := bad.Events[len(bad.Events)-1]
	if bad.State != StateStopped || bad.Errored != Errored || last.Type != EventError || last.Payload["error"] != "no container engine on any node" {
		t.Fatalf("t-bad %+v: want stopped, errored, an error event with the reason", bad)
	}
	late := n.task(t, "t-late")
	if late.State != StateStopped || late.Errored != Errored {
		t.Fatalf("t-late %+v: want ended by its deadline", late)
	}
}
