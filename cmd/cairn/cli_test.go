package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Test_CLI_Verbs_AgainstARealNode: the client verbs against a real node:
// tables by default, -json for scripts, and the documented exit codes
// (#24 item 3).
func Test_CLI_Verbs_AgainstARealNode(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{args: []string{"-auth", "on", "-admin-password", "cli-secret"}})
	env := []string{"CAIRN_ADDR=" + a.url, "CAIRN_USER=admin", "CAIRN_PASSWORD=cli-secret"}
	waitFor(t, "the zone's admin", 10*time.Second, func() bool {
		code, _, _ := runCairn(t, 20*time.Second, env, "status")
		return code == 0
	}, nil)
	run := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := runCairn(t, 20*time.Second, env, args...)
		if code != wantCode {
			t.Fatalf("cairn %s: exit %d, want %d; stdout %q stderr %q", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out + errOut
	}
	if out := run(0, "put", "widget", "w1", "-body", `{"size":1}`); !strings.Contains(out, "created, version") {
		t.Errorf("put: %q", out)
	}
	run(4, "put", "widget", "w1", "-create", "-body", `{"size":2}`)
	out := run(0, "get", "widget", "w1", "-json")
	var r struct {
		Version uint64 `json:"version"`
		Body    struct {
			Size int `json:"size"`
		} `json:"body"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &r); err != nil || r.Body.Size != 1 || r.Version == 0 {
		t.Fatalf("get -json: %q %v", out, err)
	}
	run(4, "put", "widget", "w1", "-version", "999999", "-body", `{"size":3}`)
	run(0, "put", "widget", "w1", "-version", itoa(r.Version), "-body", `{"size":3}`)
	if out := run(0, "get", "widget", "w1", "-consistent"); !strings.Contains(out, `"size": 3`) {
		t.Errorf("get: %q", out)
	}
	run(3, "get", "widget", "nope")
	if out := run(0, "list", "widget"); !strings.Contains(out, "w1") || !strings.Contains(out, "VERSION") {
		t.Errorf("list: %q", out)
	}
	if out := run(0, "members"); !strings.Contains(out, a.id()) || !strings.Contains(out, "leader") {
		t.Errorf("members: %q", out)
	}
	if out := run(0, "status"); !strings.Contains(out, "Leader") {
		t.Errorf("status: %q", out)
	}
	run(2, "get", "widget")
	run(2, "frobnicate-not-a-flag", "-x")
	run(0, "workloads")
	run(3, "workloads", "nope")

	// watch: the current resources, then each change as it happens.
	w := exec.Command(cairnBin, "watch", "widget")
	w.Env = childEnv(env)
	stdout, _ := w.StdoutPipe()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Process.Kill(); _ = w.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) {
		t.Helper()
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("watch printed %q, want %q...", l, prefix)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("watch printed nothing; want %q...", prefix)
		}
	}
	expect("exists   widget/w1")
	run(0, "put", "widget", "w2", "-body", `{}`)
	expect("created  widget/w2")
	run(0, "delete", "widget", "w1")
	expect("deleted  widget/w1")

	// Credentials and reachability say what to do.
	code, _, errOut := runCairn(t, 20*time.Second, []string{"CAIRN_ADDR=" + a.url}, "list", "widget")
	if code != 5 || !strings.Contains(errOut, "-user") {
		t.Errorf("without credentials: exit %d, %q; want 5 and a hint", code, errOut)
	}
	code, _, errOut = runCairn(t, 20*time.Second, []string{"CAIRN_ADDR=http://127.0.0.1:1"}, "status")
	if code != 1 || !strings.Contains(errOut, "CAIRN_ADDR") {
		t.Errorf("unreachable node: exit %d, %q; want 1 and a hint", code, errOut)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
