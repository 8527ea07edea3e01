package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cairn/node/tlsconfig/tlstest"
)

// Runtime Manager's real CLI (anypoint-cli-v4 and its runtime-mgr plugin,
// from npm) drives a three-node zone unchanged: `make arm-cli` installs it
// into a temporary directory and runs this test with CAIRN_ARM_CLI set to
// its binary. Skipped otherwise (it is not part of `make test`).
//
// The CLI speaks HTTPS only: the nodes serve it (-tls-cert, -tls-key,
// -tls-ca), their certificates signed by a CA of the test's, which the
// CLI is told to trust (NODE_EXTRA_CA_CERTS). The CLI attaches its token
// only to Anypoint-looking hosts, so it is pointed at
// anypoint.mulesoft.test:<port of the first node>, which the
// certificates name and testdata/arm/cli/resolve-local.js resolves to
// 127.0.0.1.
func Test_ARM_CLI_DrivesAThreeNodeZone(t *testing.T) {
	t.Parallel()
	cli := os.Getenv("CAIRN_ARM_CLI")
	if cli == "" {
		t.Skip("CAIRN_ARM_CLI is not set: run `make arm-cli`")
	}
	const host = "anypoint.mulesoft.test"
	ca := tlstest.MustNewCA(t, "arm-cli")
	gossip := make([]string, 3)
	for i, p := range freePorts(t, 3) {
		gossip[i] = hostPort(p)
	}
	opts := make([]agentOpts, 3)
	for i := range opts {
		id := fmt.Sprintf("n%d", i+1)
		cert, key := ca.MustIssue(t, id, "127.0.0.1", "localhost", host)
		opts[i] = agentOpts{dataDir: filepath.Join(t.TempDir(), "data"), nodeID: id, gossipAddr: gossip[i], clientTLS: ca.ClientConfig(),
			args: []string{"-join", strings.Join(gossip, ","), "-bootstrap-expect", "3", "-auth", "on", "-admin-password", "cli-secret",
				"-tls-cert", cert, "-tls-key", key, "-tls-ca", ca.File}}
	}
	agents := mustLaunchAgents(t, opts...)
	for _, a := range agents {
		a.mustBeReady()
	}
	killInstancesAtCleanup(t, agents...)
	admin := creds{user: "admin", password: "cli-secret"}
	waitFor(t, "the zone's admin on every member", 15*time.Second, func() bool {
		for _, a := range agents {
			if a.as(admin, a.url, "GET", "/cairn/v1/whoami", nil).status != 200 {
				return false
			}
		}
		return true
	}, nil)

	// The nodes register as servers 1, 2, 3.
	c := &armClient{t: t, a: agents[0]}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	mustUnmarshal(t, c.call("POST", "/accounts/login", []byte(`{"username":"admin","password":"cli-secret"}`), "", 200), &login)
	c.token = login.AccessToken
	var regToken string
	armData(t, c.call("GET", "/hybrid/api/v1/servers/registrationToken", nil, "", 200), &regToken)
	for _, a := range agents {
		c.call("POST", "/hybrid/api/v1/servers?registrationToken="+regToken,
			[]byte(strings.Replace(string(armFixture(t, "register-server.json")), `"TestServer"`, `"`+a.line.nodeID+`"`, 1)), "", 201)
	}

	caFile := ca.File
	u, _ := url.Parse(agents[0].url)
	port := u.Port()
	preload, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "arm", "cli", "resolve-local.js"))
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "NODE_EXTRA_CA_CERTS="+caFile, "NODE_OPTIONS=--require "+preload,
			"ANYPOINT_HOST="+host+":"+port, "ANYPOINT_USERNAME=admin", "ANYPOINT_PASSWORD=cli-secret",
			"ANYPOINT_ENV=Production", "NO_COLOR=1", "FORCE_COLOR=0")
		out, err := cmd.CombinedOutput()
		t.Logf("anypoint-cli-v4 %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("anypoint-cli-v4 %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	expect := func(out, re string) {
		t.Helper()
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("output does not match %q", re)
		}
	}

	expect(run("runtime-mgr:server:list"), `(?s)n1.*n2.*n3`)
	expect(run("runtime-mgr:server:describe", "2"), `RUNNING`)
	expect(run("runtime-mgr:server:token"), regToken)
	expect(run("runtime-mgr:server:modify", "3", "--name", "third"), `modified`)
	expect(run("runtime-mgr:serverGroup:create", "CliGroup", "1", "2", "3"), `created`)
	expect(run("runtime-mgr:serverGroup:list"), `CliGroup`)
	expect(run("runtime-mgr:serverGroup:remove:server", "4", "3"), `removed`)
	expect(run("runtime-mgr:serverGroup:describe", "4"), `CliGroup`)
	expect(run("runtime-mgr:cluster:create", "CliCluster", "--server", "3:127.0.0.1"), `Created cluster with ID 5`)
	expect(run("runtime-mgr:cluster:list"), `CliCluster`)
	expect(run("runtime-mgr:cluster:describe", "5"), `third`)

	app := filepath.Join(t.TempDir(), "cli-app.zip")
	if err := os.WriteFile(app, muleApp(t, 303, true), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(run("runtime-mgr:standalone-application:deploy", "CliGroup", "cli-app", app), `Application with ID 1 created`)
	waitProcs(t, agents[0], 1, 1, "sleep 303")
	waitProcs(t, agents[1], 1, 2, "sleep 303")
	expect(run("runtime-mgr:standalone-application:list"), `cli-app.*CliGroup.*STARTED`)
	expect(run("runtime-mgr:standalone-application:describe", "cli-app"), `SERVER_GROUP`)
	// Deploying again under the same name redeploys (PATCH with the file).
	if err := os.WriteFile(app, muleApp(t, 304, true), 0o644); err != nil {
		t.Fatal(err)
	}
	run("runtime-mgr:standalone-application:deploy", "CliGroup", "cli-app", app)
	waitProcs(t, agents[0], 1, 1, "sleep 304")
	waitProcs(t, agents[1], 1, 2, "sleep 304")
	dl := t.TempDir()
	run("runtime-mgr:standalone-application:artifact", "cli-app", dl)
	if got, err := os.ReadFile(filepath.Join(dl, "app_1_artifact.zip")); err != nil || string(got) != string(muleApp(t, 304, true)) {
		t.Fatalf("downloaded artifact: %v (%d bytes)", err, len(got))
	}
	expect(run("runtime-mgr:standalone-application:restart", "cli-app"), `Restarting`)
	waitFor(t, "the restarted instance", workloadTimeout, func() bool {
		for _, p := range appProcs(t, agents[0], 1, 1) {
			if d, _ := envVar(p[1], "ARM_DEPLOYMENT"); d == "3" {
				return true
			}
		}
		return false
	}, nil)
	expect(run("runtime-mgr:standalone-application:stop", "cli-app"), `updated`)
	waitProcs(t, agents[0], 1, 1, "")
	waitProcs(t, agents[1], 1, 2, "")
	expect(run("runtime-mgr:standalone-application:start", "cli-app"), `updated`)
	waitProcs(t, agents[0], 1, 1, "sleep 304")
	expect(run("runtime-mgr:standalone-application:delete", "cli-app"), `deleted`)
	waitProcs(t, agents[0], 1, 1, "")
	waitProcs(t, agents[1], 1, 2, "")
}
