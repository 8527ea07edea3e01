package main

// Multi-process zone tests (issue 3, item 8): real `cairn agent`
// processes on 127.0.0.1 form zones through gossip and Raft, and are
// killed (SIGKILL) or stopped (SIGTERM) for real. They run in parallel,
// at most GOMAXPROCS at once (go test's -parallel default: two on a
// two-core machine), since they mostly wait on their zones; the six-node
// test and the browser tests, the heaviest, run alone.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds of the cluster waits. Like the helpers' deadlines they only bound
// a failure; none of them is a performance assertion.
const (
	// electionTimeout bounds the wait for a zone to agree on a leader.
	electionTimeout = 15 * time.Second
	// failoverBound bounds the write unavailability after the leader dies.
	failoverBound = 15 * time.Second
	// membershipTimeout bounds the wait for gossip and the leader's
	// reconciler to bring the Raft configuration in line (joins, leaves,
	// address changes).
	membershipTimeout = 20 * time.Second
	// deadRemovalTimeout bounds the removal of a killed node: gossip must
	// declare it dead (probe, then suspicion), then -dead-server-timeout
	// must pass, then a reconcile pass must run.
	deadRemovalTimeout = 40 * time.Second
	// catchUpTimeout bounds a node's catching up with the zone's state.
	catchUpTimeout = 20 * time.Second
	// deadServerTimeout is the -dead-server-timeout of the tests that
	// remove dead nodes.
	deadServerTimeout = 3 * time.Second
)

// memberInfo is one node of GET /cairn/v1/members.
type memberInfo struct {
	ID         string `json:"id"`
	Zone       string `json:"zone"`
	Role       string `json:"role"`
	Status     string `json:"status"`
	HTTP       string `json:"http"`
	Raft       string `json:"raft"`
	GossipAddr string `json:"gossip_addr"`
	Suffrage   string `json:"suffrage"`
	Leader     string `json:"leader"`
}

// membersBody is the document GET /cairn/v1/members returns.
type membersBody struct {
	Members []memberInfo      `json:"members"`
	Leaders map[string]string `json:"leaders"`
}

// member returns the member with id.
func (m membersBody) member(id string) (memberInfo, bool) {
	for _, mi := range m.Members {
		if mi.ID == id {
			return mi, true
		}
	}
	return memberInfo{}, false
}

// String is a compact form for failure messages.
func (m membersBody) String() string {
	var parts []string
	for _, mi := range m.Members {
		parts = append(parts, fmt.Sprintf("%s(%s,%s,raft %s,leader %q)", mi.ID, mi.Status, mi.Suffrage, mi.Raft, mi.Leader))
	}
	return fmt.Sprintf("members [%s] leaders %v", strings.Join(parts, " "), m.Leaders)
}

// members reads GET /cairn/v1/members; it does not fail the test, so it
// can be polled.
func (a *agent) members() (membersBody, error) {
	var m membersBody
	r, err := a.doWant(http.MethodGet, "/cairn/v1/members", nil, http.StatusOK)
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(r.body, &m)
	return m, err
}

// status reads GET /cairn/v1/status; it does not fail the test, so it can
// be polled.
func (a *agent) status() (nodeStatus, error) {
	var st nodeStatus
	r, err := a.doWant(http.MethodGet, "/cairn/v1/status", nil, http.StatusOK)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(r.body, &st)
	return st, err
}

// id is the node's id, from its start line.
func (a *agent) id() string { return a.line.nodeID }

// agreedLeader reports the leader every node of nodes names, if they all
// name the same one and it says it leads; each node's status is returned
// for messages.
func agreedLeader(nodes []*agent) (*agent, []string) {
	var leader *agent
	var seen []string
	agree := true
	leaderID := ""
	for i, a := range nodes {
		st, err := a.status()
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", a.id(), err))
			agree = false
			continue
		}
		seen = append(seen, fmt.Sprintf("%s: %s term %d leader %q voters %d", st.NodeID, st.State, st.Term, st.LeaderID, st.Voters))
		if i == 0 {
			leaderID = st.LeaderID
		}
		if st.LeaderID == "" || st.LeaderID != leaderID {
			agree = false
		}
		if st.State == "Leader" {
			if st.LeaderID != st.NodeID || leader != nil {
				agree = false
			}
			leader = a
		}
	}
	if !agree || leader == nil || leader.id() != leaderID {
		return nil, seen
	}
	return leader, seen
}

// mustAgreeOnLeader waits until every node of nodes names the same leader,
// one of them, which says it leads, and returns it.
func mustAgreeOnLeader(t testing.TB, nodes []*agent, timeout time.Duration) *agent {
	t.Helper()
	var leader *agent
	var seen []string
	waitFor(t, "the nodes to agree on one leader", timeout, func() bool {
		leader, seen = agreedLeader(nodes)
		return leader != nil
	}, func() string { return strings.Join(seen, "; ") })
	return leader
}

// others returns nodes without the ones in but.
func others(nodes []*agent, but ...*agent) []*agent {
	var out []*agent
	for _, a := range nodes {
		if !slices.Contains(but, a) {
			out = append(out, a)
		}
	}
	return out
}

// waitMembers polls GET /cairn/v1/members on a until cond holds, and
// returns the last answer.
func waitMembers(t testing.TB, a *agent, what string, timeout time.Duration, cond func(membersBody) bool) membersBody {
	t.Helper()
	var m membersBody
	var last string
	waitFor(t, fmt.Sprintf("%s (members as %s sees them)", what, a.id()), timeout, func() bool {
		var err error
		if m, err = a.members(); err != nil {
			last = err.Error()
			return false
		}
		last = m.String()
		return cond(m)
	}, func() string { return last })
	return m
}

// waitStatus polls GET /cairn/v1/status on a until cond holds, and returns
// the last answer.
func waitStatus(t testing.TB, a *agent, what string, timeout time.Duration, cond func(nodeStatus) bool) nodeStatus {
	t.Helper()
	var st nodeStatus
	var last string
	waitFor(t, fmt.Sprintf("%s (status of %s)", what, a.id()), timeout, func() bool {
		var err error
		if st, err = a.status(); err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%+v", st)
		return cond(st)
	}, func() string { return last })
	return st
}

// storeDump lists every resource of kinds on a as sorted lines
// "kind/id@version body": a digest of its store that two nodes share
// exactly when they hold the same resources at the same versions with the
// same bodies.
func storeDump(a *agent, kinds []string) string {
	a.t.Helper()
	var lines []string
	for _, kind := range kinds {
		for id, r := range a.mustList(kind) {
			lines = append(lines, fmt.Sprintf("%s/%s@%d %s", kind, id, r.Version, r.Body))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// dumpDiff describes the first lines where two dumps differ.
func dumpDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("%d vs %d lines; first difference at line %d: %q vs %q", len(la), len(lb), i+1, x, y)
		}
	}
	return "identical"
}

// model is what a test wrote and had acknowledged: the store every node
// must converge on.
type model struct {
	mu    sync.Mutex
	kinds []string
	res   map[string]resource // by kind/id
}

func newModel(kinds ...string) *model {
	return &model{kinds: kinds, res: map[string]resource{}}
}

// put writes through a and records the acknowledged version.
func (m *model) put(a *agent, kind, id string, body []byte) error {
	m.mu.Lock()
	_, exists := m.res[kind+"/"+id]
	m.mu.Unlock()
	want := http.StatusCreated
	if exists {
		want = http.StatusOK
	}
	v, err := a.putRetrying(kind, id, body, want)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.res[kind+"/"+id] = resource{Kind: kind, ID: id, Version: v, Body: body}
	m.mu.Unlock()
	return nil
}

func (m *model) mustPut(t testing.TB, a *agent, kind, id string, body []byte) {
	t.Helper()
	if err := m.put(a, kind, id, body); err != nil {
		t.Fatal(err)
	}
}

// mustDelete deletes through a.
func (m *model) mustDelete(t testing.TB, a *agent, kind, id string) {
	t.Helper()
	a.mustDo(http.MethodDelete, resPath(kind, id), nil, http.StatusNoContent)
	m.mu.Lock()
	delete(m.res, kind+"/"+id)
	m.mu.Unlock()
}

// dump is the model in storeDump's form.
func (m *model) dump() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lines []string
	for _, r := range m.res {
		lines = append(lines, fmt.Sprintf("%s/%s@%d %s", r.Kind, r.ID, r.Version, r.Body))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// mustConverge waits until every node's store holds exactly what the model
// says.
func (m *model) mustConverge(t testing.TB, nodes []*agent, timeout time.Duration) {
	t.Helper()
	want := m.dump()
	for _, a := range nodes {
		var got string
		waitFor(t, fmt.Sprintf("%s to hold exactly the acknowledged writes", a.id()), timeout, func() bool {
			got = storeDump(a, m.kinds)
			return got == want
		}, func() string { return "node vs acknowledged: " + dumpDiff(got, want) })
	}
}

// writeUntilOK retries a write of kind/id through the nodes in turn, every
// 10ms, until one succeeds or timeout passes; it returns the time of the
// first success and the version.
func writeUntilOK(t testing.TB, nodes []*agent, kind, id string, body []byte, timeout time.Duration) (time.Time, uint64) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for i := 0; ; i++ {
		a := nodes[i%len(nodes)]
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline)+time.Second)
		r, err := a.doCtx(ctx, http.MethodPut, resPath(kind, id), body, nil)
		cancel()
		if err == nil && (r.status == http.StatusCreated || r.status == http.StatusOK) {
			var res resource
			mustUnmarshal(t, r.body, &res)
			return time.Now(), res.Version
		}
		if err != nil {
			lastErr = err
		} else {
			lastErr = fmt.Errorf("%s: status %d %s", a.id(), r.status, bytes.TrimSpace(r.body))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write of %s/%s succeeded within %s; last: %v", kind, id, timeout, lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// doRetrying sends one request the way a client that honours the API's
// 503 + Retry-After should: a 503 (leadership changing, no leader yet) is
// retried every 50ms for up to failoverBound. Tests use it where a leader
// change is possible but not what they are about; each retry is logged.
func (a *agent) doRetrying(method, path string, body []byte, header http.Header) (r reply, attempts int, err error) {
	deadline := time.Now().Add(failoverBound)
	for attempts = 1; ; attempts++ {
		r, err = a.do(method, path, body, header)
		if err != nil || r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || time.Now().After(deadline) {
			return r, attempts, err
		}
		a.t.Logf("%s %s through %s: 503 (%s); retrying", method, path, a.id(), bytes.TrimSpace(r.body))
		time.Sleep(50 * time.Millisecond)
	}
}

// putRetrying is put through doRetrying. A write answered 503 may still
// have landed (the leader applied it and the answer was lost), so after a
// retry a create may answer 200 rather than 201.
func (a *agent) putRetrying(kind, id string, body []byte, want int) (uint64, error) {
	r, attempts, err := a.doRetrying(http.MethodPut, resPath(kind, id), body, nil)
	if err != nil {
		return 0, fmt.Errorf("PUT %s/%s through %s: %w", kind, id, a.id(), err)
	}
	if r.status != want && !(attempts > 1 && want == http.StatusCreated && r.status == http.StatusOK) {
		return 0, fmt.Errorf("PUT %s/%s through %s: status %d, want %d; body %s", kind, id, a.id(), r.status, want, bytes.TrimSpace(r.body))
	}
	var res resource
	if err := json.Unmarshal(r.body, &res); err != nil {
		return 0, fmt.Errorf("PUT %s/%s: decode %s: %w", kind, id, r.body, err)
	}
	if err := checkWriteHeaders(r, res.Version); err != nil {
		return 0, fmt.Errorf("PUT %s/%s through %s: %w", kind, id, a.id(), err)
	}
	if !bytes.Equal(res.Body, body) {
		return 0, fmt.Errorf("PUT %s/%s through %s answered body %s, want %s", kind, id, a.id(), res.Body, body)
	}
	return res.Version, nil
}

// mustRoles waits until the nodes agree on a leader and returns it and the
// others.
func mustRoles(t testing.TB, nodes []*agent) (leader *agent, followers []*agent) {
	t.Helper()
	leader = mustAgreeOnLeader(t, nodes, electionTimeout)
	return leader, others(nodes, leader)
}

// mustAllVoters waits until a's members show exactly ids, every one alive
// and a voter.
func mustAllVoters(t testing.TB, a *agent, leaderID string, ids ...string) membersBody {
	t.Helper()
	return waitMembers(t, a, fmt.Sprintf("%v alive voters led by %s", ids, leaderID), membershipTimeout, func(m membersBody) bool {
		if len(m.Members) != len(ids) || m.Leaders["default"] != leaderID {
			return false
		}
		for _, id := range ids {
			mi, ok := m.member(id)
			if !ok || mi.Status != "alive" || mi.Suffrage != "voter" || mi.Zone != "default" {
				return false
			}
		}
		return true
	})
}

// Test_ThreeNodes_BootstrapExpect_FormOneCluster starts three nodes
// together with -bootstrap-expect 3: they must form one zone, not three,
// and agree on its leader through Raft and gossip alike. The healthy zone
// then serves the subtests: forwarding, read-your-writes, consistent and
// blocking reads through followers.
func Test_ThreeNodes_BootstrapExpect_FormOneCluster(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	for _, a := range nodes {
		// The others may have bootstrapped, elected a leader and replicated
		// to a node before it printed its start line.
		if how := a.line.how; how != "waiting for 3 members of zone default to bootstrap it" && how != "added to the zone by its leader" && !a.retried {
			t.Errorf("%s start line %q: want it waiting for 3 members to bootstrap the zone", a.id(), a.line.raw)
		}
	}
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)

	// One zone: one leader, the same term and three voters everywhere.
	var term uint64
	for i, a := range nodes {
		st := a.mustStatus()
		if i == 0 {
			term = st.Term
		}
		if st.Voters != 3 || st.LeaderID != leader.id() || st.Term != term || st.LeaderHTTP != leader.url {
			t.Errorf("%s status %+v: want 3 voters, leader %s at %s, term %d", a.id(), st, leader.id(), leader.url, term)
		}
		if (st.State == "Leader") != (a == leader) {
			t.Errorf("%s is %s", a.id(), st.State)
		}
	}
	// Gossip: every node lists all three, alive voters, with their
	// addresses, each advertising the leader; leaders[default] is it.
	for _, a := range nodes {
		m := mustAllVoters(t, a, leader.id(), "n1", "n2", "n3")
		waitMembers(t, a, "every member advertising the leader", membershipTimeout, func(m membersBody) bool {
			for _, mi := range m.Members {
				if mi.Leader != leader.id() {
					return false
				}
			}
			return true
		})
		for _, b := range nodes {
			mi, _ := m.member(b.id())
			if mi.HTTP != b.url || mi.Raft != b.line.raftAddr || mi.GossipAddr != b.line.gossip || mi.Role != "participant" {
				t.Errorf("%s lists %+v for %s: want http %s raft %s gossip %s", a.id(), mi, b.id(), b.url, b.line.raftAddr, b.line.gossip)
			}
		}
	}
	if t.Failed() {
		return
	}

	t.Run("WritesThroughEachFollower_AppearOnAll", func(t *testing.T) {
		leader, followers := mustRoles(t, nodes)
		const kind = "test.fwd"
		for _, f := range followers {
			id := "via-" + f.id()
			body := mustJSON(t, map[string]any{"by": f.id(), "n": 1})
			r, err := f.doWant(http.MethodPut, resPath(kind, id), body, http.StatusCreated)
			if err != nil {
				t.Fatal(err)
			}
			var res resource
			mustUnmarshal(t, r.body, &res)
			if err := checkWriteHeaders(r, res.Version); err != nil {
				t.Fatalf("PUT through %s: %v", f.id(), err)
			}
			if res.Kind != kind || res.ID != id || !bytes.Equal(res.Body, body) {
				t.Fatalf("PUT through %s answered %s", f.id(), r.body)
			}
			if loc := r.header.Get("Location"); loc != resPath(kind, id) {
				t.Errorf("PUT through %s: Location %q", f.id(), loc)
			}
			// Read-your-writes through the follower, and the leader has it
			// too: both answer at once.
			for _, a := range []*agent{f, leader} {
				if got := a.mustGet(kind, id); got.Version != res.Version || !bytes.Equal(got.Body, body) {
					t.Fatalf("GET %s/%s through %s right after the write through %s: version %d body %s, want %d %s",
						kind, id, a.id(), f.id(), got.Version, got.Body, res.Version, body)
				}
			}
			// The other follower has it once replication reaches it.
			other := others(followers, f)[0]
			waitFor(t, fmt.Sprintf("%s to apply the write through %s", other.id(), f.id()), catchUpTimeout, func() bool {
				r, err := other.do(http.MethodGet, resPath(kind, id), nil, nil)
				return err == nil && r.status == http.StatusOK && bytes.Contains(r.body, []byte(`"version":`+strconv.FormatUint(res.Version, 10)+`,`))
			}, nil)

			// An update through the follower: 200, a higher version.
			body2 := mustJSON(t, map[string]any{"by": f.id(), "n": 2})
			v2 := f.mustPut(kind, id, body2, http.StatusOK)
			if v2 <= res.Version {
				t.Fatalf("update through %s got version %d, not above %d", f.id(), v2, res.Version)
			}
			if got := f.mustGet(kind, id); got.Version != v2 {
				t.Fatalf("GET through %s after its update: version %d, want %d", f.id(), got.Version, v2)
			}
		}

		// The leader's refusals come back through a follower unchanged:
		// status, error document and headers.
		f := followers[0]
		cases := []struct {
			name   string
			method string
			path   string
			body   []byte
			header http.Header
			want   int
		}{
			{"stale If-Match", http.MethodPut, resPath(kind, "via-"+f.id()), []byte(`{}`), http.Header{"If-Match": {`"1"`}}, http.StatusPreconditionFailed},
			{"If-None-Match on an existing one", http.MethodPut, resPath(kind, "via-"+f.id()), []byte(`{}`), http.Header{"If-None-Match": {"*"}}, http.StatusPreconditionFailed},
			{"bad JSON", http.MethodPut, resPath(kind, "bad"), []byte(`{"a":`), nil, http.StatusBadRequest},
			{"delete of a missing one", http.MethodDelete, resPath(kind, "never"), nil, nil, http.StatusNotFound},
		}
		for _, c := range cases {
			viaLeader, err := leader.do(c.method, c.path, c.body, c.header)
			if err != nil {
				t.Fatal(err)
			}
			viaFollower, err := f.do(c.method, c.path, c.body, c.header)
			if err != nil {
				t.Fatal(err)
			}
			if viaLeader.status != c.want || viaFollower.status != c.want {
				t.Errorf("%s: status %d from the leader, %d through %s; want %d", c.name, viaLeader.status, viaFollower.status, f.id(), c.want)
			}
			var el, ef struct {
				Error string `json:"error"`
				Code  int    `json:"code"`
			}
			mustUnmarshal(t, viaLeader.body, &el)
			mustUnmarshal(t, viaFollower.body, &ef)
			if el != ef || ef.Code != c.want {
				t.Errorf("%s: error %+v from the leader, %+v through %s", c.name, el, ef, f.id())
			}
			if got := viaFollower.header.Get("Content-Type"); got != viaLeader.header.Get("Content-Type") {
				t.Errorf("%s: Content-Type %q through %s, %q from the leader", c.name, got, f.id(), viaLeader.header.Get("Content-Type"))
			}
		}
		// A delete through a follower is read-your-writes too.
		f.mustDo(http.MethodDelete, resPath(kind, "via-"+f.id()), nil, http.StatusNoContent)
		f.mustDo(http.MethodGet, resPath(kind, "via-"+f.id()), nil, http.StatusNotFound)
	})

	// The follower answers a forwarded write as soon as the leader does,
	// before it learns the commit index itself (the leader's next append,
	// up to 2× the commit timeout later); its reads wait for it instead.
	// Each read here comes at once after its write: without that wait most
	// would miss it.
	t.Run("ReadRightAfterEachForwardedWrite_SeesIt", func(t *testing.T) {
		_, followers := mustRoles(t, nodes)
		f := followers[0]
		const kind, id = "test.ryw", "one"
		for i := range 40 {
			body := mustJSON(t, map[string]any{"n": i})
			r := f.mustDo(http.MethodPut, resPath(kind, id), body, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[i == 0])
			var put resource
			mustUnmarshal(t, r.body, &put)
			if got := f.mustGet(kind, id); got.Version != put.Version || !bytes.Equal(got.Body, body) {
				t.Fatalf("write %d through %s answered version %d; a GET through it right after gave version %d body %s",
					i, f.id(), put.Version, got.Version, got.Body)
			}
		}
	})

	t.Run("ConsistentReadFromFollower_SeesWriteThroughAnother", func(t *testing.T) {
		leader, followers := mustRoles(t, nodes)
		const kind = "test.lin"
		writers := []*agent{followers[1], leader, followers[0]}
		for i := range 60 {
			reader := followers[i%2]
			writer := writers[i%3]
			if writer == reader {
				writer = leader
			}
			id := fmt.Sprintf("k%d", i%4)
			want := http.StatusOK
			if i < 4 {
				want = http.StatusCreated
			}
			v, err := writer.putRetrying(kind, id, mustJSON(t, map[string]int{"i": i}), want)
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := reader.doRetrying(http.MethodGet, resPath(kind, id)+"?consistent", nil, nil)
			if err != nil || r.status != http.StatusOK {
				t.Fatalf("round %d: ?consistent GET through %s: %v %d %s", i, reader.id(), err, r.status, r.body)
			}
			var res resource
			mustUnmarshal(t, r.body, &res)
			if res.Version != v {
				t.Fatalf("round %d: ?consistent GET through %s after a write through %s answered version %d, want %d", i, reader.id(), writer.id(), res.Version, v)
			}
			idx, _ := strconv.ParseUint(r.header.Get("X-Cairn-Index"), 10, 64)
			if idx < v || r.header.Get("X-Cairn-Known-Leader") != "true" {
				t.Fatalf("round %d: ?consistent GET through %s: X-Cairn-Index %q (want ≥ %d), X-Cairn-Known-Leader %q",
					i, reader.id(), r.header.Get("X-Cairn-Index"), v, r.header.Get("X-Cairn-Known-Leader"))
			}
		}
		// A consistent list through a follower too.
		r := followers[0].mustDo(http.MethodGet, "/cairn/v1/resources/"+kind+"?consistent", nil, http.StatusOK)
		var lb struct{ Items []resource }
		mustUnmarshal(t, r.body, &lb)
		if len(lb.Items) != 4 {
			t.Fatalf("?consistent list through %s: %d items, want 4", followers[0].id(), len(lb.Items))
		}
	})

	t.Run("BlockingReadOnFollower_ReturnsWhenWriteLands", func(t *testing.T) {
		leader, followers := mustRoles(t, nodes)
		const kind = "test.block"
		f, w := followers[0], followers[1] // the write goes through another node
		v0 := leader.mustPut(kind, "b", []byte(`{"n":0}`), http.StatusCreated)
		waitFor(t, f.id()+" to apply the first write", catchUpTimeout, func() bool {
			r, err := f.do(http.MethodGet, resPath(kind, "b"), nil, nil)
			return err == nil && r.status == http.StatusOK
		}, nil)
		for _, path := range []string{resPath(kind, "b"), "/cairn/v1/resources/" + kind} {
			r := f.mustDo(http.MethodGet, path, nil, http.StatusOK)
			index := r.header.Get("X-Cairn-Index")
			type answer struct {
				r   reply
				err error
				at  time.Time
			}
			got := make(chan answer, 1)
			start := time.Now()
			go func() {
				r, err := f.do(http.MethodGet, path+"?index="+index+"&wait=5s", nil, nil)
				got <- answer{r, err, time.Now()}
			}()
			// Nothing is written yet: the read must still be waiting.
			select {
			case a := <-got:
				t.Fatalf("GET %s?index=%s on %s returned after %s, before any write: %d %s", path, index, f.id(), a.at.Sub(start), a.r.status, a.r.body)
			case <-time.After(300 * time.Millisecond):
			}
			body := mustJSON(t, map[string]any{"n": 1, "path": path})
			wrote := time.Now()
			v := w.mustPut(kind, "b", body, http.StatusOK)
			a := <-got
			if a.err != nil || a.r.status != http.StatusOK {
				t.Fatalf("blocking GET %s on %s: %v %d %s", path, f.id(), a.err, a.r.status, a.r.body)
			}
			if d := a.at.Sub(start); d > 4*time.Second {
				t.Fatalf("blocking GET %s on %s returned %s after it was sent, %s after the write was sent: it waited out its 5s instead of returning when the write landed", path, f.id(), d, a.at.Sub(wrote))
			}
			if !bytes.Contains(a.r.body, []byte(`"version":`+strconv.FormatUint(v, 10)+`,`)) {
				t.Fatalf("blocking GET %s on %s answered %s, want version %d (the first was %d)", path, f.id(), a.r.body, v, v0)
			}
			if idx, _ := strconv.ParseUint(a.r.header.Get("X-Cairn-Index"), 10, 64); idx < v {
				t.Fatalf("blocking GET %s on %s: X-Cairn-Index %d, want ≥ %d", path, f.id(), idx, v)
			}
			t.Logf("blocking GET %s on %s returned %s after the write through %s was sent", path, f.id(), a.at.Sub(wrote).Round(time.Millisecond), w.id())
		}
	})

	t.Run("WriteThenRead_1000RoundTrips_NeverStale", func(t *testing.T) {
		_, followers := mustRoles(t, nodes)
		// 1000 round trips through one follower: PUT, then at once a
		// default GET of the same resource through the same follower must
		// answer the version the PUT returned. 16 clients, each on its own
		// resource, so every GET has exactly one right answer.
		const (
			kind    = "test.ryw"
			clients = 16
			total   = 1000
		)
		f := followers[0]
		var (
			mu    sync.Mutex
			stale []string
			wg    sync.WaitGroup
		)
		errs := make(chan error, clients)
		start := time.Now()
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("c%02d", c)
				var last uint64
				for round := c; round < total; round += clients {
					body := fmt.Appendf(nil, `{"round":%d}`, round)
					want := http.StatusOK
					if last == 0 {
						want = http.StatusCreated
					}
					v, err := f.putRetrying(kind, id, body, want)
					if err != nil {
						errs <- err
						return
					}
					r, err := f.doWant(http.MethodGet, resPath(kind, id), nil, http.StatusOK)
					if err != nil {
						errs <- err
						return
					}
					var res resource
					if err := json.Unmarshal(r.body, &res); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if res.Version != v || !bytes.Equal(res.Body, body) {
						stale = append(stale, fmt.Sprintf("round %d: PUT %s answered version %d, the GET right after it version %d body %s", round, id, v, res.Version, res.Body))
					}
					if v <= last {
						stale = append(stale, fmt.Sprintf("round %d: PUT %s answered version %d, not above the previous %d", round, id, v, last))
					}
					mu.Unlock()
					last = v
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i, s := range stale {
			if i == 10 {
				break
			}
			t.Error(s)
		}
		if len(stale) > 0 {
			t.Fatalf("%d of %d write-then-read round trips through %s were stale", len(stale), total, f.id())
		}
		t.Logf("%d write-then-read round trips through %s (%d clients) in %s", total, f.id(), clients, time.Since(start).Round(time.Millisecond))
	})

	t.Run("ForwardLoop_503", func(t *testing.T) {
		leader, followers := mustRoles(t, nodes)
		// A request another node forwarded reaches a follower: it must not
		// be forwarded again but refused at once, with Retry-After. (A
		// consistent read that the follower can serve itself, having
		// applied the leader's read index, is served there instead.)
		f := followers[0]
		hop := http.Header{"X-Cairn-Forwarded-By": {followers[1].id()}}
		for _, c := range []struct{ method, path string }{
			{http.MethodPut, resPath("test.loop", "x")},
		} {
			start := time.Now()
			var body []byte
			if c.method == http.MethodPut {
				body = []byte(`{}`)
			}
			r, err := f.do(c.method, c.path, body, hop)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Errorf("%s %s with the hop header on follower %s: %d, Retry-After %q; want 503 with Retry-After", c.method, c.path, f.id(), r.status, r.header.Get("Retry-After"))
			}
			var e struct{ Code int }
			mustUnmarshal(t, r.body, &e)
			if e.Code != http.StatusServiceUnavailable {
				t.Errorf("%s %s: error body %s", c.method, c.path, r.body)
			}
			t.Logf("%s %s with the hop header on a follower: %d in %s", c.method, c.path, r.status, time.Since(start).Round(time.Millisecond))
		}
		// The leader serves a forwarded request: that is what the header
		// is for.
		var last string
		waitFor(t, "the leader to serve a PUT with the hop header", failoverBound, func() bool {
			l, _ := agreedLeader(nodes) // looked up each time: leadership may move
			if l == nil {
				return false
			}
			r, err := l.do(http.MethodPut, resPath("test.loop", "x"), []byte(`{}`), hop)
			if err != nil {
				last = err.Error()
				return false
			}
			last = fmt.Sprintf("%s: %d %s", l.id(), r.status, r.body)
			return r.status == http.StatusCreated || l != leader && r.status == http.StatusOK
		}, func() string { return last })
		waitFor(t, f.id()+" to apply the write", catchUpTimeout, func() bool {
			r, err := f.do(http.MethodGet, resPath("test.loop", "x"), nil, nil)
			return err == nil && r.status == http.StatusOK
		}, nil)
	})
}

// Test_ThreeNodes_LeaderKilled_WritesResume kills the leader with SIGKILL:
// the survivors elect a new one and take writes within a bounded time, and
// the killed node, restarted on its data dir, catches up to exactly the
// state the others hold.
func Test_ThreeNodes_LeaderKilled_WritesResume(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	old := mustAgreeOnLeader(t, nodes, electionTimeout)
	oldTerm := old.mustStatus().Term
	m := newModel("test.a", "test.b")
	for i := range 60 {
		a := nodes[i%3]
		m.mustPut(t, a, []string{"test.a", "test.b"}[i%2], fmt.Sprintf("r%02d", i%40), mustJSON(t, map[string]int{"i": i}))
	}

	old.mustKill()
	killed := time.Now()
	survivors := others(nodes, old)
	at, v := writeUntilOK(t, survivors, "test.a", "after-kill", []byte(`{"first":true}`), failoverBound)
	t.Logf("first write through a survivor %s after the kill -9 of leader %s", at.Sub(killed).Round(time.Millisecond), old.id())
	m.mu.Lock()
	m.res["test.a/after-kill"] = resource{Kind: "test.a", ID: "after-kill", Version: v, Body: []byte(`{"first":true}`)}
	m.mu.Unlock()

	leader := mustAgreeOnLeader(t, survivors, electionTimeout)
	if st := leader.mustStatus(); st.Term <= oldTerm || st.Voters != 3 {
		t.Fatalf("new leader %s: term %d (old %d), %d voters; want a later term and the 3 voters kept", leader.id(), st.Term, oldTerm, st.Voters)
	}
	// Writes through both survivors: creates, updates and deletes.
	for i := range 40 {
		a := survivors[i%2]
		m.mustPut(t, a, []string{"test.a", "test.b"}[i%2], fmt.Sprintf("r%02d", (i*7)%50), mustJSON(t, map[string]any{"i": i, "after": true}))
	}
	m.mustDelete(t, survivors[0], "test.a", "r00")
	m.mustDelete(t, survivors[1], "test.b", "r01")

	// The killed node comes back on its data dir and addresses: it
	// rejoins as a follower and catches up to the same store.
	back := mustStartAgent(t, old.restartOpts())
	if back.line.how != howResumed {
		t.Errorf("restart start line %q: want %q", back.line.raw, howResumed)
	}
	all := []*agent{back, survivors[0], survivors[1]}
	if got := mustAgreeOnLeader(t, all, electionTimeout); got != leader {
		t.Logf("leadership moved from %s to %s after the restart", leader.id(), got.id())
	}
	m.mustConverge(t, all, catchUpTimeout)
	// The same digest on all three, and every node at the same store index
	// once writes stop.
	d0 := storeDump(all[0], m.kinds)
	for _, a := range all[1:] {
		if d := storeDump(a, m.kinds); d != d0 {
			t.Fatalf("%s and %s differ: %s", all[0].id(), a.id(), dumpDiff(d0, d))
		}
	}
	t.Logf("%d resources identical on all three nodes after the restart", strings.Count(d0, "\n")+1)
	// And it is a working member again: a write through it lands everywhere.
	m.mustPut(t, back, "test.b", "via-restarted", []byte(`{}`))
	m.mustConverge(t, all, catchUpTimeout)
}

// Test_ThreeNodes_FollowerLeaves_ConfigurationShrinks stops a follower with
// SIGTERM: it says goodbye through gossip, and the leader removes it from
// the Raft configuration at once, without an election. Started again, it
// is added back.
func Test_ThreeNodes_FollowerLeaves_ConfigurationShrinks(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	term := leader.mustStatus().Term
	f := others(nodes, leader)[0]
	rest := others(nodes, f)

	stopped := time.Now()
	if code := f.mustStop(); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM, want 0", f.id(), code)
	}
	st := waitStatus(t, leader, "2 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 2 })
	t.Logf("configuration down to 2 voters %s after SIGTERM to follower %s", time.Since(stopped).Round(time.Millisecond), f.id())
	if st.Term != term || st.State != "Leader" {
		t.Errorf("after the follower left, %s: %s in term %d; want still leader in term %d", leader.id(), st.State, st.Term, term)
	}
	for _, a := range rest {
		waitMembers(t, a, f.id()+" left with no vote", membershipTimeout, func(m membersBody) bool {
			mi, ok := m.member(f.id())
			return ok && mi.Status == "left" && mi.Suffrage == "none" && m.Leaders["default"] == leader.id()
		})
		waitStatus(t, a, "2 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 2 })
	}
	// The zone of two works: writes through both, read back through both.
	m := newModel("test.leave")
	for i, a := range rest {
		m.mustPut(t, a, "test.leave", fmt.Sprintf("via-%d", i), []byte(`{}`))
	}
	m.mustConverge(t, rest, catchUpTimeout)

	// A rolling restart stops nodes this way: started again on its data
	// dir, the node that left is added back as a voter and catches up.
	g := mustStartAgent(t, f.restartOpts())
	all := append(rest, g)
	if got := mustAgreeOnLeader(t, all, electionTimeout); got != leader {
		t.Errorf("leadership moved from %s to %s when %s came back", leader.id(), got.id(), f.id())
	}
	mustAllVoters(t, leader, leader.id(), "n1", "n2", "n3")
	waitStatus(t, leader, "3 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 3 })
	m.mustPut(t, g, "test.leave", "via-returned", []byte(`{}`))
	m.mustConverge(t, all, catchUpTimeout)
}

// Test_ThreeNodes_LeaderLeaves_TransfersLeadership stops the leader with
// SIGTERM: it hands leadership to another voter before leaving, the new
// leader removes it from the configuration, and the two that remain keep
// taking writes.
func Test_ThreeNodes_LeaderLeaves_TransfersLeadership(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	old := mustAgreeOnLeader(t, nodes, electionTimeout)
	rest := others(nodes, old)
	m := newModel("test.leave")
	m.mustPut(t, rest[0], "test.leave", "before", []byte(`{}`))

	// A writer keeps writing through a follower while the leader stops.
	stopWriting := make(chan struct{})
	type result struct {
		ok, failed  int
		longestGap  time.Duration
		firstFailed string
	}
	var oks atomic.Int64
	done := make(chan result)
	go func() {
		var res result
		lastOK := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				done <- res
				return
			default:
			}
			_, err := rest[0].put("test.leave.load", fmt.Sprintf("w%05d", i), []byte(`{}`), http.StatusCreated)
			if err != nil {
				res.failed++
				if res.firstFailed == "" {
					res.firstFailed = err.Error()
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			res.ok++
			oks.Add(1)
			res.longestGap = max(res.longestGap, time.Since(lastOK))
			lastOK = time.Now()
		}
	}()

	stopped := time.Now()
	if code := old.mustStop(); code != 0 {
		t.Fatalf("leader %s exited %d after SIGTERM, want 0", old.id(), code)
	}
	exited := time.Since(stopped)
	leader := mustAgreeOnLeader(t, rest, electionTimeout)
	st := waitStatus(t, leader, "2 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 2 })
	t.Logf("leader %s exited %s after SIGTERM; %s leads term %d; configuration down to 2 voters %s after the SIGTERM",
		old.id(), exited.Round(time.Millisecond), leader.id(), st.Term, time.Since(stopped).Round(time.Millisecond))
	for _, a := range rest {
		waitMembers(t, a, old.id()+" left with no vote", membershipTimeout, func(m membersBody) bool {
			mi, ok := m.member(old.id())
			return ok && mi.Status == "left" && mi.Suffrage == "none" && m.Leaders["default"] == leader.id()
		})
	}
	// The writer keeps succeeding against the new configuration.
	base := oks.Load()
	waitFor(t, "writes through "+rest[0].id()+" to go on after the leader left", catchUpTimeout, func() bool { return oks.Load() >= base+20 }, nil)
	close(stopWriting)
	res := <-done
	t.Logf("writer through %s during the leader's stop: %d ok, %d failed, longest gap between successes %s (first failure: %s)",
		rest[0].id(), res.ok, res.failed, res.longestGap.Round(time.Millisecond), res.firstFailed)
	for i, a := range rest {
		m.mustPut(t, a, "test.leave", fmt.Sprintf("after-%d", i), []byte(`{}`))
	}
	m.mustConverge(t, rest, catchUpTimeout)
}

// Test_SixNodes_FiveVoters_SixthNonvoter_DeadVotersReplaced grows a zone of
// three: a 4th and a 5th node that -join it become voters, a 6th becomes a
// non-voter (it gets the log but does not vote). Then two voters are
// killed at once: past -dead-server-timeout the leader removes both (each
// removal keeps quorum: 3 of 4, then 3 of 3) and promotes the non-voter,
// leaving 4 voters.
func Test_SixNodes_FiveVoters_SixthNonvoter_DeadVotersReplaced(t *testing.T) {
	dead := []string{"-dead-server-timeout", deadServerTimeout.String()}
	nodes := startCluster(t, 3, agentOpts{args: dead})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	m := newModel("test.grow")
	m.mustPut(t, nodes[0], "test.grow", "before", []byte(`{}`))

	for _, id := range []string{"n4", "n5"} {
		a := mustJoin(t, nodes, agentOpts{nodeID: id, args: dead})
		// The leader may have added it before it printed its start line.
		if how := a.line.how; how != "waiting for the zone leader to add it" && how != "added to the zone by its leader" && !a.retried {
			t.Errorf("%s start line %q", id, a.line.raw)
		}
		nodes = append(nodes, a)
	}
	ids := []string{"n1", "n2", "n3", "n4", "n5"}
	leader = mustAgreeOnLeader(t, nodes, electionTimeout)
	mustAllVoters(t, leader, leader.id(), ids...)
	waitStatus(t, leader, "5 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 5 })

	n6 := mustJoin(t, nodes, agentOpts{nodeID: "n6", args: dead})
	nodes = append(nodes, n6)
	waitMembers(t, leader, "n6 a non-voter beside 5 voters", membershipTimeout, func(mb membersBody) bool {
		voters := 0
		for _, mi := range mb.Members {
			if mi.Suffrage == "voter" && mi.Status == "alive" {
				voters++
			}
		}
		mi, ok := mb.member("n6")
		return ok && mi.Status == "alive" && mi.Suffrage == "nonvoter" && voters == 5 && len(mb.Members) == 6
	})
	if st := leader.mustStatus(); st.Voters != 5 {
		t.Fatalf("leader %s counts %d voters with n6 joined, want 5", leader.id(), st.Voters)
	}
	if got := mustAgreeOnLeader(t, nodes, electionTimeout); got != leader {
		t.Fatalf("leadership moved from %s to %s while the zone grew", leader.id(), got.id())
	}
	// The non-voter replicates and forwards like any member.
	m.mustPut(t, n6, "test.grow", "via-n6", []byte(`{"nonvoter":true}`))
	m.mustConverge(t, nodes, catchUpTimeout)

	// Kill two voters (not the leader) at once.
	var victims []*agent
	for _, a := range nodes[:5] {
		if a != leader && len(victims) < 2 {
			victims = append(victims, a)
		}
	}
	for _, a := range victims {
		a.mustKill()
	}
	killed := time.Now()
	alive := others(nodes, victims...)
	waitMembers(t, leader, "both killed voters removed and n6 promoted", deadRemovalTimeout, func(mb membersBody) bool {
		for _, v := range victims {
			if mi, ok := mb.member(v.id()); !ok || mi.Status != "dead" || mi.Suffrage != "none" {
				return false
			}
		}
		mi, _ := mb.member("n6")
		return mi.Suffrage == "voter"
	})
	t.Logf("%s and %s killed: removed and n6 promoted %s later", victims[0].id(), victims[1].id(), time.Since(killed).Round(time.Millisecond))
	waitStatus(t, leader, "4 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 4 })
	if got := mustAgreeOnLeader(t, alive, electionTimeout); got != leader {
		t.Logf("leadership moved from %s to %s", leader.id(), got.id())
	}
	for i, a := range alive {
		m.mustPut(t, a, "test.grow", fmt.Sprintf("after-%d", i), []byte(`{}`))
	}
	m.mustConverge(t, alive, catchUpTimeout)
}

// Test_ThreeNodes_RestartOnNewRaftPort_UpdatedInPlace kills a follower and
// restarts it with the same id and data but new Raft and HTTP ports: the
// leader must correct its address in the configuration (still three
// voters, no second entry) and replicate to the new address.
func Test_ThreeNodes_RestartOnNewRaftPort_UpdatedInPlace(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	f := others(nodes, leader)[0]
	m := newModel("test.move")
	m.mustPut(t, f, "test.move", "before", []byte(`{}`))

	f.mustKill()
	// Written while it is down: it can only get these from the leader,
	// through whatever address the configuration gives it.
	for i := range 20 {
		m.mustPut(t, leader, "test.move", fmt.Sprintf("while-down-%02d", i), []byte(`{}`))
	}

	o := f.restartOpts()
	for o.raftAddr == f.line.raftAddr {
		o.raftAddr = hostPort(freePorts(t, 1)[0])
	}
	g := mustStartAgent(t, o)
	if g.line.raftAddr != o.raftAddr || g.url == f.url || g.line.how != howResumed {
		t.Fatalf("restart: start line %q, want raft %s, a new HTTP port and %q", g.line.raw, o.raftAddr, howResumed)
	}
	all := []*agent{leader, others(nodes, leader, f)[0], g}
	leader = mustAgreeOnLeader(t, all, electionTimeout)
	for _, a := range all {
		waitMembers(t, a, f.id()+" at its new addresses, still a voter", membershipTimeout, func(mb membersBody) bool {
			mi, ok := mb.member(f.id())
			return ok && len(mb.Members) == 3 && mi.Status == "alive" && mi.Suffrage == "voter" && mi.Raft == o.raftAddr && mi.HTTP == g.url
		})
		waitStatus(t, a, "3 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 3 })
	}
	if st := g.mustStatus(); st.RaftAddr != o.raftAddr {
		t.Fatalf("%s reports raft address %s, want %s", f.id(), st.RaftAddr, o.raftAddr)
	}
	// It caught up on what was written while it was down and gets new
	// writes: the leader replicates to the new address.
	m.mustConverge(t, all, catchUpTimeout)
	m.mustPut(t, g, "test.move", "after", []byte(`{}`))
	m.mustPut(t, leader, "test.move", "after-2", []byte(`{}`))
	m.mustConverge(t, all, catchUpTimeout)
	// And it votes from there: with the leader killed, the other two
	// elect one of themselves, which needs the moved node's vote or its
	// candidacy over the new address.
	leader.mustKill()
	rest := others(all, leader)
	writeUntilOK(t, rest, "test.move", "after-failover", []byte(`{}`), failoverBound)
	mustAgreeOnLeader(t, rest, electionTimeout)
}

// Test_ThreeNodes_FollowerKilled_RemovedAfterDeadServerTimeout kills a
// follower: gossip declares it dead, and once -dead-server-timeout has
// passed the leader removes it from the configuration (2 voters). Started
// again, it is added back.
func Test_ThreeNodes_FollowerKilled_RemovedAfterDeadServerTimeout(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{args: []string{"-dead-server-timeout", deadServerTimeout.String()}})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	f := others(nodes, leader)[0]
	rest := others(nodes, f)

	f.mustKill()
	killed := time.Now()
	waitMembers(t, leader, f.id()+" dead and removed", deadRemovalTimeout, func(mb membersBody) bool {
		mi, ok := mb.member(f.id())
		return ok && mi.Status == "dead" && mi.Suffrage == "none"
	})
	removedAfter := time.Since(killed)
	t.Logf("follower %s removed %s after kill -9 (dead-server-timeout %s)", f.id(), removedAfter.Round(time.Millisecond), deadServerTimeout)
	if removedAfter < deadServerTimeout {
		t.Fatalf("%s was removed %s after it was killed, before the dead-server timeout of %s", f.id(), removedAfter, deadServerTimeout)
	}
	if st := leader.mustStatus(); st.Voters != 2 || st.State != "Leader" {
		t.Fatalf("leader after the removal: %+v, want 2 voters", st)
	}
	m := newModel("test.dead")
	for i, a := range rest {
		m.mustPut(t, a, "test.dead", fmt.Sprintf("after-%d", i), []byte(`{}`))
	}

	// Back on its data dir, it is added again and catches up.
	g := mustStartAgent(t, f.restartOpts())
	all := append(rest, g)
	leader = mustAgreeOnLeader(t, all, electionTimeout)
	mustAllVoters(t, leader, leader.id(), "n1", "n2", "n3")
	waitStatus(t, leader, "3 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 3 })
	m.mustConverge(t, all, catchUpTimeout)
}

// Test_ThreeNodes_QuorumLost_WritesGet503 kills two of three nodes: the
// survivor cannot elect a leader, and a write sent to it must end in a 503
// with Retry-After within a bounded time, never hang. Consistent reads
// are refused the same way; default reads are still served from its store.
// With a second node back, writes work again.
func Test_ThreeNodes_QuorumLost_WritesGet503(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	s := others(nodes, leader)[0]
	v := s.mustPut("test.nq", "before", []byte(`{}`), http.StatusCreated)
	// The survivor answered when the leader had applied the write; a read
	// through it right away sees it (the leader serves it until the
	// survivor learns of the commit with the leader's next append). Lose
	// the quorum only once the survivor has applied it: one that never
	// heard of the commit could not show the write.
	if got := s.mustGet("test.nq", "before"); got.Version != v {
		t.Fatalf("GET through %s right after its write: version %d, want %d", s.id(), got.Version, v)
	}
	waitStatus(t, s, "the write applied", catchUpTimeout, func(st nodeStatus) bool { return st.StoreIndex >= v })
	other := others(nodes, leader, s)[0]
	leader.mustKill()
	other.mustKill()

	// Right after the kills the survivor still believes in the old leader:
	// forwarding to it fails at once. Once its heartbeat timeout passes it
	// knows no leader, and a request waits for one, a bounded while.
	const bound = 10 * time.Second // the forwarder waits at most 3s for a leader
	ask := func(phase string) {
		t.Helper()
		type answer struct {
			what string
			r    reply
			err  error
			took time.Duration
		}
		reqs := []struct {
			method, path string
			body         []byte
		}{
			{http.MethodPut, resPath("test.nq", "w-"+phase), []byte(`{}`)},
			{http.MethodGet, resPath("test.nq", "before") + "?consistent", nil},
		}
		answers := make(chan answer, len(reqs))
		for _, c := range reqs { // at once: each may take the forwarder's full wait
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*bound)
				defer cancel()
				start := time.Now()
				r, err := s.doCtx(ctx, c.method, c.path, c.body, nil)
				answers <- answer{c.method + " " + c.path, r, err, time.Since(start)}
			}()
		}
		for range reqs {
			a := <-answers
			if a.err != nil {
				t.Fatalf("%s: %s on the survivor %s: %v after %s", phase, a.what, s.id(), a.err, a.took)
			}
			if a.r.status != http.StatusServiceUnavailable || a.r.header.Get("Retry-After") == "" {
				t.Fatalf("%s: %s on the survivor %s: %d %s, Retry-After %q; want 503 with Retry-After", phase, a.what, s.id(), a.r.status, a.r.body, a.r.header.Get("Retry-After"))
			}
			if a.took > bound {
				t.Fatalf("%s: %s on the survivor took %s to answer 503, over %s", phase, a.what, a.took, bound)
			}
			t.Logf("%s: %s on the survivor: 503 after %s: %s", phase, a.what, a.took.Round(time.Millisecond), bytes.TrimSpace(a.r.body))
		}
	}
	ask("just-killed")
	waitStatus(t, s, "no known leader", electionTimeout, func(st nodeStatus) bool { return st.LeaderID == "" })
	ask("no-leader")
	r := s.mustDo(http.MethodGet, "/ready", nil, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("/ready 503 without Retry-After")
	}
	// Default and stale reads still answer from the local store.
	for _, q := range []string{"", "?stale"} {
		r := s.mustDo(http.MethodGet, resPath("test.nq", "before")+q, nil, http.StatusOK)
		var res resource
		mustUnmarshal(t, r.body, &res)
		if res.Version != v {
			t.Fatalf("GET%s on the survivor: version %d, want %d", q, res.Version, v)
		}
	}

	// One node back: quorum again, writes resume.
	mustLaunchAgent(t, other.restartOpts())
	writeUntilOK(t, []*agent{s}, "test.nq", "after", []byte(`{}`), failoverBound)
}

// logHas reports whether one line of the agent's log (stderr) contains
// every one of parts.
func (a *agent) logHas(parts ...string) bool {
	b, err := os.ReadFile(a.stderr)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// Test_ThreeNodes_LeaveWhileAnotherDead_QuorumGuardKeepsVoter exercises the
// reconciler's quorum guard, the one case a real zone reaches it: with one
// follower dead (not yet past -dead-server-timeout), the other leaves
// gracefully. Removing the one that left would leave a configuration of
// the leader and a dead node, which can never commit again (not even its
// own removal), so the leader must keep it. Once the dead node is back,
// the zone regains quorum and the node that left is removed.
func Test_ThreeNodes_LeaveWhileAnotherDead_QuorumGuardKeepsVoter(t *testing.T) {
	t.Parallel()
	const timeout = 8 * time.Second // long enough that the dead node stays until the other has left
	nodes := startCluster(t, 3, agentOpts{args: []string{"-dead-server-timeout", timeout.String()}})
	leader, followers := mustRoles(t, nodes)
	leaving, dead := followers[0], followers[1]

	dead.mustKill()
	killed := time.Now()
	waitMembers(t, leader, dead.id()+" dead", deadRemovalTimeout, func(m membersBody) bool {
		mi, ok := m.member(dead.id())
		return ok && mi.Status == "dead"
	})
	if time.Since(killed) >= timeout {
		t.Skipf("gossip took %s to declare %s dead, past the %s dead-server timeout: the scenario did not happen", time.Since(killed), dead.id(), timeout)
	}
	if st := leader.mustStatus(); st.Voters != 3 {
		t.Fatalf("%s removed before its dead-server timeout: %+v", dead.id(), st)
	}
	if code := leaving.mustStop(); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM, want 0", leaving.id(), code)
	}
	// The leader's reconciler sees the leave at once and decides: it logs
	// that it keeps the voter, or (the bug) removes it, which shows at once
	// in the configuration, committed or not.
	var st nodeStatus
	waitFor(t, leader.id()+" to decide about "+leaving.id(), membershipTimeout, func() bool {
		st = leader.mustStatus()
		return st.Voters != 3 || leader.logHas("not removing a voter", "id="+leaving.id(), "left the zone")
	}, nil)
	if st = leader.mustStatus(); st.Voters != 3 {
		t.Fatalf("after %s left with %s dead: %+v; want the 3 voters kept (removing it leaves a zone that cannot commit)", leaving.id(), dead.id(), st)
	}
	t.Logf("%s kept %s in the configuration while %s was dead", leader.id(), leaving.id(), dead.id())

	// The dead node returns: quorum again; the node that left is removed
	// (at once by a leader that saw it leave, after the dead-server timeout
	// by one that never saw it at all), and writes work.
	back := mustLaunchAgent(t, dead.restartOpts())
	rest := []*agent{leader, back}
	writeUntilOK(t, rest, "test.guard", "after", []byte(`{}`), failoverBound)
	newLeader := mustAgreeOnLeader(t, rest, electionTimeout)
	waitStatus(t, newLeader, "2 voters", deadRemovalTimeout, func(st nodeStatus) bool { return st.Voters == 2 })
	waitMembers(t, newLeader, leaving.id()+" out of the configuration", membershipTimeout, func(m membersBody) bool {
		mi, ok := m.member(leaving.id())
		return !ok || mi.Suffrage == "none"
	})
}
