package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Test_ConfigCheck_ValidAndInvalid runs `cairn agent -config-check`: 0 and
// a line saying so for a valid file, 1 naming the file, line and key for a
// bad one; neither binds a port nor touches the data dir.
func Test_ConfigCheck_ValidAndInvalid(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	dataDir := filepath.Join(dir, "data")
	if err := os.WriteFile(good, []byte("node-id: n1\ndata-dir: "+dataDir+"\nhttp-addr: 127.0.0.1:1\nretry-join:\n  - 127.0.0.1:2\n  - 127.0.0.1:3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCairn(t, 20*time.Second, nil, "agent", "-config", good, "-config-check")
	if code != 0 || !strings.Contains(out, "are valid") {
		t.Fatalf("-config-check of a good file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("-config-check touched the data dir: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("node-id: n1\nsnapshot-treshold: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCairn(t, 20*time.Second, nil, "agent", "-config", bad, "-config-check")
	if want := bad + ":2: key snapshot-treshold: unknown key"; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("-config-check of a bad file: exit %d, stderr %q, want 1 and %q", code, errOut, want)
	}
	// The environment names the file, and a flag wins over it.
	code, _, errOut = runCairn(t, 20*time.Second, []string{"CAIRN_CONFIG=" + bad}, "agent", "-config", good, "-config-check")
	if code != 0 {
		t.Fatalf("-config on the command line over CAIRN_CONFIG: exit %d, stderr %q", code, errOut)
	}
}

// Test_ThreeNodes_RetryJoin_RestartedWithoutJoin_RejoinedByPeers starts a
// zone from a config file per node with -retry-join only (unattended: no
// -join, each waits for the others), then restarts one node with no join
// address at all. memberlist never contacts a member it saw fail again;
// the peers' -retry-join must bring it back into the pool.
func Test_ThreeNodes_RetryJoin_RestartedWithoutJoin_RejoinedByPeers(t *testing.T) {
	gossip := make([]string, 3)
	for i, p := range freePorts(t, 3) {
		gossip[i] = hostPort(p)
	}
	opts := make([]agentOpts, 3)
	for i := range opts {
		dir := t.TempDir()
		conf := filepath.Join(dir, "cairn.yaml")
		body := fmt.Sprintf("zone: rj\nbootstrap-expect: 3\nretry-interval: 500ms\nretry-join:\n  - %s\n  - %s\n  - %s\n", gossip[0], gossip[1], gossip[2])
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		opts[i] = agentOpts{dataDir: filepath.Join(dir, "data"), nodeID: fmt.Sprintf("n%d", i+1), gossipAddr: gossip[i], args: []string{"-config", conf}}
	}
	nodes := mustLaunchAgents(t, opts...)
	for _, a := range nodes {
		a.mustBeReady()
	}
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	if st := leader.mustStatus(); st.Zone != "rj" {
		t.Fatalf("zone %q, want rj from the config file", st.Zone)
	}
	waitStatus(t, leader, "3 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 3 })
	victim := others(nodes, leader)[0]
	rest := others(nodes, victim)
	leader.mustPut("test.rj", "before", []byte(`{}`), http.StatusCreated)

	victim.mustKill()
	for _, a := range rest {
		waitMembers(t, a, victim.id()+" not alive", deadRemovalTimeout, func(mb membersBody) bool {
			mi, ok := mb.member(victim.id())
			return ok && mi.Status != "alive"
		})
	}
	// Back with no -join, no -retry-join and no config file: only its
	// peers can bring it into the pool.
	o := victim.restartOpts()
	o.args = []string{"-zone", "rj", "-controller=false"}
	back := mustStartAgent(t, o)
	for _, a := range append(rest, back) {
		waitMembers(t, a, "every member alive", membershipTimeout, func(mb membersBody) bool {
			n := 0
			for _, mi := range mb.Members {
				if mi.Status == "alive" {
					n++
				}
			}
			return n == 3
		})
	}
	back.mustGet("test.rj", "before")
}
