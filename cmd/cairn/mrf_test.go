package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mrfDomain is a domain of a one-node controller zone ("default") and a
// three-node zone1, all in one gossip pool.
type mrfDomain struct {
	controller *agent
	zone1      []*agent
}

// startMRFDomain starts the controller alone (no -join: it founds zone
// default and is the controller by default; controllerArgs are further
// flags of its), then zone1's three nodes together, joining each other
// and the controller.
func startMRFDomain(t *testing.T, controllerArgs ...string) *mrfDomain {
	t.Helper()
	c := mustStartAgent(t, agentOpts{nodeID: "c1", args: controllerArgs})
	gossip := make([]string, 3)
	for i, p := range freePorts(t, 3) {
		gossip[i] = hostPort(p)
	}
	join := strings.Join(append(append([]string{}, gossip...), c.line.gossip), ",")
	opts := make([]agentOpts, 3)
	for i := range opts {
		opts[i] = agentOpts{
			dataDir:    filepath.Join(t.TempDir(), "data"),
			nodeID:     fmt.Sprintf("z%d", i+1),
			gossipAddr: gossip[i],
			args:       []string{"-zone", "zone1", "-join", join, "-bootstrap-expect", "3"},
		}
	}
	zone1 := mustLaunchAgents(t, opts...)
	for _, a := range zone1 {
		a.mustBeReady()
	}
	return &mrfDomain{controller: c, zone1: zone1}
}

// mrfClient follows absolute hrefs; it never builds a URL but the first.
var mrfClient = &http.Client{Timeout: 5 * time.Second}

// getDoc GETs an absolute URL and decodes the MRF resource it answers.
func getDoc(url string) (int, map[string]any, error) {
	resp, err := mrfClient.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var doc map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &doc); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("GET %s: body %s: %v", url, b, err)
		}
	}
	return resp.StatusCode, doc, nil
}

// href returns the href of link key in doc.
func href(doc map[string]any, key string) string {
	l, _ := doc[key].(map[string]any)
	s, _ := l["href"].(string)
	return s
}

// zoneHref follows the controller's root to the zones list and returns
// zone's href ("" while it has none) and the whole list for messages.
func zoneHref(root, zone string) (string, string) {
	code, doc, err := getDoc(root)
	if err != nil || code != http.StatusOK {
		return "", fmt.Sprintf("GET %s: %d %v", root, code, err)
	}
	zonesURL := href(doc, "zones")
	code, doc, err = getDoc(zonesURL)
	if err != nil || code != http.StatusOK {
		return "", fmt.Sprintf("GET %s: %d %v", zonesURL, code, err)
	}
	list, _ := doc["value"].([]any)
	for _, z := range list {
		l, _ := z.(map[string]any)
		if l["name"] == zone {
			h, _ := l["href"].(string)
			return h, fmt.Sprint(list)
		}
	}
	return "", fmt.Sprint(list)
}

// mustReachZoneLeader follows hrefs from root to zone's leader, until the
// zone document found there names itself leader, and is not avoid (a
// killed leader's href). It returns the zone document's URL and body.
func mustReachZoneLeader(t *testing.T, root, zone, avoid string) (string, map[string]any) {
	t.Helper()
	var url, last string
	var doc map[string]any
	waitFor(t, "the controller's link to "+zone+"'s leader", 30*time.Second, func() bool {
		url, last = zoneHref(root, zone)
		if url == "" || url == avoid {
			return false
		}
		code, d, err := getDoc(url)
		if err != nil || code != http.StatusOK {
			last = fmt.Sprintf("GET %s: %d %v", url, code, err)
			return false
		}
		doc = d
		return d["leader"] != "" && d["leader"] == d["name"]
	}, func() string { return last })
	return url, doc
}

func agentByID(nodes []*agent, id any) *agent {
	for _, a := range nodes {
		if a.id() == id {
			return a
		}
	}
	return nil
}

func Test_MRF_Domain_ZoneLinksFollowLeader_ZoneRuntimeReachesEveryMember(t *testing.T) {
	t.Parallel()
	d := startMRFDomain(t)
	root := d.controller.url + "/management/domain" // the one URL a client is given

	// From the root alone, to zone1's leader.
	zoneURL, zoneDoc := mustReachZoneLeader(t, root, "zone1", "")
	leader := agentByID(d.zone1, zoneDoc["leader"])
	if leader == nil {
		t.Fatalf("zone document %v names no zone1 node as leader", zoneDoc)
	}
	if st := leader.mustStatus(); st.State != "Leader" {
		t.Fatalf("the href led to %s, which is %s", leader.id(), st.State)
	}
	runtimes, _ := zoneDoc["runtimes"].([]any)
	if len(runtimes) != 3 {
		t.Errorf("zone document lists runtimes %v, want 3", runtimes)
	}

	// A zone-wide change through a follower reaches every member.
	follower := others(d.zone1, leader)[0]
	zoneRuntimeURL := href(zoneDoc, "runtime")
	code, zr, err := getDoc(zoneRuntimeURL)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", zoneRuntimeURL, code, err)
	}
	httpURL := strings.Replace(href(zr, "http"), leader.url, follower.url, 1) // the same resource, on a follower
	put := func(url, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
		resp, err := mrfClient.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("PUT %s %s: %d %s, want %d", url, body, resp.StatusCode, b, want)
		}
		return b
	}
	if b := put(httpURL, `{"maxBodyBytes":"big"}`, http.StatusBadRequest); !bytes.Contains(b, []byte("maxBodyBytes")) {
		t.Errorf("400 does not name the attribute: %s", b)
	}
	put(httpURL, `{"maxBodyBytes":4096}`, http.StatusOK)
	put(strings.Replace(httpURL, "/http", "/logging", 1), `{"level":"debug"}`, http.StatusOK)
	for _, a := range d.zone1 {
		waitFor(t, a.id()+" to apply the zone's maxBodyBytes and log level", 10*time.Second, func() bool {
			_, h, err := getDoc(a.url + "/management/runtime/http")
			_, l, err2 := getDoc(a.url + "/management/runtime/logging")
			return err == nil && err2 == nil && h["maxBodyBytes"] == float64(4096) && l["level"] == "debug"
		}, func() string {
			_, h, err := getDoc(a.url + "/management/runtime/http")
			_, l, _ := getDoc(a.url + "/management/runtime/logging")
			return fmt.Sprint(h, l, err)
		})
		// Behaviour follows: a body over the new limit is refused on every member.
		big := mustJSON(t, map[string]string{"pad": strings.Repeat("x", 4096)})
		if r, err := a.do(http.MethodPut, resPath("widget", "big-"+a.id()), big, nil); err != nil || r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: PUT of %d bytes: %d %v, want 413", a.id(), len(big), r.status, err)
		}
	}
	// The controller's zone is another Raft group: untouched.
	if _, doc, _ := getDoc(d.controller.url + "/management/runtime/http"); doc["maxBodyBytes"] == float64(4096) {
		t.Errorf("controller of zone default took zone1's value: %v", doc)
	}

	// POST .../raft/snapshot: every member snapshots.
	before := map[string]uint64{}
	for _, a := range d.zone1 {
		before[a.id()] = a.mustStatus().LastSnapshotIndex
	}
	resp, err := mrfClient.Post(strings.Replace(httpURL, "/http", "/raft/snapshot", 1), "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST snapshot: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, a := range d.zone1 {
		waitStatus(t, a, "a snapshot on "+a.id(), 10*time.Second, func(st nodeStatus) bool {
			return st.LastSnapshotIndex > before[a.id()]
		})
	}

	// Kill the leader: its href is dead; the controller's link moves.
	leader.mustKill()
	if _, err := mrfClient.Get(zoneURL); err == nil {
		t.Errorf("GET %s of the killed leader answered", zoneURL)
	}
	_, zoneDoc = mustReachZoneLeader(t, root, "zone1", zoneURL)
	newLeader := agentByID(d.zone1, zoneDoc["leader"])
	if newLeader == nil || newLeader == leader {
		t.Fatalf("after the kill the link leads to %v", zoneDoc)
	}

	// A restarted member takes the zone's stored values over its flags.
	restarted := mustStartAgent(t, leader.restartOpts())
	waitFor(t, "the restarted member to apply the zone's values", 10*time.Second, func() bool {
		_, doc, err := getDoc(restarted.url + "/management/runtime/http")
		return err == nil && doc["maxBodyBytes"] == float64(4096)
	}, func() string { return "" })
}
