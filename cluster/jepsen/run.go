package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Config is one run of the harness.
type Config struct {
	// Binary is a cairn binary built with -tags failpoints.
	Binary string
	// Nodes is the zone's size: 3 or 5.
	Nodes int
	// Duration is how long the clients and the nemesis run.
	Duration time.Duration
	// Seed draws everything random: ports, faults, victims, operations.
	Seed uint64
	// Clients is the number of concurrent clients (at least 5).
	Clients int
	// Keys is the number of registers the clients share at a time; every
	// few seconds they move on to fresh ones.
	Keys int
	// Faults are the faults the nemesis draws from (default AllFaults).
	Faults []string
	// CheckTimeout bounds porcupine's search; a search that does not end
	// in time is reported as an anomaly (not proven linearizable).
	CheckTimeout time.Duration
	// RecoverWithin bounds the time from healing to every node accepting
	// writes again.
	RecoverWithin time.Duration
	// TLS runs the zone with TLS between nodes and to the clients
	// (certificates of a CA of the run's own, mutual on Raft) and an
	// encrypted gossip pool.
	TLS bool
	// Logf receives progress lines.
	Logf func(format string, args ...any)
	// beforeChecks, if set, runs after healing and before the checks: the
	// tests use it to break a zone behind the clients' backs and see that
	// the checks notice.
	beforeChecks func(ctx context.Context, z *Zone, h *History)
}

func (c *Config) fill() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Clients == 0 {
		c.Clients = 5
	}
	if c.Keys == 0 {
		c.Keys = 8
	}
	if len(c.Faults) == 0 {
		c.Faults = AllFaults
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 2 * time.Minute
	}
	if c.RecoverWithin == 0 {
		c.RecoverWithin = time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Report is what a run found.
type Report struct {
	Seed     uint64
	Nodes    int
	Duration time.Duration
	// Ops is the number of register operations checked; Counts tallies
	// operations by kind and outcome, Faults the faults injected.
	Ops    int
	Counts map[string]int
	Faults map[string]int
	// UnknownWhy tallies why writes ended of unknown outcome.
	UnknownWhy map[string]int
	// Linearizable is porcupine's verdict on the register history.
	Linearizable porcupine.CheckResult
	// SetAcked is the number of acknowledged set additions, all of which
	// must be present at the end.
	SetAcked int
	// Sessions is the number of session checks done (a write, plain and
	// ?consistent reads through one node), none of which may go back.
	Sessions int
	// Indeterminate is the number of register ops of unknown outcome (a
	// timeout, a connection lost after sending, a 5xx), part of Ops;
	// SetIndeterminate that of set additions.
	Indeterminate, SetIndeterminate int
	// LeaderPauses is the number of times the leader was SIGSTOPped past
	// its lease; ReadsInLeaderPause the consistent reads in the checked
	// history that were answered while one of those pauses lasted (their
	// call before its end, their return after its start).
	LeaderPauses, ReadsInLeaderPause int
	// RecoveredIn is how long after healing every node accepted a write.
	RecoveredIn time.Duration
	// Anomalies lists every check that failed.
	Anomalies []string
	// Dir holds the nodes' data and logs and, after a failed check,
	// history.json and history.html; it is removed after a clean run.
	Dir string
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Anomalies) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, %d nodes, %s: %d register ops (linearizable: %s), %d acknowledged set additions, recovered in %s\n",
		r.Seed, r.Nodes, r.Duration, r.Ops, r.Linearizable, r.SetAcked, r.RecoveredIn.Round(time.Millisecond))
	fmt.Fprintf(&b, "  operations: %s\n", tally(r.Counts))
	fmt.Fprintf(&b, "  unknown outcomes: %s\n", tally(r.UnknownWhy))
	fmt.Fprintf(&b, "  faults: %s\n", tally(r.Faults))
	fmt.Fprintf(&b, "  consistent reads answered while the leader was paused past its %s lease: %d (over %d leader pauses)\n",
		LeaderLease, r.ReadsInLeaderPause, r.LeaderPauses)
	for _, a := range r.Anomalies {
		fmt.Fprintf(&b, "  ANOMALY: %s\n", a)
	}
	if !r.OK() {
		fmt.Fprintf(&b, "  history and logs kept in %s (rerun with SEED=%d)\n", r.Dir, r.Seed)
	}
	return b.String()
}

// Summary is one line of JSON with what a campaign's table needs:
// `make jepsen-campaign` collects these (CAIRN_JEPSEN_SUMMARY names the
// file each run appends its line to).
type Summary struct {
	Seed               uint64   `json:"seed"`
	Nodes              int      `json:"nodes"`
	Duration           string   `json:"duration"`
	TLS                bool     `json:"tls"`
	Ops                int      `json:"ops"`
	Indeterminate      int      `json:"indeterminate"`
	SetAcked           int      `json:"set_acked"`
	Sessions           int      `json:"sessions"`
	SetIndeterminate   int      `json:"set_indeterminate"`
	Linearizable       string   `json:"linearizable"`
	Faults             int      `json:"faults"`
	LeaderPauses       int      `json:"leader_pauses"`
	ReadsInLeaderPause int      `json:"reads_in_leader_pause"`
	RecoveredIn        string   `json:"recovered_in"`
	Anomalies          []string `json:"anomalies"`
	Result             string   `json:"result"` // PASS or FAIL
	Dir                string   `json:"dir,omitempty"`
}

// Summary returns the report's summary; Dir only when it is kept.
func (r *Report) Summary(tls bool) Summary {
	s := Summary{Seed: r.Seed, Nodes: r.Nodes, Duration: r.Duration.String(), TLS: tls, Ops: r.Ops,
		Indeterminate: r.Indeterminate, SetAcked: r.SetAcked, Sessions: r.Sessions, SetIndeterminate: r.SetIndeterminate,
		Linearizable: string(r.Linearizable), LeaderPauses: r.LeaderPauses, ReadsInLeaderPause: r.ReadsInLeaderPause,
		RecoveredIn: r.RecoveredIn.Round(time.Millisecond).String(), Anomalies: append([]string{}, r.Anomalies...), Result: "PASS"}
	for _, n := range r.Faults {
		s.Faults += n
	}
	if !r.OK() {
		s.Result, s.Dir = "FAIL", r.Dir
	}
	return s
}

func tally(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Run starts a zone, drives the clients and the nemesis for cfg.Duration,
// heals, and checks. An error means the run could not be carried out
// (the zone did not start); what the checks found is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.fill()
	if cfg.Nodes != 3 && cfg.Nodes != 5 {
		return nil, fmt.Errorf("a zone of %d nodes: use 3 or 5", cfg.Nodes)
	}
	if cfg.Clients < 5 {
		return nil, fmt.Errorf("%d clients: use at least 5", cfg.Clients)
	}
	for _, f := range cfg.Faults {
		if !slices.Contains(AllFaults, f) {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", f, strings.Join(AllFaults, ", "))
		}
	}
	rep := &Report{Seed: cfg.Seed, Nodes: cfg.Nodes, Duration: cfg.Duration, Faults: map[string]int{}}
	dir, err := os.MkdirTemp("", fmt.Sprintf("cairn-jepsen-%d-", cfg.Seed))
	if err != nil {
		return nil, err
	}
	rep.Dir = dir
	// One stream of randomness per user, each from the seed: the ports
	// picked do not shift the faults drawn, nor one client another's ops.
	stream := func(k uint64) *rand.Rand { return rand.New(rand.NewPCG(cfg.Seed, k)) }
	cfg.Logf("jepsen: seed %d, %d nodes, %d clients, %d keys, %s, faults %v, in %s", cfg.Seed, cfg.Nodes, cfg.Clients, cfg.Keys, cfg.Duration, cfg.Faults, dir)
	// Ports come from the seed and this process's id: two runs of one seed
	// at once (two developers, a test beside a campaign) pick different
	// ports; the faults and operations drawn stay the seed's.
	zone, err := StartZone(ctx, cfg.Binary, dir, cfg.Nodes, rand.New(rand.NewPCG(cfg.Seed, 1<<32|uint64(os.Getpid()))), cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("start the zone (logs in %s): %w", dir, err)
	}
	defer zone.Close()

	h := newHistory()
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		c := &client{id: i, proc: h.newProcess(), h: h, zone: zone, rng: stream(100 + uint64(i)), keys: cfg.Keys,
			known: map[string]cached{}, http: zone.Client(4 * time.Second)}
		wg.Add(1)
		go func() { defer wg.Done(); c.run(runCtx) }()
	}
	nem := &nemesis{zone: zone, rng: stream(2), faults: cfg.Faults, logf: cfg.Logf, injected: rep.Faults}
	wg.Add(1)
	go func() { defer wg.Done(); nem.run(runCtx) }()
	wg.Wait()

	rep.Anomalies = append(rep.Anomalies, nem.anomalies...)
	rep.LeaderPauses = len(nem.leaderPauses)
	for _, op := range h.Operations() {
		in, out := op.Input.(RegisterInput), op.Output.(RegisterOutput)
		if in.Kind != OpRead || out.Outcome != OK {
			continue
		}
		for _, p := range nem.leaderPauses {
			if op.Call < p[1].Sub(h.start).Nanoseconds() && op.Return > p[0].Sub(h.start).Nanoseconds() {
				rep.ReadsInLeaderPause++
				break
			}
		}
	}
	cfg.Logf("jepsen: healing")
	healed := time.Now()
	zone.Net.Heal()
	for _, nd := range zone.Nodes {
		nd.Resume()
		if !nd.Running() {
			if err := nd.Start(nil, false); err != nil {
				rep.Anomalies = append(rep.Anomalies, fmt.Sprintf("restarting %s after the run: %v", nd.ID, err))
			}
		}
	}
	if cfg.beforeChecks != nil {
		cfg.beforeChecks(ctx, zone, h)
	}
	check(ctx, cfg, zone, h, healed, rep)
	if rep.OK() {
		zone.Close()
		os.RemoveAll(dir)
	}
	return rep, nil
}

// check runs every check after healing and records what fails.
func check(ctx context.Context, cfg Config, zone *Zone, h *History, healed time.Time, rep *Report) {
	fail := func(format string, args ...any) { rep.Anomalies = append(rep.Anomalies, fmt.Sprintf(format, args...)) }

	// The zone accepts writes again, through every node, in bounded time.
	if err := awaitWritable(ctx, zone, cfg.RecoverWithin); err != nil {
		fail("not writable within %s of healing: %v", cfg.RecoverWithin, err)
	}
	rep.RecoveredIn = time.Since(healed)

	// Every node converges to the same store.
	if err := awaitConverged(ctx, zone, time.Minute); err != nil {
		fail("stores did not converge: %v", err)
	}
	// One last consistent read of every register, into the history: an
	// acknowledged write lost in the faults shows there even on a key the
	// clients had moved on from.
	final := &client{proc: h.newProcess(), h: h, zone: zone, rng: rand.New(rand.NewPCG(cfg.Seed, 3)),
		known: map[string]cached{}, http: zone.Client(10 * time.Second)}
	for _, key := range h.keys() {
		if !final.read(ctx, final.node(), key) {
			fail("the final consistent read of %s got no answer", key)
		}
	}

	// No node exited on its own (a crash, or a crash loop after restart).
	for _, nd := range zone.Nodes {
		if n, lines := nd.Crashes(); n > 0 {
			fail("%s exited %d times without being killed: %s", nd.ID, n, strings.Join(lines, "; "))
		}
		if !nd.Running() {
			fail("%s is not running at the end", nd.ID)
		}
	}

	// Every acknowledged set addition is present; nothing never attempted is.
	h.mu.Lock()
	adds := maps.Clone(h.adds)
	rep.Counts = maps.Clone(h.counts)
	rep.UnknownWhy = maps.Clone(h.unknown)
	rep.Sessions = h.counts["session"]
	odd := slices.Clone(h.odd)
	sessionBreaks := slices.Clone(h.sessionBreaks)
	h.mu.Unlock()
	for _, o := range adds {
		if o == OK {
			rep.SetAcked++
		}
	}
	if present, err := listSet(ctx, zone); err != nil {
		fail("listing the set: %v", err)
	} else {
		var lost, unknown []string
		for id, o := range adds {
			if o == OK && !present[id] {
				lost = append(lost, id)
			}
		}
		for id := range present {
			if _, ok := adds[id]; !ok {
				unknown = append(unknown, id)
			}
		}
		if len(lost) > 0 {
			sort.Strings(lost)
			fail("%d acknowledged set additions lost: %v", len(lost), first(lost, 20))
		}
		if len(unknown) > 0 {
			fail("%d set members no client added: %v", len(unknown), first(unknown, 20))
		}
	}
	for _, o := range odd {
		fail("unexpected reply: %s", o)
	}
	for _, b := range sessionBreaks {
		fail("a node went back on what it had shown a client: %s", b)
	}

	// The register history is linearizable.
	ops := h.Operations()
	rep.Ops = len(ops)
	for _, op := range ops {
		if op.Output.(RegisterOutput).Outcome == Unknown {
			rep.Indeterminate++
		}
	}
	for _, o := range adds {
		if o == Unknown {
			rep.SetIndeterminate++
		}
	}
	model := Model()
	res, info := porcupine.CheckOperationsVerbose(model, ops, cfg.CheckTimeout)
	rep.Linearizable = res
	if res != porcupine.Ok {
		fail("register history: porcupine says %s", res)
	}
	if !rep.OK() {
		writeHistory(rep, model, ops, info, adds, fail)
	}
}

// awaitWritable waits until a write through every node succeeds.
func awaitWritable(ctx context.Context, z *Zone, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, nd := range z.Nodes {
		for {
			_, code, err := nd.do(ctx, http.MethodPut, "/cairn/v1/resources/jepsen-probe/"+nd.ID, strings.NewReader(`{}`))
			if err == nil && code < 300 {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("writes through %s still fail (%d %v)", nd.ID, code, err)
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	return nil
}

// awaitConverged waits until every node's store has the same index and
// digest.
func awaitConverged(ctx context.Context, z *Zone, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last []string
	for {
		digests := map[string]bool{}
		last = last[:0]
		ok := true
		for _, nd := range z.Nodes {
			st, err := nd.Status(ctx, true)
			if err != nil {
				ok = false
				last = append(last, fmt.Sprintf("%s: %v", nd.ID, err))
				continue
			}
			digests[fmt.Sprintf("%d/%s", st.StoreDigestIndex, st.StoreDigest)] = true
			last = append(last, fmt.Sprintf("%s at %d: %.12s", nd.ID, st.StoreDigestIndex, st.StoreDigest))
		}
		if ok && len(digests) == 1 {
			return nil
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return fmt.Errorf("within %s: %s", within, strings.Join(last, "; "))
		}
	}
}

// listSet reads every member of the set through each node (stores have
// converged, so each must show the same) and returns the first node's.
func listSet(ctx context.Context, z *Zone) (map[string]bool, error) {
	var want map[string]bool
	for _, nd := range z.Nodes {
		got := map[string]bool{}
		next := ""
		for {
			path := "/cairn/v1/resources/" + setKind + "?limit=1000"
			if next != "" {
				path += "&continue=" + next
			}
			b, code, err := nd.get(ctx, path)
			if err != nil || code != http.StatusOK {
				return nil, fmt.Errorf("%s: %d %v %s", nd.ID, code, err, b)
			}
			var page struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				Next string `json:"next"`
			}
			if err := json.Unmarshal(b, &page); err != nil {
				return nil, err
			}
			for _, it := range page.Items {
				got[it.ID] = true
			}
			if next = page.Next; next == "" {
				break
			}
		}
		if want == nil {
			want = got
		} else if len(got) != len(want) {
			return nil, fmt.Errorf("%s lists %d set members, %s %d", nd.ID, len(got), z.Nodes[0].ID, len(want))
		}
	}
	return want, nil
}

// writeHistory saves the history and porcupine's visualization in rep.Dir.
func writeHistory(rep *Report, model porcupine.Model, ops []porcupine.Operation, info porcupine.LinearizationInfo, adds map[string]Outcome, fail func(string, ...any)) {
	type op struct {
		Client int            `json:"client"`
		Call   int64          `json:"call_ns"`
		Return int64          `json:"return_ns"`
		Input  RegisterInput  `json:"input"`
		Output RegisterOutput `json:"output"`
	}
	doc := struct {
		Seed      uint64             `json:"seed"`
		Registers []op               `json:"registers"`
		SetAdds   map[string]Outcome `json:"set_adds"`
		Anomalies []string           `json:"anomalies"`
	}{Seed: rep.Seed, SetAdds: adds, Anomalies: rep.Anomalies}
	for _, o := range ops {
		doc.Registers = append(doc.Registers, op{o.ClientId, o.Call, o.Return, o.Input.(RegisterInput), o.Output.(RegisterOutput)})
	}
	b, _ := json.MarshalIndent(doc, "", " ")
	if err := os.WriteFile(filepath.Join(rep.Dir, "history.json"), b, 0o644); err != nil {
		fail("writing the history: %v", err)
	}
	if err := porcupine.VisualizePath(model, info, filepath.Join(rep.Dir, "history.html")); err != nil {
		fail("writing the visualization: %v", err)
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
