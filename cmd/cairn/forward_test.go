package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test_ThreeNodes_WritesThroughFollowers_LeaderKilled_NothingAckedLost
// tries to break forwarded commands (a follower serves a native write and
// sends the leader only the command): writers go through the two
// followers while the leader is killed with SIGKILL, and on through the
// survivors. After the killed node is back, every node holds every write
// that was acknowledged, at the version its ETag gave, and none that was
// answered "not applied" (X-Cairn-Applied: false), whose retry is safe
// only if that is true; a write with another answer may be either.
func Test_ThreeNodes_WritesThroughFollowers_LeaderKilled_NothingAckedLost(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	leader := mustAgreeOnLeader(t, nodes, electionTimeout)
	followers := others(nodes, leader)
	const (
		kind    = "test.fwd"
		writers = 8
		killAt  = 150 // acknowledged writes before the kill
		after   = 150 // and after it
	)
	var (
		mu         sync.Mutex
		attempted  = map[string][]byte{}
		acked      = map[string]uint64{}
		notApplied = map[string]bool{}
		nAcked     atomic.Int64
		bad        atomic.Value
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%05d", g, i)
				body := fmt.Appendf(nil, `{"writer":%d,"seq":%d}`, g, i)
				mu.Lock()
				attempted[id] = body
				mu.Unlock()
				r, err := followers[g%2].do(http.MethodPut, resPath(kind, id), body, nil)
				switch {
				case err != nil:
					time.Sleep(20 * time.Millisecond) // unknown outcome
				case r.status == http.StatusCreated:
					v, err := strconv.ParseUint(strings.Trim(r.header.Get("ETag"), `"`), 10, 64)
					if err != nil || v == 0 {
						bad.CompareAndSwap(nil, fmt.Sprintf("PUT %s: 201 with ETag %q", id, r.header.Get("ETag")))
						continue
					}
					mu.Lock()
					acked[id] = v
					mu.Unlock()
					nAcked.Add(1)
				case r.status == http.StatusServiceUnavailable:
					if r.header.Get("X-Cairn-Applied") == "false" {
						mu.Lock()
						notApplied[id] = true
						mu.Unlock()
					}
					time.Sleep(20 * time.Millisecond)
				default:
					bad.CompareAndSwap(nil, fmt.Sprintf("PUT %s: %d %s", id, r.status, bytes.TrimSpace(r.body)))
				}
			}
		}()
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopWriters)
	waitAcked := func(n int64, within time.Duration) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d acknowledged writes", n), within, func() bool {
			if s := bad.Load(); s != nil {
				t.Fatalf("unexpected answer: %s", s)
			}
			return nAcked.Load() >= n
		}, func() string { return fmt.Sprintf("%d acknowledged", nAcked.Load()) })
	}
	waitAcked(killAt, 60*time.Second)
	leader.mustKill()
	killedAt := nAcked.Load()
	waitAcked(killedAt+after, failoverBound+60*time.Second)
	stopWriters()
	if s := bad.Load(); s != nil {
		t.Fatalf("unexpected answer: %s", s)
	}
	back := mustStartAgent(t, leader.restartOpts())
	all := append(followers, back)
	mustAgreeOnLeader(t, all, electionTimeout)
	t.Logf("%d writes attempted, %d acknowledged (%d before the kill), %d answered not applied", len(attempted), len(acked), killedAt, len(notApplied))
	if len(notApplied) == 0 {
		t.Log("no write was answered not applied: the kill fell between writes")
	}
	// The last acknowledged write is on every node once it has caught up;
	// then each node's whole list is checked.
	var last string
	var lastV uint64
	for id, v := range acked {
		if v > lastV {
			last, lastV = id, v
		}
	}
	for _, a := range all {
		waitFor(t, a.id()+" to hold the last acknowledged write", catchUpTimeout, func() bool {
			r, err := a.do(http.MethodGet, resPath(kind, last), nil, nil)
			return err == nil && r.status == http.StatusOK
		}, nil)
		got := a.mustList(kind)
		for id, v := range acked {
			r, ok := got[id]
			switch {
			case !ok:
				t.Errorf("%s: acknowledged write %s (version %d) is missing", a.id(), id, v)
			case r.Version != v || string(r.Body) != string(attempted[id]):
				t.Errorf("%s: %s at version %d with %s; acknowledged at %d with %s", a.id(), id, r.Version, r.Body, v, attempted[id])
			}
		}
		for id := range got {
			if notApplied[id] {
				t.Errorf("%s: %s was answered not applied (503, X-Cairn-Applied: false) but is stored", a.id(), id)
			}
			if _, ok := attempted[id]; !ok {
				t.Errorf("%s: %s was never written", a.id(), id)
			}
		}
	}
}
