package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/fsm"
)

// Tests of issue #13: one accepted request must never break a restart, a
// snapshot install, a dialect or the zone. Each class of poison input is
// sent through the leader and a follower of a real 3-node zone.

// nested returns a JSON value of depth levels of arrays around a number.
func nested(depth int) []byte {
	return []byte(strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth))
}

// Test_ThreeNodes_PoisonBodies_SurviveSnapshotRestartAndInstall is class 1:
// a body the write path accepts, the snapshot path must read. Bodies past
// the shared limits are refused with 400 on every node; every body at the
// limits survives snapshot, a restart of the whole zone, and a snapshot
// install on a member that joins afterwards.
func Test_ThreeNodes_PoisonBodies_SurviveSnapshotRestartAndInstall(t *testing.T) {
	t.Parallel()
	// Snapshots every few entries and few trailing logs, so the joining
	// member must install a snapshot rather than replay the log.
	args := []string{"-snapshot-threshold", "8", "-trailing-logs", "2", "-snapshot-interval", "200ms"}
	nodes := startCluster(t, 3, agentOpts{args: args})
	leader := mustAgreeOnLeader(t, nodes, 20*time.Second)
	follower := others(nodes, leader)[0]

	refused := map[string][]byte{
		"10000 levels":         nested(10000),
		"past the depth limit": nested(fsm.MaxBodyDepth + 1),
		"invalid UTF-8":        []byte("{\"a\":\"\xff\xfe\"}"),
	}
	for _, a := range []*agent{leader, follower} {
		for what, body := range refused {
			r, err := a.do(http.MethodPut, resPath("poison", "x"), body, nil)
			if err != nil || r.status != http.StatusBadRequest {
				t.Errorf("%s: PUT of a body with %s: %d %v (%s), want 400", a.id(), what, r.status, err, bytes.TrimSpace(r.body))
			}
		}
	}
	accepted := map[string][]byte{
		"deep":    nested(fsm.MaxBodyDepth),
		"escapes": []byte(`{"s":"\u003ca\u0026b\u003e\u2028\u0000\"\\","n":1e400000000,"u":"\ud800"}`),
		"unicode": []byte(`{"s":"ünïcödé ✓ 𝄞"}`),
		"nested":  []byte(`{"a":{"b":[{"c":[[[[{"d":null}]]]]}]}}`),
		"empty":   []byte(`{}`),
		"scalar":  []byte(`"just a string"`),
	}
	i := 0
	for id, body := range accepted {
		a := nodes[i%len(nodes)]
		i++
		if _, err := a.put("poison", id, body, http.StatusCreated); err != nil {
			t.Fatalf("%s: %v", a.id(), err)
		}
	}
	// Enough writes past them for a snapshot that holds them, and for the
	// log to be truncated past them.
	for j := 0; j < 40; j++ {
		if _, err := leader.put("poison.pad", fmt.Sprintf("p%02d", j), []byte(`{}`), http.StatusCreated); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range nodes {
		waitStatus(t, a, "a snapshot on "+a.id(), 20*time.Second, func(st nodeStatus) bool {
			return st.LastSnapshotIndex > 40
		})
	}
	want := storeDump(leader, []string{"poison"})

	// The whole zone restarts from its snapshots.
	for _, a := range nodes {
		a.mustKill()
	}
	restarted := make([]*agent, 0, len(nodes))
	opts := make([]agentOpts, len(nodes))
	for i, a := range nodes {
		opts[i] = a.restartOpts()
	}
	restarted = append(restarted, mustLaunchAgents(t, opts...)...)
	for _, a := range restarted {
		a.mustBeReady()
	}
	mustAgreeOnLeader(t, restarted, 20*time.Second)
	for _, a := range restarted {
		if got := storeDump(a, []string{"poison"}); got != want {
			t.Errorf("%s after the restart:\n%s", a.id(), dumpDiff(want, got))
		}
		if v := a.mustScrape().mustValue(t, a.id(), "cairn_fsm_snapshot_restore_failures_total"); v != 0 {
			t.Errorf("%s: %v snapshot restore failures", a.id(), v)
		}
	}

	// A new member installs the leader's snapshot.
	joined := mustJoin(t, restarted, agentOpts{nodeID: "n4", args: args})
	waitFor(t, "n4 to hold every poison resource", 20*time.Second, func() bool {
		return storeDump(joined, []string{"poison"}) == want
	}, func() string { return dumpDiff(want, storeDump(joined, []string{"poison"})) })
	// It got them from a snapshot, not by replaying the log (truncated).
	// Raft records the installed snapshot's index only after the FSM has
	// restored it, so the store can be seen whole a moment before.
	waitStatus(t, joined, "n4 to record the snapshot it installed", 10*time.Second, func(st nodeStatus) bool {
		return st.LastSnapshotIndex > 0
	})
	if v := joined.mustScrape().mustValue(t, "n4", "cairn_fsm_snapshot_restore_failures_total"); v != 0 {
		t.Errorf("n4: %v snapshot restore failures", v)
	}
}

// rawRequest sends head (request line and headers, CRLF-separated, without
// the blank line) and body on a new connection to a, then half-closes it
// if closeWrite, and returns the status of the answer, or 0 if the
// connection was closed without one, within timeout.
func rawRequest(t *testing.T, a *agent, head, body string, closeWrite bool, timeout time.Duration) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	// The request is written while the answer is read: a node may answer
	// (413) before the body has all been sent, and then reset the
	// connection; a write that waited for the end would lose the answer.
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(conn, head+"\r\nHost: x\r\n\r\n"+body)
		if err == nil && closeWrite {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if werr := <-wrote; werr != nil {
			t.Errorf("%s: %q: writing the request: %v (reading the answer: %v)", a.id(), head, werr, err)
			return 0
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: %q: no answer within %s", a.id(), head, timeout)
		}
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Test_ThreeNodes_PoisonRequests sends the request classes of issue #13
// that concern the zone as a whole through its leader and a follower:
// dialect-owned kinds through the generic API (2), bodies that stall (3),
// broken framing (7), a forged hop header (10), and /ready under write
// load (8).
func Test_ThreeNodes_PoisonRequests(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, nodes, 20*time.Second)
	follower := others(nodes, leader)[0]
	both := []*agent{leader, follower}

	t.Run("2 owned kinds only through their dialect", func(t *testing.T) {
		for _, a := range both {
			for _, kind := range []string{"maxscale.server", "maxscale.user", "maxscale.anything", "mrf.deployment", "mrf.zone.deployment", "cairn.runtime"} {
				r, err := a.do(http.MethodPut, resPath(kind, "x"), []byte(`{"junk":true}`), nil)
				if err != nil || r.status != http.StatusForbidden {
					t.Errorf("%s: PUT %s through the native API: %d %v %s, want 403", a.id(), kind, r.status, err, r.body)
				}
			}
			if r, err := a.do(http.MethodGet, "/cairn/v1/resources/maxscale.user", nil, nil); err != nil || r.status != http.StatusForbidden {
				t.Errorf("%s: GET maxscale.user: %d %v %s, want 403", a.id(), r.status, err, r.body)
			}
		}
		maxscale := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:mariadb"))}}
		for _, a := range nodes {
			for _, path := range []string{"/management/zone/deployments", "/cairn/v1/resources/mrf.deployment",
				"/maxscale/v1/servers", "/maxscale/v1/services", "/maxscale/v1/users/inet"} {
				header := maxscale // MaxScale's default admin is MaxScale's only
				if !strings.HasPrefix(path, "/maxscale/") {
					header = nil
				}
				if r, err := a.do(http.MethodGet, path, nil, header); err != nil || r.status != http.StatusOK {
					t.Errorf("%s: GET %s: %d %v", a.id(), path, r.status, err)
				}
			}
		}
	})

	t.Run("7 broken framing is the client's fault", func(t *testing.T) {
		for _, a := range both {
			before := forwardFailures(a)
			// Only the truncated body half-closes the connection: it has
			// to end somehow.
			cases := []struct {
				what, head, body string
				closeWrite       bool
				want             int
			}{
				{"truncated body", "PUT /cairn/v1/resources/poison/t HTTP/1.1\r\nContent-Length: 100", `{"a":`, true, http.StatusBadRequest},
				{"bad chunk size", "PUT /cairn/v1/resources/poison/t HTTP/1.1\r\nTransfer-Encoding: chunked", "zz\r\n{}\r\n0\r\n\r\n", false, http.StatusBadRequest},
				{"chunked past the 8 MiB limit", "PUT /cairn/v1/resources/poison/t HTTP/1.1\r\nTransfer-Encoding: chunked",
					fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 9<<20, strings.Repeat("x", 9<<20)), false, http.StatusRequestEntityTooLarge},
			}
			for _, c := range cases {
				if got := rawRequest(t, a, c.head, c.body, c.closeWrite, 20*time.Second); got != c.want {
					t.Errorf("%s: %s: %d, want %d", a.id(), c.what, got, c.want)
				}
			}
			if after := forwardFailures(a); after != before {
				t.Errorf("%s: forward failures went from %v to %v", a.id(), before, after)
			}
		}
	})

	t.Run("10 a client's hop header is not a forwarding loop", func(t *testing.T) {
		r, err := follower.do(http.MethodPut, resPath("poison", "hop"), []byte(`{}`), http.Header{"X-Cairn-Forwarded-By": {"n9"}})
		if err != nil || r.status != http.StatusCreated {
			t.Errorf("PUT through %s with a forged hop header: %d %v %s, want 201", follower.id(), r.status, err, r.body)
		}
	})

	t.Run("3 a stalled body frees its slot", func(t *testing.T) {
		// Fewer slots than stalled clients: before the fix they held every
		// slot of the follower forever.
		mustMRFDo(t, http.MethodPut, leader.url+"/management/zone/runtime/http", []byte(`{"maxConcurrentRequests":8}`), http.StatusOK)
		waitFor(t, follower.id()+" to apply maxConcurrentRequests", 10*time.Second, func() bool {
			_, doc, err := getDoc(follower.url + "/management/runtime/http")
			return err == nil && doc["maxConcurrentRequests"] == float64(8)
		}, nil)
		const stalled = 10
		start := time.Now()
		statuses := make(chan int, stalled)
		for i := 0; i < stalled; i++ {
			go func(i int) {
				statuses <- rawRequest(t, follower, fmt.Sprintf("PUT /cairn/v1/resources/poison/s%d HTTP/1.1\r\nContent-Length: 100", i), "", false, 40*time.Second)
			}(i)
		}
		for i := 0; i < stalled; i++ {
			if s := <-statuses; s != http.StatusRequestTimeout && s != http.StatusServiceUnavailable && s != 0 {
				t.Errorf("a stalled body got %d, want 408 (or 503 past the limit, or a close)", s)
			}
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the stalled bodies were held %s, past the 30s request timeout", d.Round(time.Second))
		}
		for _, a := range nodes {
			a.mustDo(http.MethodGet, "/ready", nil, http.StatusOK)
		}
		follower.mustPut("poison", "after-stall", []byte(`{}`), http.StatusCreated)
		mustMRFDo(t, http.MethodPut, leader.url+"/management/zone/runtime/http", []byte(`{"maxConcurrentRequests":0}`), http.StatusOK)
		for _, a := range nodes { // every member back to no limit before the next subtest's load
			waitFor(t, a.id()+" to apply maxConcurrentRequests 0", 10*time.Second, func() bool {
				_, doc, err := getDoc(a.url + "/management/runtime/http")
				return err == nil && doc["maxConcurrentRequests"] == float64(0)
			}, nil)
		}
	})

	t.Run("8 ready holds under write load", func(t *testing.T) {
		stop := make(chan struct{})
		var writers sync.WaitGroup
		for w := 0; w < 16; w++ {
			writers.Add(1)
			go func(w int) {
				defer writers.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					nodes[i%len(nodes)].do(http.MethodPut, resPath("poison.load", fmt.Sprintf("w%d-%d", w, i%50)), []byte(`{"x":1}`), nil)
				}
			}(w)
		}
		deadline := time.Now().Add(4 * time.Second)
		probes, failed := 0, []string{}
		for time.Now().Before(deadline) {
			for _, a := range nodes {
				r, err := a.do(http.MethodGet, "/ready", nil, nil)
				probes++
				if err != nil || r.status != http.StatusOK {
					failed = append(failed, fmt.Sprintf("%s: %d %v %s", a.id(), r.status, err, bytes.TrimSpace(r.body)))
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		writers.Wait()
		if len(failed) > 0 {
			t.Errorf("%d of %d /ready probes failed under write load, e.g. %s", len(failed), probes, failed[0])
		}
	})
}

// forwardFailures sums a's cairn_http_forward_failures_total over reasons.
func forwardFailures(a *agent) float64 {
	s, err := a.scrapeMetrics()
	if err != nil {
		return -1
	}
	total := 0.0
	if mf, ok := s.fams["cairn_http_forward_failures_total"]; ok {
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
