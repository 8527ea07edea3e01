package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cairn/cluster"
	"cairn/internal/freeport"
	"cairn/node"
	"cairn/node/tlsconfig/tlstest"
)

// Zone is one zone of real `cairn agent` processes on this machine, each
// with its data dir and logs under Dir, its Raft and gossip ports behind
// Net's proxies, and its HTTP API on 127.0.0.1 (not proxied: clients reach
// every node, as in a partition that cuts only the nodes' own network).
type Zone struct {
	Dir   string
	Net   *Net
	Nodes []*Node
	// Join is the -join list of the zone's nodes: their gossip proxies.
	Join []string
	bin  string
	// ca signs every node's certificate when the zone runs with TLS (and
	// a gossip key); nil: plain HTTP, TCP and gossip.
	ca        *tlstest.CA
	gossipKey string
	// ports hands out the ports of the nodes and rogue nodes, each once:
	// a port of a node that is down looks free, but is its own again at
	// its restart; one a rogue node had was found taken when the next
	// rogue node started on it.
	ports *freeport.Picker
}

// secure sets the zone up for TLS between nodes (a CA of its own, every
// node's certificate signed by it) and encrypted gossip.
func (z *Zone) secure() error {
	var err error
	if z.ca, err = tlstest.NewCA(z.Dir, "jepsen"); err != nil {
		return err
	}
	z.gossipKey, err = cluster.NewGossipKey()
	return err
}

// securityArgs are the flags of node name with TLS and the gossip key, its
// certificate naming hosts; none when the zone runs in the clear.
func (z *Zone) securityArgs(name string, hosts ...string) ([]string, error) {
	if z.ca == nil {
		return nil, nil
	}
	cert, key, err := z.ca.Issue(name, hosts...)
	if err != nil {
		return nil, err
	}
	return []string{"-tls-cert", cert, "-tls-key", key, "-tls-ca", z.ca.File, "-gossip-key", z.gossipKey}, nil
}

// scheme is the scheme of the nodes' HTTP URLs.
func (z *Zone) scheme() string {
	if z.ca == nil {
		return "http"
	}
	return "https"
}

// Client is an HTTP client of the zone's nodes (trusting the zone's CA
// when it runs with TLS), with a timeout on each request.
func (z *Zone) Client(timeout time.Duration) *http.Client {
	t := &http.Transport{MaxIdleConnsPerHost: 4}
	if z.ca != nil {
		t.TLSClientConfig = z.ca.ClientConfig()
	}
	return &http.Client{Timeout: timeout, Transport: t}
}

// LeaderLease is the Raft leader lease timeout the nodes run with (the
// default of `cairn agent`, given explicitly); the pause fault holds a
// node stopped for at least minPauseHold, well past it.
const LeaderLease = 250 * time.Millisecond

// Node is one member of the zone, across its restarts.
type Node struct {
	Index  int
	ID     string
	IP     string // the node's own loopback IP: it binds and dials from it
	HTTP   string // http://127.0.0.1:port
	dir    string
	bin    string // the cairn binary, built with -tags failpoints
	args   []string
	client *http.Client

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when the current process has exited
	paused bool
	// The current process's exit is the harness's doing if it was told to
	// stop (SIGTERM, SIGKILL: for good) or a failpoint is armed to crash it
	// (until disarmed). Two flags, since two faults may hit one node.
	stopped, crashArmed bool
	starts              int
	// crashes counts exits the harness did not cause; crashLog holds
	// the last lines of stderr of each.
	crashes  int
	crashLog []string
}

// nodeIP is node i's loopback address.
func nodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// StartZone launches n nodes of a new zone with -bootstrap-expect n and
// waits until every one is ready; secure runs them with TLS between them
// (certificates of a CA made in dir) and an encrypted gossip pool.
func StartZone(ctx context.Context, bin, dir string, n int, rng *rand.Rand, secure bool) (*Zone, error) {
	ips := make([]string, n)
	for i := range ips {
		ips[i] = nodeIP(i)
	}
	z := &Zone{Dir: dir, Net: NewNet(ips), bin: bin, ports: freeport.New(rng.Uint64())}
	if secure {
		if err := z.secure(); err != nil {
			return nil, err
		}
	}
	var join []string
	type ports struct{ http, raft, raftProxy, gossip, gossipProxy string }
	all := make([]ports, n)
	for i := range n {
		p := &all[i]
		pick := func(ip string, both bool) (string, error) {
			port, err := z.ports.Pick(ip, 1, both)
			return net.JoinHostPort(ip, strconv.Itoa(port)), err
		}
		var err error
		for _, f := range []struct {
			dst  *string
			ip   string
			both bool
		}{{&p.http, "127.0.0.1", false}, {&p.raft, ips[i], false}, {&p.gossip, ips[i], true}} {
			if *f.dst, err = pick(f.ip, f.both); err != nil {
				z.Close()
				return nil, err
			}
		}
		if p.raftProxy, err = z.Net.ProxyTCP(net.JoinHostPort(ips[i], "0"), p.raft, i); err != nil {
			z.Close()
			return nil, err
		}
		// Gossip needs UDP and TCP on one port: take the TCP proxy's.
		for range 20 {
			if p.gossipProxy, err = z.Net.ProxyTCP(net.JoinHostPort(ips[i], "0"), p.gossip, i); err != nil {
				break
			}
			if _, err = z.Net.ProxyUDP(p.gossipProxy, p.gossip, i); err == nil {
				break
			}
		}
		if err != nil {
			z.Close()
			return nil, err
		}
		join = append(join, p.gossipProxy)
	}
	z.Join = join
	for i, p := range all {
		nd := &Node{Index: i, ID: fmt.Sprintf("n%d", i+1), IP: ips[i], HTTP: z.scheme() + "://" + p.http, bin: bin,
			dir:    filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			client: z.Client(5 * time.Second)}
		nd.args = []string{"agent", "-node-id", nd.ID, "-zone", "jepsen", "-data-dir", filepath.Join(nd.dir, "data"),
			"-http-addr", p.http, "-maxscale-addr", "",
			"-raft-addr", p.raft, "-raft-advertise", p.raftProxy,
			"-gossip-addr", p.gossip, "-gossip-advertise", p.gossipProxy,
			"-join", strings.Join(join, ","), "-bootstrap-expect", strconv.Itoa(n), "-join-timeout", "10m",
			// Small snapshots, often, and few trailing logs: a node that was
			// down or cut off for a while gets an InstallSnapshot.
			"-snapshot-threshold", "256", "-snapshot-interval", "2s", "-trailing-logs", "128",
			"-request-timeout", "10s",
			// The lease, explicit: a pause (SIGSTOP) holds longer than
			// this, so a paused leader's lease has run out when it wakes.
			"-raft-leader-lease-timeout", LeaderLease.String()}
		// The certificate names the HTTP host and the node's own IP, that
		// of its Raft proxy (the address peers dial).
		sec, err := z.securityArgs(nd.ID, "127.0.0.1", ips[i])
		if err != nil {
			z.Close()
			return nil, err
		}
		nd.args = append(nd.args, sec...)
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			z.Close()
			return nil, err
		}
		z.Nodes = append(z.Nodes, nd)
	}
	for _, nd := range z.Nodes {
		if err := nd.Start(nil, false); err != nil {
			z.Close()
			return nil, err
		}
	}
	if err := z.AwaitReady(ctx, 60*time.Second); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

// Start launches the node's process with extra environment entries (a
// failpoint to arm at start, say); exitExpected marks its exit as the
// harness's doing from the start.
func (nd *Node) Start(env []string, exitExpected bool) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.proc != nil {
		return fmt.Errorf("node %s already runs", nd.ID)
	}
	out, err := os.OpenFile(filepath.Join(nd.dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	nd.starts++
	fmt.Fprintf(out, "=== start %d of %s at %s env %v\n", nd.starts, nd.ID, time.Now().Format(time.RFC3339Nano), env)
	cmd := exec.Command(nd.bin, nd.args...)
	cmd.Env = append(agentEnv(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Should the harness itself die, its agents die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	nd.proc, nd.exited, nd.paused = cmd.Process, make(chan struct{}), false
	nd.stopped, nd.crashArmed = false, exitExpected
	exited := nd.exited
	go func() {
		err := cmd.Wait()
		out.Close()
		nd.mu.Lock()
		if !nd.stopped && !nd.crashArmed {
			nd.crashes++
			nd.crashLog = append(nd.crashLog, fmt.Sprintf("start %d exited on its own (%v); log %s", nd.starts, err, filepath.Join(nd.dir, "agent.log")))
		}
		nd.proc = nil
		nd.mu.Unlock()
		close(exited)
	}()
	return nil
}

// agentEnv is this process's environment without any CAIRN_ variable, so
// that none leaks into the agents' configuration.
func agentEnv() []string {
	env := []string{"CAIRN_APCERA_ADDR="} // its default port would be shared
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAIRN_") {
			env = append(env, kv)
		}
	}
	return env
}

// Starts counts the node's process starts.
func (nd *Node) Starts() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.starts
}

// Running reports whether the node has a live (possibly paused) process.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.proc != nil
}

// signal sends sig to the running process; expected marks its exit as the
// harness's doing. It returns the channel closed on exit, nil if none runs.
func (nd *Node) signal(sig syscall.Signal, expected bool) <-chan struct{} {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.proc == nil {
		return nil
	}
	if expected {
		nd.stopped = true
	}
	nd.proc.Signal(sig)
	switch sig {
	case syscall.SIGSTOP:
		nd.paused = true
	case syscall.SIGCONT, syscall.SIGKILL:
		nd.paused = false
	}
	return nd.exited
}

// Kill sends SIGKILL and waits for the exit.
func (nd *Node) Kill() {
	if done := nd.signal(syscall.SIGKILL, true); done != nil {
		<-done
	}
}

// Stop sends SIGTERM (the node hands over leadership and leaves the zone)
// and waits up to timeout for the exit, then kills it. It reports whether
// the node stopped by itself.
func (nd *Node) Stop(timeout time.Duration) bool {
	done := nd.signal(syscall.SIGTERM, true)
	if done == nil {
		return true
	}
	nd.signal(syscall.SIGCONT, true) // a paused process cannot act on SIGTERM
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		nd.Kill()
		return false
	}
}

// Pause and Resume send SIGSTOP and SIGCONT.
func (nd *Node) Pause()  { nd.signal(syscall.SIGSTOP, false) }
func (nd *Node) Resume() { nd.signal(syscall.SIGCONT, false) }

// ExpectExit marks whether a failpoint is armed to crash the running
// process, whose exit is then the harness's doing.
func (nd *Node) ExpectExit(armed bool) {
	nd.mu.Lock()
	if nd.proc != nil {
		nd.crashArmed = armed
	}
	nd.mu.Unlock()
}

// Exited returns the channel closed when the current process exits, nil
// if none runs.
func (nd *Node) Exited() <-chan struct{} {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.proc == nil {
		return nil
	}
	return nd.exited
}

// Crashes returns how many times the node exited without the harness
// causing it, with a line on each.
func (nd *Node) Crashes() (int, []string) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.crashes, append([]string(nil), nd.crashLog...)
}

// Status fetches the node's status, with the store digest if digest.
func (nd *Node) Status(ctx context.Context, digest bool) (node.Status, error) {
	var st node.Status
	path := "/cairn/v1/status"
	if digest {
		path += "?digest"
	}
	b, code, err := nd.get(ctx, path)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status of %s: %d %s", nd.ID, code, b)
	}
	return st, json.Unmarshal(b, &st)
}

// Ready reports whether GET /ready answers 200.
func (nd *Node) Ready(ctx context.Context) bool {
	_, code, err := nd.get(ctx, "/ready")
	return err == nil && code == http.StatusOK
}

func (nd *Node) get(ctx context.Context, path string) ([]byte, int, error) {
	return nd.do(ctx, http.MethodGet, path, nil)
}

func (nd *Node) do(ctx context.Context, method, path string, body io.Reader) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, nd.HTTP+path, body)
	if err != nil {
		return nil, 0, err
	}
	resp, err := nd.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// ArmFailpoint arms a failpoint on the running node over HTTP.
func (nd *Node) ArmFailpoint(ctx context.Context, name, action string) error {
	b, code, err := nd.do(ctx, http.MethodPut, "/debug/failpoints/"+name, strings.NewReader(action))
	if err != nil {
		return err
	}
	if code != http.StatusNoContent {
		return fmt.Errorf("arming %s=%s on %s: %d %s", name, action, nd.ID, code, b)
	}
	return nil
}

// DataDir is the node's data dir.
func (nd *Node) DataDir() string { return filepath.Join(nd.dir, "data") }

// Leader returns the node that the running nodes agree leads, or nil.
func (z *Zone) Leader(ctx context.Context) *Node {
	for _, nd := range z.Nodes {
		if !nd.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := nd.Status(ctx, false)
		cancel()
		if err == nil && st.State == "Leader" {
			return nd
		}
	}
	return nil
}

// AwaitReady waits until every node runs and answers /ready.
func (z *Zone) AwaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var notReady []string
		for _, nd := range z.Nodes {
			if !nd.Running() || !nd.Ready(ctx) {
				notReady = append(notReady, nd.ID)
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes %v not ready within %s", notReady, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close kills every node and stops the proxies.
func (z *Zone) Close() {
	for _, nd := range z.Nodes {
		nd.signal(syscall.SIGCONT, true)
		nd.Kill()
	}
	z.Net.Close()
}
