package apcera

import (
	"encoding/json"
	"testing"
)

func TestRepairJSON_TheSeedsSlips(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":{"b":1,},}`, `{"a":{"b":1}}`},
		{`{"bindings":{"x":{"y":[1,2,]},
  },"v":1,
}`, `{"bindings":{"x":{"y":[1,2]}},"v":1}`},
		{`{"docs":[{"name":"olddoc","text":"a, \"b\" }"
 "for_version": 6}]}`, `{"docs":[{"name":"olddoc","text":"a, \"b\" }","for_version":6}]}`},
		{`{"a":"x,}"}`, `{"a":"x,}"}`},
	} {
		got := repairJSON([]byte(tc.in))
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s repaired to %s: %v", tc.in, got, err)
		}
		_ = json.Unmarshal([]byte(tc.want), &w)
		if gb, wb := mustJSON(g), mustJSON(w); string(gb) != string(wb) {
			t.Fatalf("%s repaired to %s, want %s", tc.in, gb, wb)
		}
	}
	// What is not one of those slips stays invalid.
	for _, in := range []string{`{"a": ...}`, `{"a" 1}`, `{"a":}`} {
		if json.Valid(repairJSON([]byte(in))) {
			t.Fatalf("%s was made valid: %s", in, repairJSON([]byte(in)))
		}
	}
}

func TestMainPath(t *testing.T) {
	for in, want := range map[string]string{"/v1/jobs": "/apcera/v1/jobs", "/jobs": "/apcera/v1/jobs", "/apcera/v1/tasks/x": "/apcera/v1/tasks/x", "/v1": "/apcera/v1"} {
		if got := MainPath(in); got != want {
			t.Errorf("MainPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStartCommand_AppIsStartPath(t *testing.T) {
	for in, want := range map[string]string{
		"/app/start.sh":           "$START_PATH/start.sh",
		"cd /app && ./run /apple": "cd $START_PATH && ./run /apple",
		"foo":                     "foo",
		"X=/app/bin y":            "X=$START_PATH/bin y",
	} {
		if got := startCommand(in); got != want {
			t.Errorf("startCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := envName("egress_for_sampleapp1444c2c50"); got != "EGRESS_FOR_SAMPLEAPP1444C2C50" {
		t.Errorf("envName: %q", got)
	}
	if got := imageRef("https://registry-1.docker.io/deis/helloworld:latest"); got != "docker.io/deis/helloworld:latest" {
		t.Errorf("imageRef: %q", got)
	}
	if _, err := parseFQN("job::/sandbox/demouser::sampleapp1", "job"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"job::sandbox::x", "package::/a::b", "job::/a::", "job::/a"} {
		if _, err := parseFQN(bad, "job"); err == nil {
			t.Errorf("parseFQN(%q) took it", bad)
		}
	}
	if nameUUID("x") != nameUUID("x") || !validUUID(nameUUID("x")) {
		t.Error("nameUUID is not a stable UUID")
	}
}
