package workload

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func Test_ParseSpec_Defaults_Filled(t *testing.T) {
	s, err := ParseSpec([]byte(`{"command":["bash","-c","true"],"instances":3,"placement":{"nodes":["n2","n1","n2"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.State != StateStarted || s.Restart.Mode != RestartOnFailure || s.Restart.Attempts != DefaultAttempts ||
		s.Restart.Interval.D() != DefaultInterval || s.Restart.Delay.D() != DefaultDelay || s.StopTimeout.D() != DefaultStopTimeout {
		t.Fatalf("defaults not filled: %+v", s)
	}
	if strings.Join(s.Placement.Nodes, ",") != "n1,n2" {
		t.Fatalf("placement nodes %v, want sorted and deduplicated n1,n2", s.Placement.Nodes)
	}
	// The normalised body parses to itself: every replica sees the same.
	b, _ := json.Marshal(s)
	again, err := ParseSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(again)
	if string(b) != string(b2) {
		t.Fatalf("normalising is not idempotent:\n%s\n%s", b, b2)
	}
}

func Test_ParseSpec_BadInput_InvalidNamingTheField(t *testing.T) {
	cases := map[string]string{
		`[]`:                                       "JSON object",
		`{"command":[]}`:                           "command is required",
		`{"command":["x"],"instances":-1}`:         "instances",
		`{"command":["x"],"instances":1001}`:       "instances",
		`{"command":["x"],"state":"running"}`:      "state",
		`{"command":["x"],"restart":{"mode":"x"}}`: "restart.mode",
		`{"command":["x"],"restart":{"delay":"2s","max_delay":"1s"}}`:      "max_delay",
		`{"command":["x"],"stop_timeout":"forever"}`:                       "duration",
		`{"command":["x"],"stop_timeout":"-1s"}`:                           "stop_timeout",
		`{"command":["x"],"env":{"A=B":"c"}}`:                              "env variable",
		`{"command":["x"],"env":{"CAIRN_X":"c"}}`:                          "reserved",
		`{"command":["x\u0000"]}`:                                          "NUL",
		`{"command":["x"],"bogus":1}`:                                      "unknown field \"bogus\"",
		`{"command":["x"],"ports":[8080]}`:                                 "Spec.ports of type string",
		`{"command":["x"],"ports":["http","http"]}`:                        "named twice",
		`{"command":["x"],"ports":["Http"]}`:                               "not a port name",
		`{"command":["x"],"links":[{"workload":"a.b"}]}`:                   "links[0].workload",
		`{"command":["x"],"links":[{"workload":"db","env":"PORT"}]}`:       "reserved",
		`{"command":["x"],"memory_limit":"1K"}`:                            "is under 1M",
		`{"command":["x"],"memory_limit":"lots"}`:                          "not a size",
		`{"command":["x"],"artifact":"abc"}`:                               "not a SHA-1",
		`{"artifact":"` + strings.Repeat("a", 40) + `","runtime":"cobol"}`: "runtime \"cobol\" is not one of bash",
		`{"command":["x"],"runtime":"bash"}`:                               "needs an artifact",
		`{"image":"nginx","artifact":"` + strings.Repeat("a", 40) + `"}`:   "give one",
		`{"image":"-v /:/host"}`:                                           "not an image reference",
		`{"command":["x"],"instances":"3"}`:                                "instances",
		`{"command":["x"],"placement":{"nodes":[""]}}`:                     "placement.nodes",
	}
	for body, want := range cases {
		_, err := ParseSpec([]byte(body))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", body, err, want)
		}
	}
}

func Test_ValidID_AndInstanceIDs(t *testing.T) {
	for _, id := range []string{"a", "web-1", "0x_y"} {
		if err := ValidID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", "A", "a.b", "-a", "a/b", strings.Repeat("a", 64), "../x"} {
		if ValidID(id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
	wl, idx, ok := ParseInstanceID(InstanceID("web-1", 12))
	if !ok || wl != "web-1" || idx != 12 {
		t.Fatalf("round trip: %q %d %v", wl, idx, ok)
	}
}

func Test_Policy_OnFailure_RestartsWithBackoff_ThenFails(t *testing.T) {
	p := &Policy{Restart: Restart{Mode: RestartOnFailure, Attempts: 3, Interval: Duration(time.Minute),
		Delay: Duration(100 * time.Millisecond), MaxDelay: Duration(250 * time.Millisecond)}}
	now := time.Unix(1000, 0)
	if d := p.Exited(0, time.Second, now); d.Restart || d.Failed {
		t.Fatalf("on-failure after exit 0: %+v, want no restart", d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond}
	for i, w := range want {
		d := p.Exited(1, time.Millisecond, now.Add(time.Duration(i)*time.Second))
		if !d.Restart || d.Delay != w {
			t.Fatalf("crash %d: %+v, want restart after %s", i+1, d, w)
		}
	}
	d := p.Exited(7, time.Millisecond, now.Add(4*time.Second))
	if !d.Failed || d.Restart || !strings.Contains(d.Reason, "exited 4 times within 1m0s") || !strings.Contains(d.Reason, "last exit code 7") {
		t.Fatalf("fourth crash within the interval: %+v, want failed with the reason", d)
	}
}

func Test_Policy_CrashesOutsideInterval_DoNotCount(t *testing.T) {
	p := &Policy{Restart: Restart{Mode: RestartAlways, Attempts: 1, Interval: Duration(time.Second),
		Delay: Duration(time.Millisecond), MaxDelay: Duration(time.Millisecond)}}
	now := time.Unix(1000, 0)
	for i := 0; i < 5; i++ {
		if d := p.Exited(0, 10*time.Millisecond, now.Add(time.Duration(i)*2*time.Second)); !d.Restart {
			t.Fatalf("exit %d, 2s apart with a 1s interval: %+v, want restart", i, d)
		}
	}
	never := &Policy{Restart: Restart{Mode: RestartNever, Attempts: 1}}
	if d := never.Exited(1, 0, now); d.Restart || d.Failed {
		t.Fatalf("never: %+v", d)
	}
}

func Test_MergeLast_TimeOrder_KeepsLastN(t *testing.T) {
	a := []Line{{Time: 1, Text: "a1"}, {Time: 4, Text: "a4"}}
	b := []Line{{Time: 2, Text: "b2"}, {Time: 3, Text: "b3"}, {Time: 5, Text: "b5"}}
	got := MergeLast(3, a, b)
	var s []string
	for _, l := range got {
		s = append(s, l.Text)
	}
	if strings.Join(s, ",") != "b3,a4,b5" {
		t.Fatalf("got %v", s)
	}
	if l := (Line{Time: 12, Channel: "stderr", Text: "x,y"}); l.String() != "12,stderr,x,y" {
		t.Fatalf("format %q", l.String())
	}
}
