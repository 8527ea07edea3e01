package workload

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
)

// fakeEngine is a stand-in for the docker CLI, for the supervisor's side
// of the container driver where no engine works (it tests the plumbing,
// not an engine): `info` succeeds, `run` logs its arguments and execs the
// container's command on the host, `stop` SIGTERMs it, `rm` and `ps` log.
const fakeEngine = `#!/bin/bash
echo "$*" >>"$FAKE_ENGINE_DIR/calls"
case "$1" in
info) exit 0;;
run) shift
  while true; do
    case "$1" in
    --rm) shift;;
    --name) name=$2; shift 2;;
    --label|--network|--pull|-e|--memory|--user) shift 2;;
    *) break;;
    esac
  done
  shift # the image
  echo $$ >"$FAKE_ENGINE_DIR/$name.pid"
  exec "$@";;
stop) kill -TERM "$(cat "$FAKE_ENGINE_DIR/$4.pid")";;
esac
exit 0
`

func Test_ContainerDriver_FakeEngine_RunsStopsRemoves_VariablesByNameOnly(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeEngine), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_ENGINE_DIR", bin)
	var engine *ContainerDriver
	h := mustSupervisor(t, func(c *Config) {
		var err error
		if engine, err = DetectEngine(context.Background(), c.DataDir, nil); err != nil {
			t.Fatal(err)
		}
		c.Engine = engine
	})
	if h.sup.Engine() != "docker" {
		t.Fatalf("engine %q, want docker", h.sup.Engine())
	}
	s, _ := ParseSpec([]byte(`{"image":"example/app:1","command":["bash","-c","echo port $PORT secret $SECRET; exec sleep 60"],
		"env":{"SECRET":"s3cret"},"instances":1,"ports":["http"],"memory_limit":"64M","stop_timeout":"1s"}`))
	body, _ := json.Marshal(s)
	pb, _ := json.Marshal(PlacementOf("c", []Placed{{Index: 0, Node: "n1", Ports: []int{29123}}}))
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "c", Body: body}, fsm.Op{Type: fsm.OpPut, Kind: KindPlacement, ID: "c", Body: pb})
	var lines []Line
	waitUntil(t, "the container's output", func() bool {
		lines, _ = h.sup.Logs("c", 10, 0)
		return len(lines) == 1
	})
	if lines[0].Text != "port 29123 secret s3cret" {
		t.Fatalf("output %q", lines[0].Text)
	}
	calls, _ := os.ReadFile(filepath.Join(bin, "calls"))
	for _, want := range []string{"run --rm --name cairn-n1-c.0 --label cairn.supervisor=" + h.sup.cfg.DataDir + " --label cairn.instance=c.0 --network host",
		" -e PORT ", " -e SECRET ", " --memory 67108864 ", " example/app:1 bash -c "} {
		if !strings.Contains(string(calls), want) {
			t.Fatalf("engine calls lack %q:\n%s", want, calls)
		}
	}
	if strings.Contains(string(calls), "s3cret") {
		t.Fatalf("a variable's value is on the engine's command line:\n%s", calls)
	}
	s.State = StateStopped
	body, _ = json.Marshal(s)
	h.apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "c", Body: body})
	waitUntil(t, "the container stopped and removed", func() bool {
		calls, _ = os.ReadFile(filepath.Join(bin, "calls"))
		return h.status("c.0").State == InstanceRemoved && strings.Contains(string(calls), "stop -t 1 cairn-n1-c.0\n") &&
			strings.Contains(string(calls), "rm -f cairn-n1-c.0\n")
	})
	if n := engine.Clean(); n != 0 {
		t.Fatalf("Clean found %d containers; the fake engine lists none", n)
	}
}

func Test_Supervisor_Image_NoEngineOnThisNode_FailsSayingSo(t *testing.T) {
	h := mustSupervisor(t)
	h.mustRun("c", `{"image":"nginx:1","instances":1}`)
	waitUntil(t, "the instance failed", func() bool { return h.status("c.0").Failed })
	if st := h.status("c.0"); !strings.Contains(st.Reason, "no container engine on node n1") {
		t.Fatalf("reason %q", st.Reason)
	}
}

func Test_DetectEngine_CLIWithoutItsDaemon_IsNoEngine(t *testing.T) {
	path, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI on this machine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if exec.CommandContext(ctx, path, "info").Run() == nil {
		t.Skip("docker works on this machine")
	}
	t.Setenv("PATH", filepath.Dir(path)) // docker, and no podman beside it
	e, err := DetectEngine(ctx, t.TempDir(), nil)
	if e != nil || err == nil || !strings.Contains(err.Error(), "docker info failed") {
		t.Fatalf("DetectEngine: %v, %v; want no engine, saying docker info failed", e, err)
	}
}
