package node

import (
	"errors"
	"sort"
	"time"

	"cairn/fsm"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics of one node: what it reads from Raft and the store at
// scrape time (state, term, indexes, last contact, peers, snapshot,
// resources by kind), and what the node itself moves (apply latency,
// leader changes). Raft's own measurements arrive through GoMetricsBridge.

// maxKindLabels bounds cairn_store_resources: kinds past the first this
// many (in byte order) are summed under otherKinds. Clients of the native
// API can make up kinds, so their number is theirs to choose.
const maxKindLabels = 100

// otherKinds labels the kinds past maxKindLabels; it is not a valid kind
// name, so it never clashes with one.
const otherKinds = "_other"

// raftStates are the values of cairn_raft_state's state label.
var raftStates = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}

// applyResults are the values of cairn_node_apply_duration_seconds'
// result label.
var applyResults = []string{"ok", "conflict", "invalid", "not_leader", "overloaded", "timeout", "shutdown", "disk_fault", "credentials_changed", "error"}

// nodeMetrics holds the metrics the node moves itself.
type nodeMetrics struct {
	applyDuration *prometheus.HistogramVec
	leaderChanges prometheus.Counter
	// forwarded counts the commands this node sent its leader (commands.go).
	forwarded *prometheus.CounterVec
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		applyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_node_apply_duration_seconds",
			Help:    "Time from proposing a command to Raft on this node to its result from the FSM, by result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_leader_changes_total",
			Help: "Times this node observed a zone leader being elected (a new leader, or the same one again after an interregnum).",
		}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_node_forwarded_commands_total",
			Help: "Commands this node, as a follower, sent its zone leader to propose, by the leader's result (not_leader includes a leader lost with the outcome unknown).",
		}, []string{"result"}),
	}
	for _, r := range applyResults {
		m.applyDuration.WithLabelValues(r)
		m.forwarded.WithLabelValues(r)
	}
	return m
}

// observeApply records one Apply.
func (m *nodeMetrics) observeApply(d time.Duration, err error) {
	m.applyDuration.WithLabelValues(applyResult(err)).Observe(d.Seconds())
}

func applyResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fsm.ErrConflict):
		return "conflict"
	case errors.Is(err, fsm.ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrNotLeader):
		return "not_leader"
	case errors.Is(err, ErrOverloaded):
		return "overloaded"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrShutdown):
		return "shutdown"
	case errors.Is(err, ErrDiskFault):
		return "disk_fault"
	case errors.Is(err, ErrCredentialsChanged):
		return "credentials_changed"
	}
	return "error"
}

// leaderObserved is the node's own leader-change observer: raft reports
// each change of the leader it knows, "" while it knows none, so counting
// the non-empty ones counts elections this node saw won.
func (m *nodeMetrics) leaderObserved(leaderID string) {
	if leaderID != "" {
		m.leaderChanges.Inc()
	}
}

// Collector returns the node's metrics as one prometheus.Collector, for
// the caller's registry: the node registers nothing itself.
func (n *Node) Collector() prometheus.Collector { return &nodeCollector{n: n} }

var (
	descState = prometheus.NewDesc("cairn_raft_state",
		"This node's Raft state: 1 for the current one.", []string{"state"}, nil)
	descIsLeader = prometheus.NewDesc("cairn_raft_is_leader",
		"1 while this node leads its zone, else 0.", nil, nil)
	descTerm = prometheus.NewDesc("cairn_raft_term",
		"This node's current Raft term.", nil, nil)
	descLastIndex = prometheus.NewDesc("cairn_raft_last_index",
		"Index of the last entry in this node's Raft log.", nil, nil)
	descCommitIndex = prometheus.NewDesc("cairn_raft_commit_index",
		"Highest log index this node knows to be committed.", nil, nil)
	descAppliedIndex = prometheus.NewDesc("cairn_raft_applied_index",
		"Highest log index Raft has handed to this node's FSM.", nil, nil)
	descStoreIndex = prometheus.NewDesc("cairn_store_applied_index",
		"Index of the last log entry this node's store has applied; reads here see state as of it.", nil, nil)
	descLastContact = prometheus.NewDesc("cairn_raft_last_contact_seconds",
		"Time since this node last heard from the zone leader (0 on the leader; absent before the first contact).", nil, nil)
	descPeers = prometheus.NewDesc("cairn_raft_peers",
		"Servers in this node's latest Raft configuration, by suffrage.", []string{"suffrage"}, nil)
	descSnapshotIndex = prometheus.NewDesc("cairn_raft_last_snapshot_index",
		"Last log index covered by this node's newest Raft snapshot (0 before the first).", nil, nil)
	descSnapshotSize = prometheus.NewDesc("cairn_raft_last_snapshot_size_bytes",
		"Size of this node's newest Raft snapshot (0 before the first).", nil, nil)
	descRestoreFailures = prometheus.NewDesc("cairn_fsm_snapshot_restore_failures_total",
		"Snapshots this node failed to install (on restart or sent by the leader); the node log names the resource.", nil, nil)
	descDiskFault = prometheus.NewDesc("cairn_node_disk_fault",
		"1 once a write of this node's Raft state (log, term, vote, snapshot) failed on its disk: it takes no writes and is not ready until restarted; else 0.", nil, nil)
	descResources = prometheus.NewDesc("cairn_store_resources",
		"Resources in this node's store, by kind (kinds past the first 100 are summed under \"_other\").", []string{"kind"}, nil)
)

// nodeCollector reads the node's state at scrape time.
type nodeCollector struct{ n *Node }

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descIsLeader, descTerm, descLastIndex, descCommitIndex,
		descAppliedIndex, descStoreIndex, descLastContact, descPeers, descSnapshotIndex, descSnapshotSize, descRestoreFailures, descDiskFault, descResources} {
		ch <- d
	}
	c.n.metrics.applyDuration.Describe(ch)
	c.n.metrics.leaderChanges.Describe(ch)
	c.n.metrics.forwarded.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	state := n.raft.State()
	for _, s := range raftStates {
		gauge(descState, b2f(s == state), stateLabel(s))
	}
	gauge(descIsLeader, b2f(state == raft.Leader))
	gauge(descTerm, float64(n.raft.CurrentTerm()))
	gauge(descLastIndex, float64(n.raft.LastIndex()))
	gauge(descCommitIndex, float64(n.raft.CommitIndex()))
	gauge(descAppliedIndex, float64(n.raft.AppliedIndex()))
	if lc := n.LastContact(); lc >= 0 {
		gauge(descLastContact, lc.Seconds())
	}
	voters, nonvoters := 0, 0
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				voters++
			} else {
				nonvoters++
			}
		}
	}
	gauge(descPeers, float64(voters), "voter")
	gauge(descPeers, float64(nonvoters), "nonvoter")
	var snapIndex, snapSize float64
	if metas, err := n.snaps.List(); err == nil && len(metas) > 0 {
		snapIndex, snapSize = float64(metas[0].Index), float64(metas[0].Size) // newest first
	}
	gauge(descSnapshotIndex, snapIndex)
	gauge(descSnapshotSize, snapSize)
	ch <- prometheus.MustNewConstMetric(descRestoreFailures, prometheus.CounterValue, float64(n.store.RestoreFailures()))

	gauge(descDiskFault, b2f(n.DiskFault() != nil))
	gauge(descStoreIndex, float64(n.store.Index()))
	for kind, count := range resourcesByKind(n.store.KindCounts()) {
		gauge(descResources, float64(count), kind)
	}

	n.metrics.applyDuration.Collect(ch)
	n.metrics.leaderChanges.Collect(ch)
	n.metrics.forwarded.Collect(ch)
}

// resourcesByKind labels the store's per-kind counts (kept by the store:
// a scrape no longer counts every resource), at most maxKindLabels kinds
// by name and the rest under otherKinds.
func resourcesByKind(counts map[string]int) map[string]int {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	out := make(map[string]int, min(len(kinds), maxKindLabels+1))
	for i, k := range kinds {
		label := k
		if i >= maxKindLabels {
			label = otherKinds
		}
		out[label] += counts[k]
	}
	return out
}

// stateLabel is the lower-case name of a Raft state.
func stateLabel(s raft.RaftState) string {
	switch s {
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	case raft.Leader:
		return "leader"
	}
	return "shutdown"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
