package mrf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/http/mrf"
	"cairn/node"
	"cairn/node/runtime"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// fakeNode is a node whose Apply writes straight into a store.
type fakeNode struct {
	id, zone, url string
	leaderID      string
	leaderURL     string
	store         *fsm.Store
	mu            sync.Mutex
	index         uint64
}

func newFakeNode(id, zone, url string) *fakeNode {
	// The workload kinds too: a zone's deployer writes a runnable
	// contribution's workload.
	schema, err := fsm.NewSchema(append(mrf.Kinds(), workload.Kinds()...)...)
	if err != nil {
		panic(err)
	}
	return &fakeNode{id: id, zone: zone, url: url, leaderID: id, leaderURL: url, store: fsm.NewStore(schema)}
}

func (n *fakeNode) ID() string      { return n.id }
func (n *fakeNode) Zone() string    { return n.zone }
func (n *fakeNode) HTTPURL() string { return n.url }
func (n *fakeNode) View() *fsm.View { return n.store.View() }
func (n *fakeNode) WaitIndex(ctx context.Context, index uint64) error {
	return n.store.WaitIndex(ctx, index)
}
func (n *fakeNode) Leader() (id, httpURL string) { return n.leaderID, n.leaderURL }
func (n *fakeNode) Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	res := n.store.Apply(n.index, cmd)
	return n.index, res, res.Err()
}

type fakeMembership struct {
	members []cluster.Member
	leaders map[string]string
}

func (m *fakeMembership) Members() []cluster.Member      { return m.members }
func (m *fakeMembership) ZoneLeaders() map[string]string { return m.leaders }

func member(id, zone, httpURL string, controller bool, status string) cluster.Member {
	return cluster.Member{Meta: cluster.Meta{ID: id, Zone: zone, HTTP: httpURL, Controller: controller}, Status: status}
}

// fakeLimits and fakeRaft are what settings.Settings acts on.
type fakeLimits struct {
	mu         sync.Mutex
	body, conc int64
	timeout    time.Duration
}

func (l *fakeLimits) MaxBodyBytes() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.body }
func (l *fakeLimits) RequestTimeout() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.timeout
}
func (l *fakeLimits) MaxConcurrentRequests() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.conc }
func (l *fakeLimits) SetMaxBodyBytes(n int64)      { l.mu.Lock(); l.body = n; l.mu.Unlock() }
func (l *fakeLimits) SetRequestTimeout(d time.Duration) {
	l.mu.Lock()
	l.timeout = d
	l.mu.Unlock()
}
func (l *fakeLimits) SetMaxConcurrentRequests(n int64) { l.mu.Lock(); l.conc = n; l.mu.Unlock() }

type fakeRaft struct {
	mu        sync.Mutex
	t         node.RaftTuning
	snapshots int
}

func (r *fakeRaft) RaftTuning() node.RaftTuning { r.mu.Lock(); defer r.mu.Unlock(); return r.t }
func (r *fakeRaft) SetRaftTuning(t node.RaftTuning) error {
	r.mu.Lock()
	r.t = t
	r.mu.Unlock()
	return nil
}
func (r *fakeRaft) Snapshot() error { r.mu.Lock(); r.snapshots++; r.mu.Unlock(); return nil }
func (r *fakeRaft) count() int      { r.mu.Lock(); defer r.mu.Unlock(); return r.snapshots }

type fixture struct {
	node     *fakeNode
	ms       *fakeMembership
	limits   *fakeLimits
	raft     *fakeRaft
	settings *settings.Settings
	handler  http.Handler
}

// newFixture serves MRF for n the way http.NewServer mounts it, with the
// canonical-path wrapper and MRF's not-found answer.
func newFixture(t *testing.T, n *fakeNode, ms *fakeMembership) *fixture {
	t.Helper()
	return newFixtureWith(t, n, ms, nil)
}

// newFixtureWith is newFixture with the Deps changed by opt.
func newFixtureWith(t *testing.T, n *fakeNode, ms *fakeMembership, opt func(*mrf.Deps)) *fixture {
	t.Helper()
	f := &fixture{node: n, ms: ms, limits: &fakeLimits{body: 1 << 20, timeout: 30 * time.Second},
		raft: &fakeRaft{t: node.RaftTuning{SnapshotThreshold: 8192, TrailingLogs: 10240, SnapshotInterval: 2 * time.Minute}}}
	var level slog.LevelVar
	f.settings = settings.New(&level, f.limits, f.raft, slog.New(slog.DiscardHandler))
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(mrf.NotFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(mrf.MethodNotAllowed)
	d := mrf.Deps{Node: n, Runtime: f.settings}
	if ms != nil {
		d.Membership = ms
	}
	if opt != nil {
		opt(&d)
	}
	mrf.Register(r, d)
	f.handler = mrf.CanonicalPaths(r)
	return f
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "http://other.example:9999"+path, rd)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	if ct := w.Header().Get("Content-Type"); w.Body.Len() > 0 && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var doc map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &doc)
	return w.Code, doc, w.Body.String()
}

var hostRE = regexp.MustCompile(`^https?://[^/]+`)

// normalise replaces the scheme and host:port of every href.
func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if s, ok := e.(string); ok && k == "href" {
				out[k] = hostRE.ReplaceAllString(s, "http://HOST")
				continue
			}
			out[k] = normalise(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalise(e)
		}
		return out
	}
	return v
}

// mustMatchFixture checks that every key of the seed's example is in doc
// with the same (normalised) value, and that doc's other keys are exactly
// extra.
func mustMatchFixture(t *testing.T, name string, doc map[string]any, extra ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mrf", name))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	got := normalise(doc).(map[string]any)
	want = normalise(want).(map[string]any)
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s: %q = %v, want %v", name, k, got[k], w)
		}
	}
	allowed := map[string]bool{}
	for _, k := range extra {
		allowed[k] = true
	}
	for k := range got {
		if _, ok := want[k]; !ok && !allowed[k] {
			t.Errorf("%s: unexpected key %q = %v", name, k, got[k])
		}
	}
}

func Test_Domain_SeedShape_SelfLinkFromBaseURL_NotHost(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://controller.test:8180"), nil)
	code, doc, body := f.do(t, http.MethodGet, "/management/domain", "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	mustMatchFixture(t, "domain.json", doc, "runtime", "runtimes")
	self := doc["selfLink"].(map[string]any)
	if self["href"] != "http://controller.test:8180/management/domain" {
		t.Errorf("selfLink %v: want the advertised URL, not the request's host", self)
	}
	rt := doc["runtime"].(map[string]any)
	if rt["href"] != "http://controller.test:8180/management/runtime" {
		t.Errorf("runtime link %v", rt)
	}
}

func Test_Domain_WrongMethod_405(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://controller.test:8180"), nil)
	code, _, body := f.do(t, http.MethodPost, "/management/domain", "")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", code)
	}
	var msg string
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Errorf("405 body %q is not a JSON string", body)
	}
}

func Test_Paths_CaseInsensitive_TrailingSlashIgnored(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://a:1"), nil)
	for _, p := range []string{"/Management/Domain", "/management/domain/", "/MANAGEMENT/DOMAIN//", "/management/Domain/Zones/"} {
		if code, _, body := f.do(t, http.MethodGet, p, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
}

func Test_UnknownResource_404_JSONString(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://a:1"), nil)
	for _, p := range []string{"/management/nope", "/management", "/management/runtime/nope", "/management/zone/runtime/nope", "/management/zone/runtime/raft/nope"} {
		method := http.MethodGet
		if strings.HasSuffix(p, "raft/nope") {
			method = http.MethodPost
		}
		code, _, body := f.do(t, method, p, "")
		var msg string
		if code != http.StatusNotFound || json.Unmarshal([]byte(body), &msg) != nil || msg == "" {
			t.Errorf("%s %s: %d %s, want 404 and a JSON string", method, p, code, body)
		}
	}
}

func Test_Zones_SeedShape_LinkToLeader(t *testing.T) {
	n := newFakeNode("c1", "default", "http://localhost:8180")
	ms := &fakeMembership{
		members: []cluster.Member{
			member("c1", "default", "http://localhost:8180", true, cluster.StatusAlive),
			member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
			member("z2", "zone1", "http://10.0.1.9:8182", false, cluster.StatusAlive),
		},
		leaders: map[string]string{"default": "c1", "zone1": "z2"},
	}
	f := newFixture(t, n, ms)
	code, doc, body := f.do(t, http.MethodGet, "/management/domain/zones", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	// The seed shows one zone; this domain also has the controller's own.
	vals := doc["value"].([]any)
	if len(vals) != 2 {
		t.Fatalf("zones %v", vals)
	}
	doc["value"] = vals[1:]
	mustMatchFixture(t, "zones.json", doc)
	if h := vals[1].(map[string]any)["href"]; h != "http://10.0.1.9:8182/management/zone" {
		t.Errorf("zone1 href %v, want the leader's", h)
	}

	// The leader dies: the zone is listed without href, with a status.
	ms.members[2].Status = cluster.StatusDead
	_, doc, _ = f.do(t, http.MethodGet, "/management/domain/zones", "")
	z := doc["value"].([]any)[1].(map[string]any)
	if _, has := z["href"]; has || z["status"] == nil || z["name"] != "zone1" {
		t.Errorf("zone with a dead leader: %v", z)
	}
	// A new leader is elected: the link moves.
	ms.leaders["zone1"] = "z1"
	_, doc, _ = f.do(t, http.MethodGet, "/management/domain/zones", "")
	if h := doc["value"].([]any)[1].(map[string]any)["href"]; h != "http://10.0.1.8:8182/management/zone" {
		t.Errorf("after the election: href %v", h)
	}
}

func Test_Runtimes_EveryNode_ZoneAndLeader_DeadOneWithoutHref(t *testing.T) {
	n := newFakeNode("c1", "default", "http://localhost:8180")
	ms := &fakeMembership{
		members: []cluster.Member{
			member("z2", "zone1", "http://10.0.1.9:8182", false, cluster.StatusAlive),
			member("c1", "default", "http://localhost:8180", true, cluster.StatusAlive),
			member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
			member("z3", "zone1", "http://10.0.1.10:8182", false, cluster.StatusDead),
		},
		leaders: map[string]string{"default": "c1", "zone1": "z2"},
	}
	f := newFixture(t, n, ms)
	_, root, _ := f.do(t, http.MethodGet, "/management/domain", "")
	if h := root["runtimes"].(map[string]any)["href"]; h != "http://localhost:8180/management/domain/runtimes" {
		t.Errorf("root's runtimes link %v", h)
	}
	code, doc, body := f.do(t, http.MethodGet, "/management/domain/runtimes", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var got []string
	for _, v := range doc["value"].([]any) {
		l := v.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v zone=%v leader=%v controller=%v status=%v", l["name"], l["rel"], l["href"], l["zone"], l["leader"], l["controller"], l["status"]))
	}
	want := []string{
		"c1 edit http://localhost:8180/management/runtime zone=default leader=true controller=true status=<nil>",
		"z1 edit http://10.0.1.8:8182/management/runtime zone=zone1 leader=false controller=false status=<nil>",
		"z2 edit http://10.0.1.9:8182/management/runtime zone=zone1 leader=true controller=false status=<nil>",
		"z3 edit <nil> zone=zone1 leader=false controller=false status=dead",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runtimes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func Test_Domain_OnParticipant_LinksToController(t *testing.T) {
	n := newFakeNode("z1", "zone1", "http://10.0.1.8:8182")
	ms := &fakeMembership{members: []cluster.Member{
		member("c1", "default", "http://ctl:8180", true, cluster.StatusAlive),
		member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"default": "c1", "zone1": "z1"}}
	f := newFixture(t, n, ms)
	_, doc, _ := f.do(t, http.MethodGet, "/management/domain", "")
	for _, k := range []string{"selfLink", "zones", "contributions"} {
		if h := doc[k].(map[string]any)["href"].(string); !strings.HasPrefix(h, "http://ctl:8180/management/domain") {
			t.Errorf("%s href %s: want the controller's", k, h)
		}
	}
	_, doc, _ = f.do(t, http.MethodGet, "/management/runtime", "")
	if doc["mode"] != "PARTICIPANT" {
		t.Errorf("mode %v", doc["mode"])
	}
	// No controller alive: 503, MRF's error body.
	ms.members[0].Status = cluster.StatusDead
	code, _, body := f.do(t, http.MethodGet, "/management/domain", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "controller") {
		t.Errorf("no controller: %d %s", code, body)
	}
}

func Test_Zone_SeedShape_LeaderAndMemberRuntimes(t *testing.T) {
	id := "domain:participant:zone1:participant"
	n := newFakeNode(id, "zone1", "http://10.0.1.9:8182")
	ms := &fakeMembership{members: []cluster.Member{
		member(id, "zone1", "http://10.0.1.9:8182", false, cluster.StatusAlive),
		member("other", "zone1", "http://10.0.1.10:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"zone1": id}}
	f := newFixture(t, n, ms)
	code, doc, body := f.do(t, http.MethodGet, "/management/zone", "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	mustMatchFixture(t, "zone.json", doc, "zone", "runtimes", "deployments")
	rts := doc["runtimes"].([]any)
	if len(rts) != 2 || rts[0].(map[string]any)["href"] != "http://10.0.1.9:8182/management/runtime" {
		t.Errorf("runtimes %v", rts)
	}
}

func Test_Runtime_LiveValues(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://a:1"), nil)
	_, doc, _ := f.do(t, http.MethodGet, "/management/runtime", "")
	for _, r := range []string{"logging", "http", "raft"} {
		if l, ok := doc[r].(map[string]any); !ok || l["href"] != "http://a:1/management/runtime/"+r {
			t.Errorf("runtime link %s: %v", r, doc[r])
		}
	}
	_, doc, _ = f.do(t, http.MethodGet, "/management/runtime/http", "")
	if doc["maxBodyBytes"] != float64(1<<20) || doc["requestTimeout"] != "30s" || doc["maxConcurrentRequests"] != float64(0) {
		t.Errorf("http: %v", doc)
	}
	_, doc, _ = f.do(t, http.MethodGet, "/management/runtime/logging", "")
	if doc["level"] != "info" {
		t.Errorf("logging: %v", doc)
	}
	_, doc, _ = f.do(t, http.MethodGet, "/management/domain/runtime/raft", "")
	if doc["snapshotThreshold"] != float64(8192) || doc["snapshotInterval"] != "2m0s" {
		t.Errorf("raft: %v", doc)
	}
}

func Test_ZoneRuntime_Put_Validates_Stores_AndFollowApplies(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://a:1"), nil)
	for body, name := range map[string]string{
		`{"maxBodyBytes":"big"}`:       "maxBodyBytes",
		`{"maxBodyBytes":1.5}`:         "maxBodyBytes",
		`{"nope":1}`:                   "nope",
		`{"requestTimeout":30}`:        "requestTimeout",
		`{"requestTimeout":"x"}`:       "requestTimeout",
		`[1]`:                          "JSON object",
		`{"maxBodyBytes":0}`:           "maxBodyBytes",
		`{"maxConcurrentRequests":-1}`: "maxConcurrentRequests",
	} {
		code, _, resp := f.do(t, http.MethodPut, "/management/zone/runtime/http", body)
		if code != http.StatusBadRequest || !strings.Contains(resp, name) {
			t.Errorf("PUT %s: %d %s, want 400 naming %s", body, code, resp, name)
		}
	}
	code, _, resp := f.do(t, http.MethodPut, "/management/zone/runtime/logging", `{"level":"loud"}`)
	if code != http.StatusBadRequest || !strings.Contains(resp, "level") {
		t.Errorf("bad level: %d %s", code, resp)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.settings.Follow(ctx, f.node.store); close(done) }()
	defer func() { cancel(); <-done }()

	code, doc, resp := f.do(t, http.MethodPut, "/management/zone/runtime/http", `{"maxBodyBytes":8192}`)
	if code != http.StatusOK || doc["maxBodyBytes"] != float64(8192) {
		t.Fatalf("PUT: %d %s", code, resp)
	}
	// POST merges too: maxBodyBytes stays.
	code, doc, resp = f.do(t, http.MethodPost, "/Management/Zone/Runtime/HTTP/", `{"requestTimeout":"5s"}`)
	if code != http.StatusOK || doc["maxBodyBytes"] != float64(8192) || doc["requestTimeout"] != "5s" {
		t.Fatalf("POST: %d %s", code, resp)
	}
	waitFor(t, func() bool { return f.limits.MaxBodyBytes() == 8192 && f.limits.RequestTimeout() == 5*time.Second })
	_, doc, _ = f.do(t, http.MethodGet, "/management/runtime/http", "")
	if doc["maxBodyBytes"] != float64(8192) {
		t.Errorf("live after the zone change: %v", doc)
	}
	_, doc, _ = f.do(t, http.MethodGet, "/management/zone/runtime/http", "")
	if doc["requestTimeout"] != "5s" {
		t.Errorf("zone value: %v", doc)
	}

	// A value that would lock the zone out is refused (#13 item 4).
	if code, _, resp := f.do(t, http.MethodPut, "/management/zone/runtime/http", `{"maxBodyBytes":16}`); code != http.StatusBadRequest || !strings.Contains(resp, "at least 4096") {
		t.Errorf("PUT maxBodyBytes 16: %d %s, want 400 naming the floor", code, resp)
	}
	// DELETE returns every member to its flags.
	if code, _, resp := f.do(t, http.MethodDelete, "/management/zone/runtime/http", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, resp)
	}
	waitFor(t, func() bool { return f.limits.MaxBodyBytes() == 1<<20 && f.limits.RequestTimeout() == 30*time.Second })
	if code, _, resp := f.do(t, http.MethodDelete, "/management/zone/runtime/http", ""); code != http.StatusNoContent {
		t.Errorf("second DELETE: %d %s", code, resp)
	}

	// An operation runs once per invocation.
	_, doc, _ = f.do(t, http.MethodGet, "/management/zone/runtime/raft", "")
	op, _ := doc["snapshot"].(map[string]any)
	if op["href"] != "http://a:1/management/zone/runtime/raft/snapshot" {
		t.Errorf("raft operation link %v", doc["snapshot"])
	}
	for i := 1; i <= 2; i++ {
		if code, _, resp := f.do(t, http.MethodPost, "/management/zone/runtime/raft/snapshot", ""); code != http.StatusOK {
			t.Fatalf("snapshot: %d %s", code, resp)
		}
		waitFor(t, func() bool { return f.raft.count() == i })
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Fabric3's CLI `post <path> <content>` sends content as a JSON string.
func Test_RuntimeResources_JSONStringBodies_AsTheCLISendsThem(t *testing.T) {
	f := newFixture(t, newFakeNode("n1", "default", "http://a:1"), nil)
	stored := func(attr string) any {
		_, doc, _ := f.do(t, http.MethodGet, "/management/zone/runtime/logging", "")
		if attr == "maxBodyBytes" {
			_, doc, _ = f.do(t, http.MethodGet, "/management/zone/runtime/http", "")
		}
		return doc[attr]
	}
	for _, c := range []struct {
		method, path, body string
		attr               string
		want               any
	}{
		{http.MethodPost, "/management/zone/runtime/logging", `"{\"level\":\"debug\"}"`, "level", "debug"},
		{http.MethodPost, "/management/zone/runtime/logging", `"warn"`, "level", "warn"},
		{http.MethodPost, "/management/runtime/logging", `"{\"level\":\"error\"}"`, "level", "error"},
		{http.MethodPost, "/management/domain/runtime/logging", `"info"`, "level", "info"},
		{http.MethodPut, "/management/runtime/http", `" {\"maxBodyBytes\": 4096} "`, "maxBodyBytes", float64(4096)},
	} {
		code, _, resp := f.do(t, c.method, c.path, c.body)
		if code != http.StatusOK {
			t.Fatalf("%s %s %s: %d %s", c.method, c.path, c.body, code, resp)
		}
		if got := stored(c.attr); got != c.want {
			t.Errorf("%s %s %s: %s = %v, want %v", c.method, c.path, c.body, c.attr, got, c.want)
		}
	}
	before := f.node.store.View().Digest()
	for body, want := range map[string]string{
		`"4096"`:                     "maxBodyBytes",   // a bare string for a resource of several attributes
		`"{\"maxBodyBytes\": 4096"`:  "no valid JSON",  // a string holding a broken object
		`"{\"maxBodyBytes\":\"x\"}"`: "maxBodyBytes",   // the object, refused as the object is
		`"nope`:                      "not valid JSON", // not JSON at all
	} {
		code, _, resp := f.do(t, http.MethodPost, "/management/zone/runtime/http", body)
		if code != http.StatusBadRequest || !strings.Contains(resp, want) {
			t.Errorf("POST %s: %d %s, want 400 naming %s", body, code, resp, want)
		}
	}
	if code, _, resp := f.do(t, http.MethodPost, "/management/runtime/logging", `"loud"`); code != http.StatusBadRequest || !strings.Contains(resp, "level") {
		t.Errorf("a bad level as a string: %d %s", code, resp)
	}
	if f.node.store.View().Digest() != before {
		t.Error("a refused write changed the store")
	}
}
