package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	howBootstrapped = "bootstrapped a new single-node zone"
	howResumed      = "resumed from its data dir"
)

// Test_Agent_StopGracefully_RestartResumesWithData covers one node's whole
// life: it founds a zone, serves writes and reads, exits 0 on SIGTERM, and
// resumes from its data dir with every resource at the version it had.
func Test_Agent_StopGracefully_RestartResumesWithData(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{nodeID: "n1"})
	l := a.line
	if l.version != testVersion || l.nodeID != "n1" || l.zone != "default" || l.dataDir != a.opts.dataDir {
		t.Fatalf("start line %q: want version %s, node n1, zone default, data dir %s", l.raw, testVersion, a.opts.dataDir)
	}
	if l.how != howBootstrapped && !a.retried {
		t.Fatalf("first start: start line says %q, want %q", l.how, howBootstrapped)
	}
	a.mustDo(http.MethodGet, "/health", nil, http.StatusOK)
	if st := a.mustStatus(); st.NodeID != "n1" || st.State != "Leader" || st.LeaderID != "n1" || st.Voters != 1 || st.HTTPURL != a.url {
		t.Fatalf("status %+v: want n1 leading alone at %s", st, a.url)
	}

	const kind = "test.widget"
	v1 := a.mustPut(kind, "a", []byte(`{"n":1}`), http.StatusCreated)
	v2 := a.mustPut(kind, "a", []byte(`{"n":2,"tags":["x","y"]}`), http.StatusOK)
	if v2 <= v1 {
		t.Fatalf("update got version %d, not above the create's %d", v2, v1)
	}
	vb := a.mustPut(kind, "b", []byte(`"just a string"`), http.StatusCreated)
	vc := a.mustPut(kind, "c", []byte(`{"nested":{"deep":[1,2,{"k":null}]}}`), http.StatusCreated)
	if got := a.mustGet(kind, "a"); got.Version != v2 || string(got.Body) != `{"n":2,"tags":["x","y"]}` {
		t.Fatalf("GET a: %+v, want version %d and the second body", got, v2)
	}
	if got := a.mustGet(kind, "b"); got.Version != vb || string(got.Body) != `"just a string"` {
		t.Fatalf("GET b: %+v, want version %d", got, vb)
	}
	a.mustDo(http.MethodDelete, resPath(kind, "c"), nil, http.StatusNoContent)
	a.mustDo(http.MethodGet, resPath(kind, "c"), nil, http.StatusNotFound)
	a.mustDo(http.MethodDelete, resPath(kind, "c"), nil, http.StatusNotFound)
	a.mustDo(http.MethodGet, resPath(kind, "never"), nil, http.StatusNotFound)
	_ = vc

	before := a.mustList(kind)
	if len(before) != 2 || before["a"].Version != v2 || before["b"].Version != vb {
		t.Fatalf("list before restart: %+v, want a@%d and b@%d", before, v2, vb)
	}

	if code := a.mustStop(); code != 0 {
		t.Fatalf("cairn agent exited %d after SIGTERM, want 0", code)
	}

	// No -node-id: the node takes the id recorded in its data dir.
	b := mustStartAgent(t, agentOpts{dataDir: a.opts.dataDir})
	if b.line.how != howResumed || b.line.nodeID != "n1" {
		t.Fatalf("restart: start line %q, want node n1 %q", b.line.raw, howResumed)
	}
	after := b.mustList(kind)
	if len(after) != len(before) {
		t.Fatalf("after restart %d resources, before %d: %+v", len(after), len(before), after)
	}
	for id, r := range before {
		got := after[id]
		if got.Version != r.Version || !bytes.Equal(got.Body, r.Body) {
			t.Fatalf("%s after restart: version %d body %s; before: version %d body %s", id, got.Version, got.Body, r.Version, r.Body)
		}
	}
	b.mustDo(http.MethodGet, resPath(kind, "c"), nil, http.StatusNotFound)
	if v := b.mustPut(kind, "d", []byte(`{}`), http.StatusCreated); v <= v2 {
		t.Fatalf("write after restart got version %d, not above the last one before, %d", v, v2)
	}
	if code := b.mustStop(); code != 0 {
		t.Fatalf("restarted cairn agent exited %d after SIGTERM, want 0", code)
	}
}

// Test_Agent_Kill9DuringWriteBurst_AckedWritesSurvive kills a node with
// SIGKILL while 16 clients write as fast as they can: every write it
// acknowledged must be there after a restart, at the same version and with
// the same body. Writes that failed may or may not have landed, but nothing
// that was never written may appear.
func Test_Agent_Kill9DuringWriteBurst_AckedWritesSurvive(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{nodeID: "burst"})
	const (
		kind    = "test.burst"
		writers = 16
		killAt  = 300 // acknowledged writes before the kill
	)
	pad := strings.Repeat("p", 200)
	load := startWriteLoad(t, kind, writers, false, func(int) *agent { return a }, func(id string, g, i int) []byte {
		return fmt.Appendf(nil, `{"id":%q,"writer":%d,"seq":%d,"pad":%q}`, id, g, i, pad)
	})
	load.waitAcked(killAt, 30*time.Second)
	a.mustKill()
	load.stopWriters()
	load.mustNoUnexpected()
	t.Logf("killed after %d acknowledged of %d attempted writes", len(load.acked), len(load.attempted))

	b := mustStartAgent(t, agentOpts{dataDir: a.opts.dataDir})
	if b.line.how != howResumed {
		t.Fatalf("restart after SIGKILL: start line %q, want %q", b.line.raw, howResumed)
	}
	load.mustHoldAcked(b)
	// The node still takes writes.
	b.mustPut(kind, "after", []byte(`{"ok":true}`), http.StatusCreated)
}

// Test_Agent_ConfigFromEnv_FlagsOverride sets the node's settings through
// CAIRN_* environment variables, and checks that a flag beats its variable.
func Test_Agent_ConfigFromEnv_FlagsOverride(t *testing.T) {
	t.Parallel()
	t.Run("env", func(t *testing.T) {
		t.Parallel()
		a := mustStartAgent(t, agentOpts{env: []string{"CAIRN_NODE_ID=envnode", "CAIRN_ZONE=envzone"}})
		if st := a.mustStatus(); st.NodeID != "envnode" || st.Zone != "envzone" {
			t.Fatalf("status says node %q zone %q, want envnode of envzone (from CAIRN_NODE_ID, CAIRN_ZONE)", st.NodeID, st.Zone)
		}
		if a.line.nodeID != "envnode" || a.line.zone != "envzone" {
			t.Fatalf("start line %q: want node envnode of zone envzone", a.line.raw)
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(a.opts.dataDir, "node-id"))); got != "envnode" {
			t.Fatalf("data dir records node id %q, want envnode", got)
		}
	})
	t.Run("flag beats env", func(t *testing.T) {
		t.Parallel()
		a := mustStartAgent(t, agentOpts{nodeID: "flagnode", env: []string{"CAIRN_NODE_ID=envnode"}})
		if st := a.mustStatus(); st.NodeID != "flagnode" {
			t.Fatalf("status says node %q, want flagnode: -node-id must beat CAIRN_NODE_ID", st.NodeID)
		}
	})
	t.Run("env body limit", func(t *testing.T) {
		t.Parallel()
		// A 4 KiB body limit (the floor) from the environment: a larger
		// PUT is 413.
		a := mustStartAgent(t, agentOpts{nodeID: "limits", env: []string{"CAIRN_MAX_BODY_BYTES=4096"}})
		a.mustPut("test.small", "ok", []byte(`{"x":1}`), http.StatusCreated)
		big := mustJSON(t, map[string]string{"x": strings.Repeat("y", 4096)})
		a.mustDo(http.MethodPut, resPath("test.small", "big"), big, http.StatusRequestEntityTooLarge)
	})
}

// Test_CLI_VersionUnknownCommandAndBadConfig covers the command line
// outside a running node: the version, usage errors, and configuration
// that must be refused before anything starts.
func Test_CLI_VersionUnknownCommandAndBadConfig(t *testing.T) {
	t.Parallel()
	const quick = 15 * time.Second
	t.Run("version", func(t *testing.T) {
		t.Parallel()
		for _, arg := range []string{"version", "--version"} {
			code, out, errOut := runCairn(t, quick, nil, arg)
			if code != 0 || out != "cairn "+testVersion+"\n" {
				t.Fatalf("cairn %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", arg, code, out, errOut, "cairn "+testVersion+"\n")
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCairn(t, quick, nil, "frobnicate")
		if code == 0 || !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "usage:") {
			t.Fatalf("cairn frobnicate: exit %d, stdout %q, stderr %q; want non-zero exit naming the unknown command and the usage", code, out, errOut)
		}
		if code, _, errOut := runCairn(t, quick, nil); code == 0 || !strings.Contains(errOut, "usage:") {
			t.Fatalf("cairn without a command: exit %d, stderr %q; want non-zero with the usage", code, errOut)
		}
		if code, out, _ := runCairn(t, quick, nil, "help"); code != 0 || !strings.Contains(out, "agent") {
			t.Fatalf("cairn help: exit %d, stdout %q", code, out)
		}
		code, _, errOut = runCairn(t, quick, nil, "agent", "-h")
		if code != 0 || !strings.Contains(errOut, "-data-dir") || !strings.Contains(errOut, "-snapshot-threshold") {
			t.Fatalf("cairn agent -h: exit %d, stderr %q; want 0 and the flags", code, errOut)
		}
	})

	// Every case gets a fresh data dir and port-0 listeners, so even a
	// binary that wrongly starts cannot collide with anything; the quick
	// deadline then fails the case.
	bad := []struct {
		name string
		args []string
		env  []string
		want []string // substrings of stderr
	}{
		{name: "log level flag", args: []string{"-log-level", "loud"}, want: []string{"-log-level", `"loud"`, "debug, info, warn or error"}},
		{name: "log level env", env: []string{"CAIRN_LOG_LEVEL=loud"}, want: []string{`"loud"`, "debug, info, warn or error"}},
		{name: "duration env", env: []string{"CAIRN_REQUEST_TIMEOUT=soon"}, want: []string{"CAIRN_REQUEST_TIMEOUT", `"soon"`}},
		{name: "number env", env: []string{"CAIRN_SNAPSHOT_THRESHOLD=lots"}, want: []string{"CAIRN_SNAPSHOT_THRESHOLD", `"lots"`}},
		{name: "undefined flag", args: []string{"-no-such-flag"}, want: []string{"flag provided but not defined: -no-such-flag"}},
		{name: "bad duration flag", args: []string{"-request-timeout", "later"}, want: []string{"-request-timeout", "later"}},
		{name: "zero body limit", args: []string{"-max-body-bytes", "0"}, want: []string{"-max-body-bytes must be at least 4096"}},
		{name: "stray argument", args: []string{"extra"}, want: []string{"unexpected arguments: extra"}},
		{name: "lease above heartbeat", args: []string{"-raft-leader-lease-timeout", "1s"}, want: []string{"LeaderLeaseTimeout"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := append([]string{"agent", "-node-id", "bad", "-data-dir", filepath.Join(dir, "data"),
				"-http-addr", "127.0.0.1:0", "-raft-addr", "127.0.0.1:0", "-gossip-addr", "127.0.0.1:0"}, fastRaft...)
			args = append(args, tc.args...)
			code, out, errOut := runCairn(t, quick, tc.env, args...)
			if code == 0 {
				t.Fatalf("cairn %s (env %v) exited 0; stdout %q stderr %q", strings.Join(args, " "), tc.env, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, errOut)
				}
			}
			if out != "" {
				t.Errorf("a refused start printed on stdout: %q", out)
			}
		})
	}
}

// Test_Agent_SecondOnSameDataDir_Refused starts a second node on a data dir
// a running node holds: it must exit with an error naming the data dir as
// in use, and leave the first node serving.
func Test_Agent_SecondOnSameDataDir_Refused(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{nodeID: "owner"})
	v := a.mustPut("test.lock", "x", []byte(`{"v":1}`), http.StatusCreated)

	for _, nodeID := range []string{"owner", ""} { // with the same -node-id, and taking the recorded one
		var code int
		var out, errOut string
		for attempt := 1; attempt <= startRetries; attempt++ {
			ports := freePorts(t, 3)
			args := []string{"agent", "-data-dir", a.opts.dataDir,
				"-http-addr", hostPort(ports[0]), "-raft-addr", hostPort(ports[1]), "-gossip-addr", hostPort(ports[2])}
			if nodeID != "" {
				args = append(args, "-node-id", nodeID)
			}
			args = append(args, fastRaft...)
			code, out, errOut = runCairn(t, 20*time.Second, nil, args...)
			if !strings.Contains(errOut, "address already in use") {
				break
			}
		}
		if code == 0 {
			t.Fatalf("second agent on %s exited 0; stdout %q stderr %q", a.opts.dataDir, out, errOut)
		}
		if !strings.Contains(errOut, "data dir is in use") || !strings.Contains(errOut, a.opts.dataDir) {
			t.Fatalf("second agent's error does not say data dir %s is in use:\n%s", a.opts.dataDir, errOut)
		}
		if out != "" {
			t.Fatalf("second agent printed a start line: %q", out)
		}
	}

	// The first node is undisturbed: ready, still leading, data intact,
	// taking writes.
	a.mustBeReady()
	if st := a.mustStatus(); st.State != "Leader" || st.NodeID != "owner" {
		t.Fatalf("first node after the refused start: %+v", st)
	}
	if got := a.mustGet("test.lock", "x"); got.Version != v {
		t.Fatalf("x at version %d, want %d", got.Version, v)
	}
	a.mustPut("test.lock", "y", []byte(`{"v":2}`), http.StatusCreated)
	if got := strings.TrimSpace(readFile(t, filepath.Join(a.opts.dataDir, "node-id"))); got != "owner" {
		t.Fatalf("data dir now records node id %q, want owner", got)
	}
	if code := a.mustStop(); code != 0 {
		t.Fatalf("first agent exited %d after SIGTERM", code)
	}
}

// Test_Agent_RestartOnNewRaftPort_LeadsAndWrites restarts a node with its
// Raft transport on another port: its configuration still names the old
// address, yet it must elect itself, correct the address and take writes,
// and do so again after one more restart.
func Test_Agent_RestartOnNewRaftPort_LeadsAndWrites(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{nodeID: "mover"})
	v := a.mustPut("test.move", "before", []byte(`{"where":"old port"}`), http.StatusCreated)
	oldRaft := a.line.raftAddr
	if code := a.mustStop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}

	newRaft := oldRaft
	for newRaft == oldRaft {
		newRaft = hostPort(freePorts(t, 1)[0])
	}
	b := mustStartAgent(t, agentOpts{dataDir: a.opts.dataDir, raftAddr: newRaft})
	if b.line.raftAddr != newRaft || b.line.how != howResumed {
		t.Fatalf("restart: start line %q, want raft %s and %q", b.line.raw, newRaft, howResumed)
	}
	if st := b.mustStatus(); st.State != "Leader" || st.RaftAddr != newRaft || st.Voters != 1 {
		t.Fatalf("after moving raft to %s: status %+v, want the only voter, leading", newRaft, st)
	}
	if got := b.mustGet("test.move", "before"); got.Version != v {
		t.Fatalf("before at version %d, want %d", got.Version, v)
	}
	v2 := b.mustPut("test.move", "after", []byte(`{"where":"new port"}`), http.StatusCreated)

	// Once more, killed this time, on a third port: whatever the node
	// recorded about its address must not keep it from leading.
	b.mustKill()
	c := mustStartAgent(t, agentOpts{dataDir: a.opts.dataDir})
	if c.line.raftAddr == newRaft {
		t.Logf("third start happened to get raft port %s again", newRaft)
	}
	if got := c.mustGet("test.move", "after"); got.Version != v2 {
		t.Fatalf("after at version %d, want %d", got.Version, v2)
	}
	c.mustPut("test.move", "third", []byte(`{}`), http.StatusCreated)
}

// Test_Agent_SnapshotThenKill9_RestoresEverything runs a node that
// snapshots and truncates its log often, writes past several snapshots,
// kills it with SIGKILL and checks that the restart restores every
// resource from the snapshot plus the log entries after it.
func Test_Agent_SnapshotThenKill9_RestoresEverything(t *testing.T) {
	t.Parallel()
	// hashicorp/raft's ValidateConfig sets no floor for the threshold or the
	// trailing logs; the snapshot interval must be at least 5ms.
	a := mustStartAgent(t, agentOpts{nodeID: "snap", args: []string{
		"-snapshot-threshold", "64", "-trailing-logs", "16", "-snapshot-interval", "1s"}})
	const (
		kind = "test.snap"
		n    = 500
	)
	want := map[string]resource{}
	var mu sync.Mutex
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%04d", i)
	}
	put := func(id string, body []byte, status int) error {
		v, err := a.put(kind, id, body, status)
		if err != nil {
			return err
		}
		mu.Lock()
		want[id] = resource{ID: id, Version: v, Body: body}
		mu.Unlock()
		return nil
	}
	parallel(t, 16, ids, func(id string) error {
		return put(id, fmt.Appendf(nil, `{"id":%q,"pad":%q}`, id, strings.Repeat("s", 100)), http.StatusCreated)
	})

	var st nodeStatus
	waitFor(t, "a snapshot (last_snapshot_index > 0)", 20*time.Second, func() bool {
		st = a.mustStatus()
		return st.LastSnapshotIndex > 0
	}, func() string { return fmt.Sprintf("status %+v", st) })
	t.Logf("snapshot at index %d of %d", st.LastSnapshotIndex, st.LastIndex)
	snaps, _ := filepath.Glob(filepath.Join(a.opts.dataDir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Errorf("no snapshot under %s", filepath.Join(a.opts.dataDir, "raft", "snapshots"))
	}

	// Changes after the snapshot live only in the log: updates and deletes.
	parallel(t, 8, ids[:50], func(id string) error {
		return put(id, fmt.Appendf(nil, `{"id":%q,"updated":true}`, id), http.StatusOK)
	})
	parallel(t, 8, ids[50:100], func(id string) error {
		if _, err := a.doWant(http.MethodDelete, resPath(kind, id), nil, http.StatusNoContent); err != nil {
			return err
		}
		mu.Lock()
		delete(want, id)
		mu.Unlock()
		return nil
	})

	a.mustKill()
	b := mustStartAgent(t, agentOpts{dataDir: a.opts.dataDir})
	if b.line.how != howResumed {
		t.Fatalf("restart: start line %q, want %q", b.line.raw, howResumed)
	}
	if st := b.mustStatus(); st.LastSnapshotIndex == 0 {
		t.Errorf("restarted node reports no snapshot: %+v", st)
	}
	got := b.mustList(kind)
	if len(got) != len(want) {
		t.Errorf("%d resources after the restart, want %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s is missing after the restart", id)
			continue
		}
		if g.Version != w.Version || !bytes.Equal(g.Body, w.Body) {
			t.Errorf("%s: version %d body %s, want version %d body %s", id, g.Version, g.Body, w.Version, w.Body)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s is present after the restart but was deleted", id)
		}
	}
}

// parallel calls f for every item from workers goroutines and fails the
// test with the first error; items not yet started then are skipped.
func parallel(t *testing.T, workers int, items []string, f func(string) error) {
	t.Helper()
	var (
		once     sync.Once
		firstErr error
		failed   = make(chan struct{})
		work     = make(chan string)
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := f(it); err != nil {
					once.Do(func() { firstErr = err; close(failed) })
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-failed:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Test_Agent_RestartReady_MeansStoreCaughtUp checks that a node restarted
// on a long log does not answer /ready with 200 before its store has
// replayed that log: /ready is documented as "has applied everything it
// knows to be committed", and load balancers route reads by it.
//
// Regression: node.Ready once compared raft.AppliedIndex, which
// hashicorp/raft advances when it hands a batch to the FSM goroutine
// (processLogs → setLastApplied), not when the FSM has applied it, so a
// restarted leader reported ready with the store hundreds of entries behind.
func Test_Agent_RestartReady_MeansStoreCaughtUp(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{nodeID: "replay"})
	const kind = "test.replay"
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%05d", i)
	}
	var maxVersion atomic.Uint64
	parallel(t, 16, ids, func(id string) error {
		v, err := a.put(kind, id, []byte(`{"x":1}`), http.StatusCreated)
		if err != nil {
			return err
		}
		for {
			cur := maxVersion.Load()
			if v <= cur || maxVersion.CompareAndSwap(cur, v) {
				return nil
			}
		}
	})
	a.mustKill()

	b := mustLaunchAgent(t, agentOpts{dataDir: a.opts.dataDir})
	waitFor(t, "/ready to answer 200 after the restart", readyTimeout, func() bool {
		r, err := b.do(http.MethodGet, "/ready", nil, nil)
		return err == nil && r.status == http.StatusOK
	}, nil)
	if st := b.mustStatus(); st.StoreIndex < maxVersion.Load() {
		t.Fatalf("/ready answered 200 while the store had applied only up to index %d of %d (raft applied_index %d, commit_index %d)",
			st.StoreIndex, maxVersion.Load(), st.AppliedIndex, st.CommitIndex)
	}
}
