package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"cairn/node/failpoint"
)

// Fault names, as Config.Faults takes them.
const (
	FaultKill      = "kill"      // kill -9 a node (the leader half the time), restart it later
	FaultPause     = "pause"     // SIGSTOP a node past the election timeout, then SIGCONT
	FaultPartition = "partition" // majority/minority, an isolated leader, or a bridge
	FaultMember    = "member"    // a node leaves the zone (SIGTERM), then rejoins
	FaultFailpoint = "failpoint" // crash or stall a node at a named failpoint
	FaultWipe      = "wipe"      // kill -9 a node, wipe its data dir, restart it under the same id and addresses
	FaultRogue     = "rogue"     // a node that founded its own zone of the same name tries to join
)

// AllFaults is every fault the nemesis knows.
var AllFaults = []string{FaultKill, FaultPause, FaultPartition, FaultMember, FaultFailpoint, FaultWipe, FaultRogue}

// stopWait is how long a node stopped with SIGTERM has to exit before it
// is killed.
const stopWait = 30 * time.Second

// nemesis injects one fault at a time, drawn from its random source, into
// the zone until its context ends, then heals everything.
type nemesis struct {
	zone   *Zone
	rng    *rand.Rand
	faults []string
	logf   func(string, ...any)
	mu     sync.Mutex
	// injected counts faults by a finer name ("partition isolated leader").
	injected map[string]int
	// anomalies are what the faults themselves found wrong (a rogue node
	// that was let in).
	anomalies []string
	// wiping is set while a wiped node has not become a voter again: a
	// second wipe then could take a majority's data. leaving counts the
	// members leaving the zone (member leave+rejoin) until they restart.
	// A wipe and a leave never overlap: a 3-node zone that a member leaves
	// has two voters, and wiping one of them loses a majority's data (a
	// seed that ran them at the same moment left the zone without a
	// quorum for good, as Raft must).
	wiping  bool
	leaving int
	rogues  int
	// leaderPauses are the spans during which the zone's leader was
	// SIGSTOPped.
	leaderPauses [][2]time.Time
}

// minPauseHold is the shortest pause: many leader leases (and election
// timeouts) long.
const minPauseHold = 8 * LeaderLease

func (n *nemesis) run(ctx context.Context) {
	for {
		if !sleepCtx(ctx, jitter(n.rng, time.Second, 3*time.Second)) {
			return
		}
		// Mostly one fault at a time; every third round two at once
		// (a kill during a partition, say), each with a random source of
		// its own drawn here so that the schedule stays the seed's.
		rounds := 1
		if n.rng.IntN(3) == 0 {
			rounds = 2
		}
		var wg sync.WaitGroup
		for range rounds {
			f := n.faults[n.rng.IntN(len(n.faults))]
			rng := rand.New(rand.NewPCG(n.rng.Uint64(), n.rng.Uint64()))
			wg.Add(1)
			go func() { defer wg.Done(); n.inject(ctx, f, rng) }()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
	}
}

// inject applies fault f, holds it for a few seconds (cut short when ctx
// ends) and undoes it.
func (n *nemesis) inject(ctx context.Context, f string, rng *rand.Rand) {
	hold := jitter(rng, 2*time.Second, 6*time.Second)
	z := n.zone
	victim := z.Nodes[rng.IntN(len(z.Nodes))]
	if rng.IntN(2) == 0 {
		if l := z.Leader(context.Background()); l != nil {
			victim = l
		}
	}
	switch f {
	case FaultKill:
		n.note("kill", "kill %s", victim.ID)
		victim.Kill()
		sleepCtx(ctx, hold)
		n.restart(victim, nil)
	case FaultPause:
		// Past the leader lease (and the election timeout): a paused
		// leader must not serve a consistent read from its old term when
		// it wakes. Whether the victim leads is asked just before.
		hold = max(hold, minPauseHold)
		kind := "pause follower"
		if l := z.Leader(context.Background()); l == victim {
			kind = "pause leader"
		}
		n.note(kind, "pause %s (%s) for %s", victim.ID, kind[len("pause "):], hold.Round(time.Millisecond))
		from := time.Now()
		victim.Pause()
		sleepCtx(ctx, hold)
		victim.Resume()
		if kind == "pause leader" {
			n.mu.Lock()
			n.leaderPauses = append(n.leaderPauses, [2]time.Time{from, time.Now()})
			n.mu.Unlock()
		}
	case FaultPartition:
		n.partition(ctx, rng, hold)
	case FaultMember:
		n.mu.Lock()
		wiping := n.wiping
		if !wiping {
			n.leaving++
		}
		n.mu.Unlock()
		if wiping {
			n.logf("nemesis: member %s does not leave: a wiped node is not a voter again yet", victim.ID)
			return
		}
		defer func() {
			n.mu.Lock()
			n.leaving--
			n.mu.Unlock()
		}()
		n.note("member leave+rejoin", "member %s leaves the zone", victim.ID)
		// A graceful stop may take its HTTP shutdown's 10s (writes in
		// flight wait out their -request-timeout when the zone is cut)
		// and then Raft's, whose replication may wait out its transport's
		// 10s I/O deadline to a peer cut off: 20s was seen to be too few.
		if !victim.Stop(stopWait) {
			n.logf("nemesis: %s did not stop on SIGTERM within %s; killed it", victim.ID, stopWait)
		}
		sleepCtx(ctx, hold)
		n.restart(victim, nil)
	case FaultFailpoint:
		n.failpoint(ctx, rng, victim, hold)
	case FaultWipe:
		n.wipe(ctx, victim, hold)
	case FaultRogue:
		n.mu.Lock()
		n.rogues++
		k := n.rogues
		n.mu.Unlock()
		n.note("rogue join", "a node that founded its own zone jepsen joins the domain (rogue%d)", k)
		switch err := z.RogueJoin(ctx, k); {
		case errors.Is(err, errRogueNotTried):
			n.logf("nemesis: rogue%d: %v", k, err)
		case err != nil && ctx.Err() != nil:
			// The run ended while the rogue node was at it (its requests
			// went out with the run's context): nothing was tested.
			n.logf("nemesis: rogue%d: the run ended before the fault did: %v", k, err)
		case err != nil:
			n.anomaly("rogue join: %v", err)
		}
	}
}

// wipe kills victim, removes its data dir and restarts it under the same
// node id and addresses: it must come back as a new Raft server, caught up
// before it votes. Only one wipe at a time, none while a member leaves,
// and only while every node is a voter: wiping a majority's data is a
// loss no system survives.
func (n *nemesis) wipe(ctx context.Context, victim *Node, hold time.Duration) {
	z := n.zone
	n.mu.Lock()
	busy := n.wiping || n.leaving > 0
	if !busy {
		n.wiping = true
	}
	n.mu.Unlock()
	if busy {
		return
	}
	defer func() {
		n.mu.Lock()
		n.wiping = false
		n.mu.Unlock()
	}()
	for _, nd := range z.Nodes {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := nd.Status(sctx, false)
		cancel()
		if err != nil || !st.Voter || st.Voters != len(z.Nodes) {
			return // not every node is a voter of the whole zone (yet)
		}
	}
	n.note("wipe and rejoin", "wipe %s: kill -9, remove its data dir, restart it", victim.ID)
	victim.Kill()
	if err := os.RemoveAll(victim.DataDir()); err != nil {
		n.logf("nemesis: wiping %s: %v", victim.ID, err)
	}
	sleepCtx(ctx, hold)
	n.restart(victim, nil)
	// Hold further wipes until the new server is a voter again (or the run
	// ends: healing waits for it then).
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := victim.Status(sctx, false)
		cancel()
		if err == nil && st.Voter && st.Voters == len(z.Nodes) {
			return
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// anomaly records something a fault found wrong.
func (n *nemesis) anomaly(format string, args ...any) {
	n.logf("nemesis: ANOMALY: "+format, args...)
	n.mu.Lock()
	n.anomalies = append(n.anomalies, fmt.Sprintf(format, args...))
	n.mu.Unlock()
}

// partition cuts the zone one of three ways.
func (n *nemesis) partition(ctx context.Context, rng *rand.Rand, hold time.Duration) {
	z := n.zone
	idx := make([]int, len(z.Nodes))
	for i := range idx {
		idx[i] = i
	}
	rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	half := len(idx) / 2 // the minority's size
	switch rng.IntN(3) {
	case 0:
		n.note("partition majority/minority", "partition: majority %v / minority %v", ids(z, idx[half:]), ids(z, idx[:half]))
		z.Net.Partition(idx[:half], idx[half:])
	case 1:
		l := z.Leader(context.Background())
		if l == nil {
			l = z.Nodes[idx[0]]
		}
		rest := slices.DeleteFunc(slices.Clone(idx), func(i int) bool { return i == l.Index })
		n.note("partition isolated leader", "partition: leader %s isolated from %v", l.ID, ids(z, rest))
		z.Net.Partition([]int{l.Index}, rest)
	default:
		// Two sides that cannot see each other and a bridge node that
		// sees both: with 3 nodes, 1 | bridge | 1; with 5, 2 | bridge | 2.
		bridge := idx[0]
		a, b := idx[1:1+half], idx[1+half:]
		n.note("partition bridge", "partition: %s bridges %v and %v", z.Nodes[bridge].ID, ids(z, a), ids(z, b))
		z.Net.Partition(append([]int{bridge}, a...), append([]int{bridge}, b...))
	}
	sleepCtx(ctx, hold)
	z.Net.Heal()
}

// failpoint arms a crash or a stall at a named failpoint on victim. A
// crash during restore is armed at a restart, through the environment,
// since a running node restores only when it is sent a snapshot.
func (n *nemesis) failpoint(ctx context.Context, rng *rand.Rand, victim *Node, hold time.Duration) {
	// The crash points only: a disk error (failpoint.ErrorNames) leaves
	// a node refusing writes until it is restarted, a fault of its own
	// (cmd/cairn's disk fault tests).
	names := slices.DeleteFunc(slices.Clone(failpoint.Names), func(s string) bool { return slices.Contains(failpoint.ErrorNames, s) })
	name := names[rng.IntN(len(names))]
	action := []string{"1*panic", "1*exit", "1*sleep(3s)"}[rng.IntN(3)]
	if name == failpoint.SnapshotRestore {
		action = "1*panic"
		n.note("failpoint "+name, "failpoint %s=%s at the restart of %s", name, action, victim.ID)
		victim.Kill()
		n.restart(victim, []string{failpoint.EnvVar + "=" + name + "=" + action})
	} else {
		n.note("failpoint "+name+" "+action, "failpoint %s=%s on %s", name, action, victim.ID)
		if !victim.Running() {
			n.restart(victim, nil)
			return
		}
		victim.ExpectExit(action != "1*sleep(3s)")
		if err := victim.ArmFailpoint(context.Background(), name, action); err != nil {
			n.logf("nemesis: %v", err)
		}
	}
	exited := victim.Exited()
	if exited == nil {
		n.restart(victim, nil)
		return
	}
	select {
	case <-exited:
		if action != "1*sleep(3s)" { // else a concurrent fault stopped it
			n.note("failpoint "+name+" fired", "failpoint %s fired on %s", name, victim.ID)
		}
		sleepCtx(ctx, hold/2)
		n.restart(victim, nil)
		return
	case <-time.After(hold):
	case <-ctx.Done():
	}
	// It did not fire in time (no snapshot was taken or sent, say):
	// disarm it; from here on an exit is a crash again.
	if err := victim.ArmFailpoint(context.Background(), name, "off"); err != nil && victim.Running() {
		n.logf("nemesis: %v", err)
	}
	victim.ExpectExit(false)
	if !victim.Running() {
		n.restart(victim, nil)
	}
}

func (n *nemesis) restart(nd *Node, env []string) {
	if nd.Running() {
		return
	}
	if err := nd.Start(env, len(env) > 0); err != nil {
		n.logf("nemesis: restarting %s: %v", nd.ID, err)
	}
}

// note logs a fault and counts it under kind.
func (n *nemesis) note(kind, format string, args ...any) {
	n.logf("nemesis: "+format, args...)
	n.mu.Lock()
	n.injected[kind]++
	n.mu.Unlock()
}

func ids(z *Zone, idx []int) []string {
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = z.Nodes[k].ID
	}
	return out
}

func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// sleepCtx sleeps for d or until ctx ends; false if ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
