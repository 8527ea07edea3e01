package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
	// A fake container engine on the agent's PATH: the agent runs its
	// `docker info` at start, with the environment its children inherit.
	bin := t.TempDir()
	seen := filepath.Join(t.TempDir(), "engine-godebug")
	script := "#!/bin/sh\necho \"GODEBUG=$GODEBUG\" > " + seen + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a := mustStartAgent(t, agentOpts{args: []string{"-exec", "true"},
		env: []string{"GODEBUG=madvdontneed=1", "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}})
	if got, want := godebugOf(t, a.cmd.Process.Pid), []string{"GODEBUG=madvdontneed=1," + sysmonTrace}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("agent's GODEBUG = %q, want %q", got, want)
	}
	a.mustPut("test.notes", "n1", []byte(`{"text":"hello"}`), 201)
	if b, err := os.ReadFile(seen); err != nil {
		t.Errorf("the fake engine was not asked: %v", err)
	} else if got := string(bytes.TrimSpace(b)); got != "GODEBUG=madvdontneed=1" {
		t.Errorf("the agent's child saw %q, want the GODEBUG the agent was started with", got)
	}

	off := mustStartAgent(t, agentOpts{env: []string{"GODEBUG=schedtrace=0"}})
	if got, want := godebugOf(t, off.cmd.Process.Pid), []string{"GODEBUG=schedtrace=0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("agent's GODEBUG with schedtrace=0 given = %q, want %q", got, want)
	}
}
