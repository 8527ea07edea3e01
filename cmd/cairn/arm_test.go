package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// armClient talks to one agent as Runtime Manager's clients do: a bearer
// token and the organization and environment headers on every call.
type armClient struct {
	t          testing.TB
	a          *agent
	token      string
	org, env   string
	lastStatus int
}

func (c *armClient) on(a *agent) *armClient {
	d := *c
	d.a = a
	return &d
}

// call sends one request; body is JSON unless ctype says otherwise.
func (c *armClient) call(method, path string, body []byte, ctype string, want int) []byte {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.a.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.org != "" {
		req.Header.Set("X-ANYPNT-ORG-ID", c.org)
		req.Header.Set("X-ANYPNT-ENV-ID", c.env)
	}
	resp, err := c.a.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if want >= 400 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			c.t.Fatalf("%s %s: error body %s is not {\"message\": ...}", method, path, b)
		}
	}
	return b
}

// data decodes {"data": ...} into v.
func armData(t testing.TB, b []byte, v any) {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	mustUnmarshal(t, b, &env)
	if len(env.Data) == 0 {
		t.Fatalf("no data in %s", b)
	}
	mustUnmarshal(t, env.Data, v)
}

// armFixture reads a request body of testdata/arm.
func armFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "arm", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// muleApp is a zip as a Mule application would come, with a
// bash_start.sh the staging runs: it prints who it is and sleeps for
// sleep seconds (the number tells one version's processes from another's).
// Without a script, nothing in it is runnable.
func muleApp(t testing.TB, sleep int, runnable bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	f, _ := z.Create("mule-artifact.json")
	f.Write([]byte(`{"minMuleVersion":"4.4.0"}`))
	if runnable {
		f, _ = z.Create("bash_start.sh")
		fmt.Fprintf(f, "echo \"app $ARM_APPLICATION_NAME on server $ARM_SERVER_ID peers=$ARM_CLUSTER_PEERS\"\nexec sleep %d\n", sleep)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// multipartBody builds a form in the order given (the CLI sends
// artifactName, file, targetId); a field named "file" is the file.
func multipartBody(t testing.TB, fields [][2]string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if f[0] == "file" {
			p, _ := w.CreateFormFile("file", f[1])
			p.Write(file)
			continue
		}
		w.WriteField(f[0], f[1])
	}
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

// armApp is the part of an application the tests read.
type armApp struct {
	ID       int64 `json:"id"`
	Artifact struct {
		Name, FileName, FileChecksum string
	} `json:"artifact"`
	Target struct {
		ID         int64
		Name, Type string
	} `json:"target"`
	DesiredStatus      string `json:"desiredStatus"`
	LastReportedStatus string `json:"lastReportedStatus"`
	Message            string `json:"message"`
	ServerArtifacts    []struct {
		ServerID           int64  `json:"serverId"`
		LastReportedStatus string `json:"lastReportedStatus"`
	} `json:"serverArtifacts"`
}

func (c *armClient) app(id int64) armApp {
	c.t.Helper()
	var app armApp
	armData(c.t, c.call("GET", fmt.Sprintf("/hybrid/api/v1/applications/%d?consistent", id), nil, "", 200), &app)
	return app
}

// waitApp waits until application id reports status.
func (c *armClient) waitApp(id int64, status string) armApp {
	c.t.Helper()
	var app armApp
	waitFor(c.t, fmt.Sprintf("application %d %s", id, status), workloadTimeout, func() bool {
		app = c.app(id)
		return app.LastReportedStatus == status
	}, func() string { return fmt.Sprintf("%+v", app) })
	return app
}

// appProcs returns the processes of application app on server srv on
// agent a (its workload arm-<app>-<srv>), each with its command line and
// environment.
func appProcs(t testing.TB, a *agent, app, srv int64) map[int][2]string {
	out := map[int][2]string{}
	prefix := fmt.Sprintf("arm-%d-%d.", app, srv)
	for pid, inst := range instanceProcs(t, a.opts.dataDir) {
		if !strings.HasPrefix(inst, prefix) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		out[pid] = [2]string{strings.ReplaceAll(string(cmd), "\x00", " "), string(env)}
	}
	return out
}

// waitProcs waits until app on server srv on a runs a process whose
// command line holds cmd (and returns its environment), or, with cmd
// "", until it runs none.
func waitProcs(t testing.TB, a *agent, app, srv int64, cmd string) string {
	t.Helper()
	var env string
	waitFor(t, fmt.Sprintf("application %d on server %d (%s) running %q", app, srv, a.line.nodeID, cmd), workloadTimeout, func() bool {
		procs := appProcs(t, a, app, srv)
		if cmd == "" {
			return len(procs) == 0
		}
		for _, p := range procs {
			if strings.Contains(p[0], cmd) {
				env = p[1]
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprint(appProcs(t, a, app, srv)) })
	return env
}

// envVar reads NAME from a /proc environ; ok false when absent.
func envVar(environ, name string) (string, bool) {
	for _, kv := range strings.Split(environ, "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Every request of the Runtime Manager seed, in its order, against a
// three-node zone whose nodes register as servers (and the seed's own
// TestServer, which is no node), with the rules around them: the
// accounts calls, a registration token, groups and clusters of
// individual servers only, a unicast cluster's IPs. An application
// deployed to the group runs as a process on every running member, a
// server added to the group receives it, one removed keeps it; it is
// patched with a new file (new processes run the new code), redeployed,
// stopped, started, deleted. A file with nothing runnable reports
// DEPLOYMENT_FAILED with the reason. Instances in a cluster get their
// peers' addresses; in a group they get none.
func Test_ThreeNodes_ARM_SeedInOrder_GroupsClustersApplicationsRunForReal(t *testing.T) {
	t.Parallel()
	agents := startCluster(t, 3, agentOpts{args: []string{"-auth", "on", "-admin-password", "arm-secret"}})
	killInstancesAtCleanup(t, agents...)
	c := &armClient{t: t, a: agents[0]}
	admin := creds{user: "admin", password: "arm-secret"}
	waitFor(t, "the zone's admin on every member", 15*time.Second, func() bool {
		for _, a := range agents {
			if a.as(admin, a.url, "GET", "/cairn/v1/whoami", nil).status != 200 {
				return false
			}
		}
		return true
	}, nil)
	c.call("GET", "/hybrid/api/v1/servers", nil, "", 401) // no credentials

	// Accounts: login (and a wrong password), client credentials, who am
	// I, the environments.
	c.call("POST", "/accounts/login", []byte(`{"username":"admin","password":"wrong"}`), "", 401)
	var login struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	mustUnmarshal(t, c.call("POST", "/accounts/login", []byte(`{"username":"admin","password":"arm-secret"}`), "", 200), &login)
	if login.AccessToken == "" || login.TokenType != "bearer" {
		t.Fatalf("login: %+v", login)
	}
	mustUnmarshal(t, c.on(agents[1]).call("POST", "/accounts/api/v2/oauth2/token",
		[]byte(`{"client_id":"admin","client_secret":"arm-secret","grant_type":"client_credentials"}`), "", 200), &login)
	c.token = login.AccessToken
	bad := *c
	bad.token = "not-a-token"
	bad.call("GET", "/hybrid/api/v1/servers", nil, "", 401)
	var me struct {
		ID   string `json:"id"`
		Orgs []struct {
			ID     string `json:"id"`
			IsRoot bool   `json:"isRoot"`
		} `json:"memberOfOrganizations"`
	}
	mustUnmarshal(t, c.call("GET", "/accounts/api/users/me", nil, "", 200), &me)
	if me.ID != "admin" || len(me.Orgs) != 1 || !me.Orgs[0].IsRoot {
		t.Fatalf("users/me: %+v", me)
	}
	var envs []struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		IsProduction bool   `json:"isProduction"`
	}
	armData(t, c.on(agents[2]).call("GET", "/accounts/api/organizations/"+me.Orgs[0].ID+"/environments", nil, "", 200), &envs)
	if len(envs) != 1 || envs[0].ID == "" {
		t.Fatalf("environments: %+v", envs)
	}
	c.org, c.env = me.Orgs[0].ID, envs[0].ID
	// A readonly user reads, and may not write: 403 in the API's body.
	agents[0].mustAs(admin, agents[0].url, "PUT", "/cairn/v1/users/viewer", []byte(`{"password":"look-only","role":"readonly"}`), 201)
	var viewer armClient
	waitFor(t, "the viewer's login", 10*time.Second, func() bool {
		r := agents[1].as(creds{}, agents[1].url, "POST", "/accounts/login", []byte(`{"username":"viewer","password":"look-only"}`))
		mustUnmarshal(t, r.body, &login)
		return r.status == 200
	}, nil)
	viewer = *c
	viewer.token = login.AccessToken
	viewer.on(agents[1]).call("GET", "/hybrid/api/v1/servers", nil, "", 200)
	viewer.on(agents[1]).call("POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"g","serverIds":[]}`), "", 403)
	viewer.on(agents[1]).call("GET", "/hybrid/api/v1/servers/registrationToken", nil, "", 403)

	// Register a new server: the registration token (the same from every
	// node), then the seed's body; garbage in the request is 400.
	var regToken, other string
	armData(t, c.call("GET", "/hybrid/api/v1/servers/registrationToken", nil, "", 200), &regToken)
	armData(t, c.on(agents[2]).call("GET", "/hybrid/api/v1/servers/registrationToken", nil, "", 200), &other)
	if regToken == "" || regToken != other {
		t.Fatalf("registration tokens %q and %q", regToken, other)
	}
	seed := armFixture(t, "register-server.json")
	c.call("POST", "/hybrid/api/v1/servers", seed, "", 401)
	reg := func(via *agent, body []byte, want int) []byte {
		return c.on(via).call("POST", "/hybrid/api/v1/servers?registrationToken="+regToken, body, "", want)
	}
	var srv struct {
		ID          int64  `json:"id"`
		Status      string `json:"status"`
		Certificate string `json:"certificate"`
		MuleLabel   string `json:"muleLabel"`
	}
	armData(t, reg(agents[1], seed, 201), &srv)
	if srv.ID != 1 || srv.Status != "CREATED" || !strings.Contains(srv.Certificate, "BEGIN CERTIFICATE") {
		t.Fatalf("registered the seed's server: %+v", srv)
	}
	reg(agents[0], seed, 409) // one server per muleLabel
	garbage := bytes.Replace(seed, []byte("MIIByjCC"), []byte("garbage!"), 1)
	if msg := string(reg(agents[0], bytes.Replace(garbage, []byte("TestServer"), []byte("Other"), 1), 400)); !strings.Contains(msg, "certificate request") {
		t.Fatalf("garbage CSR: %s", msg)
	}
	for i, a := range agents { // the nodes: servers 2, 3, 4
		body := bytes.Replace(seed, []byte(`"TestServer"`), []byte(`"`+a.line.nodeID+`"`), 1)
		armData(t, reg(agents[(i+1)%3], body, 201), &srv)
		if srv.ID != int64(i+2) || srv.Status != "RUNNING" || srv.MuleLabel != a.line.nodeID {
			t.Fatalf("registered %s: %+v", a.line.nodeID, srv)
		}
	}

	// Creating a server group: the seed's body, servers 1 (not running:
	// it may be added), 2 and 3.
	var grp struct {
		ID      int64 `json:"id"`
		Name    string
		Servers []struct{ ID int64 }
	}
	armData(t, c.call("POST", "/hybrid/api/v1/serverGroups", armFixture(t, "server-group.json"), "", 201), &grp)
	if grp.ID != 5 || len(grp.Servers) != 3 {
		t.Fatalf("group: %+v", grp)
	}
	c.call("POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"g","serverIds":["5"]}`), "", 400)  // a group
	c.call("POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"g","serverIds":["2"]}`), "", 400)  // in a group
	c.call("POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"g","serverIds":["99"]}`), "", 400) // no such server

	// Creating a cluster: the seed's bodies name server 2, which is in
	// the group now: 400 both. A unicast cluster without an IP: 400.
	c.call("POST", "/hybrid/api/v1/clusters", armFixture(t, "cluster-multicast.json"), "", 400)
	c.call("POST", "/hybrid/api/v1/clusters", armFixture(t, "cluster-unicast.json"), "", 400)
	c.call("POST", "/hybrid/api/v1/clusters", []byte(`{"name":"u","multicastEnabled":false,"servers":[{"serverId":"4"}]}`), "", 400)

	// Working with servers.
	armData(t, c.on(agents[2]).call("GET", "/hybrid/api/v1/servers/2", nil, "", 200), &srv)
	if srv.Status != "RUNNING" || srv.MuleLabel != "n1" {
		t.Fatalf("server 2: %+v", srv)
	}
	var servers []struct {
		ID              int64
		Status          string
		ServerGroupID   int64  `json:"serverGroupId"`
		ServerGroupName string `json:"serverGroupName"`
	}
	armData(t, c.call("GET", "/hybrid/api/v1/servers?limit=10&offset=0&sort=timeCreated", nil, "", 200), &servers)
	if len(servers) != 4 || servers[0].Status != "CREATED" || servers[1].ServerGroupName != "Group2" || servers[3].ServerGroupID != 0 {
		t.Fatalf("servers: %+v", servers)
	}
	c.call("PATCH", "/hybrid/api/v1/servers/1", []byte(`{"name":"Renamed"}`), "", 200)
	// An agent registering holds only the registration token: enough,
	// through a follower too; a wrong one is 401.
	agentOnly := *c
	agentOnly.token = ""
	spare := bytes.Replace(seed, []byte("TestServer"), []byte("spare"), 1)
	agentOnly.on(agents[2]).call("POST", "/hybrid/api/v1/servers?registrationToken=wrong", spare, "", 401)
	armData(t, agentOnly.on(agents[2]).call("POST", "/hybrid/api/v1/servers?registrationToken="+regToken, spare, "", 201), &srv)
	c.call("DELETE", fmt.Sprintf("/hybrid/api/v1/servers/%d", srv.ID), nil, "", 204)
	c.call("DELETE", fmt.Sprintf("/hybrid/api/v1/servers/%d", srv.ID), nil, "", 204) // whether it existed or not
	c.call("GET", fmt.Sprintf("/hybrid/api/v1/servers/%d", srv.ID), nil, "", 404)

	// Working with server groups: list, one; an application deployed to
	// it runs on every running member.
	var groups []struct{ ID int64 }
	armData(t, c.call("GET", "/hybrid/api/v1/serverGroups", nil, "", 200), &groups)
	if len(groups) != 1 {
		t.Fatalf("groups: %+v", groups)
	}
	c.call("GET", "/hybrid/api/v1/serverGroups/5", nil, "", 200)
	body, ctype := multipartBody(t, [][2]string{{"artifactName", "test"}, {"file", "test.zip"}, {"targetId", "5"}}, muleApp(t, 300, true))
	var app armApp
	armData(t, c.on(agents[1]).call("POST", "/hybrid/api/v1/applications", body, ctype, 202), &app)
	if app.ID != 1 || app.Target.Type != "SERVER_GROUP" || app.Artifact.FileName != "test.zip" || app.DesiredStatus != "STARTED" || len(app.ServerArtifacts) != 3 {
		t.Fatalf("deployed: %+v", app)
	}
	c.on(agents[2]).call("POST", "/hybrid/api/v1/applications", body, ctype, 409) // that name on that target
	app = c.waitApp(1, "STARTED")
	waitProcs(t, agents[0], 1, 2, "sleep 300")
	env := waitProcs(t, agents[1], 1, 3, "sleep 300")
	if _, ok := envVar(env, "ARM_CLUSTER_PEERS"); ok {
		t.Fatalf("an instance of a server group is told of peers: %q", env)
	}

	// Add a server to the group: it receives the group's applications.
	// One already in a group: 400.
	c.call("POST", "/hybrid/api/v1/serverGroups/5/servers/4", nil, "", 200)
	waitProcs(t, agents[2], 1, 4, "sleep 300")
	c.call("POST", "/hybrid/api/v1/serverGroups/5/servers/2", nil, "", 400)
	// Remove it: the application stays on it.
	c.call("DELETE", "/hybrid/api/v1/serverGroups/5/servers/4", nil, "", 204)
	armData(t, c.call("GET", "/hybrid/api/v1/servers/4", nil, "", 200), &servers[3])
	if servers[3].ServerGroupID != 0 {
		t.Fatalf("server 4 still in a group: %+v", servers[3])
	}
	// Its workload is still there once the removal is applied, and the
	// process it ran before runs on.
	before := appProcs(t, agents[2], 1, 4)
	var d workloadDoc
	mustUnmarshal(t, agents[2].mustAs(admin, agents[2].url, "GET", "/cairn/v1/workloads/arm-1-4?consistent", nil, 200).body, &d)
	if len(d.Placement) != 1 {
		t.Fatalf("the application's workload on the removed server: %+v", d)
	}
	if after := appProcs(t, agents[2], 1, 4); len(after) == 0 || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the application on the removed server: %v, then %v", before, after)
	}

	// Working with applications: list (by target), by name → 404.
	var apps []armApp
	armData(t, c.call("GET", "/hybrid/api/v1/applications?targetId=5", nil, "", 200), &apps)
	if len(apps) != 1 || apps[0].ID != 1 {
		t.Fatalf("applications of target 5: %+v", apps)
	}
	c.call("GET", "/hybrid/api/v1/applications/test", nil, "", 404)
	c.call("GET", "/hybrid/api/v1/nothing", nil, "", 404)
	c.call("PUT", "/hybrid/api/v1/servers", []byte(`{}`), "", 405)

	// PATCH with a new file: new processes run the new code, on every
	// server the application is on.
	body, ctype = multipartBody(t, [][2]string{{"file", "test-v2.zip"}}, muleApp(t, 301, true))
	armData(t, c.on(agents[2]).call("PATCH", "/hybrid/api/v1/applications/1", body, ctype, 200), &app)
	if app.Artifact.FileName != "test-v2.zip" {
		t.Fatalf("patched: %+v", app)
	}
	waitProcs(t, agents[0], 1, 2, "sleep 301")
	waitProcs(t, agents[1], 1, 3, "sleep 301")
	env = waitProcs(t, agents[2], 1, 4, "sleep 301")
	if d, _ := envVar(env, "ARM_DEPLOYMENT"); d != "2" {
		t.Fatalf("deployment %q after a new file", d)
	}
	c.waitApp(1, "STARTED")
	// PATCH without a file: the same file again, new processes.
	body, ctype = multipartBody(t, [][2]string{{"id", "1"}}, nil)
	c.call("PATCH", "/hybrid/api/v1/applications/1", body, ctype, 200)
	waitFor(t, "redeployed processes", workloadTimeout, func() bool {
		for _, p := range appProcs(t, agents[0], 1, 2) {
			if d, _ := envVar(p[1], "ARM_DEPLOYMENT"); d == "3" && strings.Contains(p[0], "sleep 301") {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprint(appProcs(t, agents[0], 1, 2)) })
	// Stop: the processes are gone; start: they are back.
	armData(t, c.call("PATCH", "/hybrid/api/v1/applications/1", []byte(`{"desiredStatus":"STOPPED"}`), "", 200), &app)
	if app.DesiredStatus != "STOPPED" {
		t.Fatalf("stopped: %+v", app)
	}
	for i, a := range agents {
		waitProcs(t, a, 1, int64(i+2), "")
	}
	c.waitApp(1, "STOPPED")
	c.call("PATCH", "/hybrid/api/v1/applications/1", []byte(`{"desiredStatus":"STARTED"}`), "", 200)
	for i, a := range agents {
		waitProcs(t, a, 1, int64(i+2), "sleep 301")
	}
	c.waitApp(1, "STARTED")
	c.call("PATCH", "/hybrid/api/v1/applications/1", []byte(`{"desiredStatus":"RUNNING"}`), "", 400)

	// Nothing runnable in the file: DEPLOYMENT_FAILED, with the reason.
	body, ctype = multipartBody(t, [][2]string{{"artifactName", "broken"}, {"file", "broken.zip"}, {"targetId", "4"}}, muleApp(t, 0, false))
	armData(t, c.call("POST", "/hybrid/api/v1/applications", body, ctype, 202), &app)
	failed := c.waitApp(app.ID, "DEPLOYMENT_FAILED")
	if failed.Message == "" {
		t.Fatalf("no reason: %+v", failed)
	}
	c.call("DELETE", fmt.Sprintf("/hybrid/api/v1/applications/%d", app.ID), nil, "", 204)

	// A unicast cluster of n2 and n3 (the seed's string booleans):
	// instances are told each other's addresses.
	c.call("DELETE", "/hybrid/api/v1/serverGroups/5/servers/3", nil, "", 204)
	var cl struct {
		ID               int64 `json:"id"`
		MulticastEnabled bool  `json:"multicastEnabled"`
		PrimaryNodeID    int64 `json:"primaryNodeId"`
		Servers          []struct {
			ID        int64
			Status    string
			ClusterIP string `json:"clusterIp"`
		}
	}
	armData(t, c.call("POST", "/hybrid/api/v1/clusters",
		[]byte(`{"name":"cluster_name","multicastEnabled":"false","servers":[{"serverId":"3","serverIp":"127.0.0.1"},{"serverId":4,"serverIp":"127.0.0.2"}]}`), "", 201), &cl)
	if cl.MulticastEnabled || cl.PrimaryNodeID != 3 || len(cl.Servers) != 2 || cl.Servers[1].ClusterIP != "127.0.0.2" {
		t.Fatalf("cluster: %+v", cl)
	}
	var clusters []struct{ ID int64 }
	armData(t, c.call("GET", "/hybrid/api/v1/clusters", nil, "", 200), &clusters)
	if len(clusters) != 1 || clusters[0].ID != cl.ID {
		t.Fatalf("clusters: %+v", clusters)
	}
	body, ctype = multipartBody(t, [][2]string{{"artifactName", "clustered"}, {"file", "c.zip"}, {"targetId", fmt.Sprint(cl.ID)}}, muleApp(t, 302, true))
	armData(t, c.call("POST", "/hybrid/api/v1/applications", body, ctype, 202), &app)
	clustered := app.ID
	for i, want := range map[int]string{1: "127.0.0.2", 2: "127.0.0.1"} {
		env := waitProcs(t, agents[i], clustered, int64(i+2), "sleep 302")
		if peers, _ := envVar(env, "ARM_CLUSTER_PEERS"); peers != want {
			t.Fatalf("peers of %s: %q, want %q", agents[i].line.nodeID, peers, want)
		}
	}
	c.call("DELETE", fmt.Sprintf("/hybrid/api/v1/clusters/%d", cl.ID), nil, "", 400) // it has an application

	// DELETE the applications: 204, every process gone; 204 again.
	c.call("DELETE", "/hybrid/api/v1/applications/1", nil, "", 204)
	c.call("DELETE", fmt.Sprintf("/hybrid/api/v1/applications/%d", clustered), nil, "", 204)
	c.call("DELETE", "/hybrid/api/v1/applications/1", nil, "", 204)
	for i, a := range agents {
		waitProcs(t, a, 1, int64(i+2), "")
	}
	waitProcs(t, agents[1], clustered, 3, "")
	waitProcs(t, agents[2], clustered, 4, "")
	armData(t, c.call("GET", "/hybrid/api/v1/applications", nil, "", 200), &apps)
	if len(apps) != 0 {
		t.Fatalf("applications left: %+v", apps)
	}
	c.call("DELETE", fmt.Sprintf("/hybrid/api/v1/clusters/%d", cl.ID), nil, "", 204)
	c.call("DELETE", "/hybrid/api/v1/serverGroups/5", nil, "", 204)

	// A node that dies: its server is DISCONNECTED (the seed's TestServer,
	// never seen, is still CREATED).
	agents[2].mustKill()
	waitFor(t, "server 4 DISCONNECTED", 20*time.Second, func() bool {
		armData(t, c.call("GET", "/hybrid/api/v1/servers", nil, "", 200), &servers)
		return servers[3].Status == "DISCONNECTED"
	}, func() string { return fmt.Sprintf("%+v", servers) })
	if servers[0].Status != "CREATED" || servers[1].Status != "RUNNING" {
		t.Fatalf("servers after n3 died: %+v", servers)
	}
}
