package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"cairn/node"
)

// MaxVoters is how many voters a zone has at most; further members stay
// non-voters, which receive the log but do not slow down commits.
const MaxVoters = 5

// reconcileInterval is how often the leader compares gossip and Raft in
// full, besides reacting to membership events at once.
const reconcileInterval = 2 * time.Second

// Raft is what the reconciler needs of the zone's Raft member.
type Raft interface {
	ID() string
	Zone() string
	// ZoneID is the zone's identity; the leader always has it.
	ZoneID() string
	// LogFormat is the zone's log format: members must read it.
	LogFormat() int
	CommitIndex() uint64
	Servers() ([]node.Server, error)
	AddVoter(raftID, addr string) error
	AddNonvoter(raftID, addr string) error
	RemoveServer(raftID string) error
}

// Progress is how far a member has applied the zone's log, as it reports
// it itself.
type Progress struct {
	RaftID        string `json:"raft_id"`
	StoreIndex    uint64 `json:"store_index"`
	RestoreFailed bool   `json:"restore_failed"`
}

// ProgressFunc asks a member for its Progress.
type ProgressFunc func(ctx context.Context, m Member) (Progress, error)

// Promotion rules: a non-voter becomes a voter only once its store has
// stayed within CatchUpLag entries of the leader's commit index for
// Stabilization, and its last snapshot install did not fail. Until then a
// commit never waits for it, and its vote cannot elect a leader that lacks
// entries it has not received yet.
const (
	DefaultCatchUpLag    = 256
	DefaultStabilization = 3 * time.Second
)

// Reconciler turns gossip membership into the zone's Raft configuration. It
// runs only on the zone leader, on one goroutine, so configuration changes
// are made serially (Consul's leaderLoop pattern).
//
// Members join as non-voters and are promoted once caught up. A member is
// added only if it belongs to this zone: its zone id is this zone's, or it
// has no Raft state at all. A member whose data dir was replaced comes back
// under a new Raft server id; the old server is removed (quorum permitting)
// and the new one added like any new member.
type Reconciler struct {
	c    *Cluster
	raft Raft
	// DeadServerTimeout is how long a member must have failed before it is
	// removed from the configuration.
	DeadServerTimeout time.Duration
	// Progress asks a non-voter how far it has applied the log.
	Progress      ProgressFunc
	CatchUpLag    uint64
	Stabilization time.Duration

	// unseen records when a server in the configuration was first found
	// missing from gossip altogether.
	unseen map[string]time.Time
	// caughtUp records since when each non-voter (by Raft id) has been
	// caught up without a break.
	caughtUp map[string]time.Time
	// refused remembers the members already reported as refused, so the
	// log says so once, not every pass.
	refused map[string]string
}

// NewReconciler returns the reconciler of r's zone, asking members for
// their progress over HTTP.
func NewReconciler(c *Cluster, r Raft, deadServerTimeout time.Duration) *Reconciler {
	return &Reconciler{c: c, raft: r, DeadServerTimeout: deadServerTimeout, Progress: HTTPProgress(nil),
		CatchUpLag: DefaultCatchUpLag, Stabilization: DefaultStabilization}
}

// HTTPProgress asks a member's /cairn/v1/status for its progress.
func HTTPProgress(client *http.Client) ProgressFunc {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	return func(ctx context.Context, m Member) (Progress, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.HTTP+"/cairn/v1/status", nil)
		if err != nil {
			return Progress{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return Progress{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return Progress{}, fmt.Errorf("status of %s: %s", m.ID, resp.Status)
		}
		var p Progress
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			return Progress{}, fmt.Errorf("status of %s: %w", m.ID, err)
		}
		return p, nil
	}
}

// Run reconciles at once, then on every membership change and every
// reconcileInterval, until ctx ends (leadership lost). It is a node
// leader task (node.OnLeadership).
func (rc *Reconciler) Run(ctx context.Context) {
	tick := time.NewTicker(reconcileInterval)
	defer tick.Stop()
	rc.unseen, rc.caughtUp, rc.refused = map[string]time.Time{}, map[string]time.Time{}, map[string]string{}
	for {
		if err := rc.Reconcile(ctx); err != nil {
			rc.c.log.Warn("reconciling gossip into raft failed; will retry", "err", err)
		}
		// Promotions wait on time passing, not on gossip: look again soon.
		next := reconcileInterval
		if len(rc.caughtUp) > 0 {
			next = rc.Stabilization / 3
		}
		select {
		case <-ctx.Done():
			return
		case <-rc.c.Changes():
		case <-tick.C:
		case <-time.After(next):
		}
	}
}

// Reconcile makes one pass: remove members that left (at once), failed past
// DeadServerTimeout, or came back with a new data dir (only while the
// remaining voters keep quorum); add live members of this zone that are
// missing, as non-voters; correct changed addresses; and promote caught-up
// non-voters while there are fewer than MaxVoters voters.
func (rc *Reconciler) Reconcile(ctx context.Context) error {
	if rc.unseen == nil {
		rc.unseen, rc.caughtUp, rc.refused = map[string]time.Time{}, map[string]time.Time{}, map[string]string{}
	}
	servers, err := rc.raft.Servers()
	if err != nil {
		return err
	}
	self, zone, zoneID := rc.raft.ID(), rc.raft.Zone(), rc.raft.ZoneID()
	members := map[string]Member{}
	for _, m := range rc.c.Members() {
		if m.Zone == zone {
			members[m.ID] = m
		}
	}
	inConfig := map[string]node.Server{} // by Raft id
	voters := 0
	for _, s := range servers {
		inConfig[s.RaftID] = s
		if s.Voter {
			voters++
		}
	}
	// live: the server's node is up and still runs the data dir the server
	// names.
	live := func(s node.Server) bool {
		m, ok := members[s.ID]
		return ok && (m.Status == StatusAlive || m.Status == StatusSuspect) && m.raftID() == s.RaftID
	}

	// Removals.
	now := time.Now()
	for _, s := range servers {
		if s.ID == self {
			continue
		}
		m, known := members[s.ID]
		if known {
			delete(rc.unseen, s.RaftID)
		} else if _, ok := rc.unseen[s.RaftID]; !ok {
			rc.unseen[s.RaftID] = now
		}
		var why string
		switch {
		case known && m.Status == StatusLeft:
			why = "it left the zone"
		case known && m.raftID() != s.RaftID && m.Status == StatusAlive:
			why = fmt.Sprintf("node %s came back with another data dir (raft id %s)", s.ID, m.raftID())
		case known && m.Status == StatusDead && now.Sub(m.Since) > rc.DeadServerTimeout:
			why = fmt.Sprintf("it failed %s ago", now.Sub(m.Since).Round(time.Second))
		case !known && now.Sub(rc.unseen[s.RaftID]) > rc.DeadServerTimeout:
			why = fmt.Sprintf("gossip has not seen it for %s", now.Sub(rc.unseen[s.RaftID]).Round(time.Second))
		default:
			continue
		}
		if s.Voter && !keepsQuorum(servers, s.RaftID, live) {
			rc.c.log.Warn("not removing a voter: the remaining voters would lose quorum", "id", s.ID, "raft_id", s.RaftID, "reason", why)
			continue
		}
		if err := rc.raft.RemoveServer(s.RaftID); err != nil {
			return fmt.Errorf("remove %s: %w", s.RaftID, err)
		}
		rc.c.log.Info("removed server from the raft configuration", "id", s.ID, "raft_id", s.RaftID, "address", s.Address, "reason", why)
		delete(inConfig, s.RaftID)
		delete(rc.unseen, s.RaftID)
		delete(rc.caughtUp, s.RaftID)
		if s.Voter {
			voters--
		}
	}

	// Additions, address changes and promotions, in id order.
	rival := rivalZone(members, self, zoneID)
	for _, m := range rc.c.Members() {
		if m.Zone != zone || m.ID == self || m.Status != StatusAlive || m.Raft == "" {
			continue
		}
		rid := m.raftID()
		s, ok := inConfig[rid]
		switch {
		case !ok:
			why := foreign(m, zoneID, rc.raft.LogFormat())
			if why == "" && m.ZoneID == "" && rival != "" {
				why = fmt.Sprintf("another zone of this name (zone id %s) has as many live members as this one or more, so this zone may be the stranger (a node that founded a zone alone, then joined the domain); it takes in no node without state until one of the two is gone", rival)
			}
			if why != "" {
				if rc.refused[rid] != why {
					rc.refused[rid] = why
					rc.c.log.Error("not adding a member to the zone: "+why, "id", m.ID, "raft_id", rid, "zone", zone, "zone_id", zoneID, "its_zone_id", m.ZoneID)
				}
				continue
			}
			delete(rc.refused, rid)
			if err := rc.raft.AddNonvoter(rid, m.Raft); err != nil {
				return fmt.Errorf("add nonvoter %s: %w", rid, err)
			}
			rc.c.log.Info("node joined the zone as a non-voter; it becomes a voter once caught up", "id", m.ID, "raft_id", rid, "raft", m.Raft)
		case s.Address != m.Raft:
			add := rc.raft.AddNonvoter
			if s.Voter {
				add = rc.raft.AddVoter
			}
			if err := add(rid, m.Raft); err != nil {
				return fmt.Errorf("update address of %s: %w", rid, err)
			}
			rc.c.log.Info("updated a node's raft address in place", "id", m.ID, "old", s.Address, "new", m.Raft)
		case !s.Voter && voters < MaxVoters:
			if !rc.caughtUpLongEnough(ctx, m, rid, now) {
				continue
			}
			if err := rc.raft.AddVoter(rid, m.Raft); err != nil {
				return fmt.Errorf("promote %s: %w", rid, err)
			}
			delete(rc.caughtUp, rid)
			voters++
			rc.c.log.Info("promoted a caught-up non-voter to voter", "id", m.ID, "raft_id", rid)
		}
	}
	return nil
}

// rivalZone returns the id of another zone of this zone's name whose live
// members (by gossip, with that zone's state) are at least as many as
// those of this zone (whose id is zoneID, this node self included), or ""
// when there is none. While there is one, this zone's leader may be the
// stranger: a node that founded a zone of its own and then joined the
// domain leads a group of its own, with the domain zone's name. A node
// without state that it took in would be of its group, and the two would
// replicate to it at once; and a member holding its zone id would make it
// look legitimate to its own check (cluster.ForeignZoneID), so it would
// never stop. jepsen seed 7301 saw both.
func rivalZone(members map[string]Member, self, zoneID string) string {
	count := map[string]int{zoneID: 1}
	for _, m := range members {
		if m.ID != self && m.ZoneID != "" && (m.Status == StatusAlive || m.Status == StatusSuspect) {
			count[m.ZoneID]++
		}
	}
	rival := ""
	for id, n := range count {
		if id != zoneID && n >= count[zoneID] && (rival == "" || id < rival) {
			rival = id
		}
	}
	return rival
}

// foreign says why member m, not in the configuration, must not be added
// to the zone whose id is zoneID, at log format logFormat, or returns "".
func foreign(m Member, zoneID string, logFormat int) string {
	switch {
	case m.LogFormat < logFormat:
		return fmt.Sprintf("it runs a version of Cairn that cannot read this zone's log (format %d, it reads up to %d); upgrade it", logFormat, m.LogFormat)
	case m.ZoneID != "" && m.ZoneID != zoneID:
		return fmt.Sprintf("its state belongs to another zone of the same name (zone id %s); wipe its data dir to join it here", m.ZoneID)
	case m.ZoneID == "" && m.State:
		return "it has Raft state of no known zone (from an older version, or it never applied a zone identity); wipe its data dir to join it here"
	}
	return ""
}

// caughtUpLongEnough reports whether non-voter m has stayed caught up for
// Stabilization, asking it for its progress now.
func (rc *Reconciler) caughtUpLongEnough(ctx context.Context, m Member, rid string, now time.Time) bool {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	p, err := rc.Progress(pctx, m)
	cancel()
	commit := rc.raft.CommitIndex()
	ok := err == nil && p.RaftID == rid && !p.RestoreFailed && p.StoreIndex+rc.CatchUpLag >= commit
	if !ok {
		if _, was := rc.caughtUp[rid]; was {
			rc.c.log.Info("a non-voter fell behind; its promotion waits", "id", m.ID, "store_index", p.StoreIndex, "commit_index", commit, "restore_failed", p.RestoreFailed, "err", err)
		}
		delete(rc.caughtUp, rid)
		return false
	}
	since, was := rc.caughtUp[rid]
	if !was {
		rc.caughtUp[rid] = now
		return rc.Stabilization <= 0
	}
	return now.Sub(since) >= rc.Stabilization
}

// keepsQuorum reports whether, with voter raftID removed, the voters still
// live are a majority of the voters that remain.
func keepsQuorum(servers []node.Server, raftID string, live func(node.Server) bool) bool {
	remaining, alive := 0, 0
	for _, s := range servers {
		if !s.Voter || s.RaftID == raftID {
			continue
		}
		remaining++
		if live(s) {
			alive++
		}
	}
	return alive >= remaining/2+1
}

// BootstrapServers waits until this zone can be founded and returns its
// first configuration (every member a voter, in id order), which every
// founder bootstraps with. It follows Consul's rule: a zone is founded only
// when exactly expect members of it are visible, all alive, none holding
// Raft state or a zone id, and all advertising the same expect. It returns
// nil without founding anything as soon as any member of the zone holds
// state: the zone exists (perhaps mid-election) and this node will be
// added to it.
func (c *Cluster) BootstrapServers(ctx context.Context, zone string, expect int) ([]node.Server, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastWhy := ""
	for {
		servers, exists, why := c.foundingSet(zone, expect)
		if exists {
			return nil, nil
		}
		if why == "" {
			return servers, nil
		}
		if why != lastWhy {
			c.log.Info("not founding zone "+zone+" yet: "+why, "bootstrap_expect", expect)
			lastWhy = why
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("zone %s not founded (%s): %w", zone, why, ctx.Err())
		case <-tick.C:
		}
	}
}

// foundingSet applies BootstrapServers's rule to the members gossip shows
// now: the founders, or whether the zone exists, or why neither.
func (c *Cluster) foundingSet(zone string, expect int) (servers []node.Server, exists bool, why string) {
	for _, m := range c.Members() {
		if m.Zone != zone || m.Status == StatusLeft {
			continue
		}
		if m.State || m.ZoneID != "" || m.Leader != "" {
			return nil, true, ""
		}
		switch {
		case m.Status != StatusAlive:
			why = fmt.Sprintf("member %s is %s", m.ID, m.Status)
		case m.Expect != expect:
			why = fmt.Sprintf("member %s expects %d founders, this node %d", m.ID, m.Expect, expect)
		}
		servers = append(servers, node.Server{ID: m.ID, RaftID: m.raftID(), Address: m.Raft, Voter: true})
	}
	if why == "" && len(servers) != expect {
		why = fmt.Sprintf("%d members of the zone are visible, and exactly %d must be", len(servers), expect)
	}
	return servers, false, why
}
