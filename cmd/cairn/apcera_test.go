package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The Apcera recipes (../shared/seeds/apcera-api-recipes.txt) are
// replayed request by request from testdata/apcera/recipes/: each
// NN-name.request is the seed's request as written (method, path,
// headers, body), each NN-name.response the seed's answer. What the
// server assigns (job, package, binding and resource UUIDs) is learned
// from the answers and put in place of the seed's in later requests and
// expected answers; the package's declared length and SHA-1 are those of
// the test's archive. Every request carries the test user's token (some
// of the seed's omit the header the page shows elsewhere). Answers are
// compared structurally: every member the seed shows (abbreviated ones
// with "..." left out) must be there with its value, except times, the
// instance's host and instance manager, and a package's dependencies
// (Cairn lists the runtime only).

const recipesDir = "../../testdata/apcera/recipes"

// apceraClient sends recipe requests to one agent's Apcera listener.
type apceraClient struct {
	t     testing.TB
	a     *agent
	base  string // http://host:port of the Apcera listener (or main URL + /apcera/v1)
	token string
	subst map[string]string // seed value → this run's
	pkg   []byte            // the package archive
}

type recipeMsg struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// parseRecipe reads a .request or .response fixture.
func parseRecipe(t testing.TB, text string) recipeMsg {
	t.Helper()
	lines := strings.Split(text, "\n")
	first := strings.Fields(lines[0])
	var m recipeMsg
	if strings.HasPrefix(first[0], "HTTP/") {
		m.status, _ = strconv.Atoi(first[1])
	} else {
		m.method, m.path = first[0], first[1]
	}
	m.header = http.Header{}
	i := 1
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
		k, v, _ := strings.Cut(lines[i], ": ")
		m.header.Add(k, v)
	}
	m.body = bytes.TrimSpace([]byte(strings.Join(lines[i:], "\n")))
	return m
}

func (c *apceraClient) load(name string) (req, resp recipeMsg) {
	c.t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(recipesDir, p))
		if err != nil {
			c.t.Fatal(err)
		}
		return c.substitute(string(b))
	}
	req = parseRecipe(c.t, read(name+".request"))
	if _, err := os.Stat(filepath.Join(recipesDir, name+".response")); err == nil {
		resp = parseRecipe(c.t, read(name+".response"))
	}
	return req, resp
}

func (c *apceraClient) substitute(s string) string {
	for from, to := range c.subst {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

// send sends req to the Apcera listener (path as the seed has it, /v1
// or not) with the test user's token.
func (c *apceraClient) send(req recipeMsg) reply {
	c.t.Helper()
	body := req.body
	if string(body) == "<package.tar.gz>" {
		body = c.pkg
	}
	hr, err := http.NewRequest(req.method, c.base+req.path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range req.header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Authorization":
			continue
		}
		hr.Header[k] = vs
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.a.client.Do(hr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
}

// call sends a request built here (not a fixture).
func (c *apceraClient) call(method, path string, body any, want int) reply {
	c.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		b = v
	default:
		b = mustJSON(c.t, v)
	}
	r := c.send(recipeMsg{method: method, path: path, header: http.Header{"Content-Type": {"application/json"}}, body: b})
	if r.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, bytes.TrimSpace(r.body), want)
	}
	return r
}

var (
	abbreviated   = regexp.MustCompile(`(?m)^\s*\.\.\.,?\s*$|\.\.\.,`)
	trailingComma = regexp.MustCompile(`,(\s*[}\]])`)
)

// expectedJSON reads a seed answer's body, its "..." abbreviations and
// the commas they leave dangling removed.
func expectedJSON(t testing.TB, b []byte) any {
	t.Helper()
	s := abbreviated.ReplaceAllString(string(b), "")
	s = trailingComma.ReplaceAllString(s, "$1")
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("expected body %q: %v", s, err)
	}
	return v
}

// recipeIgnored are members whose values differ by nature: times, where
// an instance ran, and a package's dependencies (see above).
var recipeIgnored = map[string]bool{"created_at": true, "updated_at": true, "created_time": true, "host": true,
	"instance_manager_uuid": true, "dependencies": true, "time_started": true, "time_completed": true}

// contains checks that got holds everything want shows.
func contains(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", path, got)
		}
		for k, wv := range w {
			if recipeIgnored[k] {
				continue
			}
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing (want %v)", path, k, wv)
			}
			if err := contains(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if err := contains(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("%s: got %v, want %v", path, got, want)
	}
	return nil
}

// check compares an answer with the seed's.
func (c *apceraClient) check(name string, want recipeMsg, got reply) any {
	c.t.Helper()
	if got.status != want.status {
		c.t.Fatalf("%s: status %d %s, want %d", name, got.status, bytes.TrimSpace(got.body), want.status)
	}
	if string(want.body) == "null" {
		if string(bytes.TrimSpace(got.body)) != "null" {
			c.t.Fatalf("%s: body %q, want null", name, got.body)
		}
		return nil
	}
	var g any
	if err := json.Unmarshal(got.body, &g); err != nil {
		c.t.Fatalf("%s: body %q: %v", name, got.body, err)
	}
	if err := contains(name, expectedJSON(c.t, want.body), g); err != nil {
		c.t.Fatalf("%s: %v\nbody %s", name, err, got.body)
	}
	return g
}

// replay sends recipe name as written and checks the answer; learn maps
// seed values to what this answer holds (JSON paths a.b) before the
// comparison.
func (c *apceraClient) replay(name string, learn map[string]string) map[string]any {
	c.t.Helper()
	req, _ := c.load(name)
	got := c.send(req)
	var obj map[string]any
	_ = json.Unmarshal(got.body, &obj)
	for seed, path := range learn {
		v := any(obj)
		for _, p := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		s, ok := v.(string)
		if !ok {
			c.t.Fatalf("%s: answer %s has no %s", name, got.body, path)
		}
		c.subst[seed] = s
	}
	_, want := c.load(name)
	c.check(name, want, got)
	return obj
}

// mustPackageArchive builds the test's package: the seed's Java app's jar
// name (so the java pipeline stages it as the seed shows) and start.sh,
// the job's custom start command, which prints its environment's links
// and then keeps running.
func mustPackageArchive(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name, body string, mode int64) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add("start.sh", `#!/bin/sh
echo "using SAMPLEAPP2 $SAMPLEAPP2"
echo "using SAMPLEAPP3 $SAMPLEAPP3"
echo "designation $DESIGNATION"
# Serve who this instance is on $PORT (the router's target), if python3 is here.
d="$HOME/instance-$CAIRN_INSTANCE" && mkdir -p "$d" && echo "$CAIRN_INSTANCE" > "$d/who"
cd "$d" && command -v python3 >/dev/null && exec python3 -m http.server --bind 127.0.0.1 "$PORT"
exec sleep 600
`, 0o755)
	add("sampleapp1-0.1-SNAPSHOT.jar", "not a real jar: start.sh runs instead", 0o644)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// instancesOf is GET /jobs/{uuid}/instances.
func (c *apceraClient) instancesOf(job string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	mustUnmarshal(c.t, c.call("GET", "/v1/jobs/"+job+"/instances", nil, 200).body, &out)
	return out
}

// waitRunning waits until n instances of job are RUNNING, and returns
// the states seen on the way.
func (c *apceraClient) waitRunning(job string, n int) []string {
	c.t.Helper()
	var seen []string
	waitFor(c.t, fmt.Sprintf("%d instances of job %s RUNNING", n, job), workloadTimeout, func() bool {
		running := 0
		for _, in := range c.instancesOf(job) {
			st, _ := in["state"].(string)
			if len(seen) == 0 || seen[len(seen)-1] != st {
				seen = append(seen, st)
			}
			if st == "RUNNING" {
				running++
			}
		}
		return running == n
	}, func() string { return fmt.Sprint(c.instancesOf(job)) })
	return seen
}

// mustTaskByWebSocket follows a task location by WebSocket and returns
// its events, the last being "eos" or "error".
func mustTaskByWebSocket(t testing.TB, location, token string) []map[string]any {
	t.Helper()
	u := "ws" + strings.TrimPrefix(location, "http")
	var conn *websocket.Conn
	var err error
	// A node other than the leader serves the task once it has applied
	// it (reads are local): a 404 a few milliseconds earlier.
	waitFor(t, "a WebSocket to "+u, 5*time.Second, func() bool {
		conn, _, err = websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {"Bearer " + token}})
		return err == nil
	}, func() string { return fmt.Sprint(err) })
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(workloadTimeout))
	var events []map[string]any
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("WebSocket %s ended before eos or error (%v); events %v", u, err, events)
		}
		var ev map[string]any
		mustUnmarshal(t, msg, &ev)
		events = append(events, ev)
		if typ := ev["task_event_type"]; typ == "eos" || typ == "error" {
			return events
		}
	}
}

// Test_Apcera_Recipes replays every recipe of the Apcera seed, in order,
// against a real node with authentication on: create and start an app
// (job lookup, runtimes, staging pipeline, package create, upload,
// staging, job create, package link, egress binding), expose a port, add
// and remove a route, set and delete environment variables, link jobs,
// start, instances (SETUP then RUNNING: real processes), logs (their real
// output), scale to five, stop (the processes go), delete the job and its
// linked package, update the number of instances, a Docker job's task
// followed by WebSocket and by polling, job lookups, and policy documents
// created and updated, the 409 included (#18 item 8). Then what the
// seed does not show: uploads with a wrong SHA-1 and a wrong length, a
// stale job PUT, a duplicate FQN, a manifest's task, refusals without a
// token.
func Test_Apcera_Recipes(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	ports := freePorts(t, 3)
	apcAddr, routerAddr := hostPort(ports[0]), hostPort(ports[1])
	a := mustStartAgent(t, agentOpts{args: []string{"-auth", "on", "-admin-password", "adminpw", "-apcera-addr", apcAddr, "-router-addr", routerAddr,
		"-workload-ports", fmt.Sprintf("%d-%d", ports[2], ports[2]+40)}})
	killInstancesAtCleanup(t, a)
	a.mustBeReady()
	admin := creds{user: "admin", password: "adminpw"}
	a.mustWaitForUser(admin)
	a.mustAs(admin, a.url, "PUT", "/cairn/v1/users/demouser@apcera.com", mustJSON(t, map[string]string{"password": "demopw", "role": "admin"}), 201)

	pkg := mustPackageArchive(t)
	sum := sha1.Sum(pkg)
	c := &apceraClient{t: t, a: a, base: "http://" + apcAddr, pkg: pkg, subst: map[string]string{
		"4141f1497dc2d1e0b829a203cc761e126aee4fc7": hex.EncodeToString(sum[:]),
		"de13a9d38bbc6cc5fb6687bee63603e9976dfaa4": hex.EncodeToString(sum[:]),
		"1890600": strconv.Itoa(len(pkg)),
		"1890603": strconv.Itoa(len(pkg)),
	}}

	// Without a token: 401 as an APIError; APC's login gives one.
	r := c.call("GET", "/v1/jobs", nil, 401)
	var apiErr map[string]any
	mustUnmarshal(t, r.body, &apiErr)
	if apiErr["code"] != float64(401) || apiErr["message"] == "" {
		t.Fatalf("401 body %s: want an APIError {code, message}", r.body)
	}
	var login struct{ Token, TokenType string }
	mustUnmarshal(t, c.call("POST", "/v1/login", map[string]string{"username": "demouser@apcera.com", "password": "demopw"}, 200).body, &login)
	if login.Token == "" {
		t.Fatalf("login answered no token")
	}
	c.token = login.Token

	// The link target of recipe 7: sampleapp2, exposing port 8289, running.
	var app2 map[string]any
	mustUnmarshal(t, c.call("POST", "/v1/jobs", map[string]any{"fqn": "job::/sandbox/demouser::sampleapp2", "state": "started",
		"ports":     []any{map[string]any{"number": 8289, "optional": false}},
		"processes": map[string]any{"app": map[string]any{"start_command": "exec sleep 600"}}}, 200).body, &app2)
	app2ID := app2["uuid"].(string)
	c.subst["c852e026-8a28-46bc-9814-3113a5c99b75"] = app2ID

	// Create and start an app with a custom start command.
	c.replay("01-create-app-1-lookup-job", nil)
	c.replay("01-create-app-2-runtimes", nil)
	c.replay("01-create-app-3-stagingpipeline", nil)
	c.replay("01-create-app-4-lookup-package", nil)
	c.replay("01-create-app-5-create-package", map[string]string{"f79efd2d-8a83-49d1-8d6d-9bcc61505df9": "uuid",
		"595c7d76-799a-46b0-9903-da398d04a717": "resource.uuid"})
	c.subst["3bce2c01-b763-4817-9c6e-84cece3adafc"] = c.subst["595c7d76-799a-46b0-9903-da398d04a717"]
	pkgID := c.subst["f79efd2d-8a83-49d1-8d6d-9bcc61505df9"]
	c.replay("01-create-app-6-upload", nil)
	waitFor(t, "the package staged", 10*time.Second, func() bool {
		var p map[string]any
		mustUnmarshal(t, c.call("GET", "/v1/packages/"+pkgID, nil, 200).body, &p)
		return p["state"] == "ready"
	}, nil)
	c.replay("01-create-app-7-package-ready", nil)
	c.replay("01-create-app-8-create-job", map[string]string{"0a132bcc-5140-40ac-8291-f366ef0b8846": "uuid"})
	jobID := c.subst["0a132bcc-5140-40ac-8291-f366ef0b8846"]
	c.replay("01-create-app-9-link-package", nil)
	c.replay("01-create-app-10-egress-binding", map[string]string{"d4748d3b-1c3f-4677-9644-1dceae8faf28": "uuid"})
	// Job lookup by FQN (the seed shows the job at version_id 2: after the binding).
	c.replay("16-lookup-1-missing", nil)
	c.replay("16-lookup-2-existing", nil)

	c.replay("02-expose-port", nil)
	c.replay("03-add-route", nil)
	c.replay("04-remove-route", nil)
	c.replay("05-env-set", nil)
	c.replay("06-env-unset", nil)
	link := c.replay("07-link-jobs", nil)
	if link["target_job_uuid"] != app2ID {
		t.Fatalf("link %v: want target_job_uuid %s", link, app2ID)
	}
	c.waitRunning(app2ID, 1)

	// Start, and the instance goes through SETUP (or is seen later) to RUNNING.
	c.replay("08-start", nil)
	seen := c.waitRunning(jobID, 1)
	if seen[0] != "NEW" && seen[0] != "SETUP" && seen[0] != "STARTING" && seen[0] != "RUNNING" {
		t.Fatalf("instance states seen %v: want SETUP or NEW first, then RUNNING", seen)
	}
	t.Logf("instance states seen while polling: %v", seen)
	c.subst["8c5f2a7a-3cf5-4f67-9738-db807a0df215"] = c.instancesOf(jobID)[0]["uuid"].(string)
	c.replay("09-instances", nil)

	// Logs: the start command's real output, the link variable holding
	// sampleapp2's address.
	logLine := regexp.MustCompile(`^\d{19},job\.` + jobID + `\.(stdout|stderr),`)
	var logs string
	waitFor(t, "the link variable in the logs", workloadTimeout, func() bool {
		req, _ := c.load("10-logs")
		r := c.send(req)
		logs = string(r.body)
		return r.status == 200 && regexp.MustCompile(`(?m),using SAMPLEAPP3 127\.0\.0\.1:\d+$`).MatchString(logs)
	}, func() string { return logs })
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !logLine.MatchString(l) {
			t.Fatalf("log line %q: want <nanos>,job.%s.<channel>,<line>", l, jobID)
		}
	}
	if !strings.Contains(logs, ".stdout,designation sampleapp1-bat\n") {
		t.Fatalf("logs %q: want the DESIGNATION the job sets", logs)
	}

	// Scale to five: five processes run.
	c.replay("11-scale-to-five", nil)
	c.waitRunning(jobID, 5)
	procsOf := func() int {
		n := 0
		for _, inst := range instanceProcs(t, a.opts.dataDir) {
			if strings.HasPrefix(inst, jobID+".") {
				n++
			}
		}
		return n
	}
	if n := procsOf(); n < 5 {
		t.Fatalf("%d processes of job %s run, want at least 5", n, jobID)
	}
	_, pyErr := exec.LookPath("python3")
	if pyErr == nil {
		// The route reaches every running instance, round-robin; the
		// removed route reaches none.
		who := map[string]bool{}
		waitFor(t, "the route reaching all five instances", workloadTimeout, func() bool {
			if st, body := routerGet(t, routerAddr, "sampleapp1.sample.demo.proveapcera.io", "/who"); st == 200 {
				who[strings.TrimSpace(body)] = true
			}
			return len(who) == 5
		}, func() string {
			return fmt.Sprint(who, c.instancesOf(jobID), string(c.call("GET", "/v1/jobs/"+jobID+"/logs?lines=100", nil, 200).body))
		})
		if st, _ := routerGet(t, routerAddr, "sampleapp-one.sample.demo.proveapcera.io", "/who"); st != 404 {
			t.Fatalf("a removed route answered %d, want 404", st)
		}
	}

	// Stop: the processes go.
	c.replay("12-stop", nil)
	waitFor(t, "the job's processes gone", workloadTimeout, func() bool { return procsOf() == 0 }, nil)
	if pyErr == nil {
		if st, _ := routerGet(t, routerAddr, "sampleapp1.sample.demo.proveapcera.io", "/who"); st != 404 {
			t.Fatalf("the route of a stopped job answered %d, want 404", st)
		}
		// Started again, then its route removed: routing stops.
		var j map[string]any
		mustUnmarshal(t, c.call("GET", "/v1/jobs/"+jobID, nil, 200).body, &j)
		j["state"], j["num_instances"] = "started", 1
		mustUnmarshal(t, c.call("PUT", "/v1/jobs/"+jobID, j, 200).body, &j)
		waitFor(t, "the route answering again", workloadTimeout, func() bool {
			st, _ := routerGet(t, routerAddr, "sampleapp1.sample.demo.proveapcera.io", "/who")
			return st == 200
		}, nil)
		j["ports"] = []any{map[string]any{"number": 8189, "optional": false}}
		c.call("PUT", "/v1/jobs/"+jobID, j, 200)
		if st, _ := routerGet(t, routerAddr, "sampleapp1.sample.demo.proveapcera.io", "/who"); st != 404 {
			t.Fatalf("a route removed from a running job answered %d, want 404", st)
		}
	}

	// A manifest's task, followed by polling, while the package exists.
	r = c.call("POST", "/v1/manifests", map[string]any{"jobs": map[string]any{"job::/sandbox/demouser::frommanifest": map[string]any{
		"packages": []any{map[string]any{"fqn": "package::/sandbox/demouser::sampleapp1"}}, "start": map[string]any{"cmd": "/app/start.sh"}, "state": "started"}}}, 200)
	task := mustPollTask(t, c, r)
	if task["state"] != "complete" || task["errored"] != "unerrored" {
		t.Fatalf("manifest task %v: want complete, unerrored", task)
	}
	var mjobs []map[string]any
	mustUnmarshal(t, c.call("GET", "/v1/jobs?fqn=job::/sandbox/demouser::frommanifest", nil, 200).body, &mjobs)
	if len(mjobs) != 1 || len(c.instancesOf(mjobs[0]["uuid"].(string))) != 1 {
		t.Fatalf("manifest job %v: want one, with its instance", mjobs)
	}
	c.call("DELETE", "/v1/jobs/"+mjobs[0]["uuid"].(string), nil, 200)

	// Delete the application and its linked package.
	c.replay("13-delete-1-job", nil)
	c.replay("13-delete-2-lookup-linked-package", nil)
	c.replay("13-delete-3-package", nil)
	c.call("GET", "/v1/packages/"+pkgID, nil, 404)

	// Update the number of job instances: the seed's body abbreviates
	// the job ("..."), so the job read is sent back with num_instances 10.
	var cg map[string]any
	mustUnmarshal(t, c.call("POST", "/v1/jobs", map[string]any{"fqn": "job::/apcera::continuum-guide", "state": "ready",
		"processes": map[string]any{"app": map[string]any{"start_command": "exec sleep 600"}}}, 200).body, &cg)
	cg["num_instances"] = 10
	var cg2 map[string]any
	mustUnmarshal(t, c.call("PUT", "/v1/jobs/"+cg["uuid"].(string), cg, 200).body, &cg2)
	if cg2["num_instances"] != float64(10) || cg2["version_id"] != float64(2) {
		t.Fatalf("update instances: %v, want num_instances 10 at version_id 2", cg2)
	}
	c.call("DELETE", "/v1/jobs/"+cg["uuid"].(string), nil, 200)

	// A Docker job: its task followed by WebSocket, then again by polling.
	req, want := c.load("15-docker-job")
	r = c.send(req)
	c.check("15-docker-job", recipeMsg{status: want.status, body: []byte(`{}`)}, r)
	var loc struct{ Location string }
	mustUnmarshal(t, r.body, &loc)
	if !strings.HasPrefix(loc.Location, "http://"+apcAddr+"/v1/tasks/") {
		t.Fatalf("location %q: want http://%s/v1/tasks/<uuid>", loc.Location, apcAddr)
	}
	events := mustTaskByWebSocket(t, loc.Location, c.token)
	checkDockerOutcome(t, events[len(events)-1])
	var docker []map[string]any
	mustUnmarshal(t, c.call("GET", "/v1/jobs?fqn=job::/sandbox/user::hellodocker", nil, 200).body, &docker)
	c.call("DELETE", "/v1/jobs/"+docker[0]["uuid"].(string), nil, 200)
	task = mustPollTask(t, c, c.send(req))
	evs, _ := task["events"].([]any)
	last, _ := evs[len(evs)-1].(map[string]any)
	checkDockerOutcome(t, last)
	if last["task_event_type"] == "error" && (task["state"] != "stopped" || task["errored"] != "errored") {
		t.Fatalf("task %v: an error event ends it stopped and errored", task)
	}

	// Policy: "quotas" at version 9 as the seed shows it, updated for
	// version 9, then the same update again is the seed's 409.
	var quotas struct{ Text string }
	_, qwant := c.load("17-policy-0-get")
	mustUnmarshal(t, qwant.body, &quotas)
	for v := 0; v < 9; v++ {
		c.call("PUT", "/v1/policy", map[string]any{"docs": []any{map[string]any{"name": "quotas", "text": quotas.Text, "for_version": v}}}, 200)
	}
	req, want = c.load("17-policy-0-get")
	c.check("17-policy-0-get", want, c.send(req))
	req, _ = c.load("17-policy-1-update")
	if r := c.send(req); r.status != 200 {
		t.Fatalf("policy update for version 9: %d %s", r.status, r.body)
	}
	r = c.send(req)
	mustUnmarshal(t, r.body, &apiErr)
	if r.status != 409 || apiErr["message"] != "Error updating policy: policy version mismatch while updating 'quotas': update is for version 9, current version is 10" {
		t.Fatalf("policy update for a past version: %d %s, want the seed's 409", r.status, r.body)
	}
	// olddoc at version 6, then the seed's request as written (its
	// missing comma included) creates newdoc and updates olddoc.
	for v := 0; v < 6; v++ {
		c.call("PUT", "/policy", map[string]any{"docs": []any{map[string]any{"name": "olddoc", "text": "v", "for_version": v}}}, 200)
	}
	req, _ = c.load("17-policy-2-create-and-update")
	if r := c.send(req); r.status != 200 {
		t.Fatalf("policy create and update: %d %s", r.status, r.body)
	}
	var newdoc, olddoc map[string]any
	mustUnmarshal(t, c.call("GET", "/policy/newdoc", nil, 200).body, &newdoc)
	mustUnmarshal(t, c.call("GET", "/v1/policy/olddoc", nil, 200).body, &olddoc)
	if newdoc["version"] != float64(1) || olddoc["version"] != float64(7) {
		t.Fatalf("newdoc %v, olddoc %v: want versions 1 and 7", newdoc, olddoc)
	}
	// All or nothing: a stale document fails the whole request.
	c.call("PUT", "/v1/policy", map[string]any{"docs": []any{map[string]any{"name": "third", "text": "x"},
		map[string]any{"name": "olddoc", "text": "y", "for_version": 6}}}, 409)
	c.call("GET", "/v1/policy/third", nil, 404)

	// Uploads that do not match the declaration: 400 naming both values,
	// and the package stays uploading.
	for _, tc := range []struct {
		name string
		body []byte
	}{{"wrong sha1", append(append([]byte{}, pkg[:len(pkg)-1]...), pkg[len(pkg)-1]^0xff)}, {"wrong length", pkg[:len(pkg)-10]}} {
		var p map[string]any
		mustUnmarshal(t, c.call("POST", "/v1/packages", map[string]any{"fqn": "package::/sandbox/demouser::bad",
			"resource": map[string]any{"length": len(pkg), "sha1": hex.EncodeToString(sum[:])}}, 200).body, &p)
		id := p["uuid"].(string)
		r := c.call("PUT", "/v1/packages/resources/"+id, tc.body, 400)
		gotSum := sha1.Sum(tc.body)
		for _, s := range []string{hex.EncodeToString(sum[:]), hex.EncodeToString(gotSum[:]), strconv.Itoa(len(pkg)), strconv.Itoa(len(tc.body))} {
			if !bytes.Contains(r.body, []byte(s)) {
				t.Fatalf("%s: 400 %s does not name %s", tc.name, r.body, s)
			}
		}
		mustUnmarshal(t, c.call("GET", "/v1/packages/"+id, nil, 200).body, &p)
		if p["state"] != "uploading" {
			t.Fatalf("%s: package %v, want it still uploading", tc.name, p)
		}
		c.call("DELETE", "/v1/packages/"+id, nil, 200)
	}

	// A stale version_id is refused, not applied; a duplicate FQN too.
	var j2 map[string]any
	mustUnmarshal(t, c.call("GET", "/v1/jobs/"+app2ID, nil, 200).body, &j2)
	j2["num_instances"] = 2
	c.call("PUT", "/v1/jobs/"+app2ID, j2, 200)
	j2["num_instances"] = 3
	r = c.call("PUT", "/v1/jobs/"+app2ID, j2, 409)
	mustUnmarshal(t, c.call("GET", "/v1/jobs/"+app2ID, nil, 200).body, &j2)
	if j2["num_instances"] != float64(2) {
		t.Fatalf("a stale PUT changed the job: %v", j2)
	}
	r = c.call("POST", "/jobs", map[string]any{"fqn": "job::/sandbox/demouser::sampleapp2"}, 409)
	mustUnmarshal(t, r.body, &apiErr)
	if apiErr["duplicate_key"] != true {
		t.Fatalf("duplicate FQN: %s, want duplicate_key true", r.body)
	}
	// The main listener's mount serves the same API (and a readonly
	// user's write is a 403 APIError there).
	a.mustAs(creds{token: c.token}, a.url, "GET", "/apcera/v1/jobs/"+app2ID, nil, 200)
	a.mustAs(admin, a.url, "PUT", "/cairn/v1/users/viewer", mustJSON(t, map[string]string{"password": "viewpw", "role": "readonly"}), 201)
	r = a.mustAs(creds{user: "viewer", password: "viewpw"}, a.url, "DELETE", "/apcera/v1/jobs/"+app2ID, nil, 403)
	mustUnmarshal(t, r.body, &apiErr)
	if apiErr["code"] != float64(403) {
		t.Fatalf("readonly write: %s, want a 403 APIError", r.body)
	}
}

// routerGet sends GET path with Host host to the router.
func routerGet(t testing.TB, routerAddr, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+routerAddr+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// mustPollTask polls the task whose location r (a POST's answer) gives
// until it ends, and returns it.
func mustPollTask(t testing.TB, c *apceraClient, r reply) map[string]any {
	t.Helper()
	var loc struct{ Location string }
	mustUnmarshal(t, r.body, &loc)
	i := strings.Index(loc.Location, "/tasks/")
	if r.status != 200 || i < 0 {
		t.Fatalf("task answer %d %s: want {\"location\": \".../v1/tasks/<uuid>\"}", r.status, r.body)
	}
	var task map[string]any
	waitFor(t, "the task ends", workloadTimeout, func() bool {
		mustUnmarshal(t, c.call("GET", "/v1"+loc.Location[i:], nil, 200).body, &task)
		return task["state"] != "running"
	}, func() string { return fmt.Sprint(task) })
	return task
}

// checkDockerOutcome checks a Docker job task's last event: eos where a
// container engine runs, else an error saying there is none.
func checkDockerOutcome(t testing.TB, last map[string]any) {
	t.Helper()
	switch last["task_event_type"] {
	case "eos":
	case "error":
		payload, _ := last["payload"].(map[string]any)
		if msg, _ := payload["error"].(string); !strings.Contains(msg, "no container engine") {
			t.Fatalf("Docker job error %v: want it to say no container engine is available", last)
		}
	default:
		t.Fatalf("last event %v: want eos or error", last)
	}
}

// bashPackage is a package the bash runtime stages (bash_start.sh), so
// the job runs the package's own START_COMMAND.
func bashPackage(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	body := "echo \"hello from instance $CAIRN_INSTANCE on $CAIRN_NODE\"\nexec sleep 600\n"
	if err := tw.WriteHeader(&tar.Header{Name: "app/bash_start.sh", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte(body))
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// Test_ThreeNodes_Apcera_PackageJobRunsAndStops: on a real three-node
// zone with authentication on, through the followers' main listeners
// (/apcera/v1, forwarded to the leader), a package is uploaded and
// staged, a job from it started with three instances runs one process
// on each node, its logs are gathered from every node, it stops (the
// processes go) and is deleted with its package; a Docker job's task
// is followed by WebSocket on a node other than the one that took it
// (#18 items 2, 5, 7).
func Test_ThreeNodes_Apcera_PackageJobRunsAndStops(t *testing.T) {
	t.Parallel()
	lo := freePortRange(t, 21)
	zone := startCluster(t, 3, agentOpts{args: []string{"-exec", "true", "-auth", "on", "-admin-password", "pw", "-workload-ports", fmt.Sprintf("%d-%d", lo, lo+20)}})
	killInstancesAtCleanup(t, zone...)
	_, followers := mustRoles(t, zone)
	f1, f2 := followers[0], followers[1]
	c1 := &apceraClient{t: t, a: f1, base: f1.url + "/apcera", subst: map[string]string{}}
	c2 := &apceraClient{t: t, a: f2, base: f2.url + "/apcera", subst: map[string]string{}}
	var login struct{ Token string }
	waitFor(t, "the zone's first admin", workloadTimeout, func() bool { // the leader creates it
		r := c1.send(recipeMsg{method: "POST", path: "/v1/login", body: mustJSON(t, map[string]string{"username": "admin", "password": "pw"})})
		return r.status == 200 && json.Unmarshal(r.body, &login) == nil
	}, nil)
	c1.token, c2.token = login.Token, login.Token

	pkg := bashPackage(t)
	sum := sha1.Sum(pkg)
	var p map[string]any
	mustUnmarshal(t, c1.call("POST", "/v1/packages", map[string]any{"fqn": "package::/sandbox/admin::hello",
		"resource": map[string]any{"length": len(pkg), "sha1": hex.EncodeToString(sum[:])}}, 200).body, &p)
	pkgID := p["uuid"].(string)
	c2.call("PUT", "/v1/packages/resources/"+pkgID, pkg, 200)
	waitFor(t, "the package staged, seen from another node", workloadTimeout, func() bool {
		mustUnmarshal(t, c1.call("GET", "/v1/packages/"+pkgID, nil, 200).body, &p)
		return p["state"] != "uploading" && p["state"] != "staging"
	}, nil)
	env, _ := p["environment"].(map[string]any)
	if p["state"] != "ready" || env["START_COMMAND"] != "bash bash_start.sh" {
		t.Fatalf("package %v: want ready, START_COMMAND bash bash_start.sh (the bash runtime, detected)", p)
	}

	var job map[string]any
	mustUnmarshal(t, c2.call("POST", "/v1/jobs", map[string]any{"fqn": "job::/sandbox/admin::hello", "num_instances": 3, "state": "started",
		"packages": []any{map[string]any{"uuid": pkgID}}, "restart": map[string]any{"restart_mode": "always"}}, 200).body, &job)
	jobID := job["uuid"].(string)
	if job["created_by"] != "admin" {
		t.Fatalf("job %v: want created_by admin (the token's user)", job)
	}
	// Reads are local: through the node that took the write (another
	// may not have applied it yet).
	c2.waitRunning(jobID, 3)
	hosts := map[string]bool{}
	for _, in := range c2.instancesOf(jobID) {
		hosts[in["host"].(string)] = true
	}
	for _, a := range zone {
		n := 0
		for _, inst := range instanceProcs(t, a.opts.dataDir) {
			if strings.HasPrefix(inst, jobID+".") {
				n++
			}
		}
		if n == 0 || !hosts[a.id()] {
			t.Fatalf("node %s runs %d processes of the job (instances on %v): want one instance on each node", a.id(), n, hosts)
		}
	}
	var logs string
	waitFor(t, "every instance's output in the logs", workloadTimeout, func() bool {
		logs = string(c2.call("GET", "/v1/jobs/"+jobID+"/logs?lines=100", nil, 200).body)
		return strings.Count(logs, ".stdout,hello from instance ") == 3
	}, func() string { return logs })

	mustUnmarshal(t, c2.call("GET", "/v1/jobs/"+jobID, nil, 200).body, &job)
	job["state"] = "stopped"
	c1.call("PUT", "/v1/jobs/"+jobID, job, 200)
	waitFor(t, "every process of the job gone", workloadTimeout, func() bool {
		n := 0
		for _, a := range zone {
			n += len(instanceProcs(t, a.opts.dataDir))
		}
		return n == 0
	}, nil)
	c2.call("DELETE", "/v1/jobs/"+jobID, nil, 200)
	c1.call("DELETE", "/v1/packages/"+pkgID, nil, 200)

	// Concurrent writes through every node: of PUTs carrying one
	// version_id exactly one applies (the others are stale: 409), of
	// POSTs of one FQN exactly one creates.
	clients := []*apceraClient{c1, c2, {t: t, a: zone[0], base: zone[0].url + "/apcera", token: login.Token, subst: map[string]string{}}}
	var race map[string]any
	mustUnmarshal(t, c1.call("POST", "/v1/jobs", map[string]any{"fqn": "job::/sandbox/admin::race", "processes": map[string]any{"app": map[string]any{"start_command": "true"}}}, 200).body, &race)
	statuses := func(send func(i int) reply) map[int]int {
		var mu sync.Mutex
		var wg sync.WaitGroup
		out := map[int]int{}
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := send(i)
				mu.Lock()
				out[r.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out
	}
	got := statuses(func(i int) reply {
		j := map[string]any{}
		for k, v := range race {
			j[k] = v
		}
		j["num_instances"] = i
		return clients[i%3].send(recipeMsg{method: "PUT", path: "/v1/jobs/" + race["uuid"].(string), body: mustJSON(t, j)})
	})
	if got[200] != 1 || got[409] != 5 {
		t.Fatalf("concurrent PUTs of one version_id: statuses %v, want one 200 and five 409", got)
	}
	got = statuses(func(i int) reply {
		return clients[i%3].send(recipeMsg{method: "POST", path: "/v1/jobs", body: mustJSON(t, map[string]any{"fqn": "job::/sandbox/admin::once"})})
	})
	if got[200] != 1 || got[409] != 5 {
		t.Fatalf("concurrent POSTs of one FQN: statuses %v, want one 200 and five 409", got)
	}

	// A task is written through Raft: followed from another node.
	r := c1.call("POST", "/v1/jobs/docker", map[string]any{"image_url": "https://registry-1.docker.io/library/busybox:latest",
		"job_fqn": "job::/sandbox/admin::box", "start": true}, 200)
	var loc struct{ Location string }
	mustUnmarshal(t, r.body, &loc)
	i := strings.Index(loc.Location, "/apcera/v1/tasks/")
	if i < 0 {
		t.Fatalf("location %q: want .../apcera/v1/tasks/<uuid> on the main listener", loc.Location)
	}
	events := mustTaskByWebSocket(t, f2.url+loc.Location[i:], login.Token)
	checkDockerOutcome(t, events[len(events)-1])
}

// Test_ThreeNodes_Apcera_TaskSurvivesLeaderChange: a manifest's task
// still running when the zone leader is killed is taken up by the new
// leader's follower, and ends complete once its job runs; it is read
// from a surviving node throughout (#18 item 5).
func Test_ThreeNodes_Apcera_TaskSurvivesLeaderChange(t *testing.T) {
	t.Parallel()
	lo := freePortRange(t, 21)
	zone := startCluster(t, 3, agentOpts{args: []string{"-exec", "true", "-workload-reschedule-timeout", "1s",
		"-workload-ports", fmt.Sprintf("%d-%d", lo, lo+20)}})
	killInstancesAtCleanup(t, zone...)
	leader, followers := mustRoles(t, zone)
	c := &apceraClient{t: t, a: followers[0], base: followers[0].url + "/apcera", subst: map[string]string{}}
	flag := filepath.Join(t.TempDir(), "go")
	// The job's instance exits until the flag file exists (and is
	// restarted, never failed): the task keeps running.
	r := c.call("POST", "/v1/manifests", map[string]any{"jobs": map[string]any{"job::/sandbox/admin::waiter": map[string]any{
		"start": map[string]any{"cmd": "test -f " + flag + " || exit 3; exec sleep 600"}, "state": "started",
		"restart": map[string]any{"restart_mode": "always", "maximum_attempts": 1000}}}}, 200)
	var loc struct{ Location string }
	mustUnmarshal(t, r.body, &loc)
	path := "/v1" + loc.Location[strings.Index(loc.Location, "/tasks/"):]
	var task map[string]any
	mustUnmarshal(t, c.call("GET", path, nil, 200).body, &task)
	if task["state"] != "running" {
		t.Fatalf("task %v: want it running while the job cannot start", task)
	}
	leader.mustKill()
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task complete under the new leader", 40*time.Second, func() bool {
		r := c.send(recipeMsg{method: "GET", path: path})
		return r.status == 200 && json.Unmarshal(r.body, &task) == nil && task["state"] != "running"
	}, func() string { return fmt.Sprint(task) })
	evs, _ := task["events"].([]any)
	if task["state"] != "complete" || task["errored"] != "unerrored" || len(evs) < 3 {
		t.Fatalf("task %v: want complete, unerrored, its first event kept and eos last", task)
	}
}
