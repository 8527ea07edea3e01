package main

import (
	"bytes"
	"encoding/json"
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
	t.Parallel()
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
	t.Parallel()
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

// digestOf reads a node's store digest (GET /cairn/v1/status?digest).
func digestOf(a *agent) (string, error) {
	r, err := a.doWant(http.MethodGet, "/cairn/v1/status?digest", nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	var st struct {
		Digest string `json:"store_digest"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil {
		return "", err
	}
	return st.Digest, nil
}

// settleFor is how long the digests must stay put to count as settled: a
// new zone's leader loops (its first admin, the log format) write for a
// moment after it is ready.
const settleFor = time.Second

// mustSettledDigest waits until every node shows the same digest for
// settleFor, and returns it.
func mustSettledDigest(t *testing.T, nodes []*agent) string {
	t.Helper()
	var last, seen string
	var since time.Time
	waitFor(t, "the nodes' store digests to agree and settle", catchUpTimeout, func() bool {
		var ds []string
		for _, a := range nodes {
			d, err := digestOf(a)
			if err != nil {
				seen = err.Error()
				return false
			}
			ds = append(ds, d)
		}
		seen = strings.Join(ds, " ")
		for _, d := range ds {
			if d != ds[0] {
				return false
			}
		}
		if ds[0] != last {
			last, since = ds[0], time.Now()
		}
		return time.Since(since) > settleFor
	}, func() string { return seen })
	return last
}

// Test_Snapshot_SaveFromFollower_RestoreIntoFreshZone_SameDigest saves a
// 3-node zone's state through a follower with `cairn snapshot save`,
// restores it through a follower of a fresh 3-node zone (POST
// /cairn/v1/snapshot, forwarded to its leader), and checks that
// every member of the fresh zone then holds exactly the source's store
// (equal digests), that writes after it get versions past the backup's,
// and that a damaged file is refused by the CLI and by the API, changing
// nothing.
func Test_Snapshot_SaveFromFollower_RestoreIntoFreshZone_SameDigest(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	src := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, src, electionTimeout)
	for i := 0; i < 20; i++ {
		leader.mustPut("test.backup", fmt.Sprintf("r%02d", i), []byte(fmt.Sprintf(`{"n":%d,"tags":["t%d"]}`, i, i%3)), http.StatusCreated)
	}
	leader.mustPut("test.backup", "r00", []byte(`{"n":100}`), http.StatusOK)
	leader.mustDo(http.MethodDelete, resPath("test.backup", "r01"), nil, http.StatusNoContent)
	want := mustSettledDigest(t, src)

	file := filepath.Join(t.TempDir(), "zone.snap")
	follower := others(src, leader)[0]
	code, out, errOut := runCairn(t, time.Minute, nil, "snapshot", "save", file, "-addr", follower.url)
	if code != 0 || !strings.Contains(out, "saved zone default") {
		t.Fatalf("cairn snapshot save: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if d := mustSettledDigest(t, src); d != want {
		t.Fatalf("the source changed during the save: digest %s, was %s", d, want)
	}
	srcR00 := leader.mustGet("test.backup", "r00")
	for _, a := range src {
		a.mustStop()
	}

	fresh := startCluster(t, 3, agentOpts{})
	fleader := mustAgreeOnLeader(t, fresh, electionTimeout)
	fleader.mustPut("test.other", "x", []byte(`{}`), http.StatusCreated)
	before := mustSettledDigest(t, fresh)
	ffollower := others(fresh, fleader)[0]

	// A damaged file: the CLI refuses it, and so does the API itself.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(raw)
	bad[len(bad)-10] ^= 1
	badFile := filepath.Join(t.TempDir(), "damaged.snap")
	if err := os.WriteFile(badFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCairn(t, time.Minute, nil, "snapshot", "restore", badFile, "-addr", ffollower.url)
	if code != 1 || !strings.Contains(errOut, "checksum does not match") {
		t.Fatalf("cairn snapshot restore of a damaged file: exit %d, stderr %q; want 1 and a checksum error", code, errOut)
	}
	r := ffollower.mustDo(http.MethodPost, "/cairn/v1/snapshot", bad, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "checksum does not match") || r.header.Get("X-Cairn-Applied") != "false" {
		t.Fatalf("POST of a damaged backup: %s %v", r.body, r.header)
	}
	ffollower.mustDo(http.MethodPost, "/cairn/v1/snapshot", raw[:len(raw)/2], http.StatusBadRequest)
	if d := mustSettledDigest(t, fresh); d != before {
		t.Fatalf("a refused restore changed the zone: digest %s, was %s", d, before)
	}

	// Through a follower, which passes it on to the leader (the CLI goes to
	// the leader itself; the other tests use it).
	r = ffollower.mustDo(http.MethodPost, "/cairn/v1/snapshot", raw, http.StatusOK)
	if !strings.Contains(string(r.body), `"restored"`) || r.header.Get("X-Cairn-Index") == "" {
		t.Fatalf("POST of the backup to a follower: %s %v", r.body, r.header)
	}
	if got := mustSettledDigest(t, fresh); got != want {
		t.Fatalf("after the restore the fresh zone's digest is %s, the source's was %s", got, want)
	}
	for _, a := range fresh {
		if got := a.mustGet("test.backup", "r00"); got.Version != srcR00.Version || string(got.Body) != string(srcR00.Body) {
			t.Fatalf("%s: r00 %+v, source had %+v", a.id(), got, srcR00)
		}
		if r, _ := a.do(http.MethodGet, resPath("test.other", "x"), nil, nil); r.status != http.StatusNotFound {
			t.Fatalf("%s: the fresh zone's own write survived the restore: %d", a.id(), r.status)
		}
	}
	// Versions go on growing past the backup's.
	if v := ffollower.mustPut("test.backup", "r00", []byte(`{"n":101}`), http.StatusOK); v <= srcR00.Version {
		t.Fatalf("a write after the restore got version %d, not past the backup's %d", v, srcR00.Version)
	}
	mustSettledDigest(t, fresh)
}

// Test_Snapshot_NeedsAdmin: under authentication a readonly user can
// neither take a backup (it holds every secret) nor restore one.
func Test_Snapshot_NeedsAdmin(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{args: []string{"-auth", "on", "-admin-password", "admin-secret-1"}})
	admin := creds{user: "admin", password: "admin-secret-1"}
	a.mustWaitForUser(admin)
	a.mustAs(admin, a.url, http.MethodPut, "/cairn/v1/users/viewer", mustJSON(t, map[string]string{"password": "viewer-secret-1", "role": "readonly"}), http.StatusCreated)
	viewer := creds{user: "viewer", password: "viewer-secret-1"}
	a.mustAs(viewer, a.url, http.MethodGet, "/cairn/v1/snapshot", nil, http.StatusForbidden)
	a.mustAs(creds{}, a.url, http.MethodGet, "/cairn/v1/snapshot", nil, http.StatusUnauthorized)
	a.mustAs(viewer, a.url, http.MethodPost, "/cairn/v1/snapshot", []byte("{}"), http.StatusForbidden)
	file := filepath.Join(t.TempDir(), "z.snap")
	code, _, errOut := runCairn(t, time.Minute, nil, "snapshot", "save", file, "-addr", a.url, "-user", "viewer", "-password", "viewer-secret-1")
	if code != exitAuth {
		t.Fatalf("save as readonly: exit %d, stderr %q; want %d", code, errOut, exitAuth)
	}
	code, _, errOut = runCairn(t, time.Minute, nil, "snapshot", "save", file, "-addr", a.url, "-user", "admin", "-password", "admin-secret-1")
	if code != 0 {
		t.Fatalf("save as admin: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCairn(t, time.Minute, nil, "snapshot", "restore", file, "-addr", a.url, "-user", "viewer", "-password", "viewer-secret-1")
	if code != exitAuth {
		t.Fatalf("restore as readonly: exit %d, stderr %q; want %d", code, errOut, exitAuth)
	}
	code, _, errOut = runCairn(t, time.Minute, nil, "snapshot", "restore", file, "-addr", a.url, "-user", "admin", "-password", "admin-secret-1")
	if code != 0 {
		t.Fatalf("restore as admin: exit %d, stderr %q", code, errOut)
	}
}

// Test_Snapshot_RestoreFromAnotherZone_MemberDownDuringIt_CatchesUp: a
// backup of another zone restored into a 3-node zone while one member is
// down (killed, so still in the configuration): the zone takes the
// backup's state, zone id included; the member that comes back afterwards
// gets it too.
func Test_Snapshot_RestoreFromAnotherZone_MemberDownDuringIt_CatchesUp(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	other := mustStartAgent(t, agentOpts{})
	other.mustPut("test.elsewhere", "e1", []byte(`{"from":"the other zone"}`), http.StatusCreated)
	otherID := other.mustStatus().ZoneID
	file := filepath.Join(t.TempDir(), "other.snap")
	if code, _, errOut := runCairn(t, time.Minute, nil, "snapshot", "save", file, "-addr", other.url); code != 0 {
		t.Fatalf("save: exit %d: %s", code, errOut)
	}
	want := mustSettledDigest(t, []*agent{other})
	other.mustStop()

	zone := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, zone, electionTimeout)
	down := others(zone, leader)[0]
	up := others(zone, down)
	down.mustKill()
	if code, _, errOut := runCairn(t, time.Minute, nil, "snapshot", "restore", file, "-addr", leader.url); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if got := mustSettledDigest(t, up); got != want {
		t.Fatalf("the live members' digest %s, the backup's %s", got, want)
	}
	if id := leader.mustStatus().ZoneID; id != otherID {
		t.Fatalf("zone id after the restore %q, the backup's %q", id, otherID)
	}
	back := mustStartAgent(t, down.restartOpts())
	if got := mustSettledDigest(t, append(up, back)); got != want {
		t.Fatalf("after the member came back: digest %s, the backup's %s", got, want)
	}
}

// Test_Agent_DataDirOfNewerFormat_Refused: a data dir a newer Cairn laid
// out is refused at start, saying so, and left as it was.
func Test_Agent_DataDirOfNewerFormat_Refused(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	a.mustPut("test.newer", "kept", []byte(`{}`), http.StatusCreated)
	a.mustStop()
	format := filepath.Join(a.opts.dataDir, "format")
	if err := os.WriteFile(format, []byte("cairn-data-dir 9\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	code, _, errOut := runCairn(t, 30*time.Second, nil, "agent", "-data-dir", a.opts.dataDir, "-http-addr", hostPort(ports[0]),
		"-raft-addr", hostPort(ports[1]), "-gossip-addr", hostPort(ports[2]))
	if code != 1 || !strings.Contains(errOut, "is of format 9, written by a newer Cairn; this node reads formats up to 2") {
		t.Fatalf("start on a data dir of format 9: exit %d, stderr %q", code, lastLines([]byte(errOut), 5))
	}
	if b, _ := os.ReadFile(format); string(b) != "cairn-data-dir 9\n" {
		t.Fatalf("the format file was changed to %q", b)
	}
}

// Test_Snapshot_LargerThanMaxBody_Restores: a backup larger than the max
// body size of ordinary requests is restored (its bound is its own).
func Test_Snapshot_LargerThanMaxBody_Restores(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	limit := []string{"-max-body-bytes", "65536"}
	src := mustStartAgent(t, agentOpts{args: limit})
	big := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 10<<10))
	for i := 0; i < 20; i++ {
		src.mustPut("test.big", fmt.Sprintf("b%02d", i), []byte(big), http.StatusCreated)
	}
	want := mustSettledDigest(t, []*agent{src})
	file := filepath.Join(t.TempDir(), "big.snap")
	if code, _, errOut := runCairn(t, time.Minute, nil, "snapshot", "save", file, "-addr", src.url); code != 0 {
		t.Fatalf("save: exit %d: %s", code, errOut)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() < 3*65536 {
		t.Fatalf("backup %v %v: want one well over the body limit", fi, err)
	}
	dst := mustStartAgent(t, agentOpts{args: limit})
	if code, _, errOut := runCairn(t, time.Minute, nil, "snapshot", "restore", file, "-addr", dst.url); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if got := mustSettledDigest(t, []*agent{dst}); got != want {
		t.Fatalf("digest after the restore %s, want %s", got, want)
	}
	// Other requests keep their bound.
	dst.mustDo(http.MethodPut, resPath("test.big", "huge"), []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 70000))), http.StatusRequestEntityTooLarge)
}
