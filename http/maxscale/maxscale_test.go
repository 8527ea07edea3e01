package maxscale_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/cluster/monitor"
	"cairn/fsm"
	"cairn/http"
	"cairn/http/maxscale"
	"cairn/http/maxscale/maxscaletest"
	"cairn/node"
	"cairn/node/auth"
	"cairn/node/nodetest"

	"github.com/prometheus/client_golang/prometheus"
)

// fixture is one real single-node zone serving the MaxScale API on a
// listener of its own (like :8989) and under /maxscale/v1 on the main one.
type fixture struct {
	t        *testing.T
	n        *node.Node
	listener string // base URL of the MaxScale listener
	main     string // base URL of the main listener
	client   *http.Client
	user     [2]string
	limits   *api.Limits
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func mustServe(t *testing.T) *fixture {
	t.Helper()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	schema, err := fsm.NewSchema(maxscale.Kinds()...)
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.MustLeader(t, node.Config{Zone: "z1", HTTPURL: "http://cairn-n1.test:8180",
		CommitTimeout: 5 * time.Millisecond, ApplyTimeout: 5 * time.Second, Logger: discard}, schema)
	limits := api.NewLimits(64<<10, 10*time.Second)
	ms := maxscale.New(n, maxscale.Options{NodeID: n.ID(), CairnVersion: "test"})
	n.OnLeadership(monitor.New(ms.Fleet(), discard).Run)
	// As the agent: the zone's signing key and its first admin (whose
	// password, MaxScale's default admin/mariadb included, is accepted).
	n.OnLeadership((&auth.Bootstrap{Node: n, DataDir: t.TempDir(), Log: discard, Print: func(string) {}}).Run)
	mustWait(t, func() bool { v := n.View(); return auth.KeyVersion(v) != 0 && v.Count(auth.UserKind) > 0 })
	mainSrv := api.NewServer(n, limits, discard, api.WithMaxScale(ms.Mounted()), api.WithMetrics(prometheus.NewRegistry()))
	main := httptest.NewServer(mainSrv.Handler())
	t.Cleanup(main.Close)
	lis := httptest.NewServer(api.NewDialectServer(n, limits, discard, ms.Listener(), maxscale.MainPath,
		api.DialectErrors(maxscale.WriteError), api.DialectMetrics(mainSrv, "maxscale", ms.Route)).Handler())
	t.Cleanup(lis.Close)
	return &fixture{t: t, n: n, listener: lis.URL, main: main.URL, client: lis.Client(), user: [2]string{"admin", "mariadb"}, limits: limits}
}

// mustWait polls cond until it holds, failing the test after a generous
// deadline (the machine may be loaded).
func mustWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// do sends a request to the MaxScale listener as localhost:8989, the host
// the seed's links name, with the fixture's credentials.
func (f *fixture) do(method, path string, body []byte) reply {
	f.t.Helper()
	return f.doURL(f.listener, method, path, body, f.user[0], f.user[1])
}

func (f *fixture) doURL(base, method, path string, body []byte, user, password string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = "localhost:8989"
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless it answers want.
func (f *fixture) must(method, path string, body []byte, want int) reply {
	f.t.Helper()
	r := f.do(method, path, body)
	if r.status != want {
		f.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if want == http.StatusNoContent && len(r.body) != 0 {
		f.t.Fatalf("%s %s: 204 with a body %s", method, path, r.body)
	}
	return r
}

func mustFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "maxscale", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// contains is maxscaletest.Contains: where got lacks a member of want or
// differs from it.
func contains(path string, want, got any) []string { return maxscaletest.Contains(path, want, got) }

func str(v any) string { b, _ := json.Marshal(v); return string(b) }

func mustMatch(t *testing.T, what string, want []byte, got reply) {
	t.Helper()
	if diffs := contains("", decode(t, want), decode(t, got.body)); len(diffs) > 0 {
		t.Fatalf("%s differs from the seed:\n  %s\ngot %s", what, strings.Join(diffs, "\n  "), got.body)
	}
}

// mustSeedTopology creates what the seed's examples refer to: services
// RW-Split-Router and Read-Connection-Router, monitor MySQL-Monitor,
// server1 (master) and server2 (slave).
func mustSeedTopology(f *fixture) {
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"RW-Split-Router","type":"services","attributes":{"router":"readwritesplit","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"Read-Connection-Router","type":"services","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"MySQL-Monitor","type":"monitors","attributes":{"module":"mysqlmon","parameters":{"user":"maxuser","password":"maxpwd","monitor_interval":1000}}}}`), 204)
	// Stopped, so that the states set below stay: a running monitor would
	// probe 127.0.0.1:3000 and :3001, find nothing there and mark both
	// servers Down within a second (a flake on a loaded machine).
	f.must("PUT", "/v1/monitors/MySQL-Monitor/stop", nil, 204)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"server1","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3000,"protocol":"MySQLBackend"}},
		"relationships":{"services":{"data":[{"id":"RW-Split-Router","type":"services"},{"id":"Read-Connection-Router","type":"services"}]},"monitors":{"data":[{"id":"MySQL-Monitor","type":"monitors"}]}}}}`), 204)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"server2","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3001,"protocol":"MySQLBackend"}},
		"relationships":{"services":{"data":[{"id":"RW-Split-Router","type":"services"}]},"monitors":{"data":[{"id":"MySQL-Monitor","type":"monitors"}]}}}}`), 204)
	for _, s := range []string{"/v1/servers/server1/set?state=master", "/v1/servers/server1/set?state=running",
		"/v1/servers/server2/set?state=slave", "/v1/servers/server2/set?state=running"} {
		f.must("PUT", s, nil, 204)
	}
}

func Test_Seed_GetAndList(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	r := f.must("GET", "/v1/servers/server1", nil, 200)
	mustMatch(t, "GET /v1/servers/server1", mustFixture(t, "get-server1.response.json"), r)
	if r.header.Get("ETag") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("GET lacks ETag or JSON content type: %v", r.header)
	}
	mustMatch(t, "GET /v1/servers", mustFixture(t, "list-servers.response.json"), f.must("GET", "/v1/servers", nil, 200))
	// Names are case-insensitive; whitespace is a hyphen in the path.
	mustMatch(t, "GET /v1/servers/SERVER1", mustFixture(t, "get-server1.response.json"), f.must("GET", "/v1/servers/SERVER1", nil, 200))
	f.must("GET", "/v1/servers/nope", nil, 404)
	// The same routes without /v1, and with a query parameter clients add.
	f.must("GET", "/servers/server1?sync=false", nil, 200)
}

func Test_Seed_CreateServer(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server4.request.json"), 204)
	f.must("POST", "/v1/servers", []byte(`{"data": {"id": "server5",`), 403)
	r := f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 403)
	mustErrors(t, r, "already exists")

	s4 := decode(t, f.must("GET", "/v1/servers/server4", nil, 200).body)
	want := `{"data":{"relationships":{"services":{"data":[{"id":"RW-Split-Router","type":"services"},{"id":"Read-Connection-Router","type":"services"}]},
		"monitors":{"data":[{"id":"MySQL-Monitor","type":"monitors"}]}},"attributes":{"parameters":{"address":"127.0.0.1","port":3002,"protocol":"MySQLBackend"},"state":"Down"}}}`
	if d := contains("", decode(t, []byte(want)), s4); len(d) > 0 {
		t.Fatalf("server4: %v", d)
	}
	// Two-sided: the service shows the server created with a link to it.
	svc := decode(t, f.must("GET", "/v1/services/Read-Connection-Router", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"relationships":{"servers":{"data":[{"id":"server1","type":"servers"},{"id":"server4","type":"servers"}]}}}}`)), svc); len(d) > 0 {
		t.Fatalf("service: %v", d)
	}
	// server3 has no relationships: they are omitted, relationships is {}.
	s3 := decode(t, f.must("GET", "/v1/servers/server3", nil, 200).body).(map[string]any)
	if rels := s3["data"].(map[string]any)["relationships"]; str(rels) != "{}" {
		t.Errorf("server3 relationships = %s, want {}", str(rels))
	}
}

func Test_Seed_PatchServer(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	f.must("PATCH", "/v1/servers/server1", mustFixture(t, "patch-server1.request.json"), 204)
	mustMatch(t, "server1 after PATCH", mustFixture(t, "patch-server1.after.json"), f.must("GET", "/v1/servers/server1", nil, 200))
	f.must("PATCH", "/v1/servers/nope", mustFixture(t, "patch-server1.request.json"), 404)
	f.must("PATCH", "/v1/servers/server1", []byte(`{"data":`), 403)

	// Parameters merge; null removes one; absent parts are untouched.
	f.must("PATCH", "/v1/servers/server1", []byte(`{"data":{"attributes":{"parameters":{"port":3310,"priority":"7"}}}}`), 204)
	f.must("PATCH", "/v1/servers/server1", []byte(`{"data":{"attributes":{"parameters":{"priority":null}}}}`), 204)
	got := decode(t, f.must("GET", "/v1/servers/server1", nil, 200).body)
	want := `{"data":{"attributes":{"parameters":{"address":"127.0.0.1","port":3310,"protocol":"MySQLBackend"}},
		"relationships":{"services":{"data":[{"id":"Read-Connection-Router","type":"services"}]}}}}`
	if d := contains("", decode(t, []byte(want)), got); len(d) > 0 {
		t.Fatal(d)
	}
	if _, ok := got.(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["parameters"].(map[string]any)["priority"]; ok {
		t.Error("a null parameter was not removed")
	}
	f.must("PATCH", "/v1/servers/server1", []byte(`{"data":{"attributes":{"parameters":{"port":"x"}}}}`), 403)
}

func Test_Seed_DestroyServer(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	f.must("DELETE", "/v1/servers/server3", nil, 204)
	f.must("DELETE", "/v1/servers/server3", nil, 404)
	r := f.must("DELETE", "/v1/servers/server2", nil, 403)
	mustErrors(t, r, "Cannot destroy server 'server2' as it is used by: MySQL-Monitor, RW-Split-Router")
	f.must("DELETE", "/v1/servers/server2?force=yes", nil, 204)
	svc := decode(t, f.must("GET", "/v1/services/RW-Split-Router", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"relationships":{"servers":{"data":[{"id":"server1","type":"servers"}]}}}}`)), svc); len(d) > 0 {
		t.Fatalf("service after forced delete: %v", d)
	}
}

func Test_Seed_SetClearState(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	state := func() string {
		v := decode(t, f.must("GET", "/v1/servers/server3", nil, 200).body)
		return v.(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["state"].(string)
	}
	if s := state(); s != "Down" {
		t.Fatalf("new server state %q", s)
	}
	f.must("PUT", "/v1/servers/server3/set?state=running", nil, 204)
	f.must("PUT", "/v1/servers/server3/set?state=maintenance", nil, 204)
	if s := state(); s != "Maintenance, Running" {
		t.Fatalf("state %q, want Maintenance, Running", s)
	}
	f.must("PUT", "/v1/servers/server3/clear?state=maintenance", nil, 204)
	if s := state(); s != "Running" {
		t.Fatalf("state %q", s)
	}
	f.must("PUT", "/v1/servers/nope/set?state=master", nil, 404)
	f.must("PUT", "/v1/servers/nope/clear?state=master", nil, 404)
	mustErrors(t, f.must("PUT", "/v1/servers/server3/set", nil, 403), "Invalid or missing value for the `state` parameter")
	f.must("PUT", "/v1/servers/server3/set?state=bogus", nil, 403)
	f.must("PUT", "/v1/servers/server3/clear?state=bogus", nil, 403)
}

func Test_Relationships_TwoSided(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"Other Monitor","type":"monitors","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)

	// Linking from the service side shows on the server, duplicates collapse.
	f.must("PATCH", "/v1/services/Read-Connection-Router/relationships/servers",
		[]byte(`{"data":[{"id":"server1","type":"servers"},{"id":"server3","type":"servers"},{"id":"server3","type":"servers"}]}`), 204)
	s3 := decode(t, f.must("GET", "/v1/servers/server3", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"relationships":{"services":{"data":[{"id":"Read-Connection-Router","type":"services"}]}}}}`)), s3); len(d) > 0 {
		t.Fatal(d)
	}
	// An unknown id fails the whole request and changes nothing.
	mustErrors(t, f.must("PATCH", "/v1/services/Read-Connection-Router/relationships/servers",
		[]byte(`{"data":[{"id":"server2","type":"servers"},{"id":"ghost","type":"servers"}]}`), 403), "Could not find all servers")
	if r := decode(t, f.must("GET", "/v1/servers/server2", nil, 200).body); len(r.(map[string]any)["data"].(map[string]any)["relationships"].(map[string]any)["services"].(map[string]any)["data"].([]any)) != 1 {
		t.Fatal("a refused PATCH changed server2")
	}
	// A server belongs to one monitor at most, from either side.
	f.must("PATCH", "/v1/monitors/Other-Monitor/relationships/servers", []byte(`{"data":[{"id":"server1","type":"servers"}]}`), 403)
	f.must("PATCH", "/v1/servers/server1/relationships/monitors", []byte(`{"data":[{"id":"MySQL-Monitor","type":"monitors"},{"id":"Other-Monitor","type":"monitors"}]}`), 403)
	f.must("PATCH", "/v1/servers/server1/relationships/monitors", []byte(`{"data":[{"id":"other monitor","type":"monitors"}]}`), 204)
	mon := decode(t, f.must("GET", "/v1/monitors/MySQL-Monitor", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"relationships":{"servers":{"data":[{"id":"server2","type":"servers"}]}}}}`)), mon); len(d) > 0 {
		t.Fatal(d)
	}
	// [] and null remove all.
	f.must("PATCH", "/v1/servers/server1/relationships/services", []byte(`{"data":[]}`), 204)
	f.must("PATCH", "/v1/servers/server1/relationships/monitors", []byte(`{"data":null}`), 204)
	s1 := decode(t, f.must("GET", "/v1/servers/server1", nil, 200).body)
	if rels := s1.(map[string]any)["data"].(map[string]any)["relationships"]; str(rels) != "{}" {
		t.Fatalf("server1 relationships %s", str(rels))
	}
	f.must("PATCH", "/v1/servers/server1/relationships/services", []byte(`{"services":null}`), 403)

	// maxctrl's link service: the GET document minus attributes, echoed
	// back with read-only members and empty relationship arrays.
	doc := decode(t, f.must("GET", "/v1/services/RW-Split-Router", nil, 200).body).(map[string]any)
	data := doc["data"].(map[string]any)
	delete(data, "attributes")
	rels := data["relationships"].(map[string]any)
	rels["servers"].(map[string]any)["data"] = append(rels["servers"].(map[string]any)["data"].([]any), map[string]any{"id": "server3", "type": "servers"})
	rels["services"] = map[string]any{"data": []any{}}
	rels["monitors"] = map[string]any{"data": []any{}}
	rels["filters"] = map[string]any{"data": []any{}}
	rels["listeners"] = map[string]any{"links": map[string]any{"self": "x"}, "data": []any{}}
	body, _ := json.Marshal(doc)
	f.must("PATCH", "/v1/services/RW-Split-Router", body, 204)
	s3 = decode(t, f.must("GET", "/v1/servers/server3", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"relationships":{"services":{"data":[{"id":"RW-Split-Router","type":"services"},{"id":"Read-Connection-Router","type":"services"}]}}}}`)), s3); len(d) > 0 {
		t.Fatal(d)
	}
	// A service uses a cluster or servers, not both.
	f.must("PATCH", "/v1/services/RW-Split-Router/relationships/monitors", []byte(`{"data":[{"id":"MySQL-Monitor","type":"monitors"}]}`), 403)
	// Services and monitors: stop, start, delete.
	f.must("PUT", "/v1/services/RW-Split-Router/stop", nil, 204)
	if s := decode(t, f.must("GET", "/v1/services/RW-Split-Router", nil, 200).body); !strings.Contains(str(s), `"state":"Stopped"`) {
		t.Fatal("service not stopped")
	}
	f.must("PUT", "/v1/monitors/MySQL-Monitor/stop", nil, 204)
	f.must("PUT", "/v1/monitors/MySQL-Monitor/start", nil, 204)
	f.must("DELETE", "/v1/monitors/MySQL-Monitor", nil, 403)
	f.must("DELETE", "/v1/monitors/MySQL-Monitor?force=yes", nil, 204)
	f.must("DELETE", "/v1/services/RW-Split-Router", nil, 403)
	f.must("DELETE", "/v1/services/RW-Split-Router?force=yes", nil, 204)
	if s2 := decode(t, f.must("GET", "/v1/servers/server2", nil, 200).body); str(s2.(map[string]any)["data"].(map[string]any)["relationships"]) != "{}" {
		t.Fatalf("server2 still linked: %s", str(s2))
	}
	list := decode(t, f.must("GET", "/v1/monitors", nil, 200).body).(map[string]any)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("%d monitors, want 1", n)
	}
}

func Test_Auth_And_Roots(t *testing.T) {
	f := mustServe(t)
	for _, creds := range [][2]string{{"", ""}, {"admin", "wrong"}, {"bob", "mariadb"}} {
		r := f.doURL(f.listener, "GET", "/v1/servers", nil, creds[0], creds[1])
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="maxscale"` || strings.TrimSpace(string(r.body)) != `{"errors":[{"detail":"Access denied"}]}` {
			t.Fatalf("creds %v: %d %v %s", creds, r.status, r.header, r.body)
		}
	}
	for _, p := range []string{"/", "/v1/", "/v1"} {
		f.must("GET", p, nil, 200)
	}
	// Under /maxscale/v1 on the main listener, with links to match.
	r := f.doURL(f.main, "GET", "/maxscale/v1/servers", nil, "admin", "mariadb")
	if r.status != 200 || !strings.Contains(string(r.body), `"self":"http://localhost:8989/maxscale/v1/servers/"`) {
		t.Fatalf("main listener: %d %s", r.status, r.body)
	}
	if r := f.doURL(f.main, "GET", "/maxscale/v1/", nil, "admin", "mariadb"); r.status != 200 {
		t.Fatalf("GET /maxscale/v1/: %d", r.status)
	}
	if r := f.doURL(f.main, "GET", "/maxscale/v1/servers", nil, "", ""); r.status != 401 {
		t.Fatalf("main listener without credentials: %d", r.status)
	}
	f.must("GET", "/v1/filters", nil, 200)
	mx := decode(t, f.must("GET", "/v1/maxscale", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"id":"maxscale","type":"maxscale","attributes":{"version":"6.4.15"}}}`)), mx); len(d) > 0 {
		t.Fatal(d)
	}
	f.must("GET", "/v1/nothing", nil, 404)
	f.must("DELETE", "/v1/servers", nil, 405)

	// Users: creating one keeps admin (written beside it); a basic user
	// reads but cannot write; the last admin cannot be deleted.
	f.must("POST", "/v1/users/inet", []byte(`{"data":{"id":"reader","type":"inet","attributes":{"password":"pw","account":"basic"}}}`), 204)
	f.must("GET", "/v1/users/inet/admin", nil, 200)
	if r := f.doURL(f.listener, "GET", "/v1/servers", nil, "reader", "pw"); r.status != 200 {
		t.Fatalf("reader GET: %d", r.status)
	}
	if r := f.doURL(f.listener, "POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), "reader", "pw"); r.status != 403 {
		t.Fatalf("reader POST: %d", r.status)
	}
	mustErrors(t, f.must("DELETE", "/v1/users/inet/admin", nil, 403), "last admin")
	f.must("PATCH", "/v1/users/inet/admin", []byte(`{"data":{"attributes":{"password":"secret"}}}`), 204)
	if r := f.do("GET", "/v1/servers", nil); r.status != 401 {
		t.Fatalf("old admin password still accepted: %d", r.status)
	}
	f.user[1] = "secret"
	f.must("GET", "/v1/servers", nil, 200)
}

func Test_MainPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/servers": "/maxscale/v1/servers", "/servers/s1/set": "/maxscale/v1/servers/s1/set", "/v1": "/maxscale/v1",
	} {
		if got := maxscale.MainPath(in); got != want {
			t.Errorf("MainPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustErrors(t *testing.T, r reply, detail string) {
	t.Helper()
	var body struct {
		Errors []struct {
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Errors) == 0 || !strings.Contains(body.Errors[0].Detail, detail) {
		t.Fatalf("want an errors document mentioning %q, got %s", detail, r.body)
	}
}

// ids returns the ids of a collection document, in order.
func ids(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, o := range decode(t, b).(map[string]any)["data"].([]any) {
		out = append(out, o.(map[string]any)["id"].(string))
	}
	return out
}

func Test_Lists_InCreationOrder(t *testing.T) {
	f := mustServe(t)
	for i, name := range []string{"zeta", "alpha", "mid"} {
		f.must("POST", "/v1/servers", fmt.Appendf(nil, `{"data":{"id":%q,"attributes":{"parameters":{"address":"127.0.0.1","port":%d}}}}`, name, 4000+i), 204)
		f.must("POST", "/v1/services", fmt.Appendf(nil, `{"data":{"id":"svc-%s","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`, name), 204)
	}
	if got := ids(t, f.must("GET", "/v1/servers", nil, 200).body); str(got) != `["zeta","alpha","mid"]` {
		t.Errorf("servers listed %v, want creation order", got)
	}
	if got := ids(t, f.must("GET", "/v1/services", nil, 200).body); str(got) != `["svc-zeta","svc-alpha","svc-mid"]` {
		t.Errorf("services listed %v, want creation order", got)
	}
}

func Test_Listeners_EmptyCollections(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S1","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	for _, p := range []string{"/v1/listeners", "/listeners/", "/v1/services/S1/listeners", "/v1/services/s1/listeners/"} {
		if got := ids(t, f.must("GET", p, nil, 200).body); len(got) != 0 {
			t.Errorf("GET %s: %v, want no listeners", p, got)
		}
	}
	for _, p := range []string{"/v1/services/nope/listeners", "/v1/listeners/l1", "/v1/services/S1/listeners/l1"} {
		f.must("GET", p, nil, 404)
	}
	f.must("DELETE", "/v1/listeners/l1", nil, 404)
}

func Test_Services_NoCycle(t *testing.T) {
	f := mustServe(t)
	for _, s := range []string{"A", "B", "C"} {
		f.must("POST", "/v1/services", fmt.Appendf(nil, `{"data":{"id":%q,"attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`, s), 204)
	}
	f.must("PATCH", "/v1/services/A/relationships/services", []byte(`{"data":[{"id":"B","type":"services"}]}`), 204)
	f.must("PATCH", "/v1/services/B/relationships/services", []byte(`{"data":[{"id":"C","type":"services"}]}`), 204)
	mustErrors(t, f.must("PATCH", "/v1/services/C/relationships/services", []byte(`{"data":[{"id":"A","type":"services"}]}`), 403), "cycle")
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"D","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}},
		"relationships":{"services":{"data":[{"id":"A","type":"services"}]}}}}`), 204)
	f.must("PATCH", "/v1/services/C", []byte(`{"data":{"relationships":{"services":{"data":[{"id":"D","type":"services"}]}}}}`), 403)
	f.must("PATCH", "/v1/services/A/relationships/services", []byte(`{"data":[{"id":"A","type":"services"}]}`), 403)
	// Nothing of the refused requests was applied.
	c := decode(t, f.must("GET", "/v1/services/C", nil, 200).body)
	if rels := c.(map[string]any)["data"].(map[string]any)["relationships"]; str(rels) != "{}" {
		t.Errorf("C after refused links: %s", str(rels))
	}
}

func Test_Destroy_ServiceStillUsingTargets(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}},"relationships":{"servers":{"data":[{"id":"server3","type":"servers"}]}}}}`), 204)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"Cl","attributes":{"router":"readwritesplit","parameters":{"user":"maxuser","password":"maxpwd"}},"relationships":{"monitors":{"data":[{"id":"M","type":"monitors"}]}}}}`), 204)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"Top","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}},"relationships":{"services":{"data":[{"id":"S","type":"services"}]}}}}`), 204)
	mustErrors(t, f.must("DELETE", "/v1/services/Top", nil, 403), "still uses: S")
	mustErrors(t, f.must("DELETE", "/v1/services/Cl", nil, 403), "still uses: M")
	mustErrors(t, f.must("DELETE", "/v1/services/S", nil, 403), "used by: Top")
	f.must("DELETE", "/v1/services/Top?force=yes", nil, 204)
	f.must("DELETE", "/v1/services/S?force=yes", nil, 204)
	s3 := decode(t, f.must("GET", "/v1/servers/server3", nil, 200).body)
	if rels := s3.(map[string]any)["data"].(map[string]any)["relationships"]; str(rels) != "{}" {
		t.Errorf("server3 after its service was destroyed: %s", str(rels))
	}
	f.must("DELETE", "/v1/services/Cl?force=yes", nil, 204)
	f.must("DELETE", "/v1/monitors/M", nil, 204)
}

func Test_Names_OnlyAddressableOnes(t *testing.T) {
	f := mustServe(t)
	for _, c := range []struct{ path, body string }{
		{"/v1/servers", `{"data":{"id":"a/b","attributes":{"parameters":{"address":"127.0.0.1","port":1}}}}`},
		{"/v1/servers", `{"data":{"id":"@@x","attributes":{"parameters":{"address":"127.0.0.1","port":1}}}}`},
		{"/v1/servers", `{"data":{"id":"x\u0001","attributes":{"parameters":{"address":"127.0.0.1","port":1}}}}`},
		{"/v1/services", `{"data":{"id":"s/1","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`},
		{"/v1/monitors", `{"data":{"id":"m/1","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd"}}}}`},
		{"/v1/users/inet", `{"data":{"id":"u/1","attributes":{"password":"pw"}}}`},
	} {
		r := f.must("POST", c.path, []byte(c.body), 403)
		mustErrors(t, r, "The name")
	}
	for _, p := range []string{"/v1/servers", "/v1/services", "/v1/monitors"} {
		if got := ids(t, f.must("GET", p, nil, 200).body); len(got) != 0 {
			t.Errorf("%s holds %v after refused creates", p, got)
		}
	}
	// A name with whitespace is fine: its path has hyphens (the seed).
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"db one","attributes":{"parameters":{"address":"127.0.0.1","port":1}}}}`), 204)
	f.must("DELETE", "/v1/servers/db-one", nil, 204)
}

func Test_Patch_RouterAndModuleStay(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"router":5}}}`), 403)
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"router":"readwritesplit","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 403)
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"router":"readconnroute","parameters":{"user":"u"}}}}`), 204)
	f.must("PATCH", "/v1/monitors/M", []byte(`{"data":{"attributes":{"module":false}}}`), 403)
	f.must("PATCH", "/v1/monitors/M", []byte(`{"data":{"attributes":{"parameters":{"module":"mariadbmon","monitor_interval":500}}}}`), 204)
}

func Test_MaxScale_AdminHostAndPort(t *testing.T) {
	f := mustServe(t)
	mx := decode(t, f.must("GET", "/v1/maxscale", nil, 200).body)
	want := `{"data":{"attributes":{"parameters":{"admin_host":"localhost","admin_port":8989}}}}`
	if d := contains("", decode(t, []byte(want)), mx); len(d) > 0 {
		t.Fatal(d)
	}
}

func Test_Relationships_MemberOfAnotherType_Refused(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{"user":"maxuser","password":"maxpwd"}}}}`), 204)
	// The monitor given as a server, by its type; and a type that is not a string.
	mustErrors(t, f.must("PATCH", "/v1/services/S/relationships/servers", []byte(`{"data":[{"id":"M","type":"monitors"}]}`), 403), "must be of type 'servers'")
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"relationships":{"servers":{"data":[{"id":"server3","type":7}]}}}}`), 403)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"x","attributes":{"parameters":{"address":"127.0.0.1","port":1}},
		"relationships":{"services":{"data":[{"id":"S","type":"servers"}]}}}}`), 403)
	f.must("GET", "/v1/servers/x", nil, 404)
	// Without a type, a member is taken as the relationship's.
	f.must("PATCH", "/v1/services/S/relationships/servers", []byte(`{"data":[{"id":"server3"}]}`), 204)
}

func Test_Monitor_InvalidInterval_Refused(t *testing.T) {
	f := mustServe(t)
	for _, v := range []string{`"abc"`, `-5`, `0`, `"-2s"`, `true`, `1.5`} {
		f.must("POST", "/v1/monitors", fmt.Appendf(nil, `{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd","monitor_interval":%s}}}}`, v), 403)
	}
	f.must("GET", "/v1/monitors/M", nil, 404)
	for _, v := range []string{`1000`, `"1000"`, `"2s"`, `"500ms"`} {
		f.must("POST", "/v1/monitors", fmt.Appendf(nil, `{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd","monitor_interval":%s}}}}`, v), 204)
		f.must("DELETE", "/v1/monitors/M", nil, 204)
	}
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd","monitor_interval":1000}}}}`), 204)
	mustErrors(t, f.must("PATCH", "/v1/monitors/M", []byte(`{"data":{"attributes":{"parameters":{"monitor_interval":"soon"}}}}`), 403), "monitor_interval")
	m := decode(t, f.must("GET", "/v1/monitors/M", nil, 200).body)
	if d := contains("", decode(t, []byte(`{"data":{"attributes":{"parameters":{"monitor_interval":"1000ms"}}}}`)), m); len(d) > 0 {
		t.Fatalf("a refused PATCH changed the monitor: %v", d)
	}
}

func Test_State_StringAsMaxScaleJoinsIt(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	state := func() string {
		v := decode(t, f.must("GET", "/v1/servers/server3", nil, 200).body)
		return v.(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["state"].(string)
	}
	for _, c := range []struct{ op, bit, want string }{
		{"set", "drain", "Drained, Down"},
		{"set", "running", "Drained, Running"},
		{"set", "maintenance", "Maintenance, Running"}, // maintenance hides drained
		{"clear", "maintenance", "Drained, Running"},
		{"clear", "drain", "Running"},
		{"set", "slave", "Slave, Running"},
		{"set", "master", "Master, Running"}, // master hides slave
		{"clear", "master", "Slave, Running"},
		{"set", "synced", "Slave, Synced, Running"},
		{"clear", "running", "Slave, Synced, Down"},
	} {
		f.must("PUT", "/v1/servers/server3/"+c.op+"?state="+c.bit, nil, 204)
		if got := state(); got != c.want {
			t.Errorf("after %s %s: state %q, want %q", c.op, c.bit, got, c.want)
		}
	}
}

func Test_Service_NeedsUserAndPassword(t *testing.T) {
	f := mustServe(t)
	for _, params := range []string{``, `,"parameters":{"user":"u"}`, `,"parameters":{"password":"p"}`, `,"parameters":{"user":"","password":"p"}`, `,"parameters":{"user":5,"password":"p"}`} {
		mustErrors(t, f.must("POST", "/v1/services", fmt.Appendf(nil, `{"data":{"id":"S","attributes":{"router":"readconnroute"%s}}}`, params), 403), "Service 'S'")
	}
	f.must("GET", "/v1/services/S", nil, 404)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{"user":"u","password":""}}}}`), 204)
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"parameters":{"user":null}}}}`), 403)
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"parameters":{"user":"u2","password":"p2"}}}}`), 204)
}
