package maxscale_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The requests MaxScale's CLI sent, captured by a logging proxy between a
// real maxctrl and a real `cairn agent` (testdata/maxscale/maxctrl/): each
// step is one maxctrl command, with Cairn's answers as maxctrl accepted
// them. Replaying them keeps maxctrl working without maxctrl at hand.

type maxctrlSession struct {
	Steps []maxctrlStep `json:"steps"`
}

type maxctrlStep struct {
	Name     string           `json:"name"`
	Maxctrl  []string         `json:"maxctrl"`
	Exit     int              `json:"exit"`
	Output   []string         `json:"output"`
	Requests []maxctrlRequest `json:"requests"`
}

type maxctrlRequest struct {
	Method      string          `json:"method"`
	Path        string          `json:"path"`
	ContentType string          `json:"content_type"`
	Body        json.RawMessage `json:"body"`
	Status      int             `json:"status"`
	Response    json.RawMessage `json:"response"`
}

func mustMaxctrlSession(t *testing.T) maxctrlSession {
	t.Helper()
	var s maxctrlSession
	if err := json.Unmarshal(mustFixture(t, "maxctrl/session.json"), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) == 0 {
		t.Fatal("no steps in maxctrl/session.json")
	}
	return s
}

// volatile are members whose value depends on when the session ran or
// which build answered: they must be present, with any value.
var volatile = map[string]bool{"started": true, "started_at": true, "activated_at": true, "uptime": true,
	"triggered_at": true, "commit": true}

// maskVolatile replaces the values of volatile members with a marker.
func maskVolatile(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatile[k] {
				x[k] = "<volatile>"
			} else {
				x[k] = maskVolatile(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = maskVolatile(x[i])
		}
	}
	return v
}

// maxctrlReads are the attributes maxctrl's list and show commands read,
// per resource type (maxctrl's lib/list.js and lib/show.js): each must be
// present, and not null, as maxctrl prints a null as "null" (and throws on
// a missing attributes.parameters).
var maxctrlReads = map[string][]string{
	"servers": {"parameters", "state", "version_string", "master_id", "node_id", "slaves",
		"statistics.connections", "statistics.total_connections", "statistics.max_connections"},
	"services": {"router", "state", "started", "parameters", "router_diagnostics", "listeners",
		"statistics.connections", "statistics.total_connections", "statistics.max_connections"},
	"monitors": {"module", "state", "parameters", "monitor_diagnostics"},
	"maxscale": {"version", "commit", "started_at", "activated_at", "uptime", "parameters"},
}

// mustHaveMaxctrlReads checks one resource object for what maxctrl reads.
// An attribute maxctrl shows that is there only sometimes (last_event) must
// not be null when present.
func mustHaveMaxctrlReads(t *testing.T, where string, obj any) {
	t.Helper()
	o, _ := obj.(map[string]any)
	typ, _ := o["type"].(string)
	attrs, ok := o["attributes"].(map[string]any)
	if !ok {
		t.Fatalf("%s: a %s object without attributes: %s", where, typ, str(obj))
	}
	for _, p := range maxctrlReads[typ] {
		var v any = attrs
		for _, part := range strings.Split(p, ".") {
			m, _ := v.(map[string]any)
			v = m[part]
		}
		if v == nil {
			t.Errorf("%s: %s %v lacks attributes.%s (or it is null), which maxctrl reads", where, typ, o["id"], p)
		}
	}
	for _, p := range []string{"last_event", "triggered_at"} {
		if v, ok := attrs[p]; ok && v == nil {
			t.Errorf("%s: %s %v has a null %s; maxctrl would print null", where, typ, o["id"], p)
		}
	}
	if typ == "servers" {
		if _, ok := attrs["parameters"].(map[string]any); !ok {
			t.Errorf("%s: server %v: attributes.parameters is not an object", where, o["id"])
		}
	}
}

// Test_Maxctrl_Session_Replays sends every request of the captured maxctrl
// session, in order, to a fresh zone, and checks each answer: the status
// maxctrl got, no body where it got none, and every member of the body it
// got (volatile values aside), so the fields maxctrl prints are all there.
func Test_Maxctrl_Session_Replays(t *testing.T) {
	s := mustMaxctrlSession(t)
	f := mustServe(t)
	for _, st := range s.Steps {
		for i, rq := range st.Requests {
			where := "maxctrl " + strings.Join(st.Maxctrl, " ") + ": " + rq.Method + " " + rq.Path
			var body io.Reader
			if len(rq.Body) > 0 {
				body = bytes.NewReader(rq.Body)
			}
			req, err := http.NewRequest(rq.Method, f.listener+rq.Path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "localhost:8989"
			req.SetBasicAuth("admin", "mariadb")
			for _, a := range st.Maxctrl {
				if a == "wrong" { // the bad-password step
					req.SetBasicAuth("admin", "wrong")
				}
			}
			if rq.ContentType != "" {
				req.Header.Set("Content-Type", rq.ContentType)
			}
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != rq.Status {
				t.Fatalf("%s (request %d of step %s): status %d, maxctrl got %d; body %s", where, i+1, st.Name, resp.StatusCode, rq.Status, got)
			}
			if len(rq.Response) == 0 {
				if len(bytes.TrimSpace(got)) != 0 {
					t.Fatalf("%s: a body %s where maxctrl got none", where, got)
				}
				continue
			}
			want := maskVolatile(decode(t, rq.Response))
			gotDoc := maskVolatile(decode(t, got))
			if d := contains("", want, gotDoc); len(d) > 0 {
				t.Fatalf("%s: the answer differs from the one maxctrl got:\n  %s\ngot %s", where, strings.Join(d, "\n  "), got)
			}
			if resp.StatusCode == http.StatusOK {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s: Content-Type %q", where, ct)
				}
				switch data := gotDoc.(map[string]any)["data"].(type) {
				case []any:
					for _, o := range data {
						mustHaveMaxctrlReads(t, where, o)
					}
				case map[string]any:
					mustHaveMaxctrlReads(t, where, data)
				}
			}
		}
	}
}

// Test_Maxctrl_Session_Covers checks the captured session still holds the
// commands this dialect promises maxctrl can run, each with the exit code
// MaxScale 6.4 gives it (1 for a refused or unknown object).
func Test_Maxctrl_Session_Covers(t *testing.T) {
	s := mustMaxctrlSession(t)
	exit := map[string]int{}
	for _, st := range s.Steps {
		exit[st.Name] = st.Exit
	}
	for name, want := range map[string]int{
		"list-servers": 0, "show-server1": 0, "show-servers": 0, "list-services": 0, "show-service": 0,
		"list-monitors": 0, "show-monitor": 0, "show-maxscale": 0, "list-filters": 0, "list-listeners": 0,
		"create-server1": 0, "create-server-socket": 0, "create-server-dup": 1, "create-service-rw": 0,
		"create-monitor": 0, "create-service-cluster": 0, "alter-server-pair": 0, "alter-server-kv": 0,
		"alter-server-badport": 1, "alter-service": 0, "alter-monitor": 0, "link-service": 0,
		"link-monitor": 0, "link-monitor-second-refused": 1, "unlink-service": 0, "unlink-monitor": 0,
		"set-maintenance": 0, "set-drain": 0, "set-bad-state": 1, "clear-maintenance": 0,
		"stop-service": 0, "start-service": 0, "stop-monitor": 0, "start-monitor": 0,
		"destroy-server-in-use": 1, "destroy-server-force": 0, "destroy-server": 0,
		"destroy-service-in-use": 1, "destroy-service-force": 0, "destroy-monitor-in-use": 1,
		"destroy-monitor-force": 0, "destroy-server-unknown": 1, "create-service-cycle-refused": 1,
		"bad-password": 1,
	} {
		got, ok := exit[name]
		if !ok {
			t.Errorf("the session has no step %s", name)
		} else if got != want {
			t.Errorf("step %s: maxctrl exited %d, want %d", name, got, want)
		}
	}
}
