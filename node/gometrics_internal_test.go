package node

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"cairn/fsm"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// Keys sharing a metric name must agree on everything but the fixed label
// value, or one of them would be reported wrongly.
func Test_GoMetricsTable_KeysOfOneMetricAgree(t *testing.T) {
	first := map[string]goMetric{}
	keys := map[string]bool{}
	for _, m := range raftGoMetrics {
		if keys[m.key] {
			t.Errorf("key %s is mapped twice", m.key)
		}
		keys[m.key] = true
		f, ok := first[m.name]
		if !ok {
			first[m.name] = m
			continue
		}
		if f.kind != m.kind || f.help != m.help || f.fixed[0] != m.fixed[0] || len(f.labels) != len(m.labels) ||
			!slices.Equal(f.buckets, m.buckets) || f.fixed[0] == "" {
			t.Errorf("keys %s and %s both feed %s but differ in kind, help, buckets or labels", f.key, m.key, m.name)
		}
	}
}

// mustGather gathers reg and returns its families by name.
func mustGather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// Every key of the table, fed once as raft would, comes out lint-clean,
// in base units, with only the labels the table keeps.
func Test_GoMetricsBridge_EveryKey_LintCleanAndScaled(t *testing.T) {
	b := NewGoMetricsBridge()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b)
	peer := []gometrics.Label{{Name: "peer_id", Value: "n2"}, {Name: "rpcType", Value: "AppendEntries"}}
	for _, m := range raftGoMetrics {
		key := strings.Split(m.key, ".")
		switch m.kind {
		case goCounter:
			b.IncrCounterWithLabels(key, 3, peer)
		case goGauge:
			b.SetGauge(key, 250)
		case goSample:
			b.AddSampleWithLabels(key, 250, peer)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(func() []*dto.MetricFamily {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return mfs
	}()).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	fams := mustGather(t, reg)
	// A timer of 250ms is 0.25s; a byte count stays as it is.
	commit := fams["raft_commit_time_seconds"].GetMetric()[0].GetHistogram()
	if commit.GetSampleCount() != 1 || math.Abs(commit.GetSampleSum()-0.25) > 1e-9 {
		t.Errorf("raft_commit_time_seconds: count %d sum %v, want 1 and 0.25", commit.GetSampleCount(), commit.GetSampleSum())
	}
	size := fams["raft_boltdb_log_batch_size_bytes"].GetMetric()[0].GetHistogram()
	if size.GetSampleSum() != 250 {
		t.Errorf("raft_boltdb_log_batch_size_bytes sum %v, want 250", size.GetSampleSum())
	}
	// Three state keys feed one counter, told apart by its state label.
	if got := testutil.ToFloat64(b.vecs["raft_state_transitions_total"].(*prometheus.CounterVec).WithLabelValues("leader")); got != 3 {
		t.Errorf("raft_state_transitions_total{state=leader} = %v, want 3", got)
	}
	// The peer id is dropped; the RPC type is kept under a snake_case name.
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "peer_id" || l.GetName() == "rpcType" {
					t.Errorf("%s carries label %s", mf.GetName(), l.GetName())
				}
			}
		}
	}
	decode := fams["raft_net_rpc_decode_duration_seconds"].GetMetric()
	if len(decode) != 1 || decode[0].GetLabel()[0].GetName() != "rpc_type" || decode[0].GetLabel()[0].GetValue() != "AppendEntries" {
		t.Errorf("raft_net_rpc_decode_duration_seconds labels = %v, want rpc_type=AppendEntries", decode)
	}
}

// Keys outside the table (the legacy per-peer keys with the peer id in the
// name among them) and negative counter increments are dropped.
func Test_GoMetricsBridge_UnknownKeysAndNegativeCounts_Dropped(t *testing.T) {
	b := NewGoMetricsBridge()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b)
	before := len(mustGather(t, reg))
	b.AddSample([]string{"raft", "replication", "appendEntries", "rpc", "n2"}, 5)
	b.IncrCounter([]string{"raft", "replication", "appendEntries", "logs", "n2"}, 5)
	b.SetGauge([]string{"memberlist", "health", "score"}, 1)
	b.EmitKey([]string{"raft", "apply"}, 1)
	b.IncrCounter([]string{"raft", "apply"}, -1)
	b.AddSample([]string{"raft", "apply"}, 1) // a counter's key as a sample: wrong kind
	fams := mustGather(t, reg)
	if len(fams) != before {
		t.Errorf("dropped keys created metrics: %d families, want %d", len(fams), before)
	}
	if got := fams["raft_apply_total"].GetMetric()[0].GetCounter().GetValue(); got != 0 {
		t.Errorf("raft_apply_total = %v, want 0", got)
	}
	if h := fams["raft_replication_append_entries_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 0 {
		t.Errorf("a per-peer legacy key reached the summed histogram")
	}
}

// Clients choose kind names, so the kind label stops at maxKindLabels.
func Test_ResourcesByKind_BoundedLabels(t *testing.T) {
	schema, err := fsm.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	st := fsm.NewStore(schema)
	var ops []fsm.Op
	for i := range maxKindLabels + 7 {
		for _, id := range []string{"a", "b"} {
			ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: fmt.Sprintf("k%03d", i), ID: id, Body: json.RawMessage(`{}`)})
		}
	}
	if res := st.Apply(1, fsm.Command{Ops: ops}); res.Err() != nil {
		t.Fatal(res.Err())
	}
	got := resourcesByKind(st.KindCounts())
	if len(got) != maxKindLabels+1 {
		t.Fatalf("%d labels, want %d", len(got), maxKindLabels+1)
	}
	if got[otherKinds] != 7*2 {
		t.Errorf("%s = %d, want %d", otherKinds, got[otherKinds], 7*2)
	}
	if got["k000"] != 2 {
		t.Errorf("k000 = %d, want 2", got["k000"])
	}
}

// The keys raft reports for every log entry or append, as it reports them.
func Benchmark_GoMetricsBridge_PerEntryKeys(b *testing.B) {
	br := NewGoMetricsBridge()
	apply := []string{"raft", "fsm", "apply"}
	enqueue := []string{"raft", "fsm", "enqueue"}
	logs := []string{"raft", "replication", "appendEntries", "logs"}
	decode := []string{"raft", "net", "rpcDecode"}
	rpc := []gometrics.Label{{Name: "rpcType", Value: "AppendEntriesRequest"}}
	b.ReportAllocs()
	for b.Loop() {
		br.AddSample(apply, 0.05)
		br.AddSample(enqueue, 0.01)
		br.IncrCounter(logs, 1)
		br.AddSampleWithLabels(decode, 0.02, rpc)
	}
}
