package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// creds are the credentials a test request carries: Basic when user is
// set, else Bearer when token is, else none.
type creds struct{ user, password, token string }

func (c creds) header() http.Header {
	h := http.Header{}
	switch {
	case c.user != "":
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.password)))
	case c.token != "":
		h.Set("Authorization", "Bearer "+c.token)
	}
	return h
}

// as sends one request to base (an agent's main or MaxScale URL) with c.
func (a *agent) as(c creds, base, method, path string, body []byte) reply {
	a.t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range c.header() {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
}

func (a *agent) mustAs(c creds, base, method, path string, body []byte, want int) reply {
	a.t.Helper()
	r := a.as(c, base, method, path, body)
	if r.status != want {
		a.t.Fatalf("%s %s as %q: %d %s, want %d", method, path, c.user, r.status, bytes.TrimSpace(r.body), want)
	}
	return r
}

// mustWaitForUser waits until c's user can log in on a: a zone's first
// leader writes its admin a moment after it is elected, possibly after the
// node reports ready.
func (a *agent) mustWaitForUser(c creds) {
	a.t.Helper()
	waitFor(a.t, c.user+" to exist on "+a.id(), 10*time.Second, func() bool {
		return a.as(c, a.url, "GET", "/cairn/v1/whoami", nil).status == 200
	}, nil)
}

// mustAdminLeader waits for a zone with authentication on to have a
// leader that knows its admin (the first leader writes the admin a moment
// after it is elected) and returns it.
func mustAdminLeader(t *testing.T, agents []*agent, admin creds) *agent {
	t.Helper()
	var leader *agent
	waitFor(t, "a leader and the zone's admin", 15*time.Second, func() bool {
		for _, a := range agents {
			if a.mustStatus().State == "Leader" && a.as(admin, a.url, "GET", "/cairn/v1/whoami", nil).status == 200 {
				leader = a
				return true
			}
		}
		return false
	}, nil)
	return leader
}

func (a *agent) mustLogin(user, password string) string {
	a.t.Helper()
	r := a.mustAs(creds{}, a.url, "POST", "/cairn/v1/login", mustJSON(a.t, map[string]string{"username": user, "password": password}), 200)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	mustUnmarshal(a.t, r.body, &out)
	if out.AccessToken == "" || out.TokenType != "bearer" {
		a.t.Fatalf("login answer %s: want an access_token of token_type bearer", r.body)
	}
	return out.AccessToken
}

// Test_Auth_On_EveryAPI_RefusesAnonymousAndReadonlyWrites: with -auth on,
// every API refuses a request without credentials (401) and a readonly
// user's write (403) in its own error format; tokens from a login work
// until they expire, are revoked, or the key rotates; a forged one never
// does; users and passwords survive a restart (#16 items 1, 2, 7).
func Test_Auth_On_EveryAPI_RefusesAnonymousAndReadonlyWrites(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	a := mustStartAgent(t, agentOpts{maxscale: true, args: []string{"-auth", "on", "-admin-password", "first-secret", "-token-ttl", "2s"}})
	admin := creds{user: "admin", password: "first-secret"}
	a.mustWaitForUser(admin)
	if _, err := os.Stat(filepath.Join(a.opts.dataDir, "initial-admin-password")); !os.IsNotExist(err) {
		t.Errorf("a password file was written although -admin-password was given: %v", err)
	}

	// No credentials: 401 on every API, in its own format.
	r := a.mustAs(creds{}, a.url, "PUT", resPath("widget", "w1"), []byte(`{}`), 401)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") || !bytes.Contains(r.body, []byte(`"error"`)) {
		t.Errorf("native 401: %v %s", r.header, r.body)
	}
	a.mustAs(creds{}, a.url, "GET", resPath("widget", "w1"), nil, 401)
	if r := a.mustAs(creds{}, a.url, "PUT", "/management/zone/runtime/logging", []byte(`{"level":"debug"}`), 401); !bytes.HasPrefix(r.body, []byte(`"`)) {
		t.Errorf("MRF 401 is not a JSON string (Fabric3's ResourceException): %s", r.body)
	}
	if r := a.mustAs(creds{}, a.maxscaleURL, "GET", "/v1/servers", nil, 401); !bytes.Contains(r.body, []byte(`"errors"`)) {
		t.Errorf("MaxScale 401: %s", r.body)
	}
	a.mustAs(creds{user: "admin", password: "wrong"}, a.url, "GET", resPath("widget", "w1"), nil, 401)
	// The probes and the login answer without credentials.
	a.mustAs(creds{}, a.url, "GET", "/ready", nil, 200)
	a.mustAs(creds{}, a.url, "GET", "/cairn/v1/status", nil, 200)

	// The admin may do everything; MaxScale's default still works there.
	a.mustAs(admin, a.url, "PUT", resPath("widget", "w1"), []byte(`{"n":1}`), 201)
	a.mustAs(admin, a.url, "PUT", "/management/zone/runtime/logging", []byte(`{"level":"info"}`), 200)
	a.mustAs(creds{user: "admin", password: "mariadb"}, a.maxscaleURL, "GET", "/v1/servers", nil, 200)
	a.mustAs(creds{user: "admin", password: "mariadb"}, a.url, "GET", "/cairn/v1/whoami", nil, 401)

	// A readonly user reads everywhere and writes nowhere.
	a.mustAs(admin, a.url, "PUT", "/cairn/v1/users/viewer", []byte(`{"password":"look-only","role":"readonly"}`), 201)
	viewer := creds{user: "viewer", password: "look-only"}
	a.mustAs(viewer, a.url, "GET", resPath("widget", "w1"), nil, 200)
	if r := a.mustAs(viewer, a.url, "PUT", resPath("widget", "w2"), []byte(`{}`), 403); !bytes.Contains(r.body, []byte("readonly")) {
		t.Errorf("native 403 does not say why: %s", r.body)
	}
	a.mustAs(viewer, a.url, "PUT", "/management/zone/runtime/logging", []byte(`{"level":"debug"}`), 403)
	a.mustAs(viewer, a.maxscaleURL, "GET", "/v1/servers", nil, 200)
	server := []byte(`{"data":{"id":"db1","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3306}}}}`)
	if r := a.mustAs(viewer, a.maxscaleURL, "POST", "/v1/servers", server, 403); !bytes.Contains(r.body, []byte("Administrative access required")) {
		t.Errorf("MaxScale 403: %s", r.body)
	}
	a.mustAs(viewer, a.url, "PUT", "/cairn/v1/users/viewer", []byte(`{"role":"admin"}`), 403)
	// The MaxScale API lists the same users, in its own terms.
	r = a.mustAs(admin, a.maxscaleURL, "GET", "/v1/users/inet/viewer", nil, 200)
	if !bytes.Contains(r.body, []byte(`"account":"basic"`)) {
		t.Errorf("MaxScale shows viewer as %s, want account basic", r.body)
	}

	// Tokens: accepted, scoped by role, refused once forged, revoked,
	// expired or signed with a rotated key.
	tok := a.mustLogin("viewer", "look-only")
	a.mustAs(creds{token: tok}, a.url, "GET", resPath("widget", "w1"), nil, 200)
	a.mustAs(creds{token: tok}, a.url, "PUT", resPath("widget", "w3"), []byte(`{}`), 403)
	a.mustAs(creds{token: tok}, a.maxscaleURL, "GET", "/v1/servers", nil, 200)
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"viewer"`), []byte(`"admin"`), 1)) + "." + parts[2]
	a.mustAs(creds{token: forged}, a.url, "GET", resPath("widget", "w1"), nil, 401)
	a.mustAs(admin, a.url, "POST", "/cairn/v1/users/viewer/revoke-tokens", nil, 204)
	a.mustAs(creds{token: tok}, a.url, "GET", resPath("widget", "w1"), nil, 401)
	adminTok := a.mustLogin("admin", "first-secret")
	a.mustAs(creds{token: adminTok}, a.url, "PUT", resPath("widget", "w4"), []byte(`{}`), 201)
	time.Sleep(2500 * time.Millisecond) // past -token-ttl 2s
	if r := a.mustAs(creds{token: adminTok}, a.url, "GET", resPath("widget", "w1"), nil, 401); !bytes.Contains(r.body, []byte("expired")) {
		t.Errorf("expired token refused with %s, want it to say expired", r.body)
	}
	adminTok = a.mustLogin("admin", "first-secret")
	a.mustAs(admin, a.url, "POST", "/cairn/v1/auth/rotate-key", nil, 204)
	a.mustAs(creds{token: adminTok}, a.url, "GET", resPath("widget", "w1"), nil, 401)
	a.mustAs(creds{}, a.url, "POST", "/cairn/v1/login", mustJSON(t, map[string]string{"username": "admin", "password": "nope"}), 401)
	// Runtime Manager's login path answers the same way.
	a.mustAs(creds{}, a.url, "POST", "/accounts/login", mustJSON(t, map[string]string{"username": "viewer", "password": "look-only"}), 200)

	// The CLI: add, passwd, list, rm; the last admin cannot go.
	env := []string{"CAIRN_ADDR=" + a.url, "CAIRN_USER=admin", "CAIRN_PASSWORD=first-secret"}
	if code, out, errOut := runCairn(t, 20*time.Second, env, "user", "add", "-role", "admin", "-new-password", "ops-secret", "ops"); code != 0 {
		t.Fatalf("cairn user add: %d %s %s", code, out, errOut)
	}
	code, out, errOut := runCairn(t, 20*time.Second, env, "user", "list")
	if code != 0 || !strings.Contains(out, "viewer") || !strings.Contains(out, "ops") || !strings.Contains(out, "readonly") {
		t.Fatalf("cairn user list: %d %q %s", code, out, errOut)
	}
	if code, out, errOut := runCairn(t, 20*time.Second, env, "user", "rm", "ops"); code != 0 {
		t.Fatalf("cairn user rm: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCairn(t, 20*time.Second, env, "user", "rm", "admin"); code == 0 || !strings.Contains(errOut, "409") {
		t.Fatalf("cairn user rm of the last admin: exit %d, %s; want a refusal with 409", code, errOut)
	}
	if code, out, errOut := runCairnStdin(t, "second-secret\n", env, "user", "passwd", "admin"); code != 0 {
		t.Fatalf("cairn user passwd: %d %s %s", code, out, errOut)
	}
	a.mustAs(admin, a.url, "GET", "/cairn/v1/whoami", nil, 401)
	admin.password = "second-secret"
	a.mustAs(admin, a.url, "GET", "/cairn/v1/whoami", nil, 200)
	// A changed admin password ends MaxScale's default.
	a.mustAs(creds{user: "admin", password: "mariadb"}, a.maxscaleURL, "GET", "/v1/servers", nil, 401)

	// Everything above survives a restart.
	a.mustStop()
	b := mustStartAgent(t, a.restartOpts())
	b.mustAs(admin, b.url, "GET", "/cairn/v1/whoami", nil, 200)
	b.mustAs(viewer, b.url, "GET", resPath("widget", "w1"), nil, 200)
	b.mustAs(viewer, b.url, "PUT", resPath("widget", "w5"), []byte(`{}`), 403)
}

// Test_Auth_Auto_OffLoopback_GeneratesAdminAndRefusesAnonymousWrites: a
// listener on an address that is not loopback requires credentials
// without being told; the zone's first admin gets a generated password,
// written to the data dir (0600) and printed once; -auth off there is
// refused without -insecure (#16 items 1, 3).
func Test_Auth_Auto_OffLoopback_GeneratesAdminAndRefusesAnonymousWrites(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(freePorts(t, 1)[0])
	a := mustStartAgent(t, agentOpts{args: []string{"-http-addr", "0.0.0.0:" + port, "-advertise-http", "http://127.0.0.1:" + port}})
	file := filepath.Join(a.opts.dataDir, "initial-admin-password")
	var password string
	waitFor(t, "the generated admin password", 10*time.Second, func() bool {
		raw, err := os.ReadFile(file)
		password = strings.TrimSpace(string(raw))
		return err == nil && password != ""
	}, nil)
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
	}
	waitFor(t, "the password printed once on stderr", 5*time.Second, func() bool {
		errOut, _ := os.ReadFile(a.stderr)
		return bytes.Count(errOut, []byte(password)) == 1
	}, nil)
	for _, rq := range []struct{ method, path, body string }{
		{"PUT", resPath("widget", "w1"), `{}`},
		{"DELETE", resPath("widget", "w1"), ``},
		{"PUT", "/management/zone/runtime/logging", `{"level":"debug"}`},
		{"PUT", "/cairn/v1/users/eve", `{"password":"x","role":"admin"}`},
		{"POST", "/cairn/v1/auth/rotate-key", ``},
	} {
		a.mustAs(creds{}, a.url, rq.method, rq.path, []byte(rq.body), 401)
	}
	a.mustAs(creds{user: "admin", password: password}, a.url, "PUT", resPath("widget", "w1"), []byte(`{}`), 201)

	code, _, errOut := runCairn(t, 20*time.Second, nil, "agent", "-http-addr", "0.0.0.0:0", "-auth", "off", "-data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "-insecure") {
		t.Errorf("-auth off off loopback without -insecure: exit %d, %s; want a refusal naming -insecure", code, errOut)
	}
}

// Test_Auth_Zone_ForwardedWritesKeepTheCallersIdentity: in a 3-node zone
// with -auth on, a write through a follower succeeds with the caller's
// credentials and is refused for a readonly caller; a token issued by one
// member is honoured by the others, and a revocation on one reaches all
// (#16 items 2, 5).
func Test_Auth_Zone_ForwardedWritesKeepTheCallersIdentity(t *testing.T) {
	t.Parallel()
	agents := startCluster(t, 3, agentOpts{args: []string{"-auth", "on", "-admin-password", "zone-secret", "-exec", "true"}})
	killInstancesAtCleanup(t, agents...)
	admin := creds{user: "admin", password: "zone-secret"}
	leader := mustAdminLeader(t, agents, admin)
	followers := others(agents, leader)
	f := followers[0]
	f.mustAs(admin, f.url, "PUT", "/cairn/v1/users/viewer", []byte(`{"password":"look-only"}`), 201)
	f.mustAs(admin, f.url, "PUT", resPath("widget", "fw"), []byte(`{"via":"follower"}`), 201)
	viewer := creds{user: "viewer", password: "look-only"}
	waitFor(t, "the user on every member", 10*time.Second, func() bool {
		for _, a := range agents {
			if a.as(viewer, a.url, "GET", "/cairn/v1/whoami", nil).status != 200 {
				return false
			}
		}
		return true
	}, nil)
	f.mustAs(viewer, f.url, "PUT", resPath("widget", "fv"), []byte(`{}`), 403)
	f.mustAs(creds{}, f.url, "PUT", resPath("widget", "fv"), []byte(`{}`), 401)
	// A token from a follower's login, written with through the other.
	tok := f.mustLogin("admin", "zone-secret")
	g := followers[1]
	g.mustAs(creds{token: tok}, g.url, "PUT", resPath("widget", "ft"), []byte(`{}`), 201)
	leader.mustAs(creds{token: tok}, leader.url, "GET", resPath("widget", "ft"), nil, 200)
	// The readonly user's token cannot write through any member.
	vtok := g.mustLogin("viewer", "look-only")
	for _, a := range agents {
		a.mustAs(creds{token: vtok}, a.url, "PUT", resPath("widget", "fx"), []byte(`{}`), 403)
	}
	leader.mustAs(admin, leader.url, "POST", "/cairn/v1/users/viewer/revoke-tokens", nil, 204)
	for _, a := range agents {
		waitFor(t, a.id()+" to refuse the revoked token", 10*time.Second, func() bool {
			return a.as(creds{token: vtok}, a.url, "GET", resPath("widget", "ft"), nil).status == 401
		}, nil)
	}
	// The Topology API: a readonly user is refused in its error format; an
	// admin's gateway, created through a follower for another member's
	// host, has its files written there by a member-to-member call that
	// carries the member's own token.
	if r := f.mustAs(viewer, f.url, "POST", "/api/topology/hosts", []byte(`{"name":"x"}`), 403); !bytes.Contains(r.body, []byte(`"errors"`)) {
		t.Errorf("topology 403: %s", r.body)
	}
	f.mustAs(creds{}, f.url, "GET", "/api/topology", nil, 401)
	var host struct{ ID string }
	topoResult(t, f.mustAs(admin, f.url, "POST", "/api/topology/hosts", []byte(`{"name":"`+g.id()+`"}`), 201), &host)
	f.mustAs(admin, f.url, "POST", "/api/topology/groups", []byte(`{"name":"G1","tags":{}}`), 201)
	f.mustAs(admin, f.url, "POST", "/api/topology/services/group-1", topoService("GW1", host.ID, 8085), 201)
	if _, err := os.Stat(filepath.Join(g.opts.dataDir, "topology")); err != nil {
		t.Errorf("the gateway's files on %s: %v", g.id(), err)
	}

	// Workloads: the supervisors' reports and the log gathering are
	// member-to-member calls under the members' own tokens; a user may
	// not report an instance's state, not even an admin.
	spec := `{"command":` + loopCmd + `,"instances":3,"stop_timeout":"2s"}`
	f.mustAs(admin, f.url, "PUT", "/cairn/v1/workloads/loop", []byte(spec), 201)
	waitFor(t, "3 instances reported running", workloadTimeout, func() bool {
		var doc workloadDoc
		mustUnmarshal(t, g.mustAs(admin, g.url, "GET", "/cairn/v1/workloads/loop", nil, 200).body, &doc)
		_, ok := doc.running(3)
		return ok
	}, nil)
	waitFor(t, "log lines from all three nodes", 10*time.Second, func() bool {
		r := g.mustAs(viewer, g.url, "GET", "/cairn/v1/workloads/loop/logs?lines=300", nil, 200)
		return r.header.Get("X-Cairn-Logs-Missing") == "" && bytes.Contains(r.body, []byte("tick 0")) &&
			bytes.Contains(r.body, []byte("tick 1")) && bytes.Contains(r.body, []byte("tick 2"))
	}, nil)
	forged := `{"node":"` + f.id() + `","state":"CRASHED","exit_code":1}`
	if r := g.mustAs(admin, g.url, "PUT", "/cairn/v1/workloads/loop/instances/0/status", []byte(forged), 403); !bytes.Contains(r.body, []byte("reports its instances")) {
		t.Errorf("a user's report: %s", r.body)
	}
	f.mustAs(admin, f.url, "DELETE", "/cairn/v1/workloads/loop", nil, 204)

	var body map[string]any
	mustUnmarshal(t, leader.mustAs(admin, leader.url, "GET", resPath("widget", "fw"), nil, 200).body, &body)
	if b, _ := json.Marshal(body["body"]); !bytes.Contains(b, []byte("follower")) {
		t.Errorf("the write through the follower stored %s", b)
	}
}

// Test_Auth_Zone_FollowerBehind_LeaderRefusesAWriteItsUserLostTheRightTo
// tries to break the authorisation of writes a follower serves itself
// (native resource writes, sent to the leader as commands): a follower
// whose log store is stalled (a failpoint) has not applied an admin's
// demotion of a user, so it still finds the user's credentials good for
// writing. The write must not be applied on that stale word: the leader
// refuses it (503, X-Cairn-Applied: false), and once the follower has
// caught up the user's retry is a 403.
func Test_Auth_Zone_FollowerBehind_LeaderRefusesAWriteItsUserLostTheRightTo(t *testing.T) {
	t.Parallel()
	agents := startCluster(t, 3, agentOpts{bin: mustFailpointsBinary(t), args: []string{"-auth", "on", "-admin-password", "zone-secret"}})
	admin := creds{user: "admin", password: "zone-secret"}
	leader := mustAdminLeader(t, agents, admin)
	f := others(agents, leader)[0]
	leader.mustAs(admin, leader.url, "PUT", "/cairn/v1/users/ops", []byte(`{"password":"ops-secret","role":"admin"}`), 201)
	ops := creds{user: "ops", password: "ops-secret"}
	f.mustWaitForUser(ops)
	f.mustAs(ops, f.url, "PUT", resPath("widget", "before"), []byte(`{}`), 201)

	// The follower stores the next entries it gets 4 s late: the demotion
	// commits on the leader and the other follower, not yet here.
	f.mustDo(http.MethodPut, "/debug/failpoints/raft-log-before-store", []byte("1*sleep(4s)"), http.StatusNoContent)
	leader.mustAs(admin, leader.url, "PUT", "/cairn/v1/users/ops", []byte(`{"role":"readonly"}`), 200)
	r := f.as(ops, f.url, "PUT", resPath("widget", "stale"), []byte(`{}`))
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Cairn-Applied") != "false" || !bytes.Contains(r.body, []byte("changed")) {
		t.Fatalf("a demoted user's write through a follower that has not applied the demotion: %d %s (X-Cairn-Applied %q); want 503, not applied",
			r.status, bytes.TrimSpace(r.body), r.header.Get("X-Cairn-Applied"))
	}
	waitFor(t, f.id()+" to apply the demotion", 20*time.Second, func() bool {
		return f.as(ops, f.url, "PUT", resPath("widget", "stale"), []byte(`{}`)).status == http.StatusForbidden
	}, nil)
	for _, a := range agents {
		if r := a.as(admin, a.url, "GET", resPath("widget", "stale"), nil); r.status != http.StatusNotFound {
			t.Errorf("%s: the refused write is stored: GET %d %s", a.id(), r.status, bytes.TrimSpace(r.body))
		}
	}
}

// runCairnStdin runs the cairn binary with stdin and returns its exit code
// and output.
func runCairnStdin(t testing.TB, stdin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	requireBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cairnBin, args...)
	cmd.Env = childEnv(env)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("run cairn %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// Test_Auth_MRFDomain_ZonesReachTheControllerWithTheGossipKey: zones are
// separate Raft groups with users and keys of their own; with
// authentication required on both, zone1's leader still follows the
// controller's deployments and reports to it, with member tokens keyed by
// the domain's shared gossip key (#16 item 5, across zones).
func Test_Auth_MRFDomain_ZonesReachTheControllerWithTheGossipKey(t *testing.T) {
	t.Parallel()
	code, key, _ := runCairn(t, 20*time.Second, nil, "keygen")
	key = strings.TrimSpace(key)
	if code != 0 || key == "" {
		t.Fatalf("cairn keygen: %d %q", code, key)
	}
	c := mustStartAgent(t, agentOpts{nodeID: "c1", args: []string{"-auth", "on", "-admin-password", "ctl-secret", "-gossip-key", key}})
	z := mustStartAgent(t, agentOpts{nodeID: "z1", args: []string{"-zone", "zone1", "-join", c.line.gossip, "-bootstrap-expect", "1",
		"-auth", "on", "-admin-password", "zone-secret", "-gossip-key", key}})
	admin := creds{user: "admin", password: "ctl-secret"}
	c.mustWaitForUser(admin)
	calc := sampleArchive(t, "calculator.zip")
	c.mustAs(creds{}, c.url, "PUT", "/management/domain/contributions/contribution/calculator.zip", calc, 401)
	c.mustAs(admin, c.url, "PUT", "/management/domain/contributions/contribution/calculator.zip", calc, 201)
	// Answered once zone1 reports the deployment: its leader read it from
	// the controller and reported back, both under member tokens.
	c.mustAs(admin, c.url, "PUT", "/management/domain/deployments/contribution/calculator.zip?zone=zone1", nil, 201)
	zadmin := creds{user: "admin", password: "zone-secret"}
	// zone1's leader writes its first admin as it starts: maybe after
	// the deployment already reached it.
	z.mustWaitForUser(zadmin)
	r := z.mustAs(zadmin, z.url, "GET", "/management/zone/deployments", nil, 200)
	if !bytes.Contains(r.body, []byte("calculator.zip")) {
		t.Errorf("zone1 does not hold the deployment: %s", r.body)
	}
	// A user of one zone is nobody in the other.
	z.mustAs(admin, z.url, "GET", "/management/zone/deployments", nil, 401)
}
