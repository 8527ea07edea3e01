package settings_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/runtime"
)

// Test_Validate_FloorsOnEveryLimit: no zone-wide value can lock the zone
// out (#13 item 4).
func Test_Validate_FloorsOnEveryLimit(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"maxBodyBytes":16}`:          false,
		`{"maxBodyBytes":4095}`:        false,
		`{"maxBodyBytes":4096}`:        true,
		`{"requestTimeout":"10ms"}`:    false,
		`{"requestTimeout":"1s"}`:      true,
		`{"maxConcurrentRequests":1}`:  false,
		`{"maxConcurrentRequests":7}`:  false,
		`{"maxConcurrentRequests":8}`:  true,
		`{"maxConcurrentRequests":0}`:  true,
		`{"maxConcurrentRequests":-1}`: false,
	} {
		if _, err := settings.Validate("http", []byte(body)); (err == nil) != ok {
			t.Errorf("%s: %v, want ok %v", body, err, ok)
		}
	}
	for body, ok := range map[string]bool{
		`{"snapshotThreshold":1}`:    false,
		`{"snapshotThreshold":16}`:   true,
		`{"snapshotInterval":"5ms"}`: false,
		`{"snapshotInterval":"1s"}`:  true,
		`{"trailingLogs":0}`:         true,
	} {
		if _, err := settings.Validate("raft", []byte(body)); (err == nil) != ok {
			t.Errorf("%s: %v, want ok %v", body, err, ok)
		}
	}
}

type limits struct {
	mu                sync.Mutex
	body, concurrency int64
	timeout           time.Duration
}

func (l *limits) MaxBodyBytes() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.body }
func (l *limits) RequestTimeout() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.timeout
}
func (l *limits) MaxConcurrentRequests() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.concurrency
}
func (l *limits) SetMaxBodyBytes(n int64) { l.mu.Lock(); l.body = n; l.mu.Unlock() }
func (l *limits) SetRequestTimeout(d time.Duration) {
	l.mu.Lock()
	l.timeout = d
	l.mu.Unlock()
}
func (l *limits) SetMaxConcurrentRequests(n int64) { l.mu.Lock(); l.concurrency = n; l.mu.Unlock() }

type raftTuning struct {
	mu sync.Mutex
	t  node.RaftTuning
}

func (r *raftTuning) RaftTuning() node.RaftTuning { r.mu.Lock(); defer r.mu.Unlock(); return r.t }
func (r *raftTuning) SetRaftTuning(t node.RaftTuning) error {
	r.mu.Lock()
	r.t = t
	r.mu.Unlock()
	return nil
}
func (r *raftTuning) Snapshot() error { return nil }

// Test_Follow_DeletedZoneValue_BackToFlags: deleting the zone's stored
// value returns every member to the values of its flags, and an attribute
// the zone never set keeps the flag's value (#13 item 4).
func Test_Follow_DeletedZoneValue_BackToFlags(t *testing.T) {
	l := &limits{body: 1 << 20, timeout: 30 * time.Second}
	r := &raftTuning{t: node.RaftTuning{SnapshotThreshold: 8192, TrailingLogs: 100, SnapshotInterval: time.Minute}}
	s := settings.New(new(slog.LevelVar), l, r, slog.New(slog.DiscardHandler))
	st := fsm.NewStore(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Follow(ctx, st)

	index := uint64(0)
	apply := func(cmd fsm.Command) {
		t.Helper()
		index++
		if res := st.Apply(index, cmd); res.Err() != nil {
			t.Fatal(res.Err())
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	cmd, err := s.SetCommand(st.View(), "http", []byte(`{"maxBodyBytes":8192}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	apply(cmd)
	cmd, _ = s.SetCommand(st.View(), "raft", []byte(`{"trailingLogs":5}`), time.Now())
	apply(cmd)
	waitFor("the zone's values", func() bool { return l.MaxBodyBytes() == 8192 && r.RaftTuning().TrailingLogs == 5 })
	if l.RequestTimeout() != 30*time.Second || r.RaftTuning().SnapshotThreshold != 8192 {
		t.Errorf("attributes the zone does not set changed: %v %+v", l.RequestTimeout(), r.RaftTuning())
	}
	for _, name := range []string{"http", "raft"} {
		cmd, ok, err := s.ResetCommand(st.View(), name, time.Now())
		if err != nil || !ok {
			t.Fatalf("reset %s: %v %v", name, ok, err)
		}
		apply(cmd)
	}
	waitFor("the flags' values", func() bool { return l.MaxBodyBytes() == 1<<20 && r.RaftTuning().TrailingLogs == 100 })
	if got := r.RaftTuning(); got.SnapshotThreshold != 8192 || got.SnapshotInterval != time.Minute {
		t.Errorf("raft tuning after the reset: %+v", got)
	}
	// A value stored below the floors (by an older binary) is not applied.
	b, _ := json.Marshal(map[string]any{"maxBodyBytes": 16})
	apply(fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: settings.Kind, ID: "http", Body: b}}})
	time.Sleep(50 * time.Millisecond)
	if l.MaxBodyBytes() != 1<<20 {
		t.Errorf("a stored maxBodyBytes of 16 was applied: %d", l.MaxBodyBytes())
	}
}

// Test_Validate_Null_SaysNull: a null attribute is reported as null, not
// as an empty value (#13 item 11).
func Test_Validate_Null_SaysNull(t *testing.T) {
	_, err := settings.Validate("logging", []byte(`{"level":null}`))
	if err == nil || !strings.Contains(err.Error(), "is null") {
		t.Errorf("null level: %v, want an error saying it is null", err)
	}
}
