package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"cairn/node"
)

// fakeRaft is the zone's configuration as the reconciler changes it.
type fakeRaft struct {
	format  int
	zoneID  string
	commit  uint64
	servers []node.Server
}

func (f *fakeRaft) ID() string                      { return "n1" }
func (f *fakeRaft) Zone() string                    { return "z" }
func (f *fakeRaft) ZoneID() string                  { return f.zoneID }
func (f *fakeRaft) LogFormat() int                  { return f.format }
func (f *fakeRaft) CommitIndex() uint64             { return f.commit }
func (f *fakeRaft) Servers() ([]node.Server, error) { return slices.Clone(f.servers), nil }
func (f *fakeRaft) set(rid, addr string, voter bool) error {
	for i, s := range f.servers {
		if s.RaftID == rid {
			f.servers[i].Address, f.servers[i].Voter = addr, voter
			return nil
		}
	}
	f.servers = append(f.servers, node.Server{ID: node.NodeIDOf(rid), RaftID: rid, Address: addr, Voter: voter})
	return nil
}
func (f *fakeRaft) AddVoter(rid, addr string) error    { return f.set(rid, addr, true) }
func (f *fakeRaft) AddNonvoter(rid, addr string) error { return f.set(rid, addr, false) }
func (f *fakeRaft) RemoveServer(rid string) error {
	f.servers = slices.DeleteFunc(f.servers, func(s node.Server) bool { return s.RaftID == rid })
	return nil
}
func (f *fakeRaft) server(rid string) (node.Server, bool) {
	for _, s := range f.servers {
		if s.RaftID == rid {
			return s, true
		}
	}
	return node.Server{}, false
}

func newTestReconciler(t *testing.T, r *fakeRaft, progress map[string]Progress) (*Reconciler, func(Meta, string)) {
	c := &Cluster{log: slog.New(slog.NewTextHandler(io.Discard, nil)), members: map[string]*Member{},
		changed: make(chan struct{}, 1), announced: map[string]announcement{}}
	rc := &Reconciler{c: c, raft: r, DeadServerTimeout: time.Minute, CatchUpLag: 10, Stabilization: time.Hour,
		Progress: func(_ context.Context, m Member) (Progress, error) {
			p, ok := progress[m.raftID()]
			if !ok {
				return Progress{}, errors.New("unreachable")
			}
			return p, nil
		}}
	set := func(m Meta, status string) {
		m.Zone = "z"
		m.Raft = m.ID + ":1"
		c.members[m.ID] = &Member{Meta: m, Status: status, Since: time.Now()}
	}
	set(Meta{ID: "n1", RaftID: "n1@a", ZoneID: r.zoneID, State: true}, StatusAlive)
	return rc, set
}

func mustReconcile(t *testing.T, rc *Reconciler) {
	t.Helper()
	if err := rc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A member of another Raft group with the zone's name, or one with state
// but no zone identity, is never added; an empty node or one of this zone
// is, as a non-voter.
func TestReconcile_AddsOnlyMembersOfThisZone_AsNonvoters(t *testing.T) {
	r := &fakeRaft{zoneID: "Z", servers: []node.Server{{ID: "n1", RaftID: "n1@a", Address: "n1:1", Voter: true}}}
	rc, set := newTestReconciler(t, r, nil)
	set(Meta{ID: "rogue", RaftID: "rogue@r", ZoneID: "OTHER", State: true}, StatusAlive)
	set(Meta{ID: "old", RaftID: "old", State: true}, StatusAlive)
	set(Meta{ID: "fresh", RaftID: "fresh@f"}, StatusAlive)
	set(Meta{ID: "ours", RaftID: "ours@o", ZoneID: "Z", State: true}, StatusAlive)
	mustReconcile(t, rc)
	r.format = 3 // from here on, only members that read format 3
	set(Meta{ID: "oldbin", RaftID: "oldbin@x", LogFormat: 2}, StatusAlive)
	set(Meta{ID: "newbin", RaftID: "newbin@y", LogFormat: 3}, StatusAlive)
	mustReconcile(t, rc)
	for _, rid := range []string{"rogue@r", "old", "oldbin@x"} {
		if _, in := r.server(rid); in {
			t.Errorf("%s was added: %+v", rid, r.servers)
		}
	}
	for _, rid := range []string{"fresh@f", "ours@o", "newbin@y"} {
		if s, in := r.server(rid); !in || s.Voter {
			t.Errorf("%s: in=%v %+v, want a non-voter", rid, in, s)
		}
	}
}

// A leader whose zone has a rival of the same name with as many live
// members or more (it may be a node that founded a zone alone and then
// joined the domain) takes in no node without state, which would become
// part of its group: only once the rival is outnumbered. Members of its
// own zone it still adds. The rival's leader, in the majority, adds the
// empty node.
func TestReconcile_RivalZone_TakesInNoEmptyNode(t *testing.T) {
	r := &fakeRaft{zoneID: "ROGUE", servers: []node.Server{{ID: "n1", RaftID: "n1@a", Address: "n1:1", Voter: true}}}
	rc, set := newTestReconciler(t, r, nil)
	set(Meta{ID: "a", RaftID: "a@a", ZoneID: "Z", State: true}, StatusAlive)
	set(Meta{ID: "b", RaftID: "b@b", ZoneID: "Z", State: true}, StatusSuspect)
	set(Meta{ID: "wiped", RaftID: "wiped@w"}, StatusAlive)
	mustReconcile(t, rc)
	if _, in := r.server("wiped@w"); in {
		t.Fatalf("the empty node was added while two members of zone Z were live against this zone's one: %+v", r.servers)
	}
	// A tie is no majority either.
	set(Meta{ID: "b", RaftID: "b@b", ZoneID: "Z", State: true}, StatusDead)
	mustReconcile(t, rc)
	if _, in := r.server("wiped@w"); in {
		t.Fatalf("the empty node was added on a tie (1 to 1): %+v", r.servers)
	}
	// A member of this zone's own is added, and outnumbers the rival.
	set(Meta{ID: "ours", RaftID: "ours@o", ZoneID: "ROGUE", State: true}, StatusAlive)
	mustReconcile(t, rc)
	if _, in := r.server("ours@o"); !in {
		t.Fatalf("a member of this zone was not added: %+v", r.servers)
	}
	if _, in := r.server("wiped@w"); !in {
		t.Fatalf("the empty node was not added once this zone had 2 live members to the rival's 1: %+v", r.servers)
	}

	// The rival's side: zone Z's leader, with one more member of Z, against
	// one rogue node.
	z := &fakeRaft{zoneID: "Z", servers: []node.Server{{ID: "n1", RaftID: "n1@a", Address: "n1:1", Voter: true}}}
	rcz, setz := newTestReconciler(t, z, nil)
	setz(Meta{ID: "b", RaftID: "b@b", ZoneID: "Z", State: true}, StatusAlive)
	setz(Meta{ID: "rogue", RaftID: "rogue@r", ZoneID: "ROGUE", State: true}, StatusAlive)
	setz(Meta{ID: "wiped", RaftID: "wiped@w"}, StatusAlive)
	mustReconcile(t, rcz)
	if _, in := z.server("wiped@w"); !in {
		t.Fatalf("zone Z, 2 live members to the rogue's 1, did not add the empty node: %+v", z.servers)
	}
}

// A non-voter is promoted only after it stayed caught up for the
// stabilization time, and never while its last snapshot install failed
// or it cannot be asked.
func TestReconcile_PromotesOnlyCaughtUpNonvoters(t *testing.T) {
	r := &fakeRaft{zoneID: "Z", commit: 1000, servers: []node.Server{
		{ID: "n1", RaftID: "n1@a", Address: "n1:1", Voter: true},
		{ID: "slow", RaftID: "slow@s", Address: "slow:1"},
		{ID: "broken", RaftID: "broken@b", Address: "broken:1"},
		{ID: "mute", RaftID: "mute@m", Address: "mute:1"},
		{ID: "good", RaftID: "good@g", Address: "good:1"},
	}}
	progress := map[string]Progress{
		"slow@s":   {RaftID: "slow@s", StoreIndex: 500},
		"broken@b": {RaftID: "broken@b", StoreIndex: 1000, RestoreFailed: true},
		"good@g":   {RaftID: "good@g", StoreIndex: 995},
	}
	rc, set := newTestReconciler(t, r, progress)
	for _, m := range []Meta{{ID: "slow", RaftID: "slow@s"}, {ID: "broken", RaftID: "broken@b"}, {ID: "mute", RaftID: "mute@m"}, {ID: "good", RaftID: "good@g"}} {
		m.ZoneID, m.State = "Z", true
		set(m, StatusAlive)
	}
	mustReconcile(t, rc)
	if s, _ := r.server("good@g"); s.Voter {
		t.Fatal("promoted at the first sight of being caught up, before the stabilization time")
	}
	rc.caughtUp["good@g"] = time.Now().Add(-2 * rc.Stabilization)
	mustReconcile(t, rc)
	for _, s := range r.servers {
		if want := s.RaftID == "n1@a" || s.RaftID == "good@g"; s.Voter != want {
			t.Errorf("%s voter=%v, want %v", s.RaftID, s.Voter, want)
		}
	}
}

// A member whose data dir was replaced gossips a new Raft id: the old
// server is removed and the new one added as a non-voter, but never at the
// cost of quorum.
func TestReconcile_ReplacedDataDir_OldServerOut_NewOneNonvoter(t *testing.T) {
	r := &fakeRaft{zoneID: "Z", servers: []node.Server{
		{ID: "n1", RaftID: "n1@a", Address: "n1:1", Voter: true},
		{ID: "n2", RaftID: "n2@old", Address: "n2:1", Voter: true},
		{ID: "n3", RaftID: "n3@c", Address: "n3:1", Voter: true},
	}}
	rc, set := newTestReconciler(t, r, nil)
	set(Meta{ID: "n2", RaftID: "n2@new"}, StatusAlive)
	set(Meta{ID: "n3", RaftID: "n3@c", ZoneID: "Z", State: true}, StatusAlive)
	mustReconcile(t, rc)
	if _, in := r.server("n2@old"); in {
		t.Fatalf("the wiped node's old server is still in: %+v", r.servers)
	}
	if s, in := r.server("n2@new"); !in || s.Voter {
		t.Fatalf("the wiped node's new server: in=%v %+v, want a non-voter", in, s)
	}

	// With n3 dead, removing n2's old server would leave n1 alone of two
	// voters: kept.
	r.servers = []node.Server{
		{ID: "n1", RaftID: "n1@a", Address: "n1:1", Voter: true},
		{ID: "n2", RaftID: "n2@old", Address: "n2:1", Voter: true},
		{ID: "n3", RaftID: "n3@c", Address: "n3:1", Voter: true},
	}
	set(Meta{ID: "n3", RaftID: "n3@c", ZoneID: "Z", State: true}, StatusDead)
	mustReconcile(t, rc)
	if _, in := r.server("n2@old"); !in {
		t.Fatalf("removed a voter although quorum would be lost: %+v", r.servers)
	}
}

// The founding rule: exactly expect members, none with state, a zone id or
// a leader, all alive and expecting the same number.
func TestFoundingSet(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Meta
		expect  int
		found   bool
		exists  bool
	}{
		{"alone, expect 1", []Meta{{ID: "a", Expect: 1}}, 1, true, false},
		{"three of three", []Meta{{ID: "a", Expect: 3}, {ID: "b", Expect: 3}, {ID: "c", Expect: 3}}, 3, true, false},
		{"two of three", []Meta{{ID: "a", Expect: 3}, {ID: "b", Expect: 3}}, 3, false, false},
		{"four, expect three", []Meta{{ID: "a", Expect: 3}, {ID: "b", Expect: 3}, {ID: "c", Expect: 3}, {ID: "d", Expect: 3}}, 3, false, false},
		{"expects differ", []Meta{{ID: "a", Expect: 1}, {ID: "b", Expect: 2}}, 2, false, false},
		{"one has state (mid-election)", []Meta{{ID: "a", Expect: 1}, {ID: "b", State: true}}, 1, false, true},
		{"one has a zone id", []Meta{{ID: "a", Expect: 1}, {ID: "b", ZoneID: "Z"}}, 1, false, true},
		{"one names a leader", []Meta{{ID: "a", Expect: 1}, {ID: "b", Leader: "b"}}, 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{members: map[string]*Member{}}
			for _, m := range tc.members {
				m.Zone, m.Raft = "z", m.ID+":1"
				c.members[m.ID] = &Member{Meta: m, Status: StatusAlive}
			}
			c.members["other"] = &Member{Meta: Meta{ID: "other", Zone: "elsewhere", State: true}, Status: StatusAlive}
			servers, exists, why := c.foundingSet("z", tc.expect)
			if exists != tc.exists || (why == "" && !exists) != tc.found {
				t.Fatalf("exists=%v why=%q servers=%v; want exists=%v found=%v", exists, why, servers, tc.exists, tc.found)
			}
		})
	}
}
