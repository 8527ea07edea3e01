package node

import (
	"sort"
	"strings"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// hashicorp/raft and raft-boltdb report their own measurements (commit
// time, FSM apply, snapshot and restore durations, replication, log store
// writes) through go-metrics' process-wide sink, never through Cairn.
// GoMetricsBridge is that sink: it turns the keys it knows into Prometheus
// metrics on Cairn's registry and drops the rest.
//
// The go-metrics Prometheus sink would export every key as it comes, with
// camelCase names, millisecond values, summaries and the peer id inside
// the name of some per-follower keys; a table instead gives each metric a
// lint-clean name, base units (seconds), a histogram and bounded labels.
//
// The libraries import github.com/hashicorp/go-metrics/compat, which routes
// to armon/go-metrics unless built with -tags hashicorpmetrics; the bridge
// is written against compat too, so it installs where the libraries emit
// under either tag.

// goMetricKind is how a go-metrics key is reported.
type goMetricKind int

const (
	goCounter goMetricKind = iota // IncrCounter: a Prometheus counter
	goGauge                       // SetGauge: a gauge
	goSample                      // AddSample, MeasureSince: a histogram
)

// Buckets of the bridged histograms.
var (
	// durationBuckets span raft's fast paths (a heartbeat, an in-memory
	// apply: tens of microseconds) to fsyncs and snapshots (seconds).
	durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	sizeBuckets     = prometheus.ExponentialBuckets(64, 4, 10) // 64 B to 16 MiB
	countBuckets    = prometheus.ExponentialBuckets(1, 2, 11)  // 1 to 1024
	ratioBuckets    = prometheus.LinearBuckets(0.1, 0.1, 10)   // 0.1 to 1
)

// msToSeconds scales go-metrics timers (milliseconds, the default
// TimerGranularity) to seconds.
const msToSeconds = 1e-3

// goMetric maps one go-metrics key to a Prometheus metric.
type goMetric struct {
	key     string // go-metrics key, parts joined with "."
	name    string
	help    string
	kind    goMetricKind
	scale   float64 // values are multiplied by this; 0 means 1
	buckets []float64
	// labels maps the go-metrics labels worth keeping to Prometheus label
	// names; every other label (peer ids among them) is dropped.
	labels map[string]string
	// fixed is a label set by the key itself, so that several keys can
	// feed one metric (raft.state.leader, raft.state.follower, ...).
	fixed [2]string
}

func dur(key, name, help string) goMetric {
	return goMetric{key: key, name: name, help: help, kind: goSample, scale: msToSeconds, buckets: durationBuckets}
}

// raftGoMetrics are the go-metrics keys of hashicorp/raft v1.7 and
// raft-boltdb/v2 that Cairn exports.
var raftGoMetrics = []goMetric{
	// Commits and the FSM.
	dur("raft.commitTime", "raft_commit_time_seconds", "Time from the leader dispatching a log entry to its commit (leader only)."),
	dur("raft.fsm.apply", "raft_fsm_apply_duration_seconds", "Time the FSM took to apply one committed command."),
	dur("raft.fsm.enqueue", "raft_fsm_enqueue_duration_seconds", "Time committed entries waited to be handed to the FSM goroutine."),
	dur("raft.fsm.store_config", "raft_fsm_store_config_duration_seconds", "Time the FSM took to record a committed configuration change."),
	dur("raft.fsm.snapshot", "raft_fsm_snapshot_duration_seconds", "Time the FSM took to capture a snapshot view."),
	dur("raft.fsm.restore", "raft_fsm_restore_duration_seconds", "Time the FSM took to restore a snapshot."),
	{key: "raft.fsm.lastRestoreDuration", name: "raft_fsm_last_restore_duration_seconds", kind: goGauge, scale: msToSeconds,
		help: "Duration of the last snapshot restore into the FSM."},
	{key: "raft.apply", name: "raft_apply_total", kind: goCounter, help: "Commands proposed to Raft through this node."},
	{key: "raft.barrier", name: "raft_barrier_total", kind: goCounter, help: "Raft barriers issued on this node."},
	{key: "raft.verify_leader", name: "raft_verify_leader_total", kind: goCounter, help: "Leadership confirmations with a quorum (consistent reads) on this node."},
	{key: "raft.commitNumLogs", name: "raft_commit_logs", kind: goGauge, help: "Log entries in the last batch the leader committed."},
	{key: "raft.leader.dispatchNumLogs", name: "raft_leader_dispatch_logs", kind: goGauge, help: "Log entries in the last batch the leader wrote to its log."},
	dur("raft.leader.dispatchLog", "raft_leader_dispatch_log_duration_seconds", "Time the leader took to write a batch of entries to its own log."),
	dur("raft.leader.lastContact", "raft_leader_last_contact_seconds", "Time since the leader last heard from a follower, sampled at each lease check."),
	{key: "raft.peers", name: "raft_peers", kind: goGauge, help: "Servers in the latest Raft configuration, as raft last reported it."},

	// Elections and state changes.
	{key: "raft.state.follower", name: "raft_state_transitions_total", kind: goCounter, fixed: [2]string{"state", "follower"},
		help: "Times this node entered a Raft state."},
	{key: "raft.state.candidate", name: "raft_state_transitions_total", kind: goCounter, fixed: [2]string{"state", "candidate"},
		help: "Times this node entered a Raft state."},
	{key: "raft.state.leader", name: "raft_state_transitions_total", kind: goCounter, fixed: [2]string{"state", "leader"},
		help: "Times this node entered a Raft state."},
	{key: "raft.transition.heartbeat_timeout", name: "raft_heartbeat_timeouts_total", kind: goCounter,
		help: "Times this follower gave up on the leader's heartbeats and started an election."},
	{key: "raft.transition.leader_lease_timeout", name: "raft_leader_lease_timeouts_total", kind: goCounter,
		help: "Times this leader stepped down for lack of quorum contact within its lease."},
	dur("raft.candidate.electSelf", "raft_candidate_elect_self_duration_seconds", "Time a candidate took to request votes from its peers."),

	// RPCs this node served, and replication to followers (peers summed).
	dur("raft.rpc.appendEntries", "raft_rpc_append_entries_duration_seconds", "Time this follower took to process an AppendEntries RPC."),
	dur("raft.rpc.appendEntries.storeLogs", "raft_rpc_append_entries_store_logs_duration_seconds", "Time this follower took to write replicated entries to its log."),
	dur("raft.rpc.processHeartbeat", "raft_rpc_process_heartbeat_duration_seconds", "Time this follower took to process a heartbeat."),
	dur("raft.rpc.requestVote", "raft_rpc_request_vote_duration_seconds", "Time this node took to process a RequestVote RPC."),
	dur("raft.rpc.installSnapshot", "raft_rpc_install_snapshot_duration_seconds", "Time this follower took to install a snapshot from the leader."),
	dur("raft.replication.appendEntries.rpc", "raft_replication_append_entries_duration_seconds", "Round trip of an AppendEntries RPC from the leader to a follower."),
	{key: "raft.replication.appendEntries.logs", name: "raft_replication_append_entries_logs_total", kind: goCounter,
		help: "Log entries the leader replicated to followers."},
	dur("raft.replication.heartbeat", "raft_replication_heartbeat_duration_seconds", "Round trip of a heartbeat from the leader to a follower."),
	dur("raft.replication.installSnapshot", "raft_replication_install_snapshot_duration_seconds", "Time the leader took to send a snapshot to a follower."),
	{key: "raft.net.rpcDecode", name: "raft_net_rpc_decode_duration_seconds", kind: goSample, scale: msToSeconds, buckets: durationBuckets,
		labels: map[string]string{"rpcType": "rpc_type"}, help: "Time the Raft transport took to decode an incoming RPC."},
	{key: "raft.net.rpcEnqueue", name: "raft_net_rpc_enqueue_duration_seconds", kind: goSample, scale: msToSeconds, buckets: durationBuckets,
		labels: map[string]string{"rpcType": "rpc_type"}, help: "Time an incoming RPC waited for the Raft goroutine."},
	{key: "raft.net.rpcRespond", name: "raft_net_rpc_respond_duration_seconds", kind: goSample, scale: msToSeconds, buckets: durationBuckets,
		labels: map[string]string{"rpcType": "rpc_type"}, help: "Time from handing an incoming RPC to the Raft goroutine to sending its response."},

	// Snapshots and log compaction.
	dur("raft.snapshot.takeSnapshot", "raft_snapshot_take_duration_seconds", "Time a whole snapshot took: capture, persist and compaction."),
	dur("raft.snapshot.create", "raft_snapshot_create_duration_seconds", "Time creating a snapshot in the snapshot store took."),
	dur("raft.snapshot.persist", "raft_snapshot_persist_duration_seconds", "Time writing a snapshot out to the snapshot store took."),
	dur("raft.compactLogs", "raft_compact_logs_duration_seconds", "Time removing log entries covered by a snapshot took."),

	// Saturation of raft's two goroutines.
	{key: "raft.thread.main.saturation", name: "raft_thread_saturation_ratio", kind: goSample, buckets: ratioBuckets, fixed: [2]string{"thread", "main"},
		help: "Share of time a raft goroutine spent working rather than waiting, sampled each second."},
	{key: "raft.thread.fsm.saturation", name: "raft_thread_saturation_ratio", kind: goSample, buckets: ratioBuckets, fixed: [2]string{"thread", "fsm"},
		help: "Share of time a raft goroutine spent working rather than waiting, sampled each second."},

	// The log store with -raft-log-store wal (raft-wal).
	{key: "raft.wal.log_appends", name: "raft_wal_log_appends_total", kind: goCounter,
		help: "Appends (each one fsync) to the raft-wal log."},
	{key: "raft.wal.log_entries_written", name: "raft_wal_log_entries_written_total", kind: goCounter,
		help: "Log entries written to the raft-wal log."},
	{key: "raft.wal.log_entry_bytes_written", name: "raft_wal_log_entry_bytes_written_total", kind: goCounter,
		help: "Bytes of log entries written to the raft-wal log."},
	{key: "raft.wal.segment_rotations", name: "raft_wal_segment_rotations_total", kind: goCounter,
		help: "Times the raft-wal log started a new segment file."},

	// The log store with -raft-log-store bolt, and the stable store
	// (raft-boltdb/v2).
	dur("raft.boltdb.storeLogs", "raft_boltdb_store_logs_duration_seconds", "Time a write of log entries to bbolt took, fsync included."),
	dur("raft.boltdb.getLog", "raft_boltdb_get_log_duration_seconds", "Time reading one log entry from bbolt took."),
	{key: "raft.boltdb.logBatchSize", name: "raft_boltdb_log_batch_size_bytes", kind: goSample, buckets: sizeBuckets,
		help: "Size of a batch of log entries written to bbolt."},
	{key: "raft.boltdb.logSize", name: "raft_boltdb_log_entry_size_bytes", kind: goSample, buckets: sizeBuckets,
		help: "Size of a log entry written to bbolt."},
	{key: "raft.boltdb.logsPerBatch", name: "raft_boltdb_logs_per_batch", kind: goSample, buckets: countBuckets,
		help: "Log entries per batch written to bbolt."},
}

// GoMetricsBridge receives go-metrics measurements and serves them as
// Prometheus metrics. Register it on a registry, then Install it.
type GoMetricsBridge struct {
	byKey   map[string]bridgedKey
	vecs    map[string]prometheus.Collector // by metric name
	ordered []prometheus.Collector
}

// bridgedKey is a table entry with the label names of its metric's vector,
// in order. A counter or histogram key without label names has its one
// series resolved once, up front: raft reports some keys for every log
// entry (raft.fsm.apply), and a vector lookup hashes and locks each time.
// (A gauge is looked up when set, so that one raft never set is absent
// rather than 0.)
type bridgedKey struct {
	goMetric
	names []string

	counter  prometheus.Counter  // goCounter without labels
	observer prometheus.Observer // goSample without labels
}

// labelNames are m's Prometheus label names: the kept go-metrics labels,
// sorted, then the fixed one.
func (m goMetric) labelNames() []string {
	var names []string
	for _, to := range m.labels {
		names = append(names, to)
	}
	sort.Strings(names)
	if m.fixed[0] != "" {
		names = append(names, m.fixed[0])
	}
	return names
}

// NewGoMetricsBridge returns a bridge for raft's and raft-boltdb's keys.
func NewGoMetricsBridge() *GoMetricsBridge {
	return newGoMetricsBridge(raftGoMetrics)
}

func newGoMetricsBridge(table []goMetric) *GoMetricsBridge {
	b := &GoMetricsBridge{byKey: map[string]bridgedKey{}, vecs: map[string]prometheus.Collector{}}
	for _, m := range table {
		names := m.labelNames()
		c, ok := b.vecs[m.name] // a further key of a metric has its vector
		if !ok {
			switch m.kind {
			case goCounter:
				c = prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.name, Help: m.help}, names)
			case goGauge:
				c = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.name, Help: m.help}, names)
			case goSample:
				c = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.name, Help: m.help, Buckets: m.buckets}, names)
			}
			b.vecs[m.name] = c
			b.ordered = append(b.ordered, c)
		}
		k := bridgedKey{goMetric: m, names: names}
		if len(names) == 0 {
			// Present, at 0, before raft first reports it.
			switch m.kind {
			case goCounter:
				k.counter = c.(*prometheus.CounterVec).WithLabelValues()
			case goSample:
				k.observer = c.(*prometheus.HistogramVec).WithLabelValues()
			}
		}
		b.byKey[m.key] = k
	}
	return b
}

// Describe implements prometheus.Collector.
func (b *GoMetricsBridge) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range b.ordered {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (b *GoMetricsBridge) Collect(ch chan<- prometheus.Metric) {
	for _, c := range b.ordered {
		c.Collect(ch)
	}
}

// Install makes the bridge the process-wide go-metrics sink. go-metrics
// has one global sink per process, so only the binary's composition root
// calls this, once.
func (b *GoMetricsBridge) Install() error {
	cfg := gometrics.DefaultConfig("")
	cfg.EnableHostname = false       // no hostname inside gauge keys
	cfg.EnableRuntimeMetrics = false // the Go collector reports the runtime
	cfg.TimerGranularity = time.Millisecond
	_, err := gometrics.NewGlobal(cfg, b)
	return err
}

// lookup returns the table entry of key and its label values, in the
// order of its vector's label names. A kept label raft left out is empty.
func (b *GoMetricsBridge) lookup(key []string, labels []gometrics.Label) (bridgedKey, []string, bool) {
	var buf [96]byte // raft's keys fit: joined without allocating
	joined := buf[:0]
	for i, part := range key {
		if i > 0 {
			joined = append(joined, '.')
		}
		joined = append(joined, part...)
	}
	k, ok := b.byKey[string(joined)]
	if !ok || len(k.names) == 0 {
		return k, nil, ok
	}
	values := make([]string, len(k.names))
	for i, name := range k.names {
		if name == k.fixed[0] {
			values[i] = k.fixed[1]
			continue
		}
		for _, l := range labels {
			if k.labels[l.Name] == name {
				values[i] = strings.ToValidUTF8(l.Value, "?") // invalid UTF-8 would panic
			}
		}
	}
	return k, values, true
}

func (m goMetric) value(v float32) float64 {
	if m.scale != 0 {
		return float64(v) * m.scale
	}
	return float64(v)
}

func (b *GoMetricsBridge) gauge(key []string, val float32, labels []gometrics.Label) {
	m, lv, ok := b.lookup(key, labels)
	if !ok || m.kind != goGauge {
		return
	}
	b.vecs[m.name].(*prometheus.GaugeVec).WithLabelValues(lv...).Set(m.value(val))
}

func (b *GoMetricsBridge) counter(key []string, val float32, labels []gometrics.Label) {
	m, lv, ok := b.lookup(key, labels)
	if !ok || m.kind != goCounter || val < 0 {
		return // a counter never goes down; Add would panic
	}
	if m.counter != nil {
		m.counter.Add(m.value(val))
		return
	}
	b.vecs[m.name].(*prometheus.CounterVec).WithLabelValues(lv...).Add(m.value(val))
}

func (b *GoMetricsBridge) sample(key []string, val float32, labels []gometrics.Label) {
	m, lv, ok := b.lookup(key, labels)
	if !ok || m.kind != goSample {
		return
	}
	if m.observer != nil {
		m.observer.Observe(m.value(val))
		return
	}
	b.vecs[m.name].(*prometheus.HistogramVec).WithLabelValues(lv...).Observe(m.value(val))
}

// SetGauge implements go-metrics' MetricSink.
func (b *GoMetricsBridge) SetGauge(key []string, val float32) { b.gauge(key, val, nil) }

// SetGaugeWithLabels implements go-metrics' MetricSink.
func (b *GoMetricsBridge) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	b.gauge(key, val, labels)
}

// SetPrecisionGauge implements go-metrics' PrecisionGaugeMetricSink.
func (b *GoMetricsBridge) SetPrecisionGauge(key []string, val float64) {
	b.gauge(key, float32(val), nil)
}

// SetPrecisionGaugeWithLabels implements go-metrics' PrecisionGaugeMetricSink.
func (b *GoMetricsBridge) SetPrecisionGaugeWithLabels(key []string, val float64, labels []gometrics.Label) {
	b.gauge(key, float32(val), labels)
}

// EmitKey implements go-metrics' MetricSink; raft emits no such keys.
func (b *GoMetricsBridge) EmitKey(key []string, val float32) {}

// IncrCounter implements go-metrics' MetricSink.
func (b *GoMetricsBridge) IncrCounter(key []string, val float32) { b.counter(key, val, nil) }

// IncrCounterWithLabels implements go-metrics' MetricSink.
func (b *GoMetricsBridge) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	b.counter(key, val, labels)
}

// AddSample implements go-metrics' MetricSink.
func (b *GoMetricsBridge) AddSample(key []string, val float32) { b.sample(key, val, nil) }

// AddSampleWithLabels implements go-metrics' MetricSink.
func (b *GoMetricsBridge) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	b.sample(key, val, labels)
}

var (
	_ gometrics.MetricSink = (*GoMetricsBridge)(nil)
	_ prometheus.Collector = (*GoMetricsBridge)(nil)
)
