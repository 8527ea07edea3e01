package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
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
	if v := joined.mustScrape().mustValue(t, "n4", "cairn_fsm_snapshot_restore_failures_total"); v != 0 {
		t.Errorf("n4: %v snapshot restore failures", v)
	}
}
