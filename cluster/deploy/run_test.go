package deploy_test

import (
	"strings"
	"testing"

	"cairn/cluster/deploy"
	"cairn/node/workload"
)

func TestWorkloadID_ValidDistinctBounded(t *testing.T) {
	long := strings.Repeat("x", 255)
	ids := map[string]string{}
	for _, uri := range []string{"Ticker.zip", "ticker.zip", "ticker-zip", "a b/c?.zip", long, long + "y", "é.jar"} {
		id := deploy.WorkloadID(uri)
		if err := workload.ValidID(id); err != nil {
			t.Errorf("WorkloadID(%q) = %q: %v", uri, id, err)
		}
		if other, ok := ids[id]; ok && deploy.Key(other) != deploy.Key(uri) {
			t.Errorf("%q and %q share workload id %q", other, uri, id)
		}
		ids[id] = uri
	}
	if deploy.WorkloadID("Ticker.zip") != deploy.WorkloadID("ticker.zip") {
		t.Error("one contribution in two cases has two workload ids")
	}
}

// TestSummarise_RunningOnlyWhileEveryInstanceRuns: RUNNING needs every
// instance RUNNING; a failed instance makes it FAILED with the reason;
// instances past the count do not count.
func TestSummarise_RunningOnlyWhileEveryInstanceRuns(t *testing.T) {
	st := func(i int, state string, failed bool, reason string) workload.Status {
		return workload.Status{Index: i, State: state, Failed: failed, Reason: reason}
	}
	run, crash := workload.InstanceRunning, workload.InstanceCrashed
	cases := []struct {
		name      string
		instances int
		states    []workload.Status
		want      string
		says      string
	}{
		{"all running", 2, []workload.Status{st(0, run, false, ""), st(1, run, false, "")}, deploy.RunRunning, ""},
		{"one starting", 2, []workload.Status{st(0, run, false, ""), st(1, workload.InstanceStarting, false, "")}, deploy.RunStarting, "1 of 2"},
		{"none reported", 3, nil, deploy.RunStarting, "0 of 3"},
		{"executor off", 1, []workload.Status{st(0, crash, true, "the executor is off on node n1 (-exec=false)")}, deploy.RunFailed, "executor is off"},
		{"restarting", 1, []workload.Status{st(0, crash, false, "")}, deploy.RunStarting, "0 of 1"},
		{"no members", 0, nil, deploy.RunStopped, "no live member"},
		{"stale index", 1, []workload.Status{st(0, run, false, ""), st(1, crash, true, "gone")}, deploy.RunRunning, ""},
	}
	for _, c := range cases {
		got := deploy.Summarise("w", c.instances, c.states)
		if got.State != c.want || !strings.Contains(got.Reason, c.says) {
			t.Errorf("%s: %+v, want %s saying %q", c.name, got, c.want, c.says)
		}
	}
}
