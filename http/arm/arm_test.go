package arm_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"cairn/fsm"
	"cairn/http/arm"
	"cairn/node/auth"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// fakeNode is a node whose Apply writes straight into a store.
type fakeNode struct {
	store *fsm.Store
	mu    sync.Mutex
	index uint64
}

func (n *fakeNode) ID() string      { return "n1" }
func (n *fakeNode) Zone() string    { return "default" }
func (n *fakeNode) View() *fsm.View { return n.store.View() }
func (n *fakeNode) WaitIndex(ctx context.Context, index uint64) error {
	return n.store.WaitIndex(ctx, index)
}
func (n *fakeNode) Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	res := n.store.Apply(n.index, cmd)
	return n.index, res, res.Err()
}

// env is one store served by two API instances (as if through two
// nodes): each has its own turn-taking, so only the store's
// preconditions keep their writes apart.
type env struct {
	t     *testing.T
	node  *fakeNode
	h     [2]http.Handler
	token string
}

func mustEnv(t *testing.T) *env {
	t.Helper()
	schema, err := fsm.NewSchema(append(append(arm.Kinds(), workload.Kinds()...), auth.Kinds()...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, node: &fakeNode{store: fsm.NewStore(schema)}}
	op, err := auth.NewKeyOp(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.node.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{op}}); err != nil {
		t.Fatal(err)
	}
	for i := range e.h {
		r := mux.NewRouter()
		arm.Register(r, arm.Deps{Node: e.node})
		r.NotFoundHandler = http.HandlerFunc(arm.NotFound)
		r.MethodNotAllowedHandler = http.HandlerFunc(arm.MethodNotAllowed)
		e.h[i] = r
	}
	var tok struct{ Data string }
	json.Unmarshal(e.do(0, "GET", "/hybrid/api/v1/servers/registrationToken", nil, "", 200), &tok)
	e.token = tok.Data
	return e
}

func (e *env) do(via int, method, path string, body []byte, ctype string, want int) []byte {
	e.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	e.h[via].ServeHTTP(w, req)
	if w.Code != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, want, w.Body.Bytes())
	}
	if want >= 400 && !bytes.HasPrefix(w.Body.Bytes(), []byte(`{"message":`)) {
		e.t.Fatalf("%s %s: error body %s", method, path, w.Body.Bytes())
	}
	return w.Body.Bytes()
}

func seedServer(t *testing.T, label string) []byte {
	b, err := os.ReadFile("../../testdata/arm/register-server.json")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte(`"TestServer"`), []byte(`"`+label+`"`), 1)
}

func (e *env) register(via int, label string) int64 {
	e.t.Helper()
	var out struct{ Data struct{ ID int64 } }
	json.Unmarshal(e.do(via, "POST", "/hybrid/api/v1/servers?registrationToken="+e.token, seedServer(e.t, label), "", 201), &out)
	return out.Data.ID
}

// Registrations through two API instances at once: every server gets its
// own id (the counter is taken in the same command, under its version).
func Test_Register_Concurrent_DistinctIDs(t *testing.T) {
	e := mustEnv(t)
	const n = 16
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = e.register(i%2, fmt.Sprintf("node%d", i))
		}()
	}
	wg.Wait()
	slices.Sort(ids)
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("ids %v, want 1..%d", ids, n)
		}
	}
}

func Test_Register_Refusals(t *testing.T) {
	e := mustEnv(t)
	e.do(0, "POST", "/hybrid/api/v1/servers", seedServer(t, "x"), "", 401)
	e.do(0, "POST", "/hybrid/api/v1/servers?registrationToken=wrong", seedServer(t, "x"), "", 401)
	body := bytes.Replace(seedServer(t, "x"), []byte("MIIB"), []byte("!!!!"), 1)
	if msg := e.do(0, "POST", "/hybrid/api/v1/servers?registrationToken="+e.token, body, "", 400); !bytes.Contains(msg, []byte("certificate request")) {
		t.Fatalf("garbage CSR: %s", msg)
	}
	e.do(0, "POST", "/hybrid/api/v1/servers?registrationToken="+e.token, []byte(`{"muleVersion":"4.4.0"}`), "", 400)
	e.register(0, "x")
	e.do(1, "POST", "/hybrid/api/v1/servers?registrationToken="+e.token, seedServer(t, "x"), "", 409)
	e.do(0, "GET", "/hybrid/api/v1/servers/abc", nil, "", 404)
	e.do(0, "DELETE", "/hybrid/api/v1/servers/77", nil, "", 204)
}

// Groups and clusters take individual servers only; a unicast cluster
// needs every server's IP; booleans come as JSON booleans or strings.
func Test_GroupsAndClusters_Rules(t *testing.T) {
	e := mustEnv(t)
	for _, l := range []string{"a", "b", "c", "d"} {
		e.register(0, l)
	}
	e.do(0, "POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"g","serverIds":[1,"2"]}`), "", 201) // id 5
	e.do(1, "POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"h","serverIds":[2]}`), "", 400)
	e.do(1, "POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"h","serverIds":[5]}`), "", 400)
	e.do(1, "POST", "/hybrid/api/v1/clusters", []byte(`{"name":"c","multicastEnabled":"false","servers":[{"serverId":3}]}`), "", 400)
	e.do(1, "POST", "/hybrid/api/v1/clusters", []byte(`{"name":"c","multicastEnabled":"maybe","servers":[]}`), "", 400)
	e.do(1, "POST", "/hybrid/api/v1/clusters", []byte(`{"name":"c","multicastEnabled":"true","servers":[{"serverId":1}]}`), "", 400)
	var c struct {
		Data struct {
			ID               int64
			MulticastEnabled bool
			Servers          []struct{ ID int64 }
		}
	}
	json.Unmarshal(e.do(1, "POST", "/hybrid/api/v1/clusters", []byte(`{"name":"c","multicastEnabled":true,"servers":[{"serverId":"3"}]}`), "", 201), &c)
	if c.Data.ID != 6 || !c.Data.MulticastEnabled || len(c.Data.Servers) != 1 {
		t.Fatalf("cluster %+v", c)
	}
	e.do(0, "POST", "/hybrid/api/v1/clusters/6/servers", []byte(`{"serverId":"3"}`), "", 400) // already in it
	e.do(0, "POST", "/hybrid/api/v1/clusters/6/servers", []byte(`{"serverId":"4"}`), "", 200)
	e.do(0, "POST", "/hybrid/api/v1/serverGroups/5/servers/4", nil, "", 400) // in a cluster
	e.do(0, "DELETE", "/hybrid/api/v1/clusters/6/servers/4", nil, "", 204)
	e.do(0, "POST", "/hybrid/api/v1/serverGroups/5/servers/4", nil, "", 200)
	var s struct {
		Data struct {
			ServerGroupID   int64  `json:"serverGroupId"`
			ServerGroupName string `json:"serverGroupName"`
		}
	}
	json.Unmarshal(e.do(0, "GET", "/hybrid/api/v1/servers/4", nil, "", 200), &s)
	if s.Data.ServerGroupID != 5 || s.Data.ServerGroupName != "g" {
		t.Fatalf("server 4: %+v", s)
	}
}

// An application on a group is one workload per server, placed on the
// server's node; a new server of the group gets one too.
func Test_Application_WorkloadPerServer(t *testing.T) {
	e := mustEnv(t)
	e.register(0, "n1")
	e.register(0, "n2")
	e.register(0, "n3")
	e.do(0, "POST", "/hybrid/api/v1/serverGroups", []byte(`{"name":"g","serverIds":[1,2]}`), "", 201) // id 4
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("artifactName", "app")
	f, _ := w.CreateFormFile("file", "app.zip")
	f.Write([]byte("#!/bin/sh\nexec sleep 100\n"))
	w.WriteField("targetId", "4")
	w.Close()
	e.do(1, "POST", "/hybrid/api/v1/applications", buf.Bytes(), w.FormDataContentType(), 202)
	e.do(0, "POST", "/hybrid/api/v1/serverGroups/4/servers/3", nil, "", 200)
	v := e.node.View()
	if workload.Holders(v)[fmt.Sprintf("%x", sha1.Sum([]byte("#!/bin/sh\nexec sleep 100\n")))] == "" {
		t.Fatal("the application's file is not held")
	}
	for sid, node := range map[int]string{1: "n1", 2: "n2", 3: "n3"} {
		r := v.Get(workload.KindWorkload, fmt.Sprintf("arm-1-%d", sid))
		if r == nil {
			t.Fatalf("no workload for server %d", sid)
		}
		spec, err := workload.ParseSpec(r.Body)
		if err != nil || spec.Instances != 1 || !slices.Equal(spec.Placement.Nodes, []string{node}) || spec.Env["ARM_SERVER_ID"] != fmt.Sprint(sid) {
			t.Fatalf("workload of server %d: %+v %v", sid, spec, err)
		}
	}
	e.do(0, "PATCH", "/hybrid/api/v1/applications/1", []byte(`{"desiredStatus":"STOPPED"}`), "application/json", 200)
	spec, _ := workload.ParseSpec(e.node.View().Get(workload.KindWorkload, "arm-1-2").Body)
	if spec.State != workload.StateStopped {
		t.Fatalf("stopped application's workload: %+v", spec)
	}
	e.do(0, "DELETE", "/hybrid/api/v1/serverGroups/4", nil, "", 400) // it has an application
	e.do(0, "DELETE", "/hybrid/api/v1/applications/1", nil, "", 204)
	if n := e.node.View().Count(workload.KindWorkload) + e.node.View().Count(workload.KindArtifactRef); n != 0 {
		t.Fatalf("%d workloads and holds left", n)
	}
	e.do(0, "DELETE", "/hybrid/api/v1/serverGroups/4", nil, "", 204)
	if out := e.do(0, "GET", "/hybrid/api/v1/nothing", nil, "", 404); !strings.Contains(string(out), "no resource") {
		t.Fatalf("404 body %s", out)
	}
}
