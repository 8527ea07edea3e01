package main

import (
	"context"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Runtime Manager's real CLI (anypoint-cli-v4 and its runtime-mgr plugin,
// from npm) drives a three-node zone unchanged: `make arm-cli` installs it
// into a temporary directory and runs this test with CAIRN_ARM_CLI set to
// its binary. Skipped otherwise (it is not part of `make test`).
//
// The CLI speaks HTTPS only. Until the agent serves HTTPS itself, the test
// puts a TLS-terminating reverse proxy (httptest's certificate, trusted
// with NODE_TLS_REJECT_UNAUTHORIZED=0) in front of one node; the API
// behind it is the agent's, byte for byte. The CLI attaches its token
// only to Anypoint-looking hosts, so it is pointed at
// anypoint.mulesoft.test:<port>, which testdata/arm/cli/resolve-local.js
// resolves to 127.0.0.1.
func Test_ARM_CLI_DrivesAThreeNodeZone(t *testing.T) {
	cli := os.Getenv("CAIRN_ARM_CLI")
	if cli == "" {
		t.Skip("CAIRN_ARM_CLI is not set: run `make arm-cli`")
	}
	agents := startCluster(t, 3, agentOpts{args: []string{"-auth", "on", "-admin-password", "cli-secret"}})
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

	target, _ := url.Parse(agents[0].url)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	port := proxy.Listener.Addr().String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	preload, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "arm", "cli", "resolve-local.js"))
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "NODE_TLS_REJECT_UNAUTHORIZED=0", "NODE_OPTIONS=--require "+preload,
			"ANYPOINT_HOST=anypoint.mulesoft.test:"+port, "ANYPOINT_USERNAME=admin", "ANYPOINT_PASSWORD=cli-secret",
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
	expect(run("runtime-mgr:serverGroup:create", "CliGroup", "1", "2"), `created`)
	expect(run("runtime-mgr:serverGroup:list"), `CliGroup`)
	expect(run("runtime-mgr:cluster:create", "CliCluster", "--server", "3:127.0.0.1"), `\S`)
	expect(run("runtime-mgr:cluster:list"), `CliCluster`)

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
	expect(run("runtime-mgr:standalone-application:stop", "cli-app"), `updated`)
	waitProcs(t, agents[0], 1, 1, "")
	waitProcs(t, agents[1], 1, 2, "")
	expect(run("runtime-mgr:standalone-application:start", "cli-app"), `updated`)
	waitProcs(t, agents[0], 1, 1, "sleep 304")
	expect(run("runtime-mgr:standalone-application:delete", "cli-app"), `deleted`)
	waitProcs(t, agents[0], 1, 1, "")
	waitProcs(t, agents[1], 1, 2, "")
}
