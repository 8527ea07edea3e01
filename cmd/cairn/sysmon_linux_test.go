package main

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// godebugOf returns the GODEBUG entries of a running process's
// environment, as the kernel holds it (the last exec's).
func godebugOf(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range bytes.Split(b, []byte{0}) {
		if bytes.HasPrefix(kv, []byte("GODEBUG=")) {
			out = append(out, string(kv))
		}
	}
	return out
}

// The agent re-executes itself, under the pid it was started with, with
// the scheduler-trace setting that keeps sysmon backed off (sysmon.go);
// an operator's own schedtrace setting is kept as it is.
func Test_Agent_RunsWithSysmonTrace_UnlessGODEBUGNamesSchedtrace(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{env: []string{"GODEBUG=madvdontneed=1"}})
	if got, want := godebugOf(t, a.cmd.Process.Pid), []string{"GODEBUG=madvdontneed=1," + sysmonTrace}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("agent's GODEBUG = %q, want %q", got, want)
	}
	a.mustPut("test.notes", "n1", []byte(`{"text":"hello"}`), 201)

	off := mustStartAgent(t, agentOpts{env: []string{"GODEBUG=schedtrace=0"}})
	if got, want := godebugOf(t, off.cmd.Process.Pid), []string{"GODEBUG=schedtrace=0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("agent's GODEBUG with schedtrace=0 given = %q, want %q", got, want)
	}
}
