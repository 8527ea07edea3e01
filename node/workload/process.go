package workload

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// MarkerEnv is set in every instance's environment to the supervising
// node's absolute data dir. A restarted agent finds what its previous run
// left behind by it (LeftoverGroups), whatever pid files say: a process's
// children inherit it.
const MarkerEnv = "CAIRN_SUPERVISOR"

// spawner starts processes from one OS thread that never exits. Linux
// delivers a child's parent-death signal (Pdeathsig) when the thread that
// forked it exits, not the process (Go issue 27505): forked from a thread
// the Go runtime may retire, an instance would be killed at random. From
// this thread, an instance's leader gets SIGKILL exactly when the agent
// dies, SIGKILL included.
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for r := range s.reqs {
			r.done <- r.cmd.Start()
		}
	}()
	return s
}

// start starts cmd in a process group of its own, to be killed with the
// agent.
func (s *spawner) start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// signalGroup sends sig to process group pgid; a group already gone is no
// error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return errors.New("refusing to signal process group <= 1")
	}
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// groupAlive reports whether any process of group pgid is left.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// killGroupWait SIGKILLs group pgid and waits up to timeout for it to be
// gone (its members may be zombies of other parents for a moment).
func killGroupWait(pgid int, timeout time.Duration) bool {
	_ = signalGroup(pgid, syscall.SIGKILL)
	deadline := time.Now().Add(timeout)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Leftover is a process a previous run of the agent left behind.
type Leftover struct {
	PID, PGID int
}

// LeftoverGroups scans /proc for processes whose environment carries
// MarkerEnv=dataDir: what a previous run of the agent on dataDir left
// behind (grandchildren survive the parent-death signal of their
// instance's leader). self is excluded. The environment and not the
// working directory: an operator's shell in an instance's directory is
// no leftover. A process that clears its environment escapes the scan.
func LeftoverGroups(dataDir string) []Leftover {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil
	}
	marker := []byte("\x00" + MarkerEnv + "=" + abs + "\x00")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []Leftover
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := "/proc/" + e.Name()
		env, _ := os.ReadFile(dir + "/environ")
		env = append(append([]byte{0}, env...), 0)
		if !bytes.Contains(env, marker) {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			continue
		}
		out = append(out, Leftover{PID: pid, PGID: pgid})
	}
	return out
}

// KillLeftovers kills every leftover of dataDir (their whole process
// groups) and returns how many processes it found.
func KillLeftovers(dataDir string) int {
	found := LeftoverGroups(dataDir)
	self := syscall.Getpgrp()
	for _, l := range found {
		if l.PGID > 1 && l.PGID != self {
			_ = signalGroup(l.PGID, syscall.SIGKILL)
		}
		_ = syscall.Kill(l.PID, syscall.SIGKILL)
	}
	return len(found)
}
