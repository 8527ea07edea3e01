// Package maxscaletest holds what tests of the MaxScale dialect share: the
// structural comparison of a document against a fixture, and the replay of
// the maxctrl session captured in testdata/maxscale/maxctrl/ against any
// MaxScale listener, in-process or of a real `cairn agent`.
package maxscaletest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// monitorFed are the members a real monitor would fill in from the
// backend; Contains checks them for presence only.
var monitorFed = map[string]bool{"version_string": true, "node_id": true, "master_id": true, "replication_depth": true, "slaves": true}

// Contains reports where got lacks a member of want or differs from it:
// every member want shows must be present in got with the same value
// (members a real monitor fills in: present, any value).
func Contains(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": want an object, got " + str(got)}
		}
		var diffs []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, path+"."+k+": missing")
				continue
			}
			if monitorFed[k] {
				continue
			}
			diffs = append(diffs, Contains(path+"."+k, wv, gv)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path + ": want " + str(want) + ", got " + str(got)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, Contains(path+"[]", w[i], g[i])...)
		}
		return diffs
	default:
		if str(want) != str(got) {
			return []string{path + ": want " + str(want) + ", got " + str(got)}
		}
		return nil
	}
}

func str(v any) string { b, _ := json.Marshal(v); return string(b) }

// Session is a captured maxctrl session (testdata/maxscale/maxctrl/session.json).
type Session struct {
	Steps []Step `json:"steps"`
}

// Step is one maxctrl command: its arguments, the requests it sent in
// order with the answers it got, and what it printed and exited with.
type Step struct {
	Name     string    `json:"name"`
	Maxctrl  []string  `json:"maxctrl"`
	Exit     int       `json:"exit"`
	Output   []string  `json:"output"`
	Requests []Request `json:"requests"`
}

// Request is one HTTP exchange of a step.
type Request struct {
	Method      string          `json:"method"`
	Path        string          `json:"path"`
	ContentType string          `json:"content_type"`
	Body        json.RawMessage `json:"body"`
	Status      int             `json:"status"`
	Response    json.RawMessage `json:"response"`
}

// MustSession reads the session at path, failing the test at once.
func MustSession(t testing.TB, path string) Session {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(s.Steps) == 0 {
		t.Fatalf("%s has no steps", path)
	}
	return s
}

// volatile are members whose value depends on when the session ran or
// which build answered: they must be present, with any value.
var volatile = map[string]bool{"started": true, "started_at": true, "activated_at": true, "uptime": true,
	"triggered_at": true, "commit": true, "created": true}

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
// per resource type (its lib/list.js and lib/show.js): each must be there
// and not null, as maxctrl prints a null as "null" (and throws on a
// server without attributes.parameters).
var maxctrlReads = map[string][]string{
	"servers": {"parameters", "state", "version_string", "master_id", "node_id", "slaves",
		"statistics.connections", "statistics.total_connections", "statistics.max_connections"},
	"services": {"router", "state", "started", "parameters", "router_diagnostics", "listeners",
		"statistics.connections", "statistics.total_connections", "statistics.max_connections"},
	"monitors": {"module", "state", "parameters", "monitor_diagnostics"},
	"maxscale": {"version", "commit", "started_at", "activated_at", "uptime", "parameters"},
}

// checkReads reports what maxctrl reads that obj lacks. An attribute
// maxctrl shows that is there only sometimes (last_event) must not be null
// when present.
func checkReads(obj any) []string {
	o, _ := obj.(map[string]any)
	typ, _ := o["type"].(string)
	attrs, ok := o["attributes"].(map[string]any)
	if !ok {
		return []string{"a " + typ + " object without attributes: " + str(obj)}
	}
	var errs []string
	for _, p := range maxctrlReads[typ] {
		var v any = attrs
		for _, part := range strings.Split(p, ".") {
			m, _ := v.(map[string]any)
			v = m[part]
		}
		if v == nil {
			errs = append(errs, typ+" "+str(o["id"])+" lacks attributes."+p+" (or it is null), which maxctrl reads")
		}
	}
	for _, p := range []string{"last_event", "triggered_at"} {
		if v, ok := attrs[p]; ok && v == nil {
			errs = append(errs, typ+" "+str(o["id"])+" has a null "+p+": maxctrl would print null")
		}
	}
	if _, ok := attrs["parameters"].(map[string]any); typ == "servers" && !ok {
		errs = append(errs, "server "+str(o["id"])+": attributes.parameters is not an object")
	}
	return errs
}

// Replay sends every request of s, in order, to the MaxScale listener at
// base (as Host localhost:8989, the host the fixture's links name), and
// fails the test on the first answer that differs from the one maxctrl
// got: another status, a body where there was none, a member missing or
// changed (volatile values aside), or an attribute maxctrl reads missing.
// The zone behind base must be fresh, as the captured one was.
func Replay(t testing.TB, s Session, base string, client *http.Client) {
	t.Helper()
	for _, st := range s.Steps {
		// maxctrl's default credentials, unless the step gave its own.
		user, password := "admin", "mariadb"
		for i := 0; i+1 < len(st.Maxctrl); i++ {
			switch st.Maxctrl[i] {
			case "-u":
				user = st.Maxctrl[i+1]
			case "-p":
				password = st.Maxctrl[i+1]
			}
		}
		for i, rq := range st.Requests {
			where := "maxctrl " + strings.Join(st.Maxctrl, " ") + ": " + rq.Method + " " + rq.Path
			var body io.Reader
			if len(rq.Body) > 0 {
				body = bytes.NewReader(rq.Body)
			}
			req, err := http.NewRequest(rq.Method, base+rq.Path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "localhost:8989"
			req.SetBasicAuth(user, password)
			if rq.ContentType != "" {
				req.Header.Set("Content-Type", rq.ContentType)
			}
			resp, err := client.Do(req)
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
			var want, gotDoc any
			if err := json.Unmarshal(rq.Response, &want); err != nil {
				t.Fatalf("%s: the fixture's response: %v", where, err)
			}
			if err := json.Unmarshal(got, &gotDoc); err != nil {
				t.Fatalf("%s: not JSON: %v: %s", where, err, got)
			}
			maskVolatile(want)
			maskVolatile(gotDoc)
			if d := Contains("", want, gotDoc); len(d) > 0 {
				t.Fatalf("%s: the answer differs from the one maxctrl got:\n  %s\ngot %s", where, strings.Join(d, "\n  "), got)
			}
			if resp.StatusCode != http.StatusOK {
				continue
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: Content-Type %q", where, ct)
			}
			var errs []string
			switch data := gotDoc.(map[string]any)["data"].(type) {
			case []any:
				for _, o := range data {
					errs = append(errs, checkReads(o)...)
				}
			case map[string]any:
				errs = checkReads(data)
			}
			if len(errs) > 0 {
				t.Errorf("%s:\n  %s", where, strings.Join(errs, "\n  "))
			}
		}
	}
}
