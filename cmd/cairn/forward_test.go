package main

import (
	"fmt"
	"net/http"
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
	load := startWriteLoad(t, kind, writers, true, func(g int) *agent { return followers[g%2] }, func(_ string, g, i int) []byte {
		return fmt.Appendf(nil, `{"writer":%d,"seq":%d}`, g, i)
	})
	load.waitAcked(killAt, 60*time.Second)
	leader.mustKill()
	killedAt := load.nAcked.Load()
	load.waitAcked(killedAt+after, failoverBound+60*time.Second)
	load.stopWriters()
	load.mustNoUnexpected()
	back := mustStartAgent(t, leader.restartOpts())
	all := append(followers, back)
	mustAgreeOnLeader(t, all, electionTimeout)
	t.Logf("%d acknowledged before the kill", killedAt)
	if len(load.notApplied) == 0 {
		t.Log("no write was answered not applied: the kill fell between writes")
	}
	// The last acknowledged write is on every node once it has caught up;
	// then each node's whole list is checked.
	last, _ := load.lastAcked()
	for _, a := range all {
		waitFor(t, a.id()+" to hold the last acknowledged write", catchUpTimeout, func() bool {
			r, err := a.do(http.MethodGet, resPath(kind, last), nil, nil)
			return err == nil && r.status == http.StatusOK
		}, nil)
		load.mustHoldAcked(a)
	}
}
