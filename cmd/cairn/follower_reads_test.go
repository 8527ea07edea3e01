package main

import (
	"bytes"
	"net/http"
	"testing"
)

// Test_ThreeNodes_FollowerBehind_ReadsAgreeWithTheLeader: a follower that
// stores the leader's entries late (a failpoint stalls its log store for
// 2 s) serves its clients' reads so that they agree with what the leader
// told them. A plain read right after a write through it is served by the
// leader, which has applied the write (the follower would otherwise wait
// for the leader's next append to learn of the commit); and once the
// leader has served a read for it at some index (a ?consistent read the
// follower was behind on), its next plain read waits for that index
// rather than answer from an older state.
func Test_ThreeNodes_FollowerBehind_ReadsAgreeWithTheLeader(t *testing.T) {
	t.Parallel()
	zone := startCluster(t, 3, agentOpts{bin: mustFailpointsBinary(t)})
	leader := mustAgreeOnLeader(t, zone, electionTimeout)
	f := others(zone, leader)[0]
	forwarded := func() float64 {
		return f.mustScrape().mustValue(t, f.id(), "cairn_http_forwarded_requests_total")
	}

	// Read your write: served by the leader.
	before := forwarded()
	f.mustDo(http.MethodPut, "/debug/failpoints/raft-log-before-store", []byte("1*sleep(2s)"), http.StatusNoContent)
	f.mustPut("widget", "mine", []byte(`{"n":1}`), http.StatusCreated)
	r := f.mustDo(http.MethodGet, resPath("widget", "mine"), nil, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"n":1`)) || r.header.Get("X-Cairn-Caught-Up") == "false" {
		t.Fatalf("GET through %s right after its write: %s (X-Cairn-Caught-Up %q)", f.id(), r.body, r.header.Get("X-Cairn-Caught-Up"))
	}
	if got := forwarded() - before; got != 2 {
		t.Errorf("%s forwarded %v requests for a write and the read after it, want 2: the read was served here", f.id(), got)
	}
	mustSettledDigest(t, zone)

	// Never back in time: a write made at the leader, read ?consistent
	// through the lagging follower (it forwards that read), then read
	// plainly there.
	f.mustDo(http.MethodPut, "/debug/failpoints/raft-log-before-store", []byte("1*sleep(2s)"), http.StatusNoContent)
	leader.mustPut("widget", "theirs", []byte(`{"n":2}`), http.StatusCreated)
	f.mustDo(http.MethodGet, resPath("widget", "theirs")+"?consistent", nil, http.StatusOK)
	r, err := f.do(http.MethodGet, resPath("widget", "theirs"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("plain GET through %s after a ?consistent GET there found the resource: %d %s (X-Cairn-Caught-Up %q); the answer went back in time",
			f.id(), r.status, bytes.TrimSpace(r.body), r.header.Get("X-Cairn-Caught-Up"))
	}
}
