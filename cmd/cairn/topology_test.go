package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// topoService is a gateway POST body of the Topology API's seed.
func topoService(name, hostID string, port int) []byte {
	b, _ := json.Marshal(map[string]any{"service": map[string]any{"name": name, "type": "gateway", "scheme": "https",
		"hostID": hostID, "managementPort": port, "tags": map[string]any{}, "enabled": true}, "domainPassphrase": "fred"})
	return b
}

// topoResult decodes {"result": ...} into v.
func topoResult(t testing.TB, r reply, v any) {
	t.Helper()
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	mustUnmarshal(t, r.body, &env)
	mustUnmarshal(t, env.Result, v)
}

// Clients on every node of a three-node zone add gateways on one host at
// once: of those that want the same management port exactly one gets
// it, the others a 400; those with ports of their own all get theirs,
// each a distinct id. The files are written on the node the host names,
// whichever node took the request, and removed from it by a delete
// through another; a host that is no node gets 500 and changes nothing.
func Test_ThreeNodes_Topology_ConcurrentSamePort_OneWins_FilesOnTheHostsNode(t *testing.T) {
	t.Parallel()
	agents := startCluster(t, 3, agentOpts{})
	for i, a := range agents {
		a.mustDo("POST", "/api/topology/hosts", []byte(fmt.Sprintf(`{"name":"n%d"}`, i+1)), 201)
	}
	agents[2].mustDo("POST", "/api/topology/groups", []byte(`{"name":"Group1","tags":{}}`), 201)
	var hosts []struct{ ID, Name string }
	topoResult(t, agents[0].mustDo("GET", "/api/topology/hosts?consistent", nil, 200), &hosts)
	hostOf := map[string]string{}
	for _, h := range hosts {
		hostOf[h.Name] = h.ID
	}
	n2 := hostOf["n2"]

	const perNode = 4
	type outcome struct {
		status int
		id     string
		body   string
	}
	var mu sync.Mutex
	var same, own []outcome
	var wg sync.WaitGroup
	for i, a := range agents {
		for j := range perNode {
			wg.Add(2)
			go func() { // all want 9000
				defer wg.Done()
				r, err := a.do("POST", "/api/topology/services/group-1", topoService(fmt.Sprintf("Same-%d-%d", i, j), n2, 9000), nil)
				if err != nil {
					t.Error(err)
					return
				}
				var s struct{ ID string }
				if r.status == 201 {
					topoResult(t, r, &s)
				}
				mu.Lock()
				same = append(same, outcome{r.status, s.ID, string(r.body)})
				mu.Unlock()
			}()
			go func() { // each its own port
				defer wg.Done()
				r, err := a.do("POST", "/api/topology/services/group-1", topoService(fmt.Sprintf("Own-%d-%d", i, j), n2, 9100+10*i+j), nil)
				if err != nil {
					t.Error(err)
					return
				}
				var s struct{ ID string }
				if r.status == 201 {
					topoResult(t, r, &s)
				}
				mu.Lock()
				own = append(own, outcome{r.status, s.ID, string(r.body)})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	winners, ids := 0, map[string]bool{}
	var winner string
	for _, o := range same {
		switch o.status {
		case 201:
			winners++
			winner = o.id
			ids[o.id] = true
		case 400:
		default:
			t.Fatalf("same port: %d %s", o.status, o.body)
		}
	}
	if winners != 1 {
		t.Fatalf("%d requests took port 9000 on %s: %+v", winners, n2, same)
	}
	for _, o := range own {
		if o.status != 201 {
			t.Fatalf("own port: %d %s", o.status, o.body)
		}
		if ids[o.id] {
			t.Fatalf("id %s handed out twice", o.id)
		}
		ids[o.id] = true
	}
	// Every node answers the same topology once it caught up.
	var want, got struct {
		Version uint64 `json:"version"`
		Groups  []struct {
			Services []struct{ ID string } `json:"services"`
		} `json:"groups"`
	}
	topoResult(t, agents[0].mustDo("GET", "/api/topology?consistent", nil, 200), &want)
	if n := len(want.Groups[0].Services); n != 1+len(own) {
		t.Fatalf("group-1 lists %d services, want %d", n, 1+len(own))
	}
	for _, a := range agents {
		waitFor(t, "node "+a.line.nodeID+" catches up", 10*time.Second, func() bool {
			topoResult(t, a.mustDo("GET", "/api/topology", nil, 200), &got)
			return got.Version == want.Version
		}, func() string { return fmt.Sprintf("version %d, want %d", got.Version, want.Version) })
	}
	// The files are on n2, and only there.
	dir := func(a *agent, id string) string {
		return filepath.Join(a.line.dataDir, "topology", "groups", "group-1", id)
	}
	for id := range ids {
		if _, err := os.Stat(filepath.Join(dir(agents[1], id), "conf", "envSettings.props")); err != nil {
			t.Fatalf("instance %s on n2: %v", id, err)
		}
		for _, a := range []*agent{agents[0], agents[2]} {
			if _, err := os.Stat(dir(a, id)); !os.IsNotExist(err) {
				t.Fatalf("instance %s has files on %s: %v", id, a.line.nodeID, err)
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(agents[1].line.dataDir, "topology", "groups", "group-1"))
	if len(entries) != len(ids) {
		t.Fatalf("n2 holds %d instance directories, want %d (the losers' were removed)", len(entries), len(ids))
	}
	// A delete through another node removes them from n2.
	agents[0].mustDo("DELETE", "/api/topology/services/group-1/"+winner, nil, 204)
	if _, err := os.Stat(dir(agents[1], winner)); !os.IsNotExist(err) {
		t.Fatalf("deleted instance %s still on n2: %v", winner, err)
	}
	// A host that names no node: 500, the topology unchanged.
	agents[0].mustDo("POST", "/api/topology/hosts", []byte(`{"name":"ghost"}`), 201)
	topoResult(t, agents[0].mustDo("GET", "/api/topology?consistent", nil, 200), &want)
	var ghost []struct{ ID, Name string }
	topoResult(t, agents[0].mustDo("GET", "/api/topology/hosts?consistent", nil, 200), &ghost)
	ghostID := ghost[len(ghost)-1].ID
	agents[1].mustDo("POST", "/api/topology/services/group-1", topoService("Ghostly", ghostID, 9500), 500)
	topoResult(t, agents[0].mustDo("GET", "/api/topology?consistent", nil, 200), &got)
	if got.Version != want.Version {
		t.Fatalf("a 500 changed the topology: version %d -> %d", want.Version, got.Version)
	}
	// The topology's kinds are the dialect's alone; the domain CA is
	// secret.
	agents[1].mustDo("GET", "/cairn/v1/resources/topology.ca", nil, 403)
	agents[1].mustDo("PUT", resPath("topology.port", "x"), []byte(`{"serviceID":"instance-99"}`), 403)
}
