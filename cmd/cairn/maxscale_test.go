package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/http/maxscale/maxscaletest"
)

// maxscaleDo sends a request to a's MaxScale listener as admin/mariadb.
func (a *agent) maxscaleDo(method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, a.maxscaleURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth("admin", "mariadb")
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Test_ThreeNodes_MaxScale_WriteThroughFollowerListener_VisibleEverywhere
// creates a server, a service and their link through a follower's MaxScale
// listener (so the writes are forwarded to the leader's main listener under
// /maxscale/v1) and reads them through every node's MaxScale listener.
func Test_ThreeNodes_MaxScale_WriteThroughFollowerListener_VisibleEverywhere(t *testing.T) {
	requireBinary(t)
	t.Parallel()
	agents := startCluster(t, 3, agentOpts{maxscale: true})
	var follower *agent
	waitFor(t, "a leader and a follower", 20*time.Second, func() bool {
		for _, a := range agents {
			if st := a.mustStatus(); st.LeaderID != "" && st.LeaderID != st.NodeID {
				follower = a
				return true
			}
		}
		return false
	}, nil)

	writes := []struct {
		method, path, body string
	}{
		{"POST", "/v1/services", `{"data":{"id":"RW-Split-Router","type":"services","attributes":{"router":"readwritesplit","parameters":{"user":"maxuser","password":"maxpwd"}}}}`},
		{"POST", "/v1/servers", `{"data":{"id":"server1","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3000,"protocol":"MySQLBackend"}},
			"relationships":{"services":{"data":[{"id":"RW-Split-Router","type":"services"}]}}}}`},
		{"PUT", "/servers/server1/set?state=master", ""}, // the prefix-less form
		// A runtime parameter of the maxscale resource: zone-wide.
		{"PATCH", "/v1/maxscale", `{"data":{"attributes":{"parameters":{"auth_connect_timeout":"5s"}}}}`},
	}
	for _, w := range writes {
		var body []byte
		if w.body != "" {
			body = []byte(w.body)
		}
		status, b, err := follower.maxscaleDo(w.method, w.path, body)
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("%s %s through follower %s: %d %s %v", w.method, w.path, follower.line.nodeID, status, b, err)
		}
	}
	for _, a := range agents {
		var last string
		waitFor(t, "server1 on "+a.line.nodeID, 10*time.Second, func() bool {
			status, b, err := a.maxscaleDo("GET", "/v1/servers/server1", nil)
			last = string(b)
			return err == nil && status == http.StatusOK && strings.Contains(last, `"state":"Master, Down"`) &&
				strings.Contains(last, `"services":{"links":`) && strings.Contains(last, `"id":"RW-Split-Router"`)
		}, func() string { return last })
		waitFor(t, "auth_connect_timeout on "+a.line.nodeID, 10*time.Second, func() bool {
			status, b, err := a.maxscaleDo("GET", "/v1/maxscale", nil)
			last = string(b)
			return err == nil && status == http.StatusOK && strings.Contains(last, `"auth_connect_timeout":"5000ms"`)
		}, func() string { return last })
	}
	// A token one node issues (GET /v1/auth) is verified by every node,
	// on its MaxScale listener and on Cairn's own API, and a write carrying
	// it through a follower is authorised by the leader.
	var tok struct {
		Meta struct {
			Token string `json:"token"`
		} `json:"meta"`
	}
	var last string
	// 503 until the zone's leader has written its key and first user.
	waitFor(t, "a token from "+agents[0].line.nodeID, 20*time.Second, func() bool {
		tokReq, _ := http.NewRequest("GET", agents[0].maxscaleURL+"/v1/auth", nil)
		tokReq.SetBasicAuth("admin", "mariadb")
		tokResp, err := agents[0].client.Do(tokReq)
		if err != nil {
			last = err.Error()
			return false
		}
		defer tokResp.Body.Close()
		last = tokResp.Status
		return tokResp.StatusCode == http.StatusOK && json.NewDecoder(tokResp.Body).Decode(&tok) == nil && tok.Meta.Token != ""
	}, func() string { return last })
	for _, a := range agents {
		for _, u := range []string{a.maxscaleURL + "/v1/servers/server1", a.url + "/cairn/v1/whoami"} {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+tok.Meta.Token)
			resp, err := a.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s with node %s's token: %d", u, agents[0].line.nodeID, resp.StatusCode)
			}
		}
	}
	req, _ := http.NewRequest("PUT", follower.maxscaleURL+"/v1/servers/server1/set?state=maintenance", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Meta.Token)
	if resp, err := follower.client.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a write with the token through follower %s: %v %v", follower.line.nodeID, resp, err)
	} else {
		resp.Body.Close()
	}

	// Bad credentials are refused on every listener.
	req, _ = http.NewRequest("GET", agents[0].maxscaleURL+"/v1/servers", nil)
	req.SetBasicAuth("admin", "nope")
	resp, err := agents[0].client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad credentials: %d", resp.StatusCode)
	}
}

// Test_ThreeNodes_MaxscaleMaxctrlSession_ThroughFollower_Replays replays
// the maxctrl session captured in testdata/maxscale/maxctrl through a
// follower's MaxScale listener of a real three-node zone: every write
// maxctrl sent is forwarded to the leader, every read is served by the
// follower once it has applied the write, and each answer must be the one
// maxctrl got from a single node.
func Test_ThreeNodes_MaxscaleMaxctrlSession_ThroughFollower_Replays(t *testing.T) {
	requireBinary(t)
	t.Parallel()
	s := maxscaletest.MustSession(t, filepath.Join("..", "..", "testdata", "maxscale", "maxctrl", "session.json"))
	agents := startCluster(t, 3, agentOpts{maxscale: true})
	var follower *agent
	waitFor(t, "a leader and a follower", 20*time.Second, func() bool {
		for _, a := range agents {
			if st := a.mustStatus(); st.LeaderID != "" && st.LeaderID != st.NodeID {
				follower = a
				return true
			}
		}
		return false
	}, nil)
	maxscaletest.Replay(t, s, follower.maxscaleURL, follower.client)
}

// Test_MaxScale_Monitor_OnRealAgent_ProbesServerPort runs a monitor on a
// real agent (the prober is the zone leader's task the agent wires, from
// cluster/monitor): its server is Running while its port listens and Down
// once the port closes.
func Test_MaxScale_Monitor_OnRealAgent_ProbesServerPort(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	a := mustStartAgent(t, agentOpts{maxscale: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/v1/servers", `{"data":{"id":"db1","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":` + port + `}}}}`},
		{"POST", "/v1/monitors", `{"data":{"id":"mon","type":"monitors","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd","monitor_interval":100}},
			"relationships":{"servers":{"data":[{"id":"db1","type":"servers"}]}}}}`},
	} {
		if status, b, err := a.maxscaleDo(w.method, w.path, []byte(w.body)); err != nil || status != http.StatusNoContent {
			t.Fatalf("%s %s: %d %s %v", w.method, w.path, status, b, err)
		}
	}
	state := func() string {
		_, b, _ := a.maxscaleDo("GET", "/v1/servers/db1", nil)
		return string(b)
	}
	waitFor(t, "db1 Running", 10*time.Second, func() bool { return strings.Contains(state(), `"state":"Running"`) }, state)
	ln.Close()
	waitFor(t, "db1 Down", 10*time.Second, func() bool { return strings.Contains(state(), `"state":"Down"`) }, state)
}

// Test_MaxScale_AuthOn_MainMount_MaxScaleErrorsAndCookies: with -auth on,
// the main listener's own refusal of a MaxScale request (no credentials)
// is in MaxScale's errors document, and the token cookies MaxScale's
// GET /v1/auth?persist=yes sets authenticate there too.
func Test_MaxScale_AuthOn_MainMount_MaxScaleErrorsAndCookies(t *testing.T) {
	requireBinary(t)
	t.Parallel()
	a := mustStartAgent(t, agentOpts{maxscale: true, args: []string{"-auth", "on", "-admin-password", "first-secret"}})
	admin := creds{user: "admin", password: "first-secret"}
	waitFor(t, "the zone's first admin", 10*time.Second, func() bool {
		return a.as(admin, a.maxscaleURL, "GET", "/v1/auth", nil).status == http.StatusOK
	}, nil)
	if r := a.mustAs(creds{}, a.url, "GET", "/maxscale/v1/servers", nil, 401); !bytes.Contains(r.body, []byte(`"errors"`)) {
		t.Errorf("the main listener's 401 for the MaxScale API: %s", r.body)
	}
	r := a.mustAs(admin, a.maxscaleURL, "GET", "/v1/auth?persist=yes&max-age=60", nil, 204)
	req, _ := http.NewRequest("GET", a.url+"/maxscale/v1/servers", nil)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /maxscale/v1/servers with MaxScale's token cookies: %d", resp.StatusCode)
	}
}
