package cluster

import (
	"context"
	"fmt"
	"time"

	"cairn/node"
)

// MaxVoters is how many voters a zone has at most; further members join as
// non-voters, which receive the log but do not slow down commits.
const MaxVoters = 5

// reconcileInterval is how often the leader compares gossip and Raft in
// full, besides reacting to membership events at once.
const reconcileInterval = 2 * time.Second

// Raft is what the reconciler needs of the zone's Raft member.
type Raft interface {
	ID() string
	Zone() string
	Servers() ([]node.Server, error)
	AddVoter(id, addr string) error
	AddNonvoter(id, addr string) error
	RemoveServer(id string) error
}

// Reconciler turns gossip membership into the zone's Raft configuration. It
// runs only on the zone leader, on one goroutine, so configuration changes
// are made serially (Consul's leaderLoop pattern).
type Reconciler struct {
	c    *Cluster
	raft Raft
	// DeadServerTimeout is how long a member must have failed before it is
	// removed from the configuration.
	DeadServerTimeout time.Duration

	// unseen records when a server in the configuration was first found
	// missing from gossip altogether.
	unseen map[string]time.Time
}

// NewReconciler returns the reconciler of r's zone.
func NewReconciler(c *Cluster, r Raft, deadServerTimeout time.Duration) *Reconciler {
	return &Reconciler{c: c, raft: r, DeadServerTimeout: deadServerTimeout, unseen: map[string]time.Time{}}
}

// Run reconciles at once, then on every membership change and every
// reconcileInterval, until ctx ends (leadership lost). It is a node
// leader task (node.OnLeadership).
func (rc *Reconciler) Run(ctx context.Context) {
	tick := time.NewTicker(reconcileInterval)
	defer tick.Stop()
	rc.unseen = map[string]time.Time{}
	for {
		if err := rc.Reconcile(); err != nil {
			rc.c.log.Warn("reconciling gossip into raft failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-rc.c.Changes():
		case <-tick.C:
		}
	}
}

// Reconcile makes one pass: remove members that left (at once) or failed
// past DeadServerTimeout (only while the remaining voters keep quorum), add
// live members that are missing, correct changed addresses, and promote
// non-voters while there are fewer than MaxVoters voters.
func (rc *Reconciler) Reconcile() error {
	servers, err := rc.raft.Servers()
	if err != nil {
		return err
	}
	self, zone := rc.raft.ID(), rc.raft.Zone()
	members := map[string]Member{}
	for _, m := range rc.c.Members() {
		if m.Zone == zone {
			members[m.ID] = m
		}
	}
	inConfig := map[string]node.Server{}
	voters := 0
	for _, s := range servers {
		inConfig[s.ID] = s
		if s.Voter {
			voters++
		}
	}
	live := func(id string) bool {
		m, ok := members[id]
		return ok && (m.Status == StatusAlive || m.Status == StatusSuspect)
	}

	// Removals.
	now := time.Now()
	for _, s := range servers {
		if s.ID == self {
			continue
		}
		m, known := members[s.ID]
		if known {
			delete(rc.unseen, s.ID)
		} else if _, ok := rc.unseen[s.ID]; !ok {
			rc.unseen[s.ID] = now
		}
		var why string
		switch {
		case known && m.Status == StatusLeft:
			why = "it left the zone"
		case known && m.Status == StatusDead && now.Sub(m.Since) > rc.DeadServerTimeout:
			why = fmt.Sprintf("it failed %s ago", now.Sub(m.Since).Round(time.Second))
		case !known && now.Sub(rc.unseen[s.ID]) > rc.DeadServerTimeout:
			why = fmt.Sprintf("gossip has not seen it for %s", now.Sub(rc.unseen[s.ID]).Round(time.Second))
		default:
			continue
		}
		if s.Voter && !keepsQuorum(servers, s.ID, live) {
			rc.c.log.Warn("not removing a failed voter: the remaining voters would lose quorum", "id", s.ID, "reason", why)
			continue
		}
		if err := rc.raft.RemoveServer(s.ID); err != nil {
			return fmt.Errorf("remove %s: %w", s.ID, err)
		}
		rc.c.log.Info("removed server from the raft configuration", "id", s.ID, "address", s.Address, "reason", why)
		delete(inConfig, s.ID)
		delete(rc.unseen, s.ID)
		if s.Voter {
			voters--
		}
	}

	// Additions, address changes and promotions, in id order.
	for _, m := range rc.c.Members() {
		if m.Zone != zone || m.ID == self || m.Status != StatusAlive || m.Raft == "" {
			continue
		}
		s, ok := inConfig[m.ID]
		switch {
		case !ok && voters < MaxVoters, ok && !s.Voter && voters < MaxVoters:
			if err := rc.raft.AddVoter(m.ID, m.Raft); err != nil {
				return fmt.Errorf("add voter %s: %w", m.ID, err)
			}
			voters++
			rc.c.log.Info("node joined the zone as a voter", "id", m.ID, "raft", m.Raft)
		case !ok:
			if err := rc.raft.AddNonvoter(m.ID, m.Raft); err != nil {
				return fmt.Errorf("add nonvoter %s: %w", m.ID, err)
			}
			rc.c.log.Info("node joined the zone as a non-voter", "id", m.ID, "raft", m.Raft)
		case s.Address != m.Raft:
			add := rc.raft.AddNonvoter
			if s.Voter {
				add = rc.raft.AddVoter
			}
			if err := add(m.ID, m.Raft); err != nil {
				return fmt.Errorf("update address of %s: %w", m.ID, err)
			}
			rc.c.log.Info("updated a node's raft address in place", "id", m.ID, "old", s.Address, "new", m.Raft)
		}
	}
	return nil
}

// keepsQuorum reports whether, with voter id removed, the voters still live
// are a majority of the voters that remain.
func keepsQuorum(servers []node.Server, id string, live func(string) bool) bool {
	remaining, alive := 0, 0
	for _, s := range servers {
		if !s.Voter || s.ID == id {
			continue
		}
		remaining++
		if live(s.ID) {
			alive++
		}
	}
	return alive >= remaining/2+1
}

// BootstrapServers waits until gossip shows expect live members of zone
// (this node included) and returns them, all voters, in id order: the
// first configuration every one of them bootstraps with. It returns nil
// without waiting if a member of the zone already advertises a leader —
// the zone exists and this node will be added to it.
func (c *Cluster) BootstrapServers(ctx context.Context, zone string, expect int) ([]node.Server, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var servers []node.Server
		for _, m := range c.Members() {
			if m.Zone != zone || m.Status != StatusAlive {
				continue
			}
			if m.Leader != "" {
				return nil, nil
			}
			servers = append(servers, node.Server{ID: m.ID, Address: m.Raft, Voter: true})
		}
		if len(servers) >= expect {
			return servers, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("saw %d of the %d members -bootstrap-expect asks for in zone %s: %w", len(servers), expect, zone, ctx.Err())
		case <-tick.C:
		}
	}
}
