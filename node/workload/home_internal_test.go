package workload

import (
	"slices"
	"testing"
)

// Test_StagedInstance_HomeIsItsOwn_WorkdirTheStartPath: instances of one
// staged artifact share its START_PATH as working directory, but each has
// its own $HOME, so what one writes there is not another's (nor the
// staging cache's).
func Test_StagedInstance_HomeIsItsOwn_WorkdirTheStartPath(t *testing.T) {
	s := &Supervisor{cfg: Config{NodeID: "n1"}}
	d := desired{workload: "w", index: 0, spec: Spec{Instances: 2}}
	r := s.runOf("w.0", d, "/data/workloads/run/w.0", &Staged{Runtime: "bash", StartCommand: "./start.sh", StartPath: "/data/stage/abc"})
	if r.Dir != "/data/stage/abc" || r.Home != "/data/workloads/run/w.0" {
		t.Fatalf("dir %q home %q", r.Dir, r.Home)
	}
	cmd := processDriver{}.Command(r)
	if !slices.Contains(cmd.Env, "HOME=/data/workloads/run/w.0") || cmd.Dir != "/data/stage/abc" {
		t.Fatalf("process: dir %q env %v", cmd.Dir, cmd.Env)
	}
}
