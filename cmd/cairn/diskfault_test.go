package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/node/nodetest"
)

// Tests of issue #23 item 3, disk faults: a node whose Raft log or
// snapshot write fails takes no writes, reports not-ready with the
// reason, steps down if it led, and loses nothing acknowledged; a restart
// once the disk is fixed resumes it.

// failpointsBin is the failpoints build of cairn, built once.
var failpointsBin struct {
	once sync.Once
	path string
	err  error
}

// mustFailpointsBinary builds (once) and returns the failpoints build,
// beside the binary TestMain built (removed with it).
func mustFailpointsBinary(t *testing.T) string {
	t.Helper()
	requireBinary(t)
	failpointsBin.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out := filepath.Join(filepath.Dir(cairnBin), "cairn-failpoints")
		b, err := exec.Command(goTool, "build", "-tags", "failpoints", "-ldflags", "-X main.version="+testVersion, "-o", out, "cairn/cmd/cairn").CombinedOutput()
		if err != nil {
			failpointsBin.err = fmt.Errorf("building cairn with failpoints: %v\n%s", err, b)
			return
		}
		failpointsBin.path = out
	})
	if failpointsBin.err != nil {
		t.Fatal(failpointsBin.err)
	}
	return failpointsBin.path
}

// ledger is the writes a test had acknowledged, to check that none is lost.
type ledger struct {
	mu    sync.Mutex
	kind  string
	acked map[string][]byte
	n     int
}

func newLedger(kind string) *ledger { return &ledger{kind: kind, acked: map[string][]byte{}} }

// put writes one new resource through a with a body of size bytes and
// records it if acknowledged; it returns the reply.
func (l *ledger) put(a *agent, size int) (reply, error) {
	l.mu.Lock()
	l.n++
	id := fmt.Sprintf("w%05d", l.n)
	l.mu.Unlock()
	body := []byte(fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", size)))
	r, err := a.do(http.MethodPut, resPath(l.kind, id), body, nil)
	if err == nil && r.status == http.StatusCreated {
		l.mu.Lock()
		l.acked[id] = body
		l.mu.Unlock()
	}
	return r, err
}

// mustPut writes through a until one write is acknowledged (a 503 during
// an election is retried) and fails the test after timeout.
func (l *ledger) mustPut(t *testing.T, a *agent, size int, timeout time.Duration) {
	t.Helper()
	var last string
	waitFor(t, "a write through "+a.id()+" to be acknowledged", timeout, func() bool {
		r, err := l.put(a, size)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
		if r.status == http.StatusServiceUnavailable {
			time.Sleep(50 * time.Millisecond)
		}
		return r.status == http.StatusCreated
	}, func() string { return last })
}

// mustHoldAll checks that a holds every acknowledged write, as written.
func (l *ledger) mustHoldAll(t *testing.T, a *agent) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	got := a.mustList(l.kind)
	for id, body := range l.acked {
		r, ok := got[id]
		if !ok {
			t.Errorf("%s lost acknowledged write %s/%s", a.id(), l.kind, id)
			continue
		}
		if !bytes.Equal(r.Body, body) {
			t.Errorf("%s holds %s/%s as %.80s, want %.80s", a.id(), l.kind, id, r.Body, body)
		}
	}
	t.Logf("%s holds all %d acknowledged writes", a.id(), len(l.acked))
}

// mustNotReadyFor waits until a's /ready answers 503 with a reason that
// holds every one of want.
func mustNotReadyFor(t *testing.T, a *agent, want ...string) string {
	t.Helper()
	var last string
	waitFor(t, a.id()+" to report not-ready for its disk", 20*time.Second, func() bool {
		r, err := a.do(http.MethodGet, "/ready", nil, nil)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
		if r.status != http.StatusServiceUnavailable {
			return false
		}
		for _, w := range want {
			if !bytes.Contains(r.body, []byte(w)) {
				return false
			}
		}
		return true
	}, func() string { return last })
	return last
}

// mustRefuseWrites checks that a write through a is refused with 503,
// certainly not applied, naming the disk.
func mustRefuseWrites(t *testing.T, a *agent, l *ledger, want string) {
	t.Helper()
	r, err := l.put(a, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Cairn-Applied") != "false" ||
		!bytes.Contains(r.body, []byte("disk fault")) || !bytes.Contains(r.body, []byte(want)) {
		t.Fatalf("a write through %s with a failed disk: %d (X-Cairn-Applied %q) %s; want 503, not applied, naming the disk fault and %s",
			a.id(), r.status, r.header.Get("X-Cairn-Applied"), bytes.TrimSpace(r.body), want)
	}
}

// mustNeverLeadFor watches the zone for d and fails if faulty leads
// (in any node's view) meanwhile.
func mustNeverLeadFor(t *testing.T, nodes []*agent, faulty *agent, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, a := range nodes {
			if st, err := a.status(); err == nil && (st.LeaderID == faulty.id() || st.State == "Leader" && a == faulty) {
				t.Fatalf("%s names %s, whose disk failed, as the leader: %+v", a.id(), faulty.id(), st)
			}
		}
	}
}

// Test_ThreeNodes_DiskFault_Failpoints: on a 3-node zone's leader, a
// failpoint makes the disk write named fail. The leader steps down and
// is never elected again while the fault lasts; the survivors elect a
// leader and take writes; the faulty node refuses writes and reports
// not-ready with the reason; nothing acknowledged is lost; restarted (the
// failpoint gone, as a disk with space again), it catches up.
func Test_ThreeNodes_DiskFault_Failpoints(t *testing.T) {
	t.Parallel() // processes of its own, temp dirs, ephemeral ports
	for _, tc := range []struct {
		name, failpoint, action, want string
		args                          []string
	}{
		{name: "log_store_ENOSPC", failpoint: "raft-log-store-error", action: "error(ENOSPC)", want: "ENOSPC"},
		// Snapshots every few entries, so that one is due soon.
		{name: "snapshot_write_EIO", failpoint: "snapshot-write-error", action: "error(EIO)", want: "EIO",
			args: []string{"-snapshot-threshold", "8", "-snapshot-interval", "200ms", "-trailing-logs", "4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startCluster(t, 3, agentOpts{bin: mustFailpointsBinary(t), args: tc.args})
			leader := mustAgreeOnLeader(t, nodes, 20*time.Second)
			l := newLedger("disk.fault")
			for i := 0; i < 12; i++ {
				l.mustPut(t, nodes[i%3], 100, 10*time.Second)
			}

			leader.mustDo(http.MethodPut, "/debug/failpoints/"+tc.failpoint, []byte(tc.action), http.StatusNoContent)
			// Writes through the leader until its disk fails them: the
			// ones acknowledged before that count.
			var last string
			waitFor(t, "a write through the leader to fail on its disk", 20*time.Second, func() bool {
				r, err := l.put(leader, 100)
				if err != nil {
					t.Fatal(err)
				}
				last = fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
				return r.status != http.StatusCreated
			}, func() string { return last })
			if !strings.HasPrefix(last, "503") || !strings.Contains(last, "disk fault") || !strings.Contains(last, tc.want) {
				t.Fatalf("the write the leader's disk failed answered %s; want 503 naming the disk fault and %s", last, tc.want)
			}
			t.Logf("the failed write answered: %s", last)

			faulty, survivors := leader, others(nodes, leader)
			newLeader := mustAgreeOnLeader(t, survivors, 20*time.Second)
			t.Logf("%s leads after %s's disk failed", newLeader.id(), faulty.id())
			why := mustNotReadyFor(t, faulty, "disk fault", tc.want)
			t.Logf("%s /ready: %s", faulty.id(), why)
			if st := faulty.mustStatus(); st.State == "Leader" || !strings.Contains(st.DiskFault, tc.want) {
				t.Fatalf("%s's status after its disk failed: %+v; want no leader, and the fault", faulty.id(), st)
			}
			mustRefuseWrites(t, faulty, l, tc.want)
			for i := 0; i < 20; i++ {
				l.mustPut(t, survivors[i%2], 100, 10*time.Second)
			}
			mustNeverLeadFor(t, nodes, faulty, 2*time.Second)
			for _, a := range survivors {
				l.mustHoldAll(t, a)
			}

			// The disk fixed (the failpoint is gone with the process):
			// a restart resumes the node, which catches up.
			faulty.mustStop()
			back := mustStartAgent(t, faulty.restartOpts())
			if st := back.mustStatus(); st.DiskFault != "" {
				t.Fatalf("%s restarted still reports a disk fault: %+v", back.id(), st)
			}
			l.mustPut(t, back, 100, 10*time.Second)
			waitFor(t, back.id()+" to apply the zone's last write", 20*time.Second, func() bool {
				return back.mustStatus().StoreIndex >= newLeader.mustStatus().CommitIndex-1
			}, nil)
			l.mustHoldAll(t, back)
		})
	}
}

// Test_ThreeNodes_DiskFault_FullTmpfs puts one node's data dir on a small
// tmpfs and writes until it is really full: that node goes not-ready
// with ENOSPC, the zone goes on and loses nothing acknowledged; the tmpfs
// remounted bigger, a restart resumes the node. It needs root (mount).
// With the wal log store the tmpfs holds one 16 MiB segment (raft-wal
// allocates it whole) and a little more: the next segment does not fit.
func Test_ThreeNodes_DiskFault_FullTmpfs(t *testing.T) {
	t.Parallel() // processes of its own, temp dirs, ephemeral ports
	requireBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; this test runs as uid", os.Geteuid())
	}
	for _, tc := range []struct {
		store string
		size  string
		body  int
	}{
		{"bolt", "2m", 4 << 10},
		{"wal", "19m", 32 << 10},
	} {
		t.Run(tc.store, func(t *testing.T) { fillTmpfs(t, tc.store, tc.size, tc.body) })
	}
}

func fillTmpfs(t *testing.T, logStore, size string, body int) {
	mnt := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(mnt, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size+",mode=0750"); err != nil {
		t.Skipf("mounting a %s tmpfs on %s was refused: %v", size, mnt, err)
	}
	// Registered before any agent starts, so it runs after they are
	// killed (cleanups run last first).
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Logf("unmount %s: %v; detaching it", mnt, err)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})

	nodes := startClusterIn(t, 3, agentOpts{args: []string{"-raft-log-store", logStore}}, func(i int) string {
		if i == 0 {
			return mnt
		}
		return ""
	})
	full, survivors := nodes[0], nodes[1:]
	mustAgreeOnLeader(t, nodes, 20*time.Second)
	l := newLedger("disk.full")
	// Write through the survivors until the full node says so; a write
	// may fail meanwhile (the full node led, say): only acknowledged ones
	// count.
	deadline := time.Now().Add(120 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			st, _ := full.status()
			t.Fatalf("the tmpfs node reported no disk fault after %d writes: %+v", i, st)
		}
		if _, err := l.put(survivors[i%2], body); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			if st, err := full.status(); err == nil && st.DiskFault != "" {
				t.Logf("after %d writes, %s: %s", i, full.id(), st.DiskFault)
				break
			}
		}
	}
	why := mustNotReadyFor(t, full, "disk fault", "ENOSPC")
	t.Logf("%s /ready: %s", full.id(), why)
	mustRefuseWrites(t, full, l, "ENOSPC")
	leader := mustAgreeOnLeader(t, survivors, 20*time.Second)
	for i := 0; i < 20; i++ {
		l.mustPut(t, survivors[i%2], 100, 10*time.Second)
	}
	for _, a := range survivors {
		l.mustHoldAll(t, a)
	}

	// Space back: remount bigger and restart.
	full.mustStop()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, "size=256m,mode=0750"); err != nil {
		t.Fatalf("remount %s bigger: %v", mnt, err)
	}
	back := mustStartAgent(t, full.restartOpts())
	if st := back.mustStatus(); st.DiskFault != "" {
		t.Fatalf("%s restarted on a bigger tmpfs still reports a disk fault: %+v", back.id(), st)
	}
	l.mustPut(t, back, 100, 10*time.Second)
	waitFor(t, back.id()+" to apply the zone's last write", 20*time.Second, func() bool {
		return back.mustStatus().StoreIndex >= leader.mustStatus().CommitIndex-1
	}, nil)
	l.mustHoldAll(t, back)
}

// Test_Agent_CorruptFile_RefusesToStart: for each way nodetest.Corruptions
// damages a stopped node's raft.db, or its newest snapshot's state.bin or
// meta.json, `cairn agent` on that data dir exits non-zero naming the
// file, without a panic, instead of serving wrong or older state.
func Test_Agent_CorruptFile_RefusesToStart(t *testing.T) {
	t.Parallel() // processes of its own, temp dirs, ephemeral ports
	requireBinary(t)
	for what, damage := range nodetest.Corruptions {
		t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
			// Snapshots every few entries: two of them, and a log that no
			// longer reaches back to the older one.
			a := mustStartAgent(t, agentOpts{args: []string{"-snapshot-threshold", "8", "-snapshot-interval", "200ms", "-trailing-logs", "4"}})
			for i := 0; i < 30; i++ {
				a.mustPut("corrupt.me", fmt.Sprintf("r%02d", i), []byte(`{"v":1}`), http.StatusCreated)
			}
			waitStatus(t, a, "a second snapshot", 20*time.Second, func(st nodeStatus) bool { return st.LastSnapshotIndex >= 16 })
			a.mustStop()
			path := damage(t, a.opts.dataDir)

			b := spawnAgent(t, a.restartOpts())
			select {
			case <-b.done:
			case <-time.After(startTimeout):
				t.Fatalf("cairn agent with %s still runs after %s", what, startTimeout)
			}
			errOut, _ := os.ReadFile(b.stderr)
			if b.state.ExitCode() == 0 || !bytes.Contains(errOut, []byte(path)) || !bytes.Contains(errOut, []byte("corrupt data")) {
				t.Fatalf("cairn agent with %s exited %d; want non-zero, and stderr naming %s as corrupt data; stderr:\n%s", what, b.state.ExitCode(), path, errOut)
			}
			if bytes.Contains(errOut, []byte("panic")) || bytes.Contains(errOut, []byte("goroutine ")) {
				t.Fatalf("cairn agent with %s panicked:\n%s", what, errOut)
			}
			t.Logf("exit %d: %s", b.state.ExitCode(), lastLines(errOut, 1))
		})
	}
}

// Test_OneNode_DiskFault_Failpoint: a single-node zone's only node, whose
// log write fails, cannot hand over to anyone: it must stop taking
// writes and report not-ready, and must not stand for election again
// (persisting the new term on the failed disk would make raft panic): it
// stays up, serving reads, until restarted.
func Test_OneNode_DiskFault_Failpoint(t *testing.T) {
	t.Parallel() // processes of its own, temp dirs, ephemeral ports
	a := mustStartAgent(t, agentOpts{bin: mustFailpointsBinary(t)})
	l := newLedger("disk.alone")
	for i := 0; i < 5; i++ {
		l.mustPut(t, a, 100, 10*time.Second)
	}
	a.mustDo(http.MethodPut, "/debug/failpoints/raft-log-store-error", []byte("error(ENOSPC)"), http.StatusNoContent)
	r, err := l.put(a, 100)
	if err != nil || r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte("ENOSPC")) {
		t.Fatalf("a write on a failed disk: %d %s %v; want 503 naming ENOSPC", r.status, bytes.TrimSpace(r.body), err)
	}
	mustNotReadyFor(t, a, "disk fault", "ENOSPC")
	term := a.mustStatus().Term
	time.Sleep(3 * time.Second) // many election timeouts
	if !a.running() {
		errOut, _ := os.ReadFile(a.stderr)
		t.Fatalf("the node exited (%v) after its disk failed:\n%s", a.state, lastLines(errOut, 30))
	}
	if st := a.mustStatus(); st.State == "Leader" || st.State == "Candidate" || st.Term != term {
		t.Fatalf("the node with a failed disk stood for election: %+v (term was %d)", st, term)
	}
	mustRefuseWrites(t, a, l, "ENOSPC")
	l.mustHoldAll(t, a) // reads go on

	t0 := time.Now()
	a.mustStop()
	t.Logf("stopped in %s", time.Since(t0))
	back := mustStartAgent(t, a.restartOpts())
	t.Logf("restarted and ready in %s", time.Since(t0))
	l.mustPut(t, back, 100, 10*time.Second)
	l.mustHoldAll(t, back)
}
