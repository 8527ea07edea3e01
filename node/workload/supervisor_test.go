package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/fsm"
)

// harness is a supervisor over a bare store, with the reports it sent.
type harness struct {
	t     *testing.T
	store *fsm.Store
	sup   *Supervisor
	index uint64
	mu    sync.Mutex
	last  map[string]Status
	seen  map[string][]string // states in report order, by instance id
	stop  func()
}

func mustSupervisor(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	schema, err := fsm.NewSchema(Kinds()...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: fsm.NewStore(schema), last: map[string]Status{}, seen: map[string][]string{}}
	dir := t.TempDir()
	cfg := Config{NodeID: "n1", DataDir: dir, Enabled: true, Report: func(_ context.Context, s Status) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		id := InstanceID(s.Workload, s.Index)
		h.last[id] = s
		h.seen[id] = append(h.seen[id], s.State)
		return nil
	}}
	for _, o := range opts {
		o(&cfg)
	}
	h.sup, err = New(cfg, h.store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.sup.Run(ctx) }()
	h.stop = func() { cancel(); <-done }
	t.Cleanup(func() {
		h.stop()
		if n := KillLeftovers(dir); n > 0 {
			t.Errorf("%d processes were left after the supervisor stopped", n)
		}
	})
	return h
}

func (h *harness) apply(ops ...fsm.Op) {
	h.t.Helper()
	h.index++
	if res := h.store.Apply(h.index, fsm.Command{Ops: ops, Time: time.Now().UTC()}); res.Err() != nil {
		h.t.Fatal(res.Err())
	}
}

// mustRun writes workload id with spec and places all its instances here.
func (h *harness) mustRun(id, spec string) {
	h.t.Helper()
	s, err := ParseSpec([]byte(spec))
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := json.Marshal(s)
	nodes := make([]string, s.Instances)
	for i := range nodes {
		nodes[i] = "n1"
	}
	pb, _ := json.Marshal(NewPlacement(id, nodes))
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: id, Body: body},
		fsm.Op{Type: fsm.OpPut, Kind: KindPlacement, ID: id, Body: pb})
}

func (h *harness) status(id string) Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[id]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has not been reaped yet; it runs no more.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func Test_Supervisor_Kill9_RestartedByPolicy_ThenStopped_NothingLeft(t *testing.T) {
	h := mustSupervisor(t)
	h.mustRun("loop", `{"command":["bash","-c","while true; do echo out; echo err >&2; sleep 0.1; done"],"instances":2,
		"restart":{"mode":"always","delay":"10ms"},"stop_timeout":"2s"}`)
	waitUntil(t, "two instances running", func() bool { return len(h.sup.Running()) == 2 })
	pids := h.sup.Running()
	first := pids["loop.0"]
	if pgid, _ := syscall.Getpgid(first); pgid != first {
		t.Fatalf("instance leader %d is in process group %d, not its own", first, pgid)
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", first))
	if !strings.Contains(string(env), "CAIRN_WORKLOAD=loop\x00") || !strings.Contains(string(env), "CAIRN_INSTANCE=0\x00") {
		t.Fatalf("instance environment lacks CAIRN_WORKLOAD/CAIRN_INSTANCE: %q", env)
	}
	syscall.Kill(first, syscall.SIGKILL)
	waitUntil(t, "instance 0 restarted", func() bool {
		st := h.status("loop.0")
		return st.State == InstanceRunning && st.Restarts == 1 && st.PID != first
	})
	var lines []Line
	waitUntil(t, "10 log lines", func() bool {
		var err error
		lines, err = h.sup.Logs("loop", 10, 0)
		return err == nil && len(lines) == 10
	})
	channels := map[string]bool{}
	for i, l := range lines {
		channels[l.Channel] = true
		if i > 0 && l.Time < lines[i-1].Time {
			t.Fatalf("logs out of time order: %v", lines)
		}
	}
	if !channels["stdout"] || !channels["stderr"] {
		t.Fatalf("logs lack a channel: %v", lines)
	}
	running := h.sup.Running()
	// Stopped: every process of both groups is gone, and they say REMOVED.
	s, _ := ParseSpec([]byte(`{"command":["bash","-c","while true; do echo out; echo err >&2; sleep 0.1; done"],"instances":2,
		"restart":{"mode":"always","delay":"10ms"},"stop_timeout":"2s","state":"stopped"}`))
	body, _ := json.Marshal(s)
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "loop", Body: body})
	waitUntil(t, "both instances removed", func() bool {
		return h.status("loop.0").State == InstanceRemoved && h.status("loop.1").State == InstanceRemoved
	})
	for id, pid := range running {
		if alive(pid) {
			t.Errorf("%s: pid %d still runs after stop", id, pid)
		}
	}
	if left := LeftoverGroups(h.sup.cfg.DataDir); len(left) > 0 {
		t.Fatalf("processes left after stop: %+v", left)
	}
}

func Test_Supervisor_CrashLoop_EndsFailedWithReason(t *testing.T) {
	h := mustSupervisor(t)
	h.mustRun("boom", `{"command":["bash","-c","echo dying >&2; exit 3"],"instances":1,
		"restart":{"mode":"on-failure","attempts":2,"interval":"1m","delay":"10ms"}}`)
	waitUntil(t, "the instance failed", func() bool { return h.status("boom.0").Failed })
	st := h.status("boom.0")
	if st.State != InstanceCrashed || st.ExitCode != 3 || st.Restarts != 2 || !strings.Contains(st.Reason, "exited 3 times") {
		t.Fatalf("crash-looping instance: %+v", st)
	}
	lines, _ := h.sup.Logs("boom", 100, 0)
	if len(lines) != 3 || lines[0].Channel != "stderr" || lines[0].Text != "dying" {
		t.Fatalf("logs of three runs: %v", lines)
	}
}

func Test_Supervisor_MissingProgram_FailsSayingWhy(t *testing.T) {
	h := mustSupervisor(t)
	h.mustRun("nope", `{"command":["/nonexistent/prog"],"instances":1}`)
	waitUntil(t, "the instance failed", func() bool { return h.status("nope.0").Failed })
	if st := h.status("nope.0"); !strings.Contains(st.Reason, "/nonexistent/prog") {
		t.Fatalf("reason %q does not name the program", st.Reason)
	}
}

func Test_Supervisor_Unassigned_Stops(t *testing.T) {
	h := mustSupervisor(t)
	h.mustRun("moved", `{"command":["sleep","60"],"instances":1,"stop_timeout":"100ms"}`)
	waitUntil(t, "running", func() bool { return len(h.sup.Running()) == 1 })
	pid := h.sup.Running()["moved.0"]
	pb, _ := json.Marshal(NewPlacement("moved", []string{"n2"}))
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindPlacement, ID: "moved", Body: pb})
	waitUntil(t, "stopped once assigned elsewhere", func() bool { return !alive(pid) && len(h.sup.Running()) == 0 })
}

func environOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return "\x00" + string(b)
}

func Test_Supervisor_PortsAndLinks_InEnvironment_RefreshedWhenTargetMoves(t *testing.T) {
	h := mustSupervisor(t)
	put := func(kind, id string, v any) fsm.Op {
		b, _ := json.Marshal(v)
		return fsm.Op{Type: fsm.OpPut, Kind: kind, ID: id, Body: b}
	}
	db, _ := ParseSpec([]byte(`{"command":["sleep","60"],"instances":1,"ports":["http"],"state":"stopped"}`))
	web, _ := ParseSpec([]byte(`{"command":["sleep","60"],"instances":1,"ports":["http","admin"],"links":[{"workload":"db"}],"stop_timeout":"100ms"}`))
	dbAt := func(host string, port int) []fsm.Op {
		return []fsm.Op{
			put(KindPlacement, "db", PlacementOf("db", []Placed{{Index: 0, Node: "n2", Host: host, Ports: []int{port}}})),
			put(KindInstance, "db.0", Status{Workload: "db", Index: 0, Node: "n2", State: InstanceRunning}),
		}
	}
	h.apply(append(dbAt("10.0.0.2", 20001), put(KindWorkload, "db", db), put(KindWorkload, "web", web),
		put(KindPlacement, "web", PlacementOf("web", []Placed{{Index: 0, Node: "n1", Host: "10.0.0.1", Ports: []int{20000, 20002}}})))...)
	waitUntil(t, "web running", func() bool { return h.sup.Running()["web.0"] > 0 })
	pid := h.sup.Running()["web.0"]
	env := environOf(pid)
	for _, want := range []string{"\x00PORT=20000\x00", "\x00PORT_HTTP=20000\x00", "\x00PORT_ADMIN=20002\x00", "\x00DB_ADDR=10.0.0.2:20001\x00"} {
		if !strings.Contains(env, want) {
			t.Fatalf("environment lacks %q: %q", want, env)
		}
	}
	h.apply(dbAt("10.0.0.3", 20005)...)
	waitUntil(t, "web restarted with the new address", func() bool {
		p := h.sup.Running()["web.0"]
		return p > 0 && p != pid && strings.Contains(environOf(p), "\x00DB_ADDR=10.0.0.3:20005\x00")
	})
}

func Test_Supervisor_MemoryLimit_SetsRlimitAS(t *testing.T) {
	h := mustSupervisor(t, func(c *Config) { c.MemoryLimits = MemoryRlimit })
	if got := h.sup.MemoryLimits(); got != MemoryRlimit {
		t.Fatalf("MemoryLimits() = %q, want %q", got, MemoryRlimit)
	}
	h.mustRun("mem", `{"command":["bash","-c","ulimit -v; exec sleep 60"],"instances":1,"memory_limit":"64M","stop_timeout":"100ms"}`)
	var lines []Line
	waitUntil(t, "the limit printed", func() bool {
		lines, _ = h.sup.Logs("mem", 10, 0)
		return len(lines) == 1
	})
	if lines[0].Text != "65536" {
		t.Fatalf("ulimit -v inside the instance: %q, want 65536 (KiB)", lines[0].Text)
	}
	pid := h.sup.Running()["mem.0"]
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if !strings.Contains(string(b), "Max address space         67108864") {
		t.Fatalf("/proc/%d/limits:\n%s", pid, b)
	}
}

func Test_Supervisor_PortHeldByAnotherProgram_FailsNamingIt_StartsOnceFree(t *testing.T) {
	portRetry = 50 * time.Millisecond
	h := mustSupervisor(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s, _ := ParseSpec([]byte(`{"command":["sleep","60"],"instances":1,"ports":["http"],"stop_timeout":"100ms"}`))
	body, _ := json.Marshal(s)
	pb, _ := json.Marshal(PlacementOf("web", []Placed{{Index: 0, Node: "n1", Host: "127.0.0.1", Ports: []int{port}}}))
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "web", Body: body}, fsm.Op{Type: fsm.OpPut, Kind: KindPlacement, ID: "web", Body: pb})
	want := fmt.Sprintf("port %d (http) is in use on node n1", port)
	waitUntil(t, "the instance failed naming the port", func() bool {
		st := h.status("web.0")
		return st.State == InstanceCrashed && st.Failed && strings.Contains(st.Reason, want)
	})
	if len(h.sup.Running()) != 0 {
		t.Fatalf("an instance runs on a port another program holds: %v", h.sup.Running())
	}
	ln.Close()
	waitUntil(t, "the instance running once the port is free", func() bool {
		st := h.status("web.0")
		return st.State == InstanceRunning && !st.Failed && st.Reason == ""
	})
}

func Test_Supervisor_PortOfAStoppingInstance_TakenOnlyOnceItStopped(t *testing.T) {
	h := mustSupervisor(t)
	put := func(kind, id string, v any) fsm.Op {
		b, _ := json.Marshal(v)
		return fsm.Op{Type: fsm.OpPut, Kind: kind, ID: id, Body: b}
	}
	// a ignores SIGTERM: it stops only at its stop timeout's SIGKILL.
	a, _ := ParseSpec([]byte(`{"command":["bash","-c","trap '' TERM; while true; do sleep 0.05; done"],"instances":1,"ports":["http"],"stop_timeout":"1s"}`))
	b, _ := ParseSpec([]byte(`{"command":["sleep","60"],"instances":1,"ports":["http"],"stop_timeout":"100ms"}`))
	h.apply(put(KindWorkload, "a", a), put(KindWorkload, "b", b),
		put(KindPlacement, "a", PlacementOf("a", []Placed{{Index: 0, Node: "n1", Ports: []int{29001}}})))
	waitUntil(t, "a running", func() bool { return h.sup.Running()["a.0"] > 0 })
	apid := h.sup.Running()["a.0"]
	// The scheduler moves a away and gives its port to b.
	h.apply(put(KindPlacement, "a", PlacementOf("a", []Placed{{Index: 0, Node: "n2", Ports: []int{29001}}})),
		put(KindPlacement, "b", PlacementOf("b", []Placed{{Index: 0, Node: "n1", Ports: []int{29001}}})))
	waitUntil(t, "b running", func() bool { return h.sup.Running()["b.0"] > 0 })
	if alive(apid) {
		t.Fatalf("b runs on port 29001 while a (pid %d), which held it, still runs", apid)
	}
}
