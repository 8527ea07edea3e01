package maxscale_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"cairn/node/nodetest"
)

// Test_Monitor_MarksServerDownAndRunning runs a monitor over a server whose
// port is a real listener: Running while it accepts, Down once it closes,
// Running again when it reopens on the same port. Master stays as set.
func Test_Monitor_MarksServerDownAndRunning(t *testing.T) {
	f := mustServe(t)
	addr := nodetest.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ln.Close() }()
	go acceptAll(ln)

	f.must("POST", "/v1/servers", fmt.Appendf(nil, `{"data":{"id":"db1","type":"servers","attributes":{"parameters":{"address":%q,"port":%s}}}}`, host, port), 204)
	f.must("PUT", "/v1/servers/db1/set?state=master", nil, 204)
	// No monitor has seen db1 yet: no event, and no null for maxctrl to print.
	if b := f.must("GET", "/v1/servers/db1", nil, 200).body; strings.Contains(string(b), "last_event") || strings.Contains(string(b), "triggered_at") {
		t.Errorf("an unmonitored server shows an event: %s", b)
	}
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"mon","type":"monitors","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd","monitor_interval":50}},
		"relationships":{"servers":{"data":[{"id":"db1","type":"servers"}]}}}}`), 204)
	waitState := func(want string) {
		t.Helper()
		var got string
		nodetest.WaitFor(t, func() bool {
			body := string(f.must("GET", "/v1/servers/db1", nil, 200).body)
			i := strings.Index(body, `"state":"`)
			got = body[i+9:]
			got = got[:strings.IndexByte(got, '"')]
			return got == want
		}, 10*time.Second, "db1 to be "+want+" (last: "+got+")")
	}
	waitState("Master, Running")
	event := func() (string, string) {
		attrs := decode(t, f.must("GET", "/v1/servers/db1", nil, 200).body).(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)
		ev, _ := attrs["last_event"].(string)
		at, _ := attrs["triggered_at"].(string)
		return ev, at
	}
	if ev, at := event(); ev != "server_up" || at == "" {
		t.Errorf("after the monitor saw db1 come up: last_event %q, triggered_at %q", ev, at)
	}
	ln.Close()
	waitState("Master, Down")
	if ev, at := event(); ev != "server_down" || at == "" {
		t.Errorf("after the monitor saw db1 go down: last_event %q, triggered_at %q", ev, at)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	ln = ln2
	go acceptAll(ln2)
	waitState("Master, Running")
	// A stopped monitor no longer probes.
	f.must("PUT", "/v1/monitors/mon/stop", nil, 204)
	ln2.Close()
	// An absence can only be checked by waiting: six intervals.
	time.Sleep(300 * time.Millisecond)
	waitState("Master, Running")
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
