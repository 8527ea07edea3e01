package main

// TLS and gossip encryption on real processes (issue 16, items 4 and 7):
// certificates are made by the tests (node/tlsconfig/tlstest), nodes run
// with -tls-cert/-tls-key/-tls-ca and -gossip-key, and strangers (no key,
// a certificate of another CA) are kept out.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/cluster"
	"cairn/node/tlsconfig/tlstest"
)

// tlsArgs are the flags of a node with a certificate ca signs for
// 127.0.0.1, trusting ca.
func tlsArgs(t testing.TB, ca *tlstest.CA, name string) []string {
	cert, key := ca.MustIssue(t, name, "127.0.0.1", "localhost")
	return []string{"-tls-cert", cert, "-tls-key", key, "-tls-ca", ca.File}
}

// tlsAdminPassword is the admin password of startTLSCluster's zones.
const tlsAdminPassword = "tls-zone-admin-9"

// startTLSCluster is startCluster for a zone of n nodes, each with its own
// certificate from ca and the gossip key, and the MaxScale listener on.
func startTLSCluster(t testing.TB, n int, ca *tlstest.CA, gossipKey string) []*agent {
	t.Helper()
	gossip := make([]string, n)
	for i, p := range freePorts(t, n) {
		gossip[i] = hostPort(p)
	}
	opts := make([]agentOpts, n)
	for i := range opts {
		id := fmt.Sprintf("n%d", i+1)
		// n1 is the domain's MRF controller: the others reach it over HTTPS.
		controller := strconv.FormatBool(i == 0)
		opts[i] = agentOpts{dataDir: filepath.Join(t.TempDir(), "data"), nodeID: id, gossipAddr: gossip[i],
			maxscale: true, clientTLS: ca.ClientConfig(),
			args: append([]string{"-join", strings.Join(gossip, ","), "-bootstrap-expect", strconv.Itoa(n),
				"-gossip-key", gossipKey, "-server-stabilization-time", "500ms", "-admin-password", tlsAdminPassword, "-controller=" + controller}, tlsArgs(t, ca, id)...)}
	}
	agents := mustLaunchAgents(t, opts...)
	for _, a := range agents {
		a.mustBeReady()
	}
	return agents
}

// Test_TLS_ThreeNodes_GossipKey_ForwardsAndKeepsStrangersOut runs a zone
// with CA-signed certificates and an encrypted gossip pool: writes through
// followers (main and MaxScale listeners) are forwarded to the leader over
// HTTPS; a fourth node with a certificate of the CA joins and becomes a
// voter (the leader's status probe and Raft, both over TLS); a node
// without the gossip key cannot join the pool; a node with the key but a
// certificate another CA signed is never given the zone's state (Raft's
// mutual TLS refuses it).
func Test_TLS_ThreeNodes_GossipKey_ForwardsAndKeepsStrangersOut(t *testing.T) {
	requireBinary(t)
	t.Parallel()
	ca := tlstest.MustNewCA(t, "zone")
	key, err := cluster.NewGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	nodes := startTLSCluster(t, 3, ca, key)
	leader, followers := mustRoles(t, nodes)
	for _, a := range nodes {
		if !strings.HasPrefix(a.url, "https://") {
			t.Fatalf("%s advertises %s, not an https URL", a.id(), a.url)
		}
	}
	for i, f := range followers {
		v := f.mustPut("widget", fmt.Sprintf("w%d", i), []byte(`{"x":1}`), http.StatusCreated)
		if got := leader.mustGet("widget", fmt.Sprintf("w%d", i)); got.Version != v {
			t.Fatalf("leader has w%d at version %d, the follower answered %d", i, got.Version, v)
		}
	}
	// Every write is audited where it was received (and where served).
	waitFor(t, "the audit line of the forwarded write", 5*time.Second, func() bool {
		errOut, _ := os.ReadFile(followers[0].stderr)
		return strings.Contains(string(errOut), "component=audit user=anonymous method=PUT path=/cairn/v1/resources/widget/w0 status=201")
	}, nil)
	// A resource write with credentials through a follower: the follower
	// authorises it and sends the leader the command, over Raft's mutual
	// TLS; its audit line names the caller.
	admin := creds{user: "admin", password: tlsAdminPassword}
	var last reply
	waitFor(t, "a write as admin (the first leader creates the admin user)", 10*time.Second, func() bool {
		last = followers[1].as(admin, followers[1].url, http.MethodPut, "/cairn/v1/resources/widget/by-admin", []byte(`{}`))
		return last.status == http.StatusCreated
	}, func() string { return fmt.Sprintf("%d %s", last.status, last.body) })
	if got := leader.mustGet("widget", "by-admin"); got.Version == 0 {
		t.Fatalf("leader holds by-admin at version 0")
	}
	waitFor(t, "the follower's audit line of the admin's write", 5*time.Second, func() bool {
		errOut, _ := os.ReadFile(followers[1].stderr)
		return strings.Contains(string(errOut), "component=audit user=admin method=PUT path=/cairn/v1/resources/widget/by-admin status=201")
	}, nil)
	// A write the leader must serve itself (it reads the users before it
	// writes) is proxied over HTTPS: the leader authenticates the caller
	// again and its audit line names them.
	last = followers[1].as(admin, followers[1].url, http.MethodPut, "/cairn/v1/users/tls-viewer", []byte(`{"password":"look-only","role":"readonly"}`))
	if last.status != http.StatusCreated {
		t.Fatalf("PUT /cairn/v1/users/tls-viewer as admin through follower %s: %d %s", followers[1].id(), last.status, last.body)
	}
	waitFor(t, "the leader's audit line of the admin's forwarded write", 5*time.Second, func() bool {
		errOut, _ := os.ReadFile(leader.stderr)
		return strings.Contains(string(errOut), "component=audit user=admin method=PUT path=/cairn/v1/users/tls-viewer status=201") &&
			strings.Contains(string(errOut), "forwarded_by="+followers[1].id())
	}, nil)
	body := []byte(`{"data":{"id":"server1","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3000,"protocol":"MySQLBackend"}}}}`)
	if status, b, err := followers[0].maxscaleDo("POST", "/v1/servers", body); err != nil || status != http.StatusNoContent {
		t.Fatalf("POST /v1/servers through follower %s's MaxScale listener: %d %s %v", followers[0].id(), status, b, err)
	}

	// The console's overview reads every member's status over HTTPS.
	var ov struct {
		Zones []struct {
			Members []struct {
				ID          string `json:"id"`
				State       string `json:"state"`
				Unreachable string `json:"unreachable"`
			} `json:"members"`
		} `json:"zones"`
	}
	mustUnmarshal(t, followers[0].mustDo(http.MethodGet, "/cairn/v1/overview", nil, http.StatusOK).body, &ov)
	if len(ov.Zones) != 1 || len(ov.Zones[0].Members) != 3 {
		t.Fatalf("overview: %+v", ov)
	}
	for _, m := range ov.Zones[0].Members {
		if m.Unreachable != "" || m.State == "" {
			t.Fatalf("overview of member %s: state %q, unreachable %q", m.ID, m.State, m.Unreachable)
		}
	}

	// MRF: the domain's resources live on the controller n1; n3 passes
	// requests for them on over HTTPS, and the zone leader follows its
	// deployments over HTTPS too (a failure would be logged).
	var zones reply
	waitFor(t, "the domain's zones through n3", 10*time.Second, func() bool {
		zones, _ = nodes[2].do(http.MethodGet, "/management/domain/zones", nil, nil)
		return zones.status == http.StatusOK && strings.Contains(string(zones.body), nodes[0].url)
	}, func() string { return fmt.Sprintf("%d %s", zones.status, zones.body) })

	for _, a := range nodes {
		errOut, _ := os.ReadFile(a.stderr)
		for _, l := range strings.Split(string(errOut), "\n") {
			if strings.Contains(l, "x509:") || strings.Contains(l, "tls: ") {
				t.Errorf("%s logged a TLS failure between members: %s", a.id(), l)
			}
		}
	}

	// Workloads: each supervisor reports its instance to its own https
	// URL (forwarded to the leader), and logs are gathered from every
	// node over HTTPS.
	killInstancesAtCleanup(t, nodes...)
	spec := `{"command":` + loopCmd + `,"instances":3,"stop_timeout":"2s"}`
	followers[0].mustDo(http.MethodPut, "/cairn/v1/workloads/loop", []byte(spec), http.StatusCreated)
	var doc workloadDoc
	waitFor(t, "3 instances reported running", workloadTimeout, func() bool {
		doc = leader.mustWorkload("loop")
		_, ok := doc.running(3)
		return ok
	}, func() string { return fmt.Sprintf("%+v", doc) })
	var logs reply
	waitFor(t, "logs of the 3 instances gathered through a follower", workloadTimeout, func() bool {
		logs = followers[1].mustDo(http.MethodGet, "/cairn/v1/workloads/loop/logs", nil, http.StatusOK)
		b := string(logs.body)
		return logs.header.Get("X-Cairn-Logs-Missing") == "" && strings.Contains(b, "tick 0") && strings.Contains(b, "tick 1") && strings.Contains(b, "tick 2")
	}, func() string {
		return fmt.Sprintf("missing %q, %d bytes", logs.header.Get("X-Cairn-Logs-Missing"), len(logs.body))
	})
	followers[0].mustDo(http.MethodDelete, "/cairn/v1/workloads/loop", nil, http.StatusNoContent)

	var gossip []string
	for _, a := range nodes {
		gossip = append(gossip, a.line.gossip)
	}
	join := strings.Join(gossip, ",")
	// The three newcomers start together: their waits overlap.
	other := tlstest.MustNewCA(t, "other")
	newcomers := mustLaunchAgents(t,
		agentOpts{nodeID: "n4", clientTLS: ca.ClientConfig(),
			args: append([]string{"-join", join, "-gossip-key", key}, tlsArgs(t, ca, "n4")...)},
		agentOpts{nodeID: "rogue", clientTLS: other.ClientConfig(),
			args: append([]string{"-join", join, "-gossip-key", key}, tlsArgs(t, other, "rogue")...)},
	)
	n4, rogue := newcomers[0], newcomers[1]
	keyless := spawnAgent(t, agentOpts{dataDir: filepath.Join(t.TempDir(), "data"), nodeID: "keyless", clientTLS: ca.ClientConfig(),
		args: append([]string{"-join", join, "-join-timeout", "3s"}, tlsArgs(t, ca, "keyless")...)})

	n4.mustBeReady()
	waitMembers(t, leader, "n4 a voter", membershipTimeout, func(m membersBody) bool {
		mi, ok := m.member("n4")
		return ok && mi.Suffrage == "voter"
	})
	if got := n4.mustGet("widget", "w0"); got.ID != "w0" {
		t.Fatalf("n4 does not have w0: %+v", got)
	}

	select {
	case <-keyless.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a node without the gossip key did not give up joining")
	}
	if keyless.state.ExitCode() == 0 {
		t.Fatal("a node without the gossip key exited 0")
	}
	errOut, _ := os.ReadFile(keyless.stderr)
	t.Logf("the keyless node's last words: %s", lastLines(errOut, 2))

	// The rogue joined the (encrypted) pool: it has the key. The leader
	// adds it to the configuration as a non-voter, but can never
	// replicate to it: Raft refuses its certificate (and it the leader's).
	waitMembers(t, leader, "rogue added as a non-voter", membershipTimeout, func(m membersBody) bool {
		mi, ok := m.member("rogue")
		return ok && mi.Suffrage == "nonvoter"
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := rogue.status()
		if err != nil {
			t.Fatalf("rogue status: %v", err)
		}
		if st.ZoneID != "" || st.CommitIndex != 0 || st.Voter {
			t.Fatalf("the node whose certificate another CA signed got the zone's state: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	m, err := leader.members()
	if err != nil {
		t.Fatal(err)
	}
	if mi, _ := m.member("rogue"); mi.Suffrage == "voter" {
		t.Fatalf("the rogue became a voter: %s", m)
	}
	if _, ok := m.member("keyless"); ok {
		t.Fatalf("the keyless node is in the pool: %s", m)
	}
	// The zone still takes writes through every member.
	for _, a := range append(followers, n4) {
		a.mustPut("widget", "after-"+a.id(), []byte(`{}`), http.StatusCreated)
	}
}

// Test_TLS_SelfSigned_SingleNode serves HTTPS with a pair it makes in its
// data dir and keeps across restarts; plain HTTP is refused.
func Test_TLS_SelfSigned_SingleNode(t *testing.T) {
	requireBinary(t)
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	certFile := filepath.Join(dataDir, "tls", "cert.pem")
	// The certificate is made at start, before the test's client can know
	// it: the first client trusts nothing, and is replaced below.
	apceraAddr := hostPort(freePorts(t, 1)[0])
	a := mustLaunchAgent(t, agentOpts{dataDir: dataDir, args: []string{"-tls-self-signed", "-apcera-addr", apceraAddr}, clientTLS: &tls.Config{}})
	first, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	trust := func(a *agent) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(first) {
			t.Fatal("no certificate in " + certFile)
		}
		a.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	if !strings.HasPrefix(a.url, "https://") {
		t.Fatalf("start line URL %s is not https", a.url)
	}
	if _, err := a.do(http.MethodGet, "/ready", nil, nil); err == nil {
		t.Fatal("a client that trusts nothing accepted the self-signed certificate")
	}
	trust(a)
	a.mustBeReady()
	a.mustPut("widget", "w1", []byte(`{}`), http.StatusCreated)
	// The Apcera API's own listener is HTTPS too.
	resp, err := a.client.Get("https://" + apceraAddr + "/v1/jobs")
	if err != nil {
		t.Fatalf("GET https://%s/v1/jobs: %v", apceraAddr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET https://%s/v1/jobs: %d", apceraAddr, resp.StatusCode)
	}
	resp, err = http.Get(strings.Replace(a.url, "https://", "http://", 1) + "/ready")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served")
		}
	}
	a.mustStop()

	b := mustLaunchAgent(t, agentOpts{dataDir: dataDir, args: []string{"-tls-self-signed"}, clientTLS: &tls.Config{}})
	if again, _ := os.ReadFile(certFile); string(again) != string(first) {
		t.Fatal("a restart made a new certificate")
	}
	trust(b)
	b.mustBeReady()
	b.mustGet("widget", "w1")
}

// Test_Keygen_And_BadGossipKey: `cairn keygen` prints a key -gossip-key
// takes; a key of the wrong length stops the agent at start, saying why.
func Test_Keygen_And_BadGossipKey(t *testing.T) {
	requireBinary(t)
	t.Parallel()
	code, out, errOut := runCairn(t, 10*time.Second, nil, "keygen")
	if code != 0 {
		t.Fatalf("cairn keygen: exit %d: %s", code, errOut)
	}
	if b, err := cluster.ParseGossipKey(out); err != nil || len(b) != 32 {
		t.Fatalf("cairn keygen printed %q: %d bytes, %v", out, len(b), err)
	}
	for _, bad := range []string{"c2hvcnQ=", "not*base64"} {
		code, _, errOut = runCairn(t, 10*time.Second, []string{"CAIRN_GOSSIP_KEY=" + bad}, "agent", "-data-dir", t.TempDir())
		if code == 0 || !strings.Contains(errOut, "gossip key must be base64 of 16, 24 or 32 bytes") {
			t.Fatalf("CAIRN_GOSSIP_KEY=%s: exit %d, stderr %s", bad, code, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-tls-cert", "x.pem"}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-self-signed", "-tls-ca", "ca.pem"}, "-tls-ca needs -tls-cert and -tls-key"},
		{[]string{"-max-concurrent-requests", "3"}, "-max-concurrent-requests must be 0 (unlimited) or at least 8"},
	} {
		code, _, errOut = runCairn(t, 10*time.Second, nil, append([]string{"agent", "-data-dir", t.TempDir()}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Fatalf("%v: exit %d, stderr %s", c.args, code, errOut)
		}
	}
}
