package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cairn/fsm"
)

// Store is what the supervisor needs of the node's replicated store.
type Store interface {
	View() *fsm.View
	WaitIndex(ctx context.Context, index uint64) error
}

// ReportFunc sends an instance's new state to the zone (through Raft, by
// way of the zone leader). An error wrapping ErrStale means the zone no
// longer assigns the instance to this node: the report is dropped.
type ReportFunc func(ctx context.Context, s Status) error

// ErrStale means a report was refused because the instance is no longer
// assigned to the reporting node.
var ErrStale = errors.New("the instance is not assigned to this node")

// Config configures a Supervisor.
type Config struct {
	NodeID  string
	DataDir string
	// Enabled runs instances; a node with the executor off reports each
	// instance assigned to it as failed, saying so.
	Enabled bool
	// Credential, if set, is the user instances run as (-exec-user).
	Credential *syscall.Credential
	// Engine, if set, runs the instances of workloads with an image;
	// without one, such an instance assigned here fails saying so.
	Engine *ContainerDriver
	// MemoryLimits is how process instances' memory_limit is enforced:
	// MemoryCgroupV2, MemoryCgroupV1 or MemoryRlimit; empty chooses the
	// first of them that works on this node (logged once). A mechanism
	// named here that does not work makes New fail.
	MemoryLimits string
	Report       ReportFunc
	Logger       *slog.Logger
}

// Supervisor runs the instances the zone assigns to this node as local
// processes, restarts them by their policy, and reports their state
// changes. It reads assignments from the local store, so it follows
// whatever this node has applied.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	store   Store
	spawn   *spawner
	runDir  string
	logDir  string
	reports *reporter
	// groups records the instances' process groups for the next run of
	// the agent (CleanLeftovers).
	groups *ledger
	// mem is how process instances' memory is limited.
	mem memLimits

	mu        sync.Mutex
	instances map[string]*instance // by instance id
	logs      map[string]*instanceLog
	// stopping holds, by instance id, the instances being stopped, so
	// that an instance that replaces one, or takes one of its ports,
	// waits for it.
	stopping map[string]*instance
	// stageMu makes staging one artifact at a time.
	stageMu sync.Mutex
	wg      sync.WaitGroup
}

// New returns a supervisor over store. Run starts it.
func New(cfg Config, store Store) (*Supervisor, error) {
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = abs
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Supervisor{cfg: cfg, log: log.With("component", "supervisor"), store: store,
		runDir: filepath.Join(abs, "workloads", "run"), logDir: filepath.Join(abs, "workloads", "logs"),
		instances: map[string]*instance{}, logs: map[string]*instanceLog{}, stopping: map[string]*instance{}}
	for _, d := range []string{s.runDir, s.logDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("workload directory: %w", err)
		}
	}
	s.reports = newReporter(cfg.Report, s.log)
	s.groups = newLedger(filepath.Join(abs, "workloads"))
	if cfg.Enabled {
		mem, notes, err := detectMemLimits(cfg.MemoryLimits, abs)
		if err != nil {
			return nil, err
		}
		s.mem = mem
		msg := "process instances' memory_limit is enforced with " + mem.mode
		switch mem.mode {
		case MemoryCgroupV2, MemoryCgroupV1:
			msg += ": each instance in a cgroup of its own"
		default:
			msg += " (address space, not resident memory)"
			if cfg.MemoryLimits == "" {
				msg += ": no writable cgroup hierarchy with the memory controller"
			}
		}
		s.log.Info(msg, "memory_limits", mem.mode, "cgroup", mem.parent, "not_used", strings.Join(notes, "; "))
	}
	return s, nil
}

// MemoryLimits names how this node enforces the memory_limit of process
// instances: MemoryCgroupV2, MemoryCgroupV1 or MemoryRlimit ("" with the
// executor off).
func (s *Supervisor) MemoryLimits() string { return s.mem.mode }

// CleanLeftovers kills what a previous run of the agent on this data dir
// left behind (instances are started afresh, as the zone assigns them): no
// orphan outlives a restart, and none runs twice. Call it before Run.
//
// Cleaned up, not adopted: an instance's leading process gets SIGKILL
// when the agent dies (its parent-death signal), so what is left is
// never a whole instance, only what it started; and a process the agent
// did not start cannot be waited for (its exit code is lost) nor its
// output captured (its pipes died with the agent).
func (s *Supervisor) CleanLeftovers() {
	if n := KillLeftovers(s.cfg.DataDir); n > 0 {
		s.log.Info("killed processes a previous run of this agent left behind", "processes", n, "data_dir", s.cfg.DataDir)
	}
	if n := s.mem.clean(); n > 0 {
		s.log.Info("killed processes a previous run of this agent left in its instances' cgroups", "processes", n, "cgroup", s.mem.parent)
	}
	if s.cfg.Engine != nil {
		if n := s.cfg.Engine.Clean(); n > 0 {
			s.log.Info("removed containers a previous run of this agent left behind", "containers", n, "engine", s.cfg.Engine.Name())
		}
	}
}

// Run reconciles the instances with the store's assignments at once and
// after every change applied, until ctx ends; it then stops every instance
// (SIGTERM, SIGKILL after each one's stop timeout) before returning.
func (s *Supervisor) Run(ctx context.Context) {
	if s.cfg.Enabled {
		s.spawn = newSpawner()
	}
	rctx, stopReports := context.WithCancel(context.Background())
	go s.reports.run(rctx)
	var index uint64
	for {
		v := s.store.View()
		index = v.Index()
		s.reconcile(v)
		if err := s.store.WaitIndex(ctx, index+1); err != nil {
			break
		}
		// Writes come in bursts: one reconcile covers a burst of
		// reconcileEvery, not one per entry.
		select {
		case <-ctx.Done():
		case <-time.After(reconcileEvery):
		}
	}
	s.stopAll()
	stopReports()
}

// desired is one instance this node should run.
type desired struct {
	workload string
	index    int
	spec     Spec
	placed   Placed
	// links are the resolved link variables, by name.
	links map[string]string
	// key identifies what runs: a change (spec, ports, a link's address)
	// restarts the instance.
	key string
}

// reconcileEvery bounds how often the supervisor reconciles under a
// stream of writes.
const reconcileEvery = 50 * time.Millisecond

// Desired returns the instances the view assigns to node and wants
// started, by instance id.
func Desired(v *fsm.View, node string) map[string]desired {
	out := map[string]desired{}
	placements, err := v.Lookup(KindPlacement, "node", node)
	if err != nil {
		return out
	}
	for _, r := range placements {
		var p PlacementBody
		if json.Unmarshal(r.Body, &p) != nil {
			continue
		}
		w := v.Get(KindWorkload, p.Workload)
		if w == nil {
			continue
		}
		spec, err := ParseSpec(w.Body)
		if err != nil || spec.State != StateStarted {
			continue
		}
		var links map[string]string
		for _, l := range spec.Links {
			if links == nil {
				links = map[string]string{}
			}
			links[l.Env] = resolveLink(v, l)
		}
		for _, pl := range p.Instances {
			if pl.Node != node || pl.Index >= spec.Instances || len(pl.Ports) != len(spec.Ports) {
				continue
			}
			key, _ := json.Marshal(struct {
				Spec  json.RawMessage
				Ports []int
				Links map[string]string
			}{w.Body, pl.Ports, links})
			out[InstanceID(p.Workload, pl.Index)] = desired{workload: p.Workload, index: pl.Index, spec: spec,
				placed: pl, links: links, key: string(key)}
		}
	}
	return out
}

// resolveLink returns "<host>:<port>" of the lowest-index instance of the
// link's target that its node reports RUNNING, or "".
func resolveLink(v *fsm.View, l Link) string {
	w := v.Get(KindWorkload, l.Workload)
	p := v.Get(KindPlacement, l.Workload)
	if w == nil || p == nil {
		return ""
	}
	spec, err := ParseSpec(w.Body)
	if err != nil || len(spec.Ports) == 0 {
		return ""
	}
	port := 0
	if l.Port != "" {
		port = -1
		for i, name := range spec.Ports {
			if name == l.Port {
				port = i
			}
		}
		if port < 0 {
			return ""
		}
	}
	var pb PlacementBody
	if json.Unmarshal(p.Body, &pb) != nil {
		return ""
	}
	placed := append([]Placed(nil), pb.Instances...)
	sort.Slice(placed, func(i, j int) bool { return placed[i].Index < placed[j].Index })
	for _, pl := range placed {
		if pl.Node == "" || pl.Host == "" || port >= len(pl.Ports) {
			continue
		}
		r := v.Get(KindInstance, InstanceID(l.Workload, pl.Index))
		if r == nil {
			continue
		}
		var st Status
		if json.Unmarshal(r.Body, &st) == nil && st.State == InstanceRunning && st.Node == pl.Node {
			return net.JoinHostPort(pl.Host, strconv.Itoa(pl.Ports[port]))
		}
	}
	return ""
}

// reconcile starts what is desired and not running, and stops what runs
// and is no longer desired or whose spec changed.
func (s *Supervisor) reconcile(v *fsm.View) {
	want := Desired(v, s.cfg.NodeID)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, inst := range s.instances {
		d, ok := want[id]
		if ok && d.key == inst.d.key {
			continue
		}
		inst.stop()
		s.stopping[id] = inst
		delete(s.instances, id)
	}
	for id, old := range s.stopping {
		select {
		case <-old.done:
			delete(s.stopping, id)
		default:
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := s.instances[id]; ok {
			continue
		}
		d := want[id]
		l := s.logs[id]
		if l == nil {
			l = openInstanceLog(s.logDir, d.workload, d.index)
			s.logs[id] = l
		}
		inst := &instance{s: s, id: id, d: d, log: l, stopCh: make(chan struct{}), done: make(chan struct{})}
		// An instance starts once those it replaces (a spec change: the
		// same id) or whose ports it takes (the scheduler gave a port of
		// an instance moved or removed to another) have stopped: never
		// two at once, never two on one port of this node.
		var prev []<-chan struct{}
		for oid, old := range s.stopping {
			if oid == id || sharePort(old.d.placed.Ports, d.placed.Ports) {
				prev = append(prev, old.done)
			}
		}
		s.instances[id] = inst
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for _, p := range prev {
				<-p
			}
			select {
			case <-inst.stopCh: // stopped before it started
				inst.report(Status{State: InstanceRemoved})
				close(inst.done)
				return
			default:
			}
			inst.run()
		}()
	}
}

// sharePort reports whether a and b have a port in common.
func sharePort(a, b []int) bool {
	for _, p := range a {
		for _, q := range b {
			if p == q {
				return true
			}
		}
	}
	return false
}

// stopAll stops every instance and waits for them.
func (s *Supervisor) stopAll() {
	s.mu.Lock()
	for id, inst := range s.instances {
		inst.stop()
		delete(s.instances, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.mem.parent != "" {
		_ = os.Remove(s.mem.parent) // empty now; made again at the next start
	}
	s.mu.Lock()
	for _, l := range s.logs {
		l.close()
	}
	s.mu.Unlock()
}

// Running returns the pids of the instances that run now, by instance id
// (for tests and status).
func (s *Supervisor) Running() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for id, inst := range s.instances {
		if pid := inst.pid(); pid > 0 {
			out[id] = pid
		}
	}
	return out
}

// baseEnv is the part of the agent's environment instances inherit.
var baseEnv = []string{"PATH", "LANG", "LC_ALL", "TZ"}

// runOf builds one run of d: home is the instance's own directory;
// staged, if not nil, the artifact staged for it (the process then runs in
// its START_PATH, and the runtime's START_COMMAND unless the workload
// gives a command).
func (s *Supervisor) runOf(id string, d desired, home string, staged *Staged) Run {
	r := Run{Instance: id, Name: containerName(s.cfg.NodeID, id), Argv: d.spec.Command, Image: d.spec.Image, Dir: home, Home: home,
		MemoryBytes: d.spec.MemoryBytes(), Credential: s.cfg.Credential}
	if staged != nil && len(r.Argv) == 0 {
		r.Argv = []string{"/bin/sh", "-c", staged.StartCommand}
	}
	var env []string
	if staged != nil {
		r.Dir = staged.StartPath
		env = append(env, "START_PATH="+staged.StartPath, "START_COMMAND="+staged.StartCommand)
	}
	keys := make([]string, 0, len(d.spec.Env))
	for k := range d.spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+d.spec.Env[k])
	}
	for i, name := range d.spec.Ports {
		if i < len(d.placed.Ports) {
			port := strconv.Itoa(d.placed.Ports[i])
			if i == 0 {
				env = append(env, "PORT="+port)
			}
			env = append(env, "PORT_"+strings.ToUpper(name)+"="+port)
		}
	}
	linkNames := make([]string, 0, len(d.links))
	for k := range d.links {
		linkNames = append(linkNames, k)
	}
	sort.Strings(linkNames)
	for _, k := range linkNames {
		env = append(env, k+"="+d.links[k])
	}
	r.Env = append(env, MarkerEnv+"="+s.cfg.DataDir, "CAIRN_WORKLOAD="+d.workload,
		"CAIRN_INSTANCE="+strconv.Itoa(d.index), "CAIRN_NODE="+s.cfg.NodeID)
	return r
}

// driverFor returns the driver of d's instances on this node: a container
// driver for an image, else the process driver.
func (s *Supervisor) driverFor(d desired) (Driver, error) {
	if d.spec.Image == "" {
		return processDriver{rlimitAS: !s.mem.cgroups()}, nil
	}
	if s.cfg.Engine == nil {
		return nil, fmt.Errorf("no container engine on node %s (the zone leader assigns image workloads only to nodes that advertise one)", s.cfg.NodeID)
	}
	return s.cfg.Engine, nil
}

// Engine returns the name of this node's container engine ("" for none),
// which its gossip metadata advertises to the scheduler.
func (s *Supervisor) Engine() string {
	if s.cfg.Engine == nil {
		return ""
	}
	return s.cfg.Engine.Name()
}
