package workload

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mustGroup starts a process group whose leader starts a child with an
// empty environment and prints its pid, as an instance may; it returns
// the leader and the child.
func mustGroup(t *testing.T) (leader *exec.Cmd, child int) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "env -i sleep 600 & echo $!; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	b := make([]byte, 32)
	n, _ := out.Read(b)
	child, err = strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		t.Fatalf("child pid %q: %v", b[:n], err)
	}
	return cmd, child
}

func Test_Leftovers_RecordedGroup_FoundWithoutMarker_Killed(t *testing.T) {
	dir := t.TempDir()
	l := newLedger(mustDir(t, filepath.Join(dir, "workloads")))
	leader, child := mustGroup(t)
	if err := l.add("w.0", leader.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// The agent dies: the leader with it (parent-death signal), the child
	// stays, with no CAIRN_SUPERVISOR in its environment.
	_ = leader.Process.Kill()
	_ = leader.Wait()
	found := LeftoverGroups(dir)
	if len(found) != 1 || found[0].PID != child || found[0].PGID != leader.Process.Pid || found[0].Instance != "w.0" {
		t.Fatalf("leftovers %+v, want the child %d of group %d", found, child, leader.Process.Pid)
	}
	if n := KillLeftovers(dir); n != 1 {
		t.Fatalf("KillLeftovers found %d, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d outlived KillLeftovers", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "workloads", groupsFile)); !os.IsNotExist(err) {
		t.Fatalf("the groups file outlived KillLeftovers: %v", err)
	}
}

func Test_Leftovers_ReusedGroupID_NotOurs(t *testing.T) {
	dir := t.TempDir()
	l := newLedger(mustDir(t, filepath.Join(dir, "workloads")))
	leader, _ := mustGroup(t)
	if err := l.add("w.0", leader.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// As if the recorded leader had another start time: its pid was
	// reused by a process of someone else's, whose group is not ours.
	g := l.groups[leader.Process.Pid]
	g.Start--
	l.groups[g.PGID] = g
	if err := l.saveLocked(); err != nil {
		t.Fatal(err)
	}
	if found := LeftoverGroups(dir); len(found) != 0 {
		t.Fatalf("leftovers %+v in a group whose id was reused", found)
	}
}

func mustDir(t *testing.T, d string) string {
	t.Helper()
	if err := os.MkdirAll(d, 0o750); err != nil {
		t.Fatal(err)
	}
	return d
}
