package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/internal/freeport"
)

// Deadlines of the helpers. They are generous: the tests run under -race on
// small CI machines, and a deadline only bounds a failure, it never makes a
// passing test slower.
const (
	startTimeout = 20 * time.Second // start line printed
	readyTimeout = 20 * time.Second // /ready answers 200
	stopTimeout  = 20 * time.Second // graceful stop finished
	killTimeout  = 10 * time.Second // exit after SIGKILL
	pollEvery    = 20 * time.Millisecond
	startRetries = 5 // attempts when a picked port was taken meanwhile
)

// fastRaft are the Raft timeouts every test agent runs with, so that a
// single node elects itself in a fraction of a second. The leader lease is
// as long as the heartbeat timeout allows: at 100ms, leaders of the
// multi-node test zones stepped down on ~140ms scheduling stalls when
// `go test -race ./...` ran beside them on two cores. (A lone node's
// lease never runs out: it is its own quorum.)
var fastRaft = []string{
	"-raft-heartbeat-timeout", "200ms",
	"-raft-election-timeout", "200ms",
	"-raft-leader-lease-timeout", "200ms",
}

// agentOpts describe one `cairn agent` launch.
type agentOpts struct {
	// dataDir is the node's data dir; empty means a new temp dir.
	dataDir string
	// nodeID is passed as -node-id unless empty.
	nodeID string
	// raftAddr, if set, is used instead of a free port.
	raftAddr string
	// gossipAddr, if set, is used instead of a free port, as long as it
	// is free: a start that fails because it was taken is retried on a
	// free one. A restarted cluster node keeps its gossip address, as a
	// real one would, so its peers' -join lists stay right.
	gossipAddr string
	// args are further flags, after the ones the helper sets.
	args []string
	// env are further NAME=value environment entries. The test process's
	// own CAIRN_* variables are never passed on.
	env []string
	// noFastRaft leaves out fastRaft, for benchmarks on the defaults.
	noFastRaft bool
	// maxscale serves the MaxScale API on a free port of its own (the
	// agent's maxscaleURL); otherwise that listener is off.
	maxscale bool
	// clientTLS, if set, is the TLS configuration of the test's client
	// (the agent serves HTTPS: its args carry the TLS flags).
	clientTLS *tls.Config
	// bin, if set, is the binary to run instead of cairnBin (the
	// failpoints build, say).
	bin string
}

// startLine is what `cairn agent` prints on stdout once it serves.
type startLine struct {
	raw      string
	version  string
	nodeID   string
	zone     string
	httpURL  string
	raftAddr string
	gossip   string // empty if the line names no gossip address
	dataDir  string
	how      string // "bootstrapped a new single-node zone", "resumed from its data dir", ...
}

// startLineRE matches e.g.
//
//	cairn dev: node n1 of zone default listening on http://127.0.0.1:8180 (raft 127.0.0.1:8181, gossip 127.0.0.1:8182), data dir /x: bootstrapped a new single-node zone
//
// with the gossip part optional.
var startLineRE = regexp.MustCompile(`^cairn (\S+): node (\S+) of zone (\S+) listening on (\S+) \(raft ([^,)]+)(?:, gossip ([^)]+))?\), data dir (.+): ([^:]+)$`)

func parseStartLine(s string) (startLine, error) {
	m := startLineRE.FindStringSubmatch(s)
	if m == nil {
		return startLine{}, fmt.Errorf("start line %q does not have the expected form", s)
	}
	return startLine{raw: s, version: m[1], nodeID: m[2], zone: m[3], httpURL: m[4],
		raftAddr: m[5], gossip: m[6], dataDir: m[7], how: m[8]}, nil
}

// agent is one running `cairn agent` process.
type agent struct {
	t      testing.TB
	opts   agentOpts
	args   []string // the command line after the binary
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has exited and been reaped
	state  *os.ProcessState
	line   startLine
	url    string // HTTP base URL, from the start line
	client *http.Client
	stdout string // path of the captured stdout
	stderr string // path of the captured stderr
	// maxscaleURL is the MaxScale listener's base URL, if opts.maxscale.
	maxscaleURL string
	// retried is set when an earlier attempt failed on a taken port; that
	// attempt may have got as far as creating Raft state in the data dir.
	retried bool
}

// launchSeq numbers launches so that every attempt has its own log files.
var launchSeq struct {
	sync.Mutex
	n int
}

func nextLaunch() int {
	launchSeq.Lock()
	defer launchSeq.Unlock()
	launchSeq.n++
	return launchSeq.n
}

// mustStartAgent launches `cairn agent` and waits until it has printed its
// start line and answers /ready with 200. The process is killed in
// t.Cleanup if the test has not stopped it, and its output is logged if the
// test failed. A start that fails because a picked port was taken in the
// meantime is retried on new ports.
func mustStartAgent(t testing.TB, opts agentOpts) *agent {
	t.Helper()
	a := mustLaunchAgent(t, opts)
	a.mustBeReady()
	return a
}

// mustLaunchAgent is mustStartAgent without waiting for /ready.
func mustLaunchAgent(t testing.TB, opts agentOpts) *agent {
	t.Helper()
	return mustLaunchAgents(t, opts)[0]
}

// mustLaunchAgents launches several agents at once and waits for every
// start line, without waiting for /ready. Agents that -join each other
// must start together: one prints its start line only once it has
// reached a peer. A start that fails because a picked port was taken in
// the meantime is retried on new ports.
func mustLaunchAgents(t testing.TB, opts ...agentOpts) []*agent {
	t.Helper()
	requireBinary(t)
	for i := range opts {
		if opts[i].dataDir == "" {
			opts[i].dataDir = filepath.Join(t.TempDir(), "data")
		}
	}
	agents := make([]*agent, len(opts))
	retried := make([]bool, len(opts))
	for attempt := 1; ; attempt++ {
		var pending []int
		for i := range opts {
			if agents[i] == nil {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 {
			return agents
		}
		spawned := map[int]*agent{}
		for _, i := range pending {
			spawned[i] = spawnAgent(t, opts[i])
		}
		// Polled together: one agent's start line may wait for another's.
		deadline := time.Now().Add(startTimeout)
		for len(spawned) > 0 {
			for _, i := range pending {
				a := spawned[i]
				if a == nil {
					continue
				}
				ok, err := a.pollStartLine(time.Now().After(deadline))
				if !ok && err == nil {
					continue
				}
				delete(spawned, i)
				if err == nil {
					a.retried = retried[i]
					agents[i] = a
					continue
				}
				if !errors.Is(err, errPortTaken) || attempt == startRetries {
					t.Fatalf("starting cairn agent: %v", err)
				}
				t.Logf("attempt %d to start cairn agent: %v; retrying on other ports", attempt, err)
				retried[i] = true
				if opts[i].gossipAddr != "" && strings.Contains(err.Error(), opts[i].gossipAddr) {
					opts[i].gossipAddr = ""
				}
			}
			if len(spawned) > 0 {
				time.Sleep(pollEvery)
			}
		}
	}
}

// errPortTaken means the agent exited because an address was in use.
var errPortTaken = errors.New("a port was taken")

// launchAgent starts the process and waits for its start line.
func launchAgent(t testing.TB, opts agentOpts) (*agent, error) {
	t.Helper()
	a := spawnAgent(t, opts)
	if err := a.awaitStartLine(); err != nil {
		return nil, err
	}
	return a, nil
}

// spawnAgent starts the process, on free ports where opts names none, and
// registers its cleanup; it does not wait for anything.
func spawnAgent(t testing.TB, opts agentOpts) *agent {
	t.Helper()
	ports := freePorts(t, 3)
	raftAddr := opts.raftAddr
	if raftAddr == "" {
		raftAddr = hostPort(ports[1])
	}
	gossipAddr := opts.gossipAddr
	if gossipAddr == "" {
		gossipAddr = hostPort(ports[2])
	}
	args := []string{"agent",
		"-data-dir", opts.dataDir,
		"-http-addr", hostPort(ports[0]),
		"-raft-addr", raftAddr,
		"-gossip-addr", gossipAddr,
	}
	if opts.nodeID != "" {
		args = append(args, "-node-id", opts.nodeID)
	}
	if !opts.noFastRaft {
		args = append(args, fastRaft...)
	}
	var maxscaleURL string
	if opts.maxscale {
		addr := hostPort(freePorts(t, 1)[0])
		args = append(args, "-maxscale-addr", addr)
		maxscaleURL = "http://" + addr
		if opts.clientTLS != nil {
			maxscaleURL = "https://" + addr
		}
	}
	args = append(args, opts.args...)

	logDir := filepath.Join(filepath.Dir(opts.dataDir), "logs")
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		t.Fatal(err)
	}
	seq := nextLaunch()
	a := &agent{t: t, opts: opts, args: args, done: make(chan struct{}), maxscaleURL: maxscaleURL,
		stdout: filepath.Join(logDir, fmt.Sprintf("agent-%d.stdout", seq)),
		stderr: filepath.Join(logDir, fmt.Sprintf("agent-%d.stderr", seq)),
	}
	bin := cairnBin
	if opts.bin != "" {
		bin = opts.bin
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Env = childEnv(opts.env)
	a.cmd.SysProcAttr = childProcAttr()
	stdout, err := os.Create(a.stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(a.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	a.cmd.Stdout, a.cmd.Stderr = stdout, stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		a.cmd.Wait()
		a.state = a.cmd.ProcessState
		close(a.done)
	}()
	// Registered at once, so that no failure below leaks the process.
	t.Cleanup(a.cleanup)
	return a
}

// awaitStartLine waits for the start line of a spawned agent and sets its
// URL and client from it.
func (a *agent) awaitStartLine() error {
	a.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		ok, err := a.pollStartLine(time.Now().After(deadline))
		if ok || err != nil {
			return err
		}
		select {
		case <-a.done:
		case <-time.After(pollEvery):
		}
	}
}

// pollStartLine looks once for the start line of a spawned agent: ok once
// it is there (the agent's URL and client are then set), an error if the
// agent exited without one or late is set.
func (a *agent) pollStartLine(late bool) (ok bool, err error) {
	t := a.t
	t.Helper()
	exited := !a.running() // before reading: a line written before the exit is seen
	out, _ := os.ReadFile(a.stdout)
	if i := bytes.IndexByte(out, '\n'); i >= 0 {
		a.line, err = parseStartLine(string(out[:i]))
		if err != nil {
			a.dumpLogs()
			t.Fatal(err)
		}
		a.url = a.line.httpURL
		a.client = &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil, TLSClientConfig: a.opts.clientTLS},
		}
		return true, nil
	}
	switch {
	case exited:
		errOut, _ := os.ReadFile(a.stderr)
		if bytes.Contains(errOut, []byte("address already in use")) {
			return false, fmt.Errorf("%w: %s", errPortTaken, lastLines(errOut, 3))
		}
		a.dumpLogs()
		return false, fmt.Errorf("cairn agent %s exited (%v) before printing its start line", strings.Join(a.args, " "), a.state)
	case late:
		a.dumpLogs()
		return false, fmt.Errorf("cairn agent printed no start line within %s", startTimeout)
	}
	return false, nil
}

// childEnv is the test process's environment without CAIRN_* variables,
// plus extra. The MaxScale listener is off (its default port 8989 would be
// shared by every agent a test starts) unless extra or the command line
// sets -maxscale-addr; so is the Apcera listener (8190).
func childEnv(extra []string) []string {
	env := []string{"CAIRN_MAXSCALE_ADDR=", "CAIRN_APCERA_ADDR="}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAIRN_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// cleanup kills the process if it still runs, and logs its output if the
// test failed.
func (a *agent) cleanup() {
	if a.running() {
		a.cmd.Process.Kill()
		select {
		case <-a.done:
		case <-time.After(killTimeout):
			a.t.Errorf("cairn agent pid %d did not exit after SIGKILL", a.cmd.Process.Pid)
		}
	}
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
	if a.t.Failed() {
		a.dumpLogs()
	}
}

// dumpLogs logs the process's stdout and (the end of) its stderr, once.
func (a *agent) dumpLogs() {
	if a.stdout == "" {
		return
	}
	out, _ := os.ReadFile(a.stdout)
	errOut, _ := os.ReadFile(a.stderr)
	const max = 32 << 10
	if len(errOut) > max {
		errOut = append([]byte("...\n"), errOut[len(errOut)-max:]...)
	}
	a.t.Logf("cairn agent (data dir %s) stdout:\n%s\nstderr:\n%s", a.opts.dataDir, out, errOut)
	a.stdout = ""
}

func (a *agent) running() bool {
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// mustBeReady waits until /ready answers 200: the node knows a leader and
// its store has applied everything committed.
func (a *agent) mustBeReady() {
	a.t.Helper()
	var last string
	probe := func(path string) bool {
		r, err := a.do(http.MethodGet, path, nil, nil)
		if err != nil {
			last = fmt.Sprintf("GET %s: %v", path, err)
			return false
		}
		last = fmt.Sprintf("GET %s: %d %s", path, r.status, bytes.TrimSpace(r.body))
		return r.status == http.StatusOK
	}
	waitFor(a.t, "cairn agent to be ready", readyTimeout, func() bool {
		if !a.running() {
			a.t.Fatalf("cairn agent exited (%v) before it was ready", a.state)
		}
		return probe("/ready")
	}, func() string { return "last answer: " + last })
}

// mustStop stops the process gracefully (SIGTERM) and returns its exit
// code; one that does not exit in time is killed and fails the test.
func (a *agent) mustStop() int {
	a.t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		a.t.Fatalf("SIGTERM to cairn agent: %v", err)
	}
	select {
	case <-a.done:
	case <-time.After(stopTimeout):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Fatalf("cairn agent did not stop within %s of SIGTERM; killed it", stopTimeout)
	}
	a.client.CloseIdleConnections()
	return a.state.ExitCode()
}

// mustKill kills the process with SIGKILL and waits until it is reaped.
func (a *agent) mustKill() {
	a.t.Helper()
	if err := a.cmd.Process.Kill(); err != nil {
		a.t.Fatalf("SIGKILL to cairn agent: %v", err)
	}
	select {
	case <-a.done:
	case <-time.After(killTimeout):
		a.t.Fatalf("cairn agent pid %d did not exit after SIGKILL", a.cmd.Process.Pid)
	}
	a.client.CloseIdleConnections()
	if ws, ok := a.state.Sys().(syscall.WaitStatus); ok && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
		a.t.Fatalf("cairn agent ended with %v, not by SIGKILL (it exited before the kill?)", a.state)
	}
}

// reply is one HTTP answer, body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the agent.
func (a *agent) do(method, path string, body []byte, header http.Header) (reply, error) {
	return a.doCtx(context.Background(), method, path, body, header)
}

func (a *agent) doCtx(ctx context.Context, method, path string, body []byte, header http.Header) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	if err != nil {
		return reply{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// doWant sends one request and returns an error unless the status is want.
func (a *agent) doWant(method, path string, body []byte, want int) (reply, error) {
	r, err := a.do(method, path, body, nil)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.status != want {
		return r, fmt.Errorf("%s %s: status %d, want %d; body %s", method, path, r.status, want, bytes.TrimSpace(r.body))
	}
	return r, nil
}

// mustDo sends one request and fails the test unless the status is want.
func (a *agent) mustDo(method, path string, body []byte, want int) reply {
	a.t.Helper()
	r, err := a.doWant(method, path, body, want)
	if err != nil {
		a.t.Fatal(err)
	}
	return r
}

// nodeStatus is the part of GET /cairn/v1/status the tests read.
type nodeStatus struct {
	NodeID            string `json:"node_id"`
	RaftID            string `json:"raft_id"`
	ZoneID            string `json:"zone_id"`
	Voter             bool   `json:"voter"`
	Zone              string `json:"zone"`
	State             string `json:"state"`
	LeaderID          string `json:"leader_id"`
	LeaderHTTP        string `json:"leader_http"`
	Term              uint64 `json:"term"`
	LastIndex         uint64 `json:"last_index"`
	CommitIndex       uint64 `json:"commit_index"`
	AppliedIndex      uint64 `json:"applied_index"`
	StoreIndex        uint64 `json:"store_index"`
	LastSnapshotIndex uint64 `json:"last_snapshot_index"`
	RaftAddr          string `json:"raft_addr"`
	HTTPURL           string `json:"http_url"`
	Voters            int    `json:"voters"`
	DiskFault         string `json:"disk_fault"`
}

func (a *agent) mustStatus() nodeStatus {
	a.t.Helper()
	r := a.mustDo(http.MethodGet, "/cairn/v1/status", nil, http.StatusOK)
	var st nodeStatus
	mustUnmarshal(a.t, r.body, &st)
	return st
}

// resource is a stored resource as the native API returns it.
type resource struct {
	Kind    string          `json:"kind"`
	ID      string          `json:"id"`
	Version uint64          `json:"version"`
	Body    json.RawMessage `json:"body"`
}

// put writes body to kind/id, wants status (201 or 200), checks that the
// ETag, X-Cairn-Index and the returned version agree and that the body came
// back as sent, and returns the version. It is safe to call from any
// goroutine.
func (a *agent) put(kind, id string, body []byte, want int) (uint64, error) {
	r, err := a.doWant(http.MethodPut, resPath(kind, id), body, want)
	if err != nil {
		return 0, err
	}
	var res resource
	if err := json.Unmarshal(r.body, &res); err != nil {
		return 0, fmt.Errorf("PUT %s/%s: decode %s: %w", kind, id, r.body, err)
	}
	if err := checkWriteHeaders(r, res.Version); err != nil {
		return 0, fmt.Errorf("PUT %s/%s: %w", kind, id, err)
	}
	if !bytes.Equal(res.Body, body) {
		return 0, fmt.Errorf("PUT %s/%s answered body %s, want %s", kind, id, res.Body, body)
	}
	return res.Version, nil
}

// mustPut is put that fails the test on error.
func (a *agent) mustPut(kind, id string, body []byte, want int) uint64 {
	a.t.Helper()
	v, err := a.put(kind, id, body, want)
	if err != nil {
		a.t.Fatal(err)
	}
	return v
}

// checkWriteHeaders checks that a write's ETag and X-Cairn-Index both name
// version.
func checkWriteHeaders(r reply, version uint64) error {
	if version == 0 {
		return errors.New("write answered version 0")
	}
	if got, want := r.header.Get("ETag"), strconv.Quote(strconv.FormatUint(version, 10)); got != want {
		return fmt.Errorf("ETag %s, want %s", got, want)
	}
	if got, want := r.header.Get("X-Cairn-Index"), strconv.FormatUint(version, 10); got != want {
		return fmt.Errorf("X-Cairn-Index %s, want %s", got, want)
	}
	return nil
}

// mustGet reads kind/id, which must exist, and checks its ETag.
func (a *agent) mustGet(kind, id string) resource {
	a.t.Helper()
	r := a.mustDo(http.MethodGet, resPath(kind, id), nil, http.StatusOK)
	var res resource
	mustUnmarshal(a.t, r.body, &res)
	if got, want := r.header.Get("ETag"), strconv.Quote(strconv.FormatUint(res.Version, 10)); got != want {
		a.t.Fatalf("GET %s/%s: ETag %s, want %s", kind, id, got, want)
	}
	if r.header.Get("X-Cairn-Index") == "" {
		a.t.Fatalf("GET %s/%s: no X-Cairn-Index header", kind, id)
	}
	return res
}

// mustList reads every resource of kind, page by page.
func (a *agent) mustList(kind string) map[string]resource {
	a.t.Helper()
	out := map[string]resource{}
	token := ""
	for page := 0; ; page++ {
		if page > 10000 {
			a.t.Fatalf("listing %s did not end after %d pages", kind, page)
		}
		path := "/cairn/v1/resources/" + kind + "?limit=250"
		if token != "" {
			path += "&continue=" + token
		}
		r := a.mustDo(http.MethodGet, path, nil, http.StatusOK)
		var lb struct {
			Kind  string     `json:"kind"`
			Items []resource `json:"items"`
			Next  string     `json:"next"`
		}
		mustUnmarshal(a.t, r.body, &lb)
		if lb.Kind != kind {
			a.t.Fatalf("listing %s answered kind %q", kind, lb.Kind)
		}
		for _, it := range lb.Items {
			if _, dup := out[it.ID]; dup {
				a.t.Fatalf("listing %s returned %s twice", kind, it.ID)
			}
			out[it.ID] = it
		}
		if lb.Next == "" {
			return out
		}
		token = lb.Next
	}
}

func resPath(kind, id string) string { return "/cairn/v1/resources/" + kind + "/" + id }

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// mustJSON marshals v compactly, the form the store keeps bodies in.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds, failing the test after timeout with
// what describes the wait and, if given, detail's last word.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, what)
			if detail != nil {
				msg += "; " + detail()
			}
			t.Fatal(msg)
		}
		time.Sleep(pollEvery)
	}
}

// testPorts hands out the ports of every agent the tests start, outside
// the kernel's ephemeral range so that a node restarted on its old
// address finds it free (see package freeport).
var testPorts = freeport.New(rand.Uint64())

// freePorts returns n 127.0.0.1 ports, never handed out before, that were
// free for both TCP and UDP (gossip binds both) a moment ago. They may be
// taken by another process before the agent binds them; mustLaunchAgent
// retries then.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		port, err := testPorts.Pick("127.0.0.1", 1, true)
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = port
	}
	return ports
}

// freePortRange returns the first of n consecutive 127.0.0.1 ports that
// were free for TCP a moment ago (a -workload-ports range).
func freePortRange(t testing.TB, n int) int {
	t.Helper()
	first, err := testPorts.Pick("127.0.0.1", n, false)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runCairn runs the binary to completion with args and extra environment
// and returns its exit code, stdout and stderr. It fails the test if the
// binary does not finish within timeout (it is killed then).
func runCairn(t testing.TB, timeout time.Duration, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	requireBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cairnBin, args...)
	cmd.Env = childEnv(env)
	cmd.SysProcAttr = childProcAttr()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("cairn %s did not finish within %s; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), timeout, &out, &errOut)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run cairn %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// startCluster starts an n-node zone the way an operator would: the gossip
// ports are picked first so that every node gets -join with all of them
// and -bootstrap-expect n, the nodes (ids n1..nN) are launched together,
// and it returns once every one answers /ready. base supplies further
// flags and options; its dataDir, nodeID and gossipAddr are ignored.
func startCluster(t testing.TB, n int, base agentOpts) []*agent {
	t.Helper()
	return startClusterIn(t, n, base, nil)
}

// startClusterIn is startCluster with node i's data dir dataDir(i) where
// that is not empty (nil: temp dirs for all).
func startClusterIn(t testing.TB, n int, base agentOpts, dataDir func(i int) string) []*agent {
	t.Helper()
	gossip := make([]string, n)
	for i, p := range freePorts(t, n) {
		gossip[i] = hostPort(p)
	}
	opts := make([]agentOpts, n)
	for i := range opts {
		o := base
		o.dataDir = filepath.Join(t.TempDir(), "data")
		if dataDir != nil && dataDir(i) != "" {
			o.dataDir = dataDir(i)
		}
		o.nodeID = fmt.Sprintf("n%d", i+1)
		o.gossipAddr = gossip[i]
		o.args = append([]string{"-join", strings.Join(gossip, ","), "-bootstrap-expect", strconv.Itoa(n)}, base.args...)
		opts[i] = o
	}
	agents := mustLaunchAgents(t, opts...)
	// A node whose start was retried on other ports has a new gossip
	// address: restarts (restartOpts) must -join the ones in use.
	for i := range gossip {
		gossip[i] = agents[i].line.gossip
	}
	for _, a := range agents {
		a.opts.args = append([]string{"-join", strings.Join(gossip, ","), "-bootstrap-expect", strconv.Itoa(n)}, base.args...)
	}
	for _, a := range agents {
		a.mustBeReady()
	}
	return agents
}

// mustJoin starts one more node that joins the zone of peers through
// gossip (-join with their gossip addresses, no -bootstrap-expect) and
// waits until it is ready: the zone leader has added it and it caught up.
func mustJoin(t testing.TB, peers []*agent, opts agentOpts) *agent {
	t.Helper()
	var join []string
	for _, p := range peers {
		join = append(join, p.line.gossip)
	}
	opts.args = append([]string{"-join", strings.Join(join, ",")}, opts.args...)
	return mustStartAgent(t, opts)
}

// restartOpts are the options that start a stopped agent again as the
// same node: same data dir, id, flags, and Raft and gossip addresses.
// The HTTP port is a new one.
func (a *agent) restartOpts() agentOpts {
	o := a.opts
	o.nodeID = a.line.nodeID
	o.raftAddr = a.line.raftAddr
	o.gossipAddr = a.line.gossip
	return o
}
