package workload

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// instance supervises one instance: it starts the process, waits for it,
// restarts it by the restart policy, and stops it on request.
type instance struct {
	s      *Supervisor
	id     string
	d      desired
	log    *instanceLog
	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once

	mu     sync.Mutex
	curPID int
}

func (i *instance) stop() { i.once.Do(func() { close(i.stopCh) }) }

func (i *instance) pid() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.curPID
}

func (i *instance) setPID(p int) {
	i.mu.Lock()
	i.curPID = p
	i.mu.Unlock()
}

func (i *instance) report(st Status) {
	st.Workload, st.Index, st.Node = i.d.workload, i.d.index, i.s.cfg.NodeID
	i.s.reports.set(i.id, st)
}

// Policy is the restart decision, apart from the processes, so that it is
// unit-tested on its own.
type Policy struct {
	Restart Restart
	crashes []time.Time
	delay   time.Duration
}

// Decision is what to do after an exit.
type Decision struct {
	Restart bool
	Delay   time.Duration
	// Failed is set when the instance crash-loops past its policy.
	Failed bool
	Reason string
}

// Exited decides what follows an exit with code (-1: killed by a signal)
// at now, after the process ran for ran.
func (p *Policy) Exited(code int, ran time.Duration, now time.Time) Decision {
	failure := code != 0
	switch p.Restart.Mode {
	case RestartNever:
		return Decision{}
	case RestartOnFailure:
		if !failure {
			return Decision{}
		}
	}
	// A run that lasted longer than the interval starts the count afresh
	// (Nomad resets its attempts after each interval; systemd's
	// StartLimitIntervalSec likewise counts starts within the window).
	if ran >= p.Restart.Interval.D() {
		p.crashes, p.delay = nil, 0
	}
	cut := now.Add(-p.Restart.Interval.D())
	kept := p.crashes[:0]
	for _, t := range p.crashes {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	p.crashes = append(kept, now)
	if len(p.crashes) > p.Restart.Attempts {
		return Decision{Failed: true, Reason: fmt.Sprintf("exited %d times within %s (restart.attempts %d); last exit code %d",
			len(p.crashes), p.Restart.Interval.D(), p.Restart.Attempts, code)}
	}
	if p.delay == 0 {
		p.delay = p.Restart.Delay.D()
	} else {
		p.delay = min(2*p.delay, p.Restart.MaxDelay.D())
	}
	return Decision{Restart: true, Delay: p.delay}
}

// run is the instance's life: SETUP, then STARTING, RUNNING and exits
// until stopped or failed.
func (i *instance) run() {
	defer close(i.done)
	st := Status{State: InstanceSetup}
	i.report(st)
	if !i.s.cfg.Enabled {
		i.report(Status{State: InstanceCrashed, Failed: true, Reason: fmt.Sprintf("the executor is off on node %s (-exec=false)", i.s.cfg.NodeID)})
		<-i.stopCh
		return
	}
	dir := filepath.Join(i.s.runDir, i.id)
	if err := i.prepareDir(dir); err != nil {
		i.report(Status{State: InstanceCrashed, Failed: true, Reason: "setting up the working directory: " + err.Error()})
		<-i.stopCh
		return
	}
	drv, err := i.s.driverFor(i.d)
	if err != nil {
		i.report(Status{State: InstanceCrashed, Failed: true, Reason: err.Error()})
		<-i.stopCh
		return
	}
	var staged *Staged
	if i.d.spec.Artifact != "" {
		st, err := i.s.stage(i.d)
		if err != nil {
			i.s.log.Warn("staging failed", "instance", i.id, "artifact", i.d.spec.Artifact, "err", err)
			i.report(Status{State: InstanceCrashed, Failed: true, Reason: "staging: " + err.Error()})
			<-i.stopCh
			return
		}
		staged = &st
	}
	policy := &Policy{Restart: i.d.spec.Restart}
	restarts := 0
	for {
		if !i.waitPorts(restarts) {
			i.report(Status{State: InstanceRemoved, Restarts: restarts})
			return
		}
		i.report(Status{State: InstanceStarting, Restarts: restarts})
		started := time.Now()
		code, reason, stopped, err := i.runOnce(drv, i.s.runOf(i.id, i.d, dir, staged), restarts)
		if stopped {
			i.report(Status{State: InstanceRemoved, Exited: true, ExitCode: code, Restarts: restarts})
			return
		}
		if err != nil {
			i.report(Status{State: InstanceCrashed, Failed: true, Reason: err.Error(), Restarts: restarts})
			<-i.stopCh
			return
		}
		if reason != "" {
			i.s.log.Warn("an instance ran out of memory", "instance", i.id, "exit_code", code, "reason", reason)
		}
		dec := policy.Exited(code, time.Since(started), time.Now())
		switch {
		case dec.Failed:
			if reason != "" {
				dec.Reason += "; last run: " + reason
			}
			i.s.log.Warn("instance failed: it crash-loops past its restart policy", "instance", i.id, "reason", dec.Reason)
			i.report(Status{State: InstanceCrashed, Exited: true, ExitCode: code, Failed: true, Reason: dec.Reason, Restarts: restarts})
			<-i.stopCh
			return
		case !dec.Restart:
			state := InstanceCrashed
			if code == 0 {
				state = InstanceRemoved // finished; nothing to restart
			}
			i.report(Status{State: state, Exited: true, ExitCode: code, Reason: reason, Restarts: restarts})
			<-i.stopCh
			return
		}
		i.report(Status{State: InstanceCrashed, Exited: true, ExitCode: code, Reason: reason, Restarts: restarts})
		select {
		case <-i.stopCh:
			i.report(Status{State: InstanceRemoved, Exited: true, ExitCode: code, Restarts: restarts})
			return
		case <-time.After(dec.Delay):
		}
		restarts++
	}
}

func (i *instance) prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if c := i.s.cfg.Credential; c != nil {
		return os.Chown(dir, int(c.Uid), int(c.Gid))
	}
	return nil
}

// runOnce starts the process and waits until it exits (code; -1 for a
// signal) or the instance is stopped (stopped: the process was stopped by
// the supervisor). err says the process could not be started.
func (i *instance) runOnce(drv Driver, r Run, restarts int) (code int, reason string, stopped bool, err error) {
	cmd := drv.Command(r)
	name := cmd.Args[0]
	// A process with a memory limit on a node with cgroups runs in a
	// cgroup of its own: the process waits at a gate until the supervisor
	// has put it in, then executes the command. The cgroup goes once the
	// process group is gone, with whatever is still in it.
	var cg *cgroup
	var gate *os.File
	if _, proc := drv.(processDriver); proc && r.MemoryBytes > 0 && i.s.mem.cgroups() {
		if cg, err = i.s.mem.create(i.id, r.MemoryBytes); err != nil {
			return 0, "", false, fmt.Errorf("memory_limit: making the instance's cgroup: %w", err)
		}
		defer func() {
			if err := cg.remove(5 * time.Second); err != nil {
				i.s.log.Warn("could not remove an instance's cgroup", "instance", i.id, "err", err)
			}
		}()
		if gate, err = cg.wrap(cmd); err != nil {
			return 0, "", false, fmt.Errorf("start %q: %w", name, err)
		}
		defer gate.Close()
	}
	// Pipes of our own rather than StdoutPipe: Wait then returns when the
	// leader exits, even while others of its group still hold the pipes.
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, "", false, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, "", false, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = i.s.spawn.start(cmd)
	outW.Close()
	errW.Close()
	for _, f := range cmd.ExtraFiles {
		f.Close() // the gate's reading end is the child's now
	}
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, "", false, fmt.Errorf("start %q: %w", name, err)
	}
	defer drv.Ended(r)
	pgid := cmd.Process.Pid
	if gate != nil {
		err := cg.join(pgid)
		if err == nil {
			_, err = gate.WriteString("\n")
		}
		if err != nil {
			killGroupWait(pgid, 5*time.Second)
			_ = cmd.Wait()
			outR.Close()
			errR.Close()
			return 0, "", false, fmt.Errorf("memory_limit: putting the instance in its cgroup: %w", err)
		}
		gate.Close()
	}
	if err := i.s.groups.add(i.id, pgid); err != nil {
		i.s.log.Warn("could not record an instance's process group for the next run of the agent", "instance", i.id, "pgid", pgid, "err", err)
	}
	i.setPID(pgid)
	defer i.setPID(0)
	i.report(Status{State: InstanceRunning, PID: pgid, Restarts: restarts})
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); defer outR.Close(); i.log.capture(outR, "stdout") }()
	go func() { defer readers.Done(); defer errR.Close(); i.log.capture(errR, "stderr") }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// The pipes end once the whole group is gone.
		done := make(chan struct{})
		go func() { readers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			i.s.log.Warn("an instance's output pipes stayed open after its process group was killed", "instance", i.id)
		}
	}()
	select {
	case err := <-exited:
		// The leader is gone; whatever it left in its group goes too.
		if killGroupWait(pgid, time.Second) {
			_ = i.s.groups.remove(pgid)
		}
		code := exitCode(err)
		return code, cg.oomReason(code), false, nil
	case <-i.stopCh:
	}
	i.report(Status{State: InstanceStopping, PID: pgid, Restarts: restarts})
	drv.Stop(r, pgid, i.d.spec.StopTimeout.D())
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(i.d.spec.StopTimeout.D()):
		_ = signalGroup(pgid, syscall.SIGKILL)
		werr = <-exited
	}
	if !killGroupWait(pgid, 5*time.Second) {
		i.s.log.Warn("an instance's process group outlived SIGKILL by 5s", "instance", i.id, "pgid", pgid)
	} else {
		_ = i.s.groups.remove(pgid)
	}
	return exitCode(werr), "", true, nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode() // -1 when a signal ended it
	}
	return -1
}
