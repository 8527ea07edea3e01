package topology_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"cairn/fsm"
	"cairn/http/topology"
	nodetopo "cairn/node/topology"

	"github.com/gorilla/mux"
)

// fakeNode is a node whose Apply writes straight into a store.
type fakeNode struct {
	id    string
	store *fsm.Store
	mu    sync.Mutex
	index uint64
	// before, if set, runs ahead of every Apply (with the lock held): a
	// test slips a competing write in between a handler's check and its
	// commit.
	before func(cmd fsm.Command)
}

func (n *fakeNode) ID() string      { return n.id }
func (n *fakeNode) View() *fsm.View { return n.store.View() }
func (n *fakeNode) WaitIndex(ctx context.Context, index uint64) error {
	return n.store.WaitIndex(ctx, index)
}
func (n *fakeNode) Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.before != nil {
		n.before(cmd)
	}
	n.index++
	res := n.store.Apply(n.index, cmd)
	return n.index, res, res.Err()
}

// env is one node serving the API, with its instance files under dir.
type env struct {
	t    *testing.T
	node *fakeNode
	dir  string
	h    http.Handler
}

func mustEnv(t *testing.T) *env {
	t.Helper()
	schema, err := fsm.NewSchema(topology.Kinds()...)
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{id: "n1", store: fsm.NewStore(schema)}
	dir := t.TempDir()
	d := topology.Deps{Node: n, Files: &nodetopo.Files{Dir: dir}}
	r := mux.NewRouter()
	topology.Register(r, d)
	r.NotFoundHandler = http.HandlerFunc(topology.NotFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(topology.MethodNotAllowed)
	return &env{t: t, node: n, dir: dir, h: topology.NodeLocal(d, r)}
}

type reply struct {
	status int
	body   []byte
}

func (e *env) do(method, path string, body any) reply {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return reply{status: w.Code, body: w.Body.Bytes()}
}

func (e *env) mustDo(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		e.t.Fatalf("%s %s: body %s: %v", method, path, r.body, err)
	}
	return m
}

// errorMessage returns the one message of an error body.
func errorMessage(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Errors []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("not an error body with one error: %s", b)
	}
	return e.Errors[0].Message
}

func (e *env) version() float64 {
	e.t.Helper()
	return e.mustDo("GET", "/api/topology", nil, 200)["result"].(map[string]any)["version"].(float64)
}

func gateway(name, host string, port int) map[string]any {
	return map[string]any{"service": map[string]any{"name": name, "type": "gateway", "scheme": "https", "hostID": host,
		"managementPort": port, "tags": map[string]any{}, "enabled": true}}
}

// mustSetup makes the topology the 400 fixture starts from.
func (e *env) mustSetup() {
	e.t.Helper()
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 201)
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "Group1", "tags": map[string]any{}}, 201)
	e.mustDo("POST", "/api/topology/services/group-1", gateway("APIGateway1", "host-1", 8085), 201)
}

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "topology", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func Test_PostService_SeedExample_201WithServiceAndItsID(t *testing.T) {
	e := mustEnv(t)
	var fx struct {
		Request struct {
			Body map[string]any `json:"body"`
		} `json:"request"`
		Response struct {
			Status int            `json:"status"`
			Body   map[string]any `json:"body"`
		} `json:"response"`
	}
	readFixture(t, "post_service.json", &fx)
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 201)
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "Group1"}, 201)
	got := e.mustDo("POST", "/api/topology/services/group-1", fx.Request.Body, fx.Response.Status)

	want := fx.Response.Body["result"].(map[string]any)
	want["name"] = fx.Request.Body["service"].(map[string]any)["name"] // the seed's slip: see the fixture's note
	if !reflect.DeepEqual(got, map[string]any{"result": want}) {
		t.Fatalf("201 body:\n got %v\nwant %v", got, map[string]any{"result": want})
	}
	// The 201 body is exactly the service: these members, no others.
	var keys []string
	for k := range got["result"].(map[string]any) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "enabled,hostID,id,managementPort,name,scheme,tags,type" {
		t.Fatalf("201 body members: %v", keys)
	}
	// "New files are created on disk for the new instance."
	props, err := os.ReadFile(filepath.Join(e.dir, "groups", "group-1", "instance-1", "conf", "envSettings.props"))
	if err != nil || !strings.Contains(string(props), "env.PORT.TRAFFIC=8080\n") {
		t.Fatalf("envSettings.props: %q, %v", props, err)
	}
	for _, f := range []string{"instance.crt", "instance.key", "domain-ca.crt"} {
		if _, err := os.Stat(filepath.Join(e.dir, "groups", "group-1", "instance-1", "conf", "certs", f)); err != nil {
			t.Fatal(err)
		}
	}
	// GET answers the same service.
	if g := e.mustDo("GET", "/api/topology/services/group-1/instance-1", nil, 200); !reflect.DeepEqual(g, got) {
		t.Fatalf("GET after POST: %v", g)
	}
}

func Test_PostService_Every400RuleOfTheSeed_OwnMessage_TopologyUnchanged(t *testing.T) {
	e := mustEnv(t)
	e.mustSetup()
	var fx struct {
		Cases []struct {
			Rule    string         `json:"rule"`
			Group   string         `json:"group"`
			Query   string         `json:"query"`
			Service map[string]any `json:"service"`
			Message string         `json:"message"`
		} `json:"cases"`
		Illegal        []string `json:"illegalNameCharacters"`
		IllegalMessage string   `json:"illegalNameMessage"`
	}
	readFixture(t, "post_service_400.json", &fx)
	before := e.version()
	seen := map[string]string{}
	for _, c := range fx.Cases {
		t.Run(c.Rule, func(t *testing.T) {
			r := e.do("POST", "/api/topology/services/"+c.Group+"?"+c.Query, map[string]any{"service": c.Service, "domainPassphrase": "fred"})
			if r.status != 400 {
				t.Fatalf("status %d, want 400; body %s", r.status, r.body)
			}
			msg := errorMessage(t, r.body)
			if !strings.Contains(msg, c.Message) {
				t.Fatalf("message %q, want it to contain %q", msg, c.Message)
			}
			if other, dup := seen[msg]; dup {
				t.Fatalf("rules %q and %q answer the same message %q", other, c.Rule, msg)
			}
			seen[msg] = c.Rule
		})
	}
	for _, ch := range fx.Illegal {
		t.Run(fmt.Sprintf("illegal name character %q", ch), func(t *testing.T) {
			svc := gateway("API"+ch+"Gateway", "host-1", 8090)
			r := e.do("POST", "/api/topology/services/group-1", svc)
			if r.status != 400 || !strings.Contains(errorMessage(t, r.body), fx.IllegalMessage) {
				t.Fatalf("status %d body %s, want 400 %q", r.status, r.body, fx.IllegalMessage)
			}
		})
	}
	r := e.do("POST", "/api/topology/services/group-1", "{not json")
	if r.status != 400 {
		t.Fatalf("a body that is not JSON: %d %s", r.status, r.body)
	}
	if after := e.version(); after != before {
		t.Fatalf("refused requests changed the topology: version %v -> %v", before, after)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "groups", "group-1"))
	if len(entries) != 1 {
		t.Fatalf("refused requests left instance directories: %v", entries)
	}
	// A refused request takes no id: the next service is instance-2.
	got := e.mustDo("POST", "/api/topology/services/group-1", gateway("APIGateway2", "host-1", 8090), 201)
	if id := got["result"].(map[string]any)["id"]; id != "instance-2" {
		t.Fatalf("next id %v, want instance-2", id)
	}
}

func Test_PostService_FilesCannotBeWritten_500_TopologyUnchanged(t *testing.T) {
	e := mustEnv(t)
	e.mustSetup()
	// A host that names no Cairn node: nowhere to write the files.
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "elsewhere"}, 201)
	before := e.version()
	r := e.do("POST", "/api/topology/services/group-1", gateway("APIGateway2", "host-2", 8090))
	if r.status != 500 || !strings.Contains(errorMessage(t, r.body), "not a Cairn node") {
		t.Fatalf("status %d body %s, want 500", r.status, r.body)
	}
	// This node's disk refuses: its group directory is a file.
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "Group2"}, 201)
	before = e.version()
	if err := os.WriteFile(filepath.Join(e.dir, "groups", "group-2"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/api/topology/services/group-2", gateway("APIGateway3", "host-1", 8091))
	if r.status != 500 {
		t.Fatalf("status %d body %s, want 500", r.status, r.body)
	}
	if after := e.version(); after != before {
		t.Fatalf("a failed create changed the topology: version %v -> %v", before, after)
	}
	if svcs := e.mustDo("GET", "/api/topology/services/group-2", nil, 200)["result"].([]any); len(svcs) != 0 {
		t.Fatalf("group-2 lists %v", svcs)
	}
}

func Test_Services_UpdateAndDelete(t *testing.T) {
	e := mustEnv(t)
	e.mustSetup()
	e.mustDo("POST", "/api/topology/services/group-1", gateway("APIGateway2", "host-1", 8090), 201)
	svc := func(m map[string]any) map[string]any { return m }
	upd := svc(map[string]any{"id": "instance-2", "name": "Renamed", "managementPort": 8095, "scheme": "http", "tags": map[string]any{"k": "v"}})
	got := e.mustDo("PUT", "/api/topology/services/group-1", upd, 200)["result"].(map[string]any)
	if got["name"] != "Renamed" || got["managementPort"] != float64(8095) || got["scheme"] != "http" {
		t.Fatalf("PUT answered %v", got)
	}
	// The old port is free again, the new one taken.
	e.mustDo("POST", "/api/topology/services/group-1", gateway("APIGateway3", "host-1", 8090), 201)
	for name, body := range map[string]map[string]any{
		"port of another":   {"id": "instance-2", "managementPort": 8085},
		"type changes":      {"id": "instance-2", "type": "nodemanager"},
		"host changes":      {"id": "instance-2", "hostID": "host-7"},
		"name taken":        {"id": "instance-2", "name": "APIGateway1"},
		"illegal name":      {"id": "instance-2", "name": "a|b"},
		"services port":     {"id": "instance-2", "managementPort": 8080},
		"no id":             {"name": "x"},
		"wrapped, bad type": {"service": map[string]any{"id": "instance-2", "type": "nodemanager"}},
	} {
		if r := e.do("PUT", "/api/topology/services/group-1", body); r.status != 400 {
			t.Errorf("%s: status %d body %s, want 400", name, r.status, r.body)
		}
	}
	if r := e.do("PUT", "/api/topology/services/group-1", map[string]any{"id": "instance-99"}); r.status != 404 {
		t.Fatalf("unknown service: %d", r.status)
	}
	dir := filepath.Join(e.dir, "groups", "group-1", "instance-2")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	e.mustDo("DELETE", "/api/topology/services/group-1/instance-2", nil, 204)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the deleted instance's files are still there: %v", err)
	}
	e.mustDo("DELETE", "/api/topology/services/group-1/instance-2", nil, 404)
	// Its port is free again.
	e.mustDo("POST", "/api/topology/services/group-1", gateway("APIGateway4", "host-1", 8095), 201)
}

func Test_Hosts_CRUD_Localhost_DeleteRefusedWhileServices(t *testing.T) {
	e := mustEnv(t)
	h := e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 201)["result"]
	if !reflect.DeepEqual(h, map[string]any{"id": "host-1", "name": "n1"}) {
		t.Fatalf("POST host: %v", h)
	}
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 400)
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "a:b"}, 400)
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "other"}, 201)
	if l := e.mustDo("GET", "/api/topology/hosts", nil, 200)["result"].([]any); len(l) != 2 {
		t.Fatalf("hosts: %v", l)
	}
	if h := e.mustDo("GET", "/api/topology/hosts/localhost", nil, 200)["result"]; h.(map[string]any)["id"] != "host-1" {
		t.Fatalf("localhost: %v", h)
	}
	e.mustDo("GET", "/api/topology/hosts/host-9", nil, 404)
	if h := e.mustDo("PUT", "/api/topology/hosts", map[string]any{"id": "host-2", "name": "renamed"}, 200)["result"]; h.(map[string]any)["name"] != "renamed" {
		t.Fatalf("PUT host: %v", h)
	}
	e.mustDo("PUT", "/api/topology/hosts", map[string]any{"id": "host-2", "name": "n1"}, 400)
	e.mustDo("PUT", "/api/topology/hosts", map[string]any{"id": "host-9", "name": "x"}, 404)
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "G"}, 201)
	e.mustDo("POST", "/api/topology/services/group-1", gateway("GW", "host-1", 8085), 201)
	if r := e.do("DELETE", "/api/topology/hosts/host-1", nil); r.status != 400 || !strings.Contains(errorMessage(t, r.body), "still has") {
		t.Fatalf("delete a host with services: %d %s", r.status, r.body)
	}
	e.mustDo("DELETE", "/api/topology/hosts/host-2", nil, 204)
	e.mustDo("DELETE", "/api/topology/hosts/host-2", nil, 404)
}

func Test_Groups_CRUD_ServicesRefused_NodeManagersBlockDelete_Lookups(t *testing.T) {
	e := mustEnv(t)
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 201)
	r := e.do("POST", "/api/topology/groups", map[string]any{"name": "G", "services": []any{map[string]any{"name": "x"}}})
	if r.status != 400 || !strings.Contains(errorMessage(t, r.body), "one at a time") {
		t.Fatalf("group with services: %d %s", r.status, r.body)
	}
	g := e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "G", "tags": map[string]any{"env": "dev"}}, 201)["result"]
	if !reflect.DeepEqual(g, map[string]any{"id": "group-1", "name": "G", "tags": map[string]any{"env": "dev"}, "services": []any{}}) {
		t.Fatalf("POST group: %v", g)
	}
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "G"}, 400)
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "Node Manager Group"}, 201)
	e.mustDo("PUT", "/api/topology/groups", map[string]any{"id": "group-1", "name": "G1", "tags": map[string]any{}}, 200)
	e.mustDo("PUT", "/api/topology/groups", map[string]any{"id": "group-1", "name": "Node Manager Group"}, 400)
	e.mustDo("PUT", "/api/topology/groups", map[string]any{"id": "group-9", "name": "x"}, 404)
	if id := e.mustDo("GET", "/api/topology/groups/id?groupName=G1", nil, 200)["result"]; id != "group-1" {
		t.Fatalf("group id look-up: %v", id)
	}
	e.mustDo("GET", "/api/topology/groups/id?groupName=nope", nil, 404)

	nm := map[string]any{"service": map[string]any{"name": "NM1", "type": "nodemanager", "scheme": "https", "hostID": "host-1", "managementPort": 8090,
		"tags": map[string]any{"internal_admin_nm": "true"}, "enabled": true}}
	if id := e.mustDo("POST", "/api/topology/services/group-2", nm, 201)["result"].(map[string]any)["id"]; id != "nodemanager-1" {
		t.Fatalf("node manager id %v", id)
	}
	e.mustDo("POST", "/api/topology/services/group-1", gateway("GW1", "host-1", 8085), 201)
	if id := e.mustDo("GET", "/api/topology/services/id/group-1?serviceName=GW1", nil, 200)["result"]; id != "instance-1" {
		t.Fatalf("service id look-up: %v", id)
	}
	e.mustDo("GET", "/api/topology/services/id/group-2?serviceName=GW1", nil, 404)
	if r := e.do("DELETE", "/api/topology/groups/group-2", nil); r.status != 400 || !strings.Contains(errorMessage(t, r.body), "Node Manager") {
		t.Fatalf("delete a group with a Node Manager: %d %s", r.status, r.body)
	}
	// The whole topology, filtered by type.
	top := e.mustDo("GET", "/api/topology?serviceType=nodemanager", nil, 200)["result"].(map[string]any)
	if gs := top["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["id"] != "group-2" {
		t.Fatalf("nodemanager topology: %v", gs)
	}
	top = e.mustDo("GET", "/api/topology", nil, 200)["result"].(map[string]any)
	if top["productVersion"] == "" || top["id"] == "" || len(top["hosts"].([]any)) != 1 || len(top["groups"].([]any)) != 2 {
		t.Fatalf("topology: %v", top)
	}
	e.mustDo("GET", "/api/topology?serviceType=widget", nil, 400)
	// A group of gateways goes, with its instances and their files.
	v := e.version()
	e.mustDo("DELETE", "/api/topology/groups/group-1", nil, 204)
	if e.version() <= v {
		t.Fatal("the version did not grow")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "groups", "group-1")); !os.IsNotExist(err) {
		t.Fatalf("group-1's files: %v", err)
	}
	e.mustDo("GET", "/api/topology/services/group-1/instance-1", nil, 404)
	// host-1 no longer lists instance-1: its port is free, and only the
	// Node Manager keeps the host.
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "G3"}, 201)
	e.mustDo("POST", "/api/topology/services/group-3", gateway("GW1", "host-1", 8085), 201)
	e.mustDo("GET", "/api/topology/nothing", nil, 404)
	e.mustDo("PATCH", "/api/topology/hosts", nil, 405)
}

func Test_PostService_ConcurrentSamePort_OneWins(t *testing.T) {
	e := mustEnv(t)
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 201)
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "G"}, 201)
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do("POST", "/api/topology/services/group-1", gateway(fmt.Sprintf("GW%d", i), "host-1", 8085)).status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 400:
		default:
			t.Fatalf("statuses %v", statuses)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates took port 8085: %v", created, statuses)
	}
	if svcs := e.mustDo("GET", "/api/topology/services/group-1", nil, 200)["result"].([]any); len(svcs) != 1 {
		t.Fatalf("services: %v", svcs)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "groups", "group-1"))
	if len(entries) != 1 {
		t.Fatalf("instance directories: %v", entries)
	}
}

// A competing write that takes the port after the handler checked it and
// before it commits: the precondition refuses the commit, and the
// handler, building again from the new state, answers the rule's 400 and
// removes the files it wrote.
func Test_PostService_PortTakenBetweenCheckAndCommit_400FromPrecondition(t *testing.T) {
	e := mustEnv(t)
	e.mustDo("POST", "/api/topology/hosts", map[string]any{"name": "n1"}, 201)
	e.mustDo("POST", "/api/topology/groups", map[string]any{"name": "G"}, 201)
	slipped := false
	e.node.before = func(cmd fsm.Command) {
		for _, op := range cmd.Ops {
			if op.Kind == topology.KindService && op.Type == fsm.OpPut && !slipped {
				slipped = true
				e.node.index++
				res := e.node.store.Apply(e.node.index, fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: topology.KindPort,
					ID: "host-1:8085", Body: json.RawMessage(`{"serviceID":"instance-77"}`)}}})
				if res.Err() != nil {
					t.Error(res.Err())
				}
			}
		}
	}
	r := e.do("POST", "/api/topology/services/group-1", gateway("GW", "host-1", 8085))
	if !slipped {
		t.Fatal("no competing write was slipped in")
	}
	if r.status != 400 || !strings.Contains(errorMessage(t, r.body), "Management port 8085 is already used by service instance-77") {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "groups", "group-1")); len(entries) != 0 {
		t.Fatalf("files left behind: %v", entries)
	}
	if svcs := e.mustDo("GET", "/api/topology/services/group-1", nil, 200)["result"].([]any); len(svcs) != 0 {
		t.Fatalf("services: %v", svcs)
	}
}

// The node-to-node endpoint writes and removes this node's instance
// files only, under ids the API assigns; it is never routed to the API.
func Test_NodeLocal_WritesAndRemovesThisNodesFiles(t *testing.T) {
	e := mustEnv(t)
	e.mustSetup() // makes the domain CA
	body := map[string]any{"instance": map[string]any{"groupID": "group-1", "id": "instance-7", "name": "X", "servicesPort": 8081,
		"signAlg": "sha1"}, "caIndex": 1}
	e.mustDo("POST", "/api/topology/_node/instances", body, 201)
	dir := filepath.Join(e.dir, "groups", "group-1", "instance-7")
	if _, err := os.Stat(filepath.Join(dir, "conf", "envSettings.props")); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/api/topology/_node/instances", body); r.status != 500 {
		t.Fatalf("the same instance again: %d %s", r.status, r.body)
	}
	body["instance"].(map[string]any)["id"] = "../../etc"
	if r := e.do("POST", "/api/topology/_node/instances", body); r.status != 400 {
		t.Fatalf("an id that leaves the data dir: %d %s", r.status, r.body)
	}
	e.mustDo("DELETE", "/api/topology/_node/instances/group-1/instance-7", nil, 204)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("still there: %v", err)
	}
	e.mustDo("DELETE", "/api/topology/_node/instances/group-1/..", nil, 404)
	e.mustDo("GET", "/api/topology/_node/instances", nil, 405)
	// The topology never saw instance-7.
	e.mustDo("GET", "/api/topology/services/group-1/instance-7", nil, 404)
}
