// Package scheduler is the zone leader's workload scheduler: a leader loop
// (like cluster's membership reconciler) that assigns every workload's
// instances to the zone's live members, spread and within the workload's
// placement, and moves the instances of a member that stayed failed past
// a timeout. It writes only placements (workload.KindPlacement); each
// node's supervisor (node/workload) runs what is assigned to it.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/node/workload"
)

// Raft is what the scheduler needs of the zone's Raft member.
type Raft interface {
	Zone() string
	View() *fsm.View
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	// WaitIndex returns once the store has applied index.
	WaitIndex(ctx context.Context, index uint64) error
}

// Members is what the scheduler needs of gossip.
type Members interface {
	Members() []cluster.Member
}

// DefaultRescheduleTimeout is how long a member must have been failed
// before its instances move: long enough for an agent restart (a few
// seconds) not to move everything it runs.
const DefaultRescheduleTimeout = 30 * time.Second

// Scheduler is the leader loop. One pass reads the store and gossip,
// plans (Plan, pure), and writes each changed placement with the versions
// it read as preconditions.
type Scheduler struct {
	raft    Raft
	members Members
	log     *slog.Logger
	// RescheduleTimeout is how long a failed member keeps its instances.
	RescheduleTimeout time.Duration
	// Interval bounds the time between passes without changes.
	Interval time.Duration
	// Ports is the range instances' ports are drawn from.
	Ports PortRange
	cache *Cache
}

// New returns the scheduler of r's zone.
func New(r Raft, m Members, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{raft: r, members: m, log: log.With("component", "scheduler"),
		RescheduleTimeout: DefaultRescheduleTimeout, Interval: time.Second, Ports: DefaultPorts}
}

// Node is a member as the planner sees it.
type Node struct {
	ID string
	// Host is the node's host, from its HTTP address.
	Host string
	Live bool
	// FailedSince is when a member that is not live failed.
	FailedSince time.Time
	// Engine is the node's working container engine ("": none): only
	// such nodes run the instances of workloads with an image.
	Engine string
}

// Workload is a workload as the planner sees it.
type Workload struct {
	ID      string
	Version uint64
	Spec    workload.Spec
}

// Current is a workload's placement as stored.
type Current struct {
	Version uint64
	Placed  []workload.Placed // by index; Node "" unassigned
}

// Change is a placement to write.
type Change struct {
	Workload        string
	WorkloadVersion uint64
	// Prev is the placement's version read (0: absent).
	Prev   uint64
	Placed []workload.Placed
	// Delete removes the placement (its workload is gone).
	Delete bool
	// Fresh are the indexes assigned a node by this change: their
	// instance state starts as NEW, on that node.
	Fresh []int
	// Dropped are the indexes whose instance state is stale: moved, or
	// past the instance count.
	Dropped []int
	// Unplaceable are the indexes left unassigned for Reason (no live
	// node could ever take them, as opposed to none being live): their
	// instance state is written CRASHED and failed, saying so.
	Unplaceable []int
	Reason      string
}

// Nodes returns the nodes of a change, by index (for logs and tests).
func (c Change) Nodes() []string {
	out := make([]string, len(c.Placed))
	for i, p := range c.Placed {
		out[i] = p.Node
	}
	return out
}

// PortRange is the range instances' ports are drawn from, on every node.
type PortRange struct{ Lo, Hi int }

// DefaultPorts is the default port range.
var DefaultPorts = PortRange{Lo: 20000, Hi: 29999}

// Plan assigns instances: an instance keeps its node while the node is
// eligible (named by the placement, if any, and live or failed for less
// than timeout); others go to the eligible live node with the fewest
// instances of the workload, then the fewest in all, then the smallest
// id. Each instance gets one port per name of its spec from ports, the
// lowest free on its node's host: no two instances share a port of one
// host (nor, so, of one node). A workload with an image runs only on
// nodes with a container engine; with none among the live nodes of its
// placement, its unassigned instances are Unplaceable: "no container
// engine on any node". Workloads are planned in id order, so a plan is a function of its
// inputs.
func Plan(workloads []Workload, current map[string]Current, nodes []Node, now time.Time, timeout time.Duration, ports PortRange) []Change {
	byID := map[string]Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	load := map[string]int{}
	// Ports are used by host, not by node: several nodes on one host (a
	// test zone, `make cluster`) share its ports. A node with no known
	// host is a host of its own.
	used := map[string]map[int]bool{}
	hostOf := func(p workload.Placed) string {
		if p.Host != "" {
			return "host " + p.Host
		}
		return "node " + p.Node
	}
	take := func(host string, ps []int) {
		if used[host] == nil {
			used[host] = map[int]bool{}
		}
		for _, p := range ps {
			used[host][p] = true
		}
	}
	release := func(host string, ps []int) {
		for _, p := range ps {
			delete(used[host], p)
		}
	}
	for _, c := range current {
		for _, p := range c.Placed {
			if p.Node != "" {
				load[p.Node]++
				take(hostOf(p), p.Ports)
			}
		}
	}
	// next free port on a host, scanning from the range's start: fine for
	// a range of thousands and hosts of hundreds of instances.
	alloc := func(host string, n int) []int {
		if n == 0 {
			return nil
		}
		var out []int
		for p := ports.Lo; p <= ports.Hi && len(out) < n; p++ {
			if !used[host][p] {
				out = append(out, p)
			}
		}
		if len(out) < n {
			return nil // the range is exhausted on this host
		}
		take(host, out)
		return out
	}
	sort.Slice(workloads, func(i, j int) bool { return workloads[i].ID < workloads[j].ID })
	var live []string
	for _, n := range nodes {
		if n.Live {
			live = append(live, n.ID)
		}
	}
	sort.Strings(live)
	var out []Change
	seen := map[string]bool{}
	for _, w := range workloads {
		seen[w.ID] = true
		cur := current[w.ID]
		nports := len(w.Spec.Ports)
		allowed := func(id string) bool {
			if w.Spec.Image != "" && byID[id].Engine == "" {
				return false
			}
			if len(w.Spec.Placement.Nodes) == 0 {
				return true
			}
			i := sort.SearchStrings(w.Spec.Placement.Nodes, id)
			return i < len(w.Spec.Placement.Nodes) && w.Spec.Placement.Nodes[i] == id
		}
		keeps := func(id string) bool {
			n, known := byID[id]
			if !known || !allowed(id) {
				return false
			}
			return n.Live || now.Sub(n.FailedSince) < timeout
		}
		next := make([]workload.Placed, w.Spec.Instances)
		for i := range next {
			next[i].Index = i
		}
		mine := map[string]int{}
		var dropped, fresh []int
		for _, p := range cur.Placed {
			i := p.Index
			switch {
			case i < 0 || i >= len(next):
				if p.Node != "" {
					load[p.Node]--
					release(hostOf(p), p.Ports)
				}
				dropped = append(dropped, i)
			case p.Node != "" && keeps(p.Node):
				next[i] = p
				next[i].Host = byID[p.Node].Host
				mine[p.Node]++
				if len(p.Ports) != nports || hostOf(next[i]) != hostOf(p) {
					release(hostOf(p), p.Ports)
					next[i].Ports = alloc(hostOf(next[i]), nports)
				}
			case p.Node != "":
				load[p.Node]--
				release(hostOf(p), p.Ports)
				dropped = append(dropped, i)
			}
		}
		for i := range next {
			if next[i].Node != "" {
				continue
			}
			best := ""
			for _, id := range live {
				if !allowed(id) {
					continue
				}
				if best == "" || mine[id] < mine[best] || mine[id] == mine[best] && load[id] < load[best] {
					best = id
				}
			}
			if best == "" {
				continue
			}
			ps := alloc(hostOf(workload.Placed{Node: best, Host: byID[best].Host}), nports)
			if nports > 0 && ps == nil {
				continue // no free port on the best node's host: wait unassigned
			}
			next[i] = workload.Placed{Index: i, Node: best, Host: byID[best].Host, Ports: ps}
			fresh = append(fresh, i)
			mine[best]++
			load[best]++
		}
		if !samePlaced(next, cur.Placed) {
			c := Change{Workload: w.ID, WorkloadVersion: w.Version, Prev: cur.Version, Placed: next, Dropped: dropped, Fresh: fresh}
			if w.Spec.Image != "" && !anyLive(live, allowed) {
				c.Reason = "no container engine on any node"
				if len(w.Spec.Placement.Nodes) > 0 {
					c.Reason += " of placement.nodes"
				}
				for i := range next {
					if next[i].Node == "" {
						c.Unplaceable = append(c.Unplaceable, i)
					}
				}
			}
			out = append(out, c)
		}
	}
	ids := make([]string, 0, len(current))
	for id := range current {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := current[id]
		d := make([]int, 0, len(c.Placed))
		for _, p := range c.Placed {
			d = append(d, p.Index)
		}
		out = append(out, Change{Workload: id, Prev: c.Version, Delete: true, Dropped: d})
	}
	return out
}

// anyLive reports whether any of the live node ids is allowed.
func anyLive(live []string, allowed func(string) bool) bool {
	for _, id := range live {
		if allowed(id) {
			return true
		}
	}
	return false
}

func samePlaced(a, b []workload.Placed) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Same(b[i]) {
			return false
		}
	}
	return true
}

// minGap is the least time between two passes woken by writes.
const minGap = 20 * time.Millisecond

// Run schedules at once, then after every change of the store (woken by
// it) or of membership (looked at every 200ms) and every Interval, until
// ctx ends. It is a node leader task (node.OnLeadership).
func (s *Scheduler) Run(ctx context.Context) {
	var lastIndex uint64
	var lastMembers string
	var lastPass, lastGC time.Time
	var passTook time.Duration
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	changed := make(chan struct{}, 1)
	go func() {
		var seen uint64
		for {
			if err := s.raft.WaitIndex(ctx, seen+1); err != nil {
				return
			}
			seen = s.raft.View().Index()
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	for {
		nodes := s.nodes()
		fp := fingerprint(nodes)
		idx := s.raft.View().Index()
		if idx != lastIndex || fp != lastMembers || time.Since(lastPass) >= s.Interval {
			start := time.Now()
			if err := s.Pass(ctx, nodes); err != nil && ctx.Err() == nil {
				s.log.Warn("a scheduling pass failed; will retry", "err", err)
			} else {
				lastIndex, lastMembers = idx, fp
			}
			lastPass = time.Now()
			passTook = lastPass.Sub(start)
		}
		if time.Since(lastGC) >= gcInterval {
			if err := s.CollectArtifacts(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("collecting unreferenced artifacts failed; will retry", "err", err)
			}
			lastGC = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
			// A write wakes the loop at once, but passes woken by writes
			// are spaced by minGap or four times the last pass, whichever
			// is longer: a stream of writes to a zone of 10,000 workloads
			// (a pass of 30-40 ms) costs at most about a fifth of a core,
			// and a workload PUT in a small zone is placed within ~20 ms
			// instead of up to 200.
			if wait := max(minGap, 4*passTook) - time.Since(lastPass); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// nodes returns the zone's members as the planner sees them.
func (s *Scheduler) nodes() []Node {
	zone := s.raft.Zone()
	var out []Node
	for _, m := range s.members.Members() {
		if m.Zone != zone || m.Status == cluster.StatusLeft {
			continue
		}
		live := m.Status == cluster.StatusAlive || m.Status == cluster.StatusSuspect
		n := Node{ID: m.ID, Live: live, Host: hostOf(m.HTTP), Engine: m.Engine}
		if !live {
			n.FailedSince = m.Since
		}
		out = append(out, n)
	}
	return out
}

// hostOf returns the host of an HTTP base URL.
func hostOf(httpURL string) string {
	u, err := url.Parse(httpURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func fingerprint(nodes []Node) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		s := n.ID + "@" + n.Host + "/" + n.Engine + "-"
		if n.Live {
			s = n.ID + "@" + n.Host + "/" + n.Engine + "+"
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Pass makes one scheduling pass over nodes.
func (s *Scheduler) Pass(ctx context.Context, nodes []Node) error {
	v := s.raft.View()
	if s.cache == nil {
		s.cache = new(Cache)
	}
	workloads, current := s.cache.Read(v)
	changes := Plan(workloads, current, nodes, time.Now(), s.RescheduleTimeout, s.Ports)
	var firstErr error
	for _, c := range changes {
		if err := s.write(ctx, c); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Read returns the store's workloads and placements as the planner takes
// them, parsing every one.
func Read(v *fsm.View) ([]Workload, map[string]Current) { return new(Cache).Read(v) }

// Cache keeps what a pass parsed, by resource version, for the next:
// parsing 10,000 workload specs takes ~140 ms on 2 cores, and a pass runs
// after every write.
type Cache struct {
	workloads map[string]cachedWorkload
	placed    map[string]Current
}

type cachedWorkload struct {
	w  Workload
	ok bool // false: the body does not parse (written by a newer version, say)
}

// Read is the package's Read, reusing what is unchanged since the last.
func (c *Cache) Read(v *fsm.View) ([]Workload, map[string]Current) {
	prevW, prevP := c.workloads, c.placed
	c.workloads, c.placed = map[string]cachedWorkload{}, map[string]Current{}
	var workloads []Workload
	v.ForEach(workload.KindWorkload, func(r *fsm.Resource) {
		cw, hit := prevW[r.ID]
		if !hit || cw.w.Version != r.Version {
			spec, err := workload.ParseSpec(r.Body)
			cw = cachedWorkload{w: Workload{ID: r.ID, Version: r.Version, Spec: spec}, ok: err == nil}
		}
		c.workloads[r.ID] = cw
		if cw.ok {
			workloads = append(workloads, cw.w)
		}
	})
	current := map[string]Current{}
	v.ForEach(workload.KindPlacement, func(r *fsm.Resource) {
		cur, hit := prevP[r.ID]
		if !hit || cur.Version != r.Version {
			var p workload.PlacementBody
			if json.Unmarshal(r.Body, &p) != nil {
				return
			}
			cur = Current{Version: r.Version, Placed: p.Instances}
		}
		c.placed[r.ID] = cur
		current[r.ID] = cur
	})
	return workloads, current
}

// write applies one change: the placement, conditional on the workload
// and the placement being as read, and the removal of stale instance
// states. A conflict is no error: the next pass plans again.
func (s *Scheduler) write(ctx context.Context, c Change) error {
	var ops []fsm.Op
	if c.Delete {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: workload.KindPlacement, ID: c.Workload, Require: fsm.RequireVersion, Version: c.Prev},
			fsm.Op{Type: fsm.OpCheck, Kind: workload.KindWorkload, ID: c.Workload, Require: fsm.RequireAbsent})
	} else {
		body, err := json.Marshal(workload.PlacementOf(c.Workload, c.Placed))
		if err != nil {
			return err
		}
		put := fsm.Op{Type: fsm.OpPut, Kind: workload.KindPlacement, ID: c.Workload, Body: body, Require: fsm.RequireAbsent}
		if c.Prev != 0 {
			put.Require, put.Version = fsm.RequireVersion, c.Prev
		}
		ops = append(ops, put, fsm.Op{Type: fsm.OpCheck, Kind: workload.KindWorkload, ID: c.Workload, Require: fsm.RequireVersion, Version: c.WorkloadVersion})
	}
	fresh := map[int]bool{}
	for _, i := range c.Fresh {
		fresh[i] = true
		body, _ := json.Marshal(workload.Status{Workload: c.Workload, Index: i, Node: c.Placed[i].Node, State: workload.InstanceNew})
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: workload.KindInstance, ID: workload.InstanceID(c.Workload, i), Body: body})
	}
	for _, i := range c.Dropped {
		if !fresh[i] {
			ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: workload.KindInstance, ID: workload.InstanceID(c.Workload, i)})
		}
	}
	for _, i := range c.Unplaceable {
		body, _ := json.Marshal(workload.Status{Workload: c.Workload, Index: i, State: workload.InstanceCrashed, Failed: true, Reason: c.Reason})
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: workload.KindInstance, ID: workload.InstanceID(c.Workload, i), Body: body})
	}
	_, _, err := s.raft.Apply(ctx, fsm.Command{Ops: ops, Time: time.Now().UTC()})
	if err != nil {
		if errors.Is(err, fsm.ErrConflict) {
			return nil
		}
		return err
	}
	if c.Delete {
		s.log.Info("removed the placement of a deleted workload", "workload", c.Workload)
	} else {
		s.log.Info("placed a workload's instances", "workload", c.Workload, "nodes", strings.Join(c.Nodes(), ","))
	}
	return nil
}

// gcInterval is how often the leader looks for unreferenced artifacts.
const gcInterval = 10 * time.Second

// CollectArtifacts deletes the artifacts no workload references and the
// chunks of uploads that never finished, once past their grace period
// (workload.GarbageOps). Each artifact's delete is conditional on the
// version read, and a workload write that names one rewrites it: a
// workload written meanwhile keeps its artifact.
func (s *Scheduler) CollectArtifacts(ctx context.Context) error {
	ops := workload.GarbageOps(s.raft.View(), time.Now())
	for len(ops) > 0 {
		n := min(len(ops), 256)
		batch := ops[:n]
		ops = ops[n:]
		_, _, err := s.raft.Apply(ctx, fsm.Command{Ops: batch, Time: time.Now().UTC()})
		if err != nil && !errors.Is(err, fsm.ErrConflict) {
			return err
		}
		if err == nil {
			s.log.Info("removed unreferenced artifacts and chunks", "operations", n)
		}
	}
	return nil
}
