// Package tasks follows the zone's long operations. A task (kind
// cairn.task) names the workloads it waits for; the zone leader's
// follower (Follower, a leader loop like the scheduler) ends it complete
// once every one runs all its instances, or stopped and errored when one
// fails, is deleted, or the task's deadline passes. Each step is an event
// appended to the task through Raft, so a client follows a task from any
// node (reads are local), and a task survives a change of leader: the new
// leader's follower takes up every task still running.
//
// The shapes are Apcera's Task and TaskEvent (reference dialects.md,
// section D), which are general enough for any dialect: state running,
// complete or stopped; errored "unerrored" or "errored"; events with a
// type, a stage, a thread, a subtask name and a payload; a last event of
// type "eos" (end of stream) or "error" (payload.error says why).
package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cairn/fsm"
	"cairn/node/workload"
)

// Kind is a task; id: its UUID.
const Kind = "cairn.task"

// Task states and errored values.
const (
	StateRunning  = "running"
	StateComplete = "complete"
	StateStopped  = "stopped"
	Unerrored     = "unerrored"
	Errored       = "errored"
)

// Event types a follower writes last.
const (
	EventEOS   = "eos"
	EventError = "error"
	// EventProgress is every other event.
	EventProgress = "task_event"
)

// Kinds declares the task kind, indexed by state so the follower finds
// the running ones without a scan.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{{Kind: Kind, Owner: "tasks", Indexes: []fsm.Index{fsm.FieldIndex("state", "state", false)}}}
}

// Task is the body of a Kind resource.
type Task struct {
	UUID          string `json:"uuid"`
	State         string `json:"state"`
	Errored       string `json:"errored"`
	TimeStarted   int64  `json:"time_started"`
	TimeCompleted int64  `json:"time_completed,omitempty"`
	// Deadline (unix nanoseconds): a task still running then ends errored.
	Deadline int64    `json:"deadline"`
	Follow   []Follow `json:"follow,omitempty"`
	Events   []Event  `json:"events"`
}

// Follow is a workload a task waits for.
type Follow struct {
	Workload string `json:"workload"`
	// Thread and Name label its events ("job1", "job::/sandbox/user::job1").
	Thread string `json:"thread"`
	Name   string `json:"name"`
	Done   bool   `json:"done,omitempty"`
}

// Event is one step of a task (Apcera's TaskEvent).
type Event struct {
	UUID     string         `json:"uuid"`
	TaskUUID string         `json:"task_uuid"`
	Type     string         `json:"task_event_type"`
	Stage    string         `json:"stage"`
	Thread   string         `json:"thread"`
	Subtask  Subtask        `json:"subtask"`
	Payload  map[string]any `json:"payload"`
	Tags     []string       `json:"tags"`
	Time     int64          `json:"time"`
}

// Subtask names what an event is about.
type Subtask struct {
	Name string `json:"name"`
}

// NewUUID is a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewEvent makes an event of task at now.
func NewEvent(task, typ, stage, thread, subtask string, payload map[string]any, now time.Time) Event {
	if payload == nil {
		payload = map[string]any{}
	}
	return Event{UUID: NewUUID(), TaskUUID: task, Type: typ, Stage: stage, Thread: thread,
		Subtask: Subtask{Name: subtask}, Payload: payload, Tags: []string{}, Time: now.UnixNano()}
}

// DefaultTimeout is how long a task may run before it ends errored.
const DefaultTimeout = 5 * time.Minute

// New starts a task that waits for follow; events are its first steps.
func New(uuid string, follow []Follow, now time.Time, timeout time.Duration, events ...Event) Task {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if events == nil {
		events = []Event{}
	}
	return Task{UUID: uuid, State: StateRunning, Errored: Unerrored, TimeStarted: now.UnixNano(),
		Deadline: now.Add(timeout).UnixNano(), Follow: follow, Events: events}
}

// Fail ends t errored with msg (an "error" event carrying payload.error).
func (t *Task) Fail(msg, thread string, now time.Time) {
	t.Events = append(t.Events, NewEvent(t.UUID, EventError, "Error", thread, msg, map[string]any{"error": msg}, now))
	t.State, t.Errored, t.TimeCompleted = StateStopped, Errored, now.UnixNano()
}

// Complete ends t successfully, with an "eos" event.
func (t *Task) Complete(now time.Time) {
	t.Events = append(t.Events, NewEvent(t.UUID, EventEOS, "Finish", "manifest", "execution was successful", nil, now))
	t.State, t.TimeCompleted = StateComplete, now.UnixNano()
}

// Ended reports whether t is over.
func (t Task) Ended() bool { return t.State != StateRunning }

// Op returns the put of t (created: required absent).
func (t Task) Op() fsm.Op {
	b, _ := json.Marshal(t)
	return fsm.Op{Type: fsm.OpPut, Kind: Kind, ID: t.UUID, Body: b, Require: fsm.RequireAbsent}
}

// Parse reads a stored task.
func Parse(r *fsm.Resource) (Task, error) {
	var t Task
	err := json.Unmarshal(r.Body, &t)
	return t, err
}

// Node is what the follower needs of its node.
type Node interface {
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	WaitIndex(ctx context.Context, index uint64) error
}

// Follower moves the zone's running tasks on; run it on the zone leader
// (node.OnLeadership).
type Follower struct {
	node Node
	log  *slog.Logger
	now  func() time.Time
	// Every bounds the wait for a write before looking again (deadlines
	// pass without writes).
	Every time.Duration
}

// NewFollower returns a follower of n's tasks.
func NewFollower(n Node, log *slog.Logger) *Follower {
	return &Follower{node: n, log: log.With("component", "tasks"), now: time.Now, Every: time.Second}
}

// Run follows tasks until ctx ends: after every write to the store (or
// Every at the latest) it looks at each running task once.
func (f *Follower) Run(ctx context.Context) {
	var seen uint64
	for ctx.Err() == nil {
		v := f.node.View()
		seen = v.Index()
		running, _ := v.Lookup(Kind, "state", StateRunning)
		for _, r := range running {
			if err := f.step(ctx, v, r); err != nil && ctx.Err() == nil && !errors.Is(err, fsm.ErrConflict) {
				f.log.Warn("could not move task "+r.ID+" on; trying again", "err", err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, f.Every)
		_ = f.node.WaitIndex(wctx, seen+1)
		cancel()
	}
}

// step looks at one running task and writes what changed.
func (f *Follower) step(ctx context.Context, v *fsm.View, r *fsm.Resource) error {
	t, err := Parse(r)
	if err != nil {
		return err
	}
	now := f.now()
	changed := false
	for i := range t.Follow {
		fl := &t.Follow[i]
		if fl.Done {
			continue
		}
		done, failure := workloadProgress(v, fl.Workload)
		switch {
		case failure != "":
			t.Fail(failure, fl.Thread, now)
			changed = true
		case done:
			fl.Done, changed = true, true
			t.Events = append(t.Events, NewEvent(t.UUID, EventProgress, "Running", fl.Thread, fmt.Sprintf("%s is running", fl.Name), nil, now))
		}
		if t.Ended() {
			break
		}
	}
	if !t.Ended() {
		all := true
		for _, fl := range t.Follow {
			all = all && fl.Done
		}
		switch {
		case all:
			t.Complete(now)
			changed = true
		case now.UnixNano() > t.Deadline:
			t.Fail(fmt.Sprintf("the task did not finish within %s", time.Duration(t.Deadline-t.TimeStarted)), "manifest", now)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	b, _ := json.Marshal(t)
	_, _, err = f.node.Apply(ctx, fsm.Command{Time: now.UTC(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: Kind, ID: t.UUID, Body: b, Require: fsm.RequireVersion, Version: r.Version}}})
	if err == nil && t.Ended() {
		f.log.Info("task "+t.UUID+" ended "+t.State, "errored", t.Errored)
	}
	return err
}

// workloadProgress says whether workload id runs every instance it asks
// for (done), or why it never will (failure: deleted, an instance failed).
func workloadProgress(v *fsm.View, id string) (done bool, failure string) {
	res := v.Get(workload.KindWorkload, id)
	if res == nil {
		return false, fmt.Sprintf("workload %s was deleted", id)
	}
	spec, err := workload.ParseSpec(res.Body)
	if err != nil {
		return false, err.Error()
	}
	if spec.State != workload.StateStarted || spec.Instances == 0 {
		return true, ""
	}
	insts, _ := v.Lookup(workload.KindInstance, "workload", id)
	running := 0
	for _, ir := range insts {
		var st workload.Status
		if json.Unmarshal(ir.Body, &st) != nil {
			continue
		}
		if st.Failed {
			return false, st.Reason
		}
		if st.State == workload.InstanceRunning && st.Index < spec.Instances {
			running++
		}
	}
	return running >= spec.Instances, ""
}
