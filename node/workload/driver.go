package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Driver runs an instance's runs: the process driver as local processes,
// a container driver as containers. The supervisor keeps what every
// driver shares: the process a run is (the program itself, or the
// engine's CLI attached to the container), started in a process group of
// its own and killed with the agent, its output, its exit code, the
// restart policy and the stop timeout.
type Driver interface {
	// Name names the driver in logs and reasons: "process", "docker",
	// "podman".
	Name() string
	// Command returns the process of run r.
	Command(r Run) *exec.Cmd
	// Stop asks run r, whose process leads group pgid, to end within
	// timeout; it does not wait. The supervisor SIGKILLs the group after
	// the timeout whatever Stop did.
	Stop(r Run, pgid int, timeout time.Duration)
	// Ended is called once r's process group is gone, to release what
	// the run held apart from processes (a container).
	Ended(r Run)
}

// Run is one run of an instance, as a driver gets it.
type Run struct {
	// Instance is the instance id; Name is unique to it on this node
	// (a container's name).
	Instance string
	Name     string
	// Argv is the command: the program and its arguments for a process;
	// for an image, the container's command (empty: the image's own).
	Argv  []string
	Image string
	// Dir is the working directory of the process (for a container: of
	// the engine's CLI); for a staged artifact, its START_PATH, which the
	// instances of one artifact share.
	Dir string
	// Home is the instance's own directory, its $HOME (empty: Dir).
	Home string
	// Env is the instance's own environment (KEY=VALUE): the workload's
	// variables, ports, links and CAIRN_*; not the agent's.
	Env         []string
	MemoryBytes int64
	Credential  *syscall.Credential
}

// processDriver runs instances as local processes. With rlimitAS, it
// enforces a memory limit with RLIMIT_AS; otherwise the supervisor puts
// the process in a cgroup.
type processDriver struct{ rlimitAS bool }

func (processDriver) Name() string { return "process" }

func (d processDriver) Command(r Run) *exec.Cmd {
	argv := r.Argv
	if r.MemoryBytes > 0 && d.rlimitAS {
		// RLIMIT_AS from the shell, then exec: the limit is in place
		// before the command's first instruction, and the command keeps
		// the pid (and process group) the supervisor knows.
		argv = append([]string{"/bin/sh", "-c", `ulimit -v "$1" || exit 126; shift; exec "$@"`, "sh",
			strconv.FormatInt((r.MemoryBytes+1023)/1024, 10)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = r.Dir
	var env []string
	for _, k := range baseEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	home := r.Home
	if home == "" {
		home = r.Dir
	}
	cmd.Env = append(append(env, "HOME="+home), r.Env...)
	if r.Credential != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.Credential}
	}
	return cmd
}

func (processDriver) Stop(_ Run, pgid int, _ time.Duration) { _ = signalGroup(pgid, syscall.SIGTERM) }

func (processDriver) Ended(Run) {}

// ContainerDriver runs instances as containers through a container
// engine's CLI (docker or podman, whose run, stop, rm and ps take the same
// flags): `<engine> run --rm` attached, so the CLI's exit code and output
// are the container's, on the host's network (the instance's $PORT is
// the node's port, as for a process).
type ContainerDriver struct {
	engine, path string
	dataDir      string
	log          *slog.Logger
}

// LabelSupervisor labels every container the driver starts with the
// supervising node's data dir: a restarted agent removes those it left.
const LabelSupervisor = "cairn.supervisor"

// engineTimeout bounds one engine command other than run (info, stop,
// rm, ps).
const engineTimeout = 15 * time.Second

// DetectEngine returns a container driver over the first of docker and
// podman that is installed and answers `info` (a CLI without its daemon
// does not), or nil and why neither does. dataDir is the supervisor's.
func DetectEngine(ctx context.Context, dataDir string, log *slog.Logger) (*ContainerDriver, error) {
	if log == nil {
		log = slog.Default()
	}
	var why []string
	for _, e := range []string{"docker", "podman"} {
		path, err := exec.LookPath(e)
		if err != nil {
			why = append(why, e+" is not installed")
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, engineTimeout)
		out, err := exec.CommandContext(cctx, path, "info").CombinedOutput()
		cancel()
		if err != nil {
			why = append(why, fmt.Sprintf("%s info failed (%v): %s", e, err, lastLine(out)))
			continue
		}
		return &ContainerDriver{engine: e, path: path, dataDir: dataDir, log: log.With("component", "supervisor")}, nil
	}
	return nil, errors.New(strings.Join(why, "; "))
}

// lastLine returns the last non-empty line of out, at most 200 bytes.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 200 {
		l = l[:200]
	}
	return l
}

// Name is the engine's name.
func (c *ContainerDriver) Name() string { return c.engine }

// Args returns the engine's arguments for run r (for tests and logs).
// Variables are passed by name (-e KEY): their values come from the
// CLI's environment, not its command line, where any user could read them.
func (c *ContainerDriver) Args(r Run) []string {
	args := []string{"run", "--rm", "--name", r.Name, "--label", LabelSupervisor + "=" + c.dataDir,
		"--label", "cairn.instance=" + r.Instance, "--network", "host", "--pull", "missing"}
	for _, kv := range r.Env {
		if k, _, ok := strings.Cut(kv, "="); ok {
			args = append(args, "-e", k)
		}
	}
	if r.MemoryBytes > 0 {
		args = append(args, "--memory", strconv.FormatInt(r.MemoryBytes, 10))
	}
	if r.Credential != nil {
		args = append(args, "--user", fmt.Sprintf("%d:%d", r.Credential.Uid, r.Credential.Gid))
	}
	return append(append(args, r.Image), r.Argv...)
}

// Command returns the engine's CLI attached to r's container. The CLI
// runs as the agent (an engine usually wants root or its group); the
// container as -exec-user, if set.
func (c *ContainerDriver) Command(r Run) *exec.Cmd {
	cmd := exec.Command(c.path, c.Args(r)...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), r.Env...)
	return cmd
}

// Stop has the engine stop the container: SIGTERM, SIGKILL after
// timeout (whole seconds, rounded up).
func (c *ContainerDriver) Stop(r Run, _ int, timeout time.Duration) {
	secs := strconv.Itoa(int((timeout + time.Second - 1) / time.Second))
	go func() {
		if out, err := c.engine1(timeout+engineTimeout, "stop", "-t", secs, r.Name); err != nil {
			c.log.Warn("the container engine did not stop an instance's container", "engine", c.engine, "container", r.Name, "err", err, "output", lastLine(out))
		}
	}()
}

// Ended removes r's container if it is still there (--rm removes it on
// a normal exit; not when its CLI was killed).
func (c *ContainerDriver) Ended(r Run) {
	_, _ = c.engine1(engineTimeout, "rm", "-f", r.Name)
}

// Clean removes every container of this data dir's supervisor (what a
// previous run of the agent left: its CLIs died with it, their
// containers did not) and returns how many.
func (c *ContainerDriver) Clean() int {
	out, err := c.engine1(engineTimeout, "ps", "-aq", "--filter", "label="+LabelSupervisor+"="+c.dataDir)
	if err != nil {
		c.log.Warn("could not list the containers a previous run of the agent left", "engine", c.engine, "err", err, "output", lastLine(out))
		return 0
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return 0
	}
	if out, err := c.engine1(engineTimeout, append([]string{"rm", "-f"}, ids...)...); err != nil {
		c.log.Warn("could not remove the containers a previous run of the agent left", "engine", c.engine, "containers", ids, "err", err, "output", lastLine(out))
	}
	return len(ids)
}

// engine1 runs one engine command and returns its output.
func (c *ContainerDriver) engine1(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// containerName is the name of instance id's container on node: unique
// on the node, and among the containers of several agents on one host.
func containerName(node, id string) string {
	b := []byte("cairn-" + node + "-" + id)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
