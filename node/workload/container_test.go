package workload

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/fsm"
)

// ImageEnv names a local image (with /bin/sh, echo, cat and sleep) for
// the test against a real container engine; without it the test is
// skipped. `make container-test` sets it, after installing podman and
// importing a busybox image.
const ImageEnv = "CAIRN_CONTAINER_TEST_IMAGE"

// Test_ContainerDriver_RealEngine_RunLogsStopRemoved drives the container
// driver through the supervisor against the engine DetectEngine finds:
// a container runs the instance's command with its variables and memory
// limit, its output is the instance's, its exit code the instance's,
// stop removes it, and Clean removes what a previous run left.
func Test_ContainerDriver_RealEngine_RunLogsStopRemoved(t *testing.T) {
	image := os.Getenv(ImageEnv)
	if image == "" {
		t.Skip(ImageEnv + " is not set (make container-test sets it)")
	}
	var engine *ContainerDriver
	h := mustSupervisor(t, func(c *Config) {
		var err error
		if engine, err = DetectEngine(context.Background(), c.DataDir, nil); err != nil {
			t.Fatalf("no working container engine: %v", err)
		}
		c.Engine = engine
	})
	t.Logf("engine: %s", engine.Name())
	cli := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, engine.path, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", engine.Name(), strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const name = "cairn-n1-c.0"
	t.Cleanup(func() { _ = exec.Command(engine.path, "rm", "-f", name).Run() })

	s, _ := ParseSpec([]byte(`{"image":"` + image + `","command":["sh","-c",
		"echo port $PORT secret $SECRET; echo limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); echo err >&2; exec sleep 60"],
		"env":{"SECRET":"s3cret"},"instances":1,"ports":["http"],"memory_limit":"64M","stop_timeout":"2s"}`))
	body, _ := json.Marshal(s)
	pb, _ := json.Marshal(PlacementOf("c", []Placed{{Index: 0, Node: "n1", Ports: []int{29123}}}))
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "c", Body: body}, fsm.Op{Type: fsm.OpPut, Kind: KindPlacement, ID: "c", Body: pb})
	var lines []Line
	deadline := time.Now().Add(time.Minute) // a first run sets the engine up
	for {
		lines, _ = h.sup.Logs("c", 10, 0)
		if len(lines) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]string{}
	for _, l := range lines {
		got[l.Text] = l.Channel
	}
	if got["port 29123 secret s3cret"] != "stdout" || got["limit 67108864"] != "stdout" || got["err"] != "stderr" {
		t.Fatalf("the container's output: %v; status %+v", lines, h.status("c.0"))
	}
	st := h.status("c.0")
	if st.State != InstanceRunning || st.PID <= 0 {
		t.Fatalf("instance: %+v", st)
	}
	if ps := cli("ps", "--filter", "name=^"+name+"$", "--format", `{{.Names}} {{.Labels}}`); !strings.HasPrefix(ps, name+" ") ||
		!strings.Contains(ps, LabelSupervisor+":"+h.sup.cfg.DataDir) || !strings.Contains(ps, "cairn.instance:c.0") {
		t.Fatalf("%s ps: %q", engine.Name(), ps)
	}
	if inspect := cli("inspect", name); strings.Contains(inspect, "s3cret") && !strings.Contains(inspect, "SECRET=s3cret") {
		t.Fatalf("the secret shows outside the environment:\n%s", inspect)
	}
	if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/cmdline"); strings.Contains(string(cmdline), "s3cret") {
		t.Fatalf("a variable's value is on the engine's command line: %q", cmdline)
	}

	// Stop: the engine stops the container (sleep, its pid 1, ignores
	// SIGTERM: killed at the stop timeout), the CLI exits, the container
	// is gone.
	s.State = StateStopped
	body, _ = json.Marshal(s)
	stopAt := time.Now()
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "c", Body: body})
	deadline = time.Now().Add(30 * time.Second)
	for h.status("c.0").State != InstanceRemoved {
		if time.Now().After(deadline) {
			t.Fatalf("not removed 30s after stop: %+v", h.status("c.0"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("stopped in %s", time.Since(stopAt).Round(time.Millisecond))
	if syscall.Kill(st.PID, 0) == nil && alive(st.PID) {
		t.Fatalf("the engine's CLI (pid %d) still runs", st.PID)
	}
	if ps := cli("ps", "-a", "--filter", "name=^"+name+"$", "--format", "{{.Names}}"); ps != "" {
		t.Fatalf("the container is still there after stop: %q", ps)
	}

	// An exit code is the instance's.
	h.mustRun("x", `{"image":"`+image+`","command":["sh","-c","echo bye; exit 3"],"instances":1,"restart":{"mode":"never"}}`)
	deadline = time.Now().Add(time.Minute)
	for h.status("x.0").State != InstanceCrashed {
		if time.Now().After(deadline) {
			t.Fatalf("x: %+v", h.status("x.0"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := h.status("x.0"); st.ExitCode != 3 {
		t.Fatalf("x: %+v, want exit code 3", st)
	}
	if ps := cli("ps", "-a", "--filter", "name=^cairn-n1-x.0$", "--format", "{{.Names}}"); ps != "" {
		t.Fatalf("the exited container is still there: %q", ps)
	}

	// What a previous run of the agent left (its CLI died, its container
	// did not): Clean removes it.
	left := cli("run", "-d", "--name", "cairn-n1-left.0", "--label", LabelSupervisor+"="+h.sup.cfg.DataDir, "--network", "host", image, "sleep", "60")
	t.Cleanup(func() { _ = exec.Command(engine.path, "rm", "-f", "cairn-n1-left.0").Run() })
	if n := engine.Clean(); n != 1 {
		t.Fatalf("Clean removed %d containers, want 1 (%s)", n, left)
	}
	if ps := cli("ps", "-a", "--filter", "label="+LabelSupervisor+"="+h.sup.cfg.DataDir, "--format", "{{.Names}}"); ps != "" {
		t.Fatalf("containers left after Clean: %q", ps)
	}
}
