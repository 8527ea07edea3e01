package workload

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

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
