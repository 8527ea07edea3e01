package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"
)

// kindItem is declared with a unique index on "name"; kindOther is not
// declared at all.
const (
	kindItem  = "t.item"
	kindOther = "t.other"
)

func mustSchema(t *testing.T) fsm.Schema {
	t.Helper()
	s, err := fsm.NewSchema(fsm.KindSchema{Kind: kindItem, Indexes: []fsm.Index{
		fsm.FieldIndex("name", "name", true),
	}})
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	return s
}

// testConfig is a single-node config with short Raft timeouts.
func testConfig(t *testing.T, dataDir string) node.Config {
	t.Helper()
	return node.Config{
		NodeID:             "n1",
		Zone:               "z1",
		DataDir:            dataDir,
		RaftAddr:           nodetest.FreeAddr(t),
		HTTPURL:            "http://n1.test:8180",
		Bootstrap:          true,
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       5 * time.Second,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// mustOpen opens a node and closes it when the test ends.
func mustOpen(t *testing.T, cfg node.Config, schema fsm.Schema) *node.Node {
	t.Helper()
	n, err := node.Open(cfg, schema)
	if err != nil {
		t.Fatalf("open node %s in %s: %v", cfg.NodeID, cfg.DataDir, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// mustLeader waits until n leads and can serve linearizable reads, which
// also means it has applied every entry of earlier terms.
func mustLeader(t *testing.T, n *node.Node) {
	t.Helper()
	nodetest.WaitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return n.IsLeader() && n.ReadBarrier(ctx) == nil
	}, 10*time.Second, "node "+n.ID()+" to lead")
}

// mustClose closes n and fails the test on error.
func mustClose(t *testing.T, n *node.Node) {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatalf("close node %s: %v", n.ID(), err)
	}
}

func putOp(kind, id, body string) fsm.Op {
	return fsm.Op{Type: fsm.OpPut, Kind: kind, ID: id, Body: json.RawMessage(body)}
}

// mustApply applies ops as one command and fails the test if it was not
// applied.
func mustApply(t *testing.T, n *node.Node, ops ...fsm.Op) (uint64, *fsm.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idx, res, err := n.Apply(ctx, fsm.Command{Ops: ops, Time: time.Now().UTC()})
	if err != nil {
		t.Fatalf("apply %+v: %v", ops, err)
	}
	return idx, res
}

// mustOpenLeader opens a bootstrapping node in a fresh temp dir and waits
// for it to lead.
func mustOpenLeader(t *testing.T) (*node.Node, node.Config) {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	n := mustOpen(t, cfg, mustSchema(t))
	mustLeader(t, n)
	return n, cfg
}

func Test_Open_NewDataDir_BootstrapsAndLeads(t *testing.T) {
	t.Parallel()
	n, cfg := mustOpenLeader(t)
	if !n.Bootstrapped() {
		t.Error("Bootstrapped() = false for a new data dir")
	}
	if n.ID() != "n1" || n.Zone() != "z1" || n.HTTPURL() != cfg.HTTPURL {
		t.Errorf("ID, Zone, HTTPURL = %q, %q, %q", n.ID(), n.Zone(), n.HTTPURL())
	}
	if n.RaftAddr() != cfg.RaftAddr {
		t.Errorf("RaftAddr() = %q, want %q", n.RaftAddr(), cfg.RaftAddr)
	}
	if got := node.StoredNodeID(cfg.DataDir); got != "n1" {
		t.Errorf("StoredNodeID = %q, want n1", got)
	}
	if id, url := n.Leader(); id != "n1" || url != cfg.HTTPURL {
		t.Errorf("Leader() = %q, %q; want n1, %q", id, url, cfg.HTTPURL)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft", "raft.db")); err != nil {
		t.Errorf("raft log not in the data dir: %v", err)
	}
}

func Test_Open_NoNodeID_Fails(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = ""
	n, err := node.Open(cfg, mustSchema(t))
	if err == nil {
		n.Close()
		t.Fatal("Open with no node id succeeded")
	}
}

func Test_Apply_Put_ReturnsIndexAndResult(t *testing.T) {
	t.Parallel()
	n, _ := mustOpenLeader(t)
	idx, res := mustApply(t, n, putOp(kindItem, "a", `{"name": "alpha"}`), putOp(kindOther, "b", `[1, 2]`))
	if idx == 0 || res.Index != idx {
		t.Fatalf("index = %d, result index = %d", idx, res.Index)
	}
	if len(res.Resources) != 2 || len(res.Existed) != 2 {
		t.Fatalf("result = %+v, want two resources", res)
	}
	a := res.Resources[0]
	if a.Kind != kindItem || a.ID != "a" || a.Version != idx || a.CreateIndex != idx || string(a.Body) != `{"name":"alpha"}` {
		t.Errorf("resource a = %+v", a)
	}
	if res.Existed[0] || res.Existed[1] {
		t.Errorf("Existed = %v, want both false", res.Existed)
	}
	if got := n.View().Get(kindOther, "b"); got == nil || got.Version != idx {
		t.Errorf("store has b = %+v, want version %d", got, idx)
	}
	if n.View().Index() != idx {
		t.Errorf("store index = %d, want %d", n.View().Index(), idx)
	}

	idx2, res2 := mustApply(t, n, putOp(kindItem, "a", `{"name":"alpha2"}`))
	if idx2 <= idx {
		t.Errorf("second index %d not after %d", idx2, idx)
	}
	if !res2.Existed[0] || res2.Resources[0].Version != idx2 || res2.Resources[0].CreateIndex != idx {
		t.Errorf("replace result = %+v / %+v", res2.Resources[0], res2.Existed)
	}
}

func Test_Apply_PreconditionFails_WrapsErrConflict(t *testing.T) {
	t.Parallel()
	n, _ := mustOpenLeader(t)
	v1, _ := mustApply(t, n, putOp(kindItem, "a", `{"name":"alpha"}`))
	ctx := context.Background()

	cases := []struct {
		name string
		op   fsm.Op
	}{
		{"absent-but-exists", fsm.Op{Type: fsm.OpPut, Kind: kindItem, ID: "a", Body: json.RawMessage(`{}`), Require: fsm.RequireAbsent}},
		{"exists-but-absent", fsm.Op{Type: fsm.OpDelete, Kind: kindItem, ID: "zz", Require: fsm.RequireExists}},
		{"stale-version", fsm.Op{Type: fsm.OpPut, Kind: kindItem, ID: "a", Body: json.RawMessage(`{}`), Require: fsm.RequireVersion, Version: v1 + 100}},
		{"unique-index-clash", putOp(kindItem, "b", `{"name":"alpha"}`)},
	}
	for _, c := range cases {
		idx, res, err := n.Apply(ctx, fsm.Command{Ops: []fsm.Op{c.op}, Time: time.Now()})
		if !errors.Is(err, fsm.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", c.name, err)
			continue
		}
		var conflict *fsm.Conflict
		if !errors.As(err, &conflict) {
			t.Errorf("%s: err %v does not carry a *fsm.Conflict", c.name, err)
		}
		if idx == 0 || res == nil || res.Conflict == nil || res.Index != idx {
			t.Errorf("%s: index %d, result %+v: a refused command still takes an index", c.name, idx, res)
		}
	}
	// Nothing of the refused commands was written.
	if got := n.View().Get(kindItem, "a"); got == nil || got.Version != v1 {
		t.Errorf("a = %+v, want untouched at version %d", got, v1)
	}
	if got := n.View().Get(kindItem, "b"); got != nil {
		t.Errorf("b = %+v, want absent after the index clash", got)
	}
}

func Test_Apply_InvalidCommand_WrapsErrInvalid(t *testing.T) {
	t.Parallel()
	n, _ := mustOpenLeader(t)
	_, _, err := n.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{putOp("Bad Kind", "a", `{}`)}})
	if !errors.Is(err, fsm.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func Test_Apply_ExpiredContext_ErrTimeout(t *testing.T) {
	t.Parallel()
	n, _ := mustOpenLeader(t)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	before := n.View().Index()
	_, _, err := n.Apply(ctx, fsm.Command{Ops: []fsm.Op{putOp(kindItem, "a", `{}`)}})
	if !errors.Is(err, node.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if n.View().Get(kindItem, "a") != nil || n.View().Index() != before {
		t.Error("a command with an expired context was applied")
	}
}

func Test_Apply_AfterClose_ErrShutdown(t *testing.T) {
	t.Parallel()
	n, _ := mustOpenLeader(t)
	mustClose(t, n)
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, _, err := n.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{putOp(kindItem, "a", `{}`)}})
	if !errors.Is(err, node.ErrShutdown) {
		t.Fatalf("err = %v, want ErrShutdown", err)
	}
}

func Test_ReadBarrier_Leader_StoreHasEverything(t *testing.T) {
	t.Parallel()
	n, _ := mustOpenLeader(t)
	var last uint64
	for i := range 20 {
		last, _ = mustApply(t, n, putOp(kindOther, fmt.Sprintf("id-%02d", i), `{}`))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatalf("ReadBarrier: %v", err)
	}
	v := n.View()
	if v.Index() < last || v.Count(kindOther) != 20 {
		t.Errorf("after the barrier the store is at %d with %d items, want >= %d with 20", v.Index(), v.Count(kindOther), last)
	}
}

func Test_Status_Leader_Fields(t *testing.T) {
	t.Parallel()
	n, cfg := mustOpenLeader(t)
	last, _ := mustApply(t, n, putOp(kindOther, "a", `{}`))
	st := n.Status()
	if st.NodeID != "n1" || st.Zone != "z1" || st.State != "Leader" {
		t.Errorf("node, zone, state = %q, %q, %q", st.NodeID, st.Zone, st.State)
	}
	if st.LeaderID != "n1" || st.LeaderHTTP != cfg.HTTPURL || st.HTTPURL != cfg.HTTPURL {
		t.Errorf("leader = %q at %q, http %q; want n1 at %q", st.LeaderID, st.LeaderHTTP, st.HTTPURL, cfg.HTTPURL)
	}
	if st.RaftAddr != cfg.RaftAddr {
		t.Errorf("raft addr = %q, want %q", st.RaftAddr, cfg.RaftAddr)
	}
	if st.Term == 0 || st.LastIndex == 0 || st.CommitIndex == 0 || st.AppliedIndex == 0 {
		t.Errorf("zero term or index in %+v", st)
	}
	if st.CommitIndex > st.LastIndex || st.CommitIndex < last {
		t.Errorf("commit %d > last %d or before the write at %d", st.CommitIndex, st.LastIndex, last)
	}
	// Raft records an entry as applied once it has handed it to the FSM,
	// a moment after the FSM answered the proposer: wait for it.
	nodetest.WaitFor(t, func() bool {
		st := n.Status()
		return st.AppliedIndex >= st.CommitIndex && st.AppliedIndex >= last
	}, 5*time.Second, "the applied index to reach the commit index")
	if st.StoreIndex != last {
		t.Errorf("store index %d, want %d", st.StoreIndex, last)
	}
	if st.LastContactMS != 0 || n.LastContact() != 0 {
		t.Errorf("leader's last contact = %dms / %s, want 0", st.LastContactMS, n.LastContact())
	}
	if st.Voters != 1 {
		t.Errorf("voters = %d, want 1", st.Voters)
	}
	if ok, why := n.Ready(); !ok {
		t.Errorf("Ready() = false once applied caught up: %s", why)
	}
}

func Test_Reopen_SameDataDir_ResumesWithData(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	schema := mustSchema(t)
	n := mustOpen(t, cfg, schema)
	mustLeader(t, n)
	var last uint64
	for i := range 10 {
		last, _ = mustApply(t, n, putOp(kindItem, fmt.Sprintf("id-%d", i), fmt.Sprintf(`{"name":"n%d"}`, i)))
	}
	mustApply(t, n, fsm.Op{Type: fsm.OpDelete, Kind: kindItem, ID: "id-3"})
	digest, count := n.View().Digest(), n.View().Count(kindItem)
	mustClose(t, n)

	n2 := mustOpen(t, cfg, schema)
	if n2.Bootstrapped() {
		t.Error("Bootstrapped() = true for a data dir with Raft state")
	}
	mustLeader(t, n2)
	if got := n2.View().Digest(); got != digest {
		t.Errorf("digest after reopen %s, want %s", got, digest)
	}
	if got := n2.View().Count(kindItem); got != count || count != 9 {
		t.Errorf("count after reopen %d, before %d, want 9", got, count)
	}
	// Secondary indexes are rebuilt from the log too.
	if items, err := n2.View().Lookup(kindItem, "name", "n4"); err != nil || len(items) != 1 || items[0].ID != "id-4" {
		t.Errorf("lookup name=n4 after reopen: %v, %v", items, err)
	}
	idx, _ := mustApply(t, n2, putOp(kindItem, "after", `{}`))
	if idx <= last {
		t.Errorf("index after reopen %d not after %d", idx, last)
	}
}

func Test_Open_DataDirInUse_ErrDataDirInUse(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	n := mustOpen(t, cfg, mustSchema(t))
	mustLeader(t, n)

	cfg2 := cfg
	cfg2.RaftAddr = nodetest.FreeAddr(t)
	n2, err := node.Open(cfg2, mustSchema(t))
	if err == nil {
		n2.Close()
		t.Fatal("second Open of a data dir in use succeeded")
	}
	if !errors.Is(err, node.ErrDataDirInUse) {
		t.Fatalf("err = %v, want ErrDataDirInUse", err)
	}
	// The failed Open left nothing bound.
	l, err := net.Listen("tcp", cfg2.RaftAddr)
	if err != nil {
		t.Errorf("raft address of the failed Open is still bound: %v", err)
	} else {
		l.Close()
	}
	// The first node is unharmed.
	mustApply(t, n, putOp(kindOther, "still-here", `{}`))
}

func Test_Open_NodeIDMismatch_Fails(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	n := mustOpen(t, cfg, mustSchema(t))
	mustLeader(t, n)
	mustClose(t, n)

	cfg.NodeID = "n2"
	n2, err := node.Open(cfg, mustSchema(t))
	if err == nil {
		n2.Close()
		t.Fatal("Open with another node's data dir succeeded")
	}
	for _, want := range []string{`"n1"`, `"n2"`, cfg.DataDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if got := node.StoredNodeID(cfg.DataDir); got != "n1" {
		t.Errorf("stored node id is now %q, want it left at n1", got)
	}
}

func Test_Snapshot_ReopenRestores(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.TrailingLogs = 2
	schema := mustSchema(t)
	n := mustOpen(t, cfg, schema)
	mustLeader(t, n)
	for i := range 20 {
		mustApply(t, n, putOp(kindItem, fmt.Sprintf("id-%02d", i), fmt.Sprintf(`{"name":"n%d"}`, i)))
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	st := n.Status()
	if st.LastSnapshotIndex == 0 {
		t.Fatalf("LastSnapshotIndex = 0 after Snapshot; status %+v", st)
	}
	// A snapshot with nothing new since the last one is not an error.
	if err := n.Snapshot(); err != nil {
		t.Errorf("second Snapshot: %v", err)
	}
	// One write after the snapshot, replayed from the trailing log.
	mustApply(t, n, putOp(kindItem, "after", `{"name":"after"}`))
	digest := n.View().Digest()
	mustClose(t, n)

	matches, _ := filepath.Glob(filepath.Join(cfg.DataDir, "raft", "snapshots", "*", "state.bin"))
	if len(matches) == 0 {
		t.Errorf("no snapshot file in %s", cfg.DataDir)
	}

	n2 := mustOpen(t, cfg, schema)
	mustLeader(t, n2)
	if got := n2.View().Digest(); got != digest {
		t.Errorf("digest after restore %s, want %s", got, digest)
	}
	if n2.View().Count(kindItem) != 21 {
		t.Errorf("count after restore = %d, want 21", n2.View().Count(kindItem))
	}
	if items, err := n2.View().Lookup(kindItem, "name", "n7"); err != nil || len(items) != 1 {
		t.Errorf("index not rebuilt from the snapshot: %v, %v", items, err)
	}
	if n2.Status().LastSnapshotIndex == 0 {
		t.Error("LastSnapshotIndex = 0 after reopening from a snapshot")
	}
}

// logRecorder is a slog.Handler that keeps every record's message and
// attributes, for tests that wait for a node to log that it did something.
type logRecorder struct {
	mu      sync.Mutex
	records []map[string]string
	attrs   []slog.Attr
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, m)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &sharedRecorder{root: h, attrs: as}
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// find returns the first record for which match holds.
func (h *logRecorder) find(match func(map[string]string) bool) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if match(r) {
			return r
		}
	}
	return nil
}

// sharedRecorder is a logRecorder with attributes, writing to its root.
type sharedRecorder struct {
	root  *logRecorder
	attrs []slog.Attr
}

func (h *sharedRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *sharedRecorder) Handle(ctx context.Context, r slog.Record) error {
	r2 := r.Clone()
	r2.AddAttrs(h.attrs...)
	return h.root.Handle(ctx, r2)
}

func (h *sharedRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &sharedRecorder{root: h.root, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *sharedRecorder) WithGroup(string) slog.Handler { return h }

func Test_Restart_NewRaftPort_UpdatesOwnAddress(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	schema := mustSchema(t)
	n := mustOpen(t, cfg, schema)
	mustLeader(t, n)
	mustApply(t, n, putOp(kindOther, "before", `{}`))
	digest := n.View().Digest()
	oldAddr := n.RaftAddr()
	mustClose(t, n)

	rec := &logRecorder{}
	cfg.RaftAddr = nodetest.FreeAddr(t)
	cfg.Logger = slog.New(rec)
	n2 := mustOpen(t, cfg, schema)
	mustLeader(t, n2)
	if n2.RaftAddr() != cfg.RaftAddr || n2.Status().RaftAddr != cfg.RaftAddr {
		t.Errorf("raft addr = %q / %q, want %q", n2.RaftAddr(), n2.Status().RaftAddr, cfg.RaftAddr)
	}
	if got := n2.View().Digest(); got != digest {
		t.Errorf("digest after restart %s, want %s", got, digest)
	}
	// The node corrects its own address in the Raft configuration once it
	// leads; it says so in the log.
	nodetest.WaitFor(t, func() bool {
		return rec.find(func(r map[string]string) bool {
			return strings.Contains(r["msg"], "own raft address") && r["old"] == oldAddr && r["new"] == cfg.RaftAddr
		}) != nil
	}, 5*time.Second, "the node to update its own raft address")
	if r := rec.find(func(r map[string]string) bool { return strings.Contains(r["msg"], "could not update own raft address") }); r != nil {
		t.Errorf("address update failed: %v", r)
	}
	nodetest.WaitFor(t, func() bool {
		servers, err := n2.Servers()
		return err == nil && len(servers) == 1 && servers[0].ID == "n1" && servers[0].Address == cfg.RaftAddr && servers[0].Voter
	}, 5*time.Second, "the configuration to hold the new raft address")
	// Writes keep working and the zone still has exactly one voter.
	mustApply(t, n2, putOp(kindOther, "after", `{}`))
	if st := n2.Status(); st.Voters != 1 || st.State != "Leader" {
		t.Errorf("status after restart: %+v", st)
	}

	// A second restart, on the address now in the configuration, has
	// nothing to correct.
	mustClose(t, n2)
	rec2 := &logRecorder{}
	cfg.Logger = slog.New(rec2)
	n3 := mustOpen(t, cfg, schema)
	mustLeader(t, n3)
	mustApply(t, n3, putOp(kindOther, "third", `{}`))
	if r := rec2.find(func(r map[string]string) bool { return strings.Contains(r["msg"], "own raft address") }); r != nil {
		t.Errorf("restart on the configured address updated it again: %v", r)
	}
	if n3.View().Count(kindOther) != 3 {
		t.Errorf("count = %d, want 3", n3.View().Count(kindOther))
	}
}

func Test_ReadBarrier_NotLeader_ErrNotLeader(t *testing.T) {
	t.Parallel()
	// A node whose data dir is empty and that does not bootstrap waits to
	// be joined: it knows no leader and cannot serve consistent reads.
	cfg := testConfig(t, t.TempDir())
	cfg.Bootstrap = false
	n := mustOpen(t, cfg, mustSchema(t))
	if n.Bootstrapped() {
		t.Error("Bootstrapped() = true without Bootstrap")
	}
	if err := n.ReadBarrier(context.Background()); !errors.Is(err, node.ErrNotLeader) {
		t.Errorf("ReadBarrier = %v, want ErrNotLeader", err)
	}
	if ok, why := n.Ready(); ok || why == "" {
		t.Errorf("Ready() = %v, %q; want false with a reason", ok, why)
	}
	if id, url := n.Leader(); id != "" || url != "" {
		t.Errorf("Leader() = %q, %q; want none", id, url)
	}
	if n.LastContact() >= 0 {
		t.Errorf("LastContact() = %s, want negative (never)", n.LastContact())
	}
	_, _, err := n.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{putOp(kindItem, "a", `{}`)}})
	if !errors.Is(err, node.ErrNotLeader) {
		t.Errorf("Apply on a non-leader = %v, want ErrNotLeader", err)
	}
	if st := n.Status(); st.State != "Follower" || st.LeaderID != "" || st.LastContactMS != -1 {
		t.Errorf("status of an unjoined node: %+v", st)
	}
}

func Test_SetPeerHTTP_NotUsedForSelf(t *testing.T) {
	t.Parallel()
	n, cfg := mustOpenLeader(t)
	n.SetPeerHTTP(func(id string) string { return "http://elsewhere" })
	if id, url := n.Leader(); id != "n1" || url != cfg.HTTPURL {
		t.Errorf("Leader() = %q, %q; want n1 at its own URL %q", id, url, cfg.HTTPURL)
	}
}

// A zone's first leader gives it an identity and moves it to the latest
// log format (a lone node reads it, so at once); both survive a restart
// from a snapshot, and writes go on in the prepared format.
func Test_NewZone_IdentityAndLatestLogFormat_SurviveRestart(t *testing.T) {
	t.Parallel()
	n, cfg := mustOpenLeader(t)
	nodetest.WaitFor(t, func() bool { return n.ZoneID() != "" && n.LogFormat() == fsm.LatestFormat }, 10*time.Second, "the zone's identity and log format")
	zoneID := n.ZoneID()
	if st := n.Status(); st.ZoneID != zoneID || !st.Voter || !strings.HasPrefix(st.RaftID, "n1@") {
		t.Fatalf("status %+v", st)
	}
	mustApply(t, n, fsm.Op{Type: fsm.OpPut, Kind: kindItem, ID: "a", Body: []byte(`{"name":"x"}`)})
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	mustClose(t, n)
	n2 := mustOpen(t, cfg, mustSchema(t))
	defer mustClose(t, n2)
	if n2.ZoneID() != zoneID || n2.LogFormat() != fsm.LatestFormat {
		t.Fatalf("after a restart from the snapshot: zone id %q format %d, want %q %d", n2.ZoneID(), n2.LogFormat(), zoneID, fsm.LatestFormat)
	}
	mustLeader(t, n2)
	if rs, err := n2.View().Lookup(kindItem, "name", "x"); err != nil || len(rs) != 1 {
		t.Fatalf("lookup after restart: %v %v", rs, err)
	}
}
