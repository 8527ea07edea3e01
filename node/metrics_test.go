package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// metricValue gathers reg and returns the value of the sample of name
// whose labels include want: a gauge's or counter's value, a histogram's
// count. ok is false if there is no such sample.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metrics
				}
			}
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func mustMetric(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := metricValue(t, reg, name, labels)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

func Test_Collector_Leader_ReportsRaftStoreAndApply(t *testing.T) {
	n, _ := mustOpenLeader(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collector())

	mustApply(t, n, putOp(kindItem, "a", `{"name":"a"}`), putOp(kindItem, "b", `{"name":"b"}`), putOp(kindOther, "x", `{}`))
	idx, _ := mustApply(t, n, putOp(kindItem, "c", `{"name":"c"}`))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := n.Apply(ctx, fsm.Command{Ops: []fsm.Op{putOp(kindItem, "d", `{"name":"a"}`)}, Time: time.Now()}) // unique name clash
	if !errors.Is(err, fsm.ErrConflict) {
		t.Fatalf("clashing put: err %v, want ErrConflict", err)
	}

	for name, want := range map[string]float64{
		"cairn_raft_is_leader":            1,
		"cairn_raft_last_contact_seconds": 0,
	} {
		if got := mustMetric(t, reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := mustMetric(t, reg, "cairn_raft_state", map[string]string{"state": "leader"}); got != 1 {
		t.Errorf("cairn_raft_state{state=leader} = %v, want 1", got)
	}
	if got := mustMetric(t, reg, "cairn_raft_state", map[string]string{"state": "follower"}); got != 0 {
		t.Errorf("cairn_raft_state{state=follower} = %v, want 0", got)
	}
	if got := mustMetric(t, reg, "cairn_raft_leader_changes_total", nil); got < 1 {
		t.Errorf("cairn_raft_leader_changes_total = %v, want at least 1 (this node's own election)", got)
	}
	if got := mustMetric(t, reg, "cairn_raft_term", nil); got < 1 {
		t.Errorf("cairn_raft_term = %v, want at least 1", got)
	}
	// Raft moves its applied index just after handing entries to the FSM,
	// which may answer the proposer first: poll rather than read once.
	for _, name := range []string{"cairn_raft_commit_index", "cairn_raft_applied_index", "cairn_store_applied_index", "cairn_raft_last_index"} {
		nodetest.WaitFor(t, func() bool { return mustMetric(t, reg, name, nil) >= float64(idx+1) },
			5*time.Second, fmt.Sprintf("%s to reach %d (the refused command's index)", name, idx+1))
	}
	if got := mustMetric(t, reg, "cairn_raft_peers", map[string]string{"suffrage": "voter"}); got != 1 {
		t.Errorf("cairn_raft_peers{suffrage=voter} = %v, want 1", got)
	}
	for kind, want := range map[string]float64{kindItem: 3, kindOther: 1} {
		if got := mustMetric(t, reg, "cairn_store_resources", map[string]string{"kind": kind}); got != want {
			t.Errorf("cairn_store_resources{kind=%s} = %v, want %v", kind, got, want)
		}
	}
	// Two puts and the leader's barrier applied; one refused.
	if got := mustMetric(t, reg, "cairn_node_apply_duration_seconds", map[string]string{"result": "ok"}); got < 2 {
		t.Errorf("apply count{result=ok} = %v, want at least 2", got)
	}
	if got := mustMetric(t, reg, "cairn_node_apply_duration_seconds", map[string]string{"result": "conflict"}); got != 1 {
		t.Errorf("apply count{result=conflict} = %v, want 1", got)
	}

	if got := mustMetric(t, reg, "cairn_raft_last_snapshot_size_bytes", nil); got != 0 {
		t.Errorf("cairn_raft_last_snapshot_size_bytes before any snapshot = %v, want 0", got)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if got := mustMetric(t, reg, "cairn_raft_last_snapshot_size_bytes", nil); got <= 0 {
		t.Errorf("cairn_raft_last_snapshot_size_bytes after a snapshot = %v, want > 0", got)
	}
	if got := mustMetric(t, reg, "cairn_raft_last_snapshot_index", nil); got < float64(idx) {
		t.Errorf("cairn_raft_last_snapshot_index = %v, want at least %d", got, idx)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Installed as the go-metrics sink, the bridge receives what raft itself
// measures while a node commits and applies.
func Test_GoMetricsBridge_Installed_ReceivesRaftMeasurements(t *testing.T) {
	b := node.NewGoMetricsBridge()
	if err := b.Install(); err != nil {
		t.Fatalf("install: %v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b)
	n, _ := mustOpenLeader(t)
	mustApply(t, n, putOp(kindOther, "x", `{}`))
	for _, name := range []string{"raft_commit_time_seconds", "raft_fsm_apply_duration_seconds", "raft_leader_dispatch_log_duration_seconds",
		"raft_wal_log_appends_total", "raft_wal_log_entries_written_total", "raft_apply_total"} {
		if got := mustMetric(t, reg, name, nil); got < 1 {
			t.Errorf("%s = %v after a commit, want at least 1", name, got)
		}
	}
}
