// Package cluster is zone membership over gossip (hashicorp/memberlist):
// every node of a domain shares one memberlist pool and advertises its id,
// zone, role, HTTP and Raft addresses and the zone leader it sees. The zone
// leader turns that membership into the zone's Raft configuration
// (reconcile.go); gossip only advertises leadership, Raft decides it.
package cluster

import (
	"context"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member statuses as gossip sees them.
const (
	StatusAlive   = "alive"
	StatusSuspect = "suspect"
	StatusDead    = "dead"
	StatusLeft    = "left"
)

// Member is one node of the domain as gossip knows it.
type Member struct {
	Meta
	GossipAddr string `json:"gossip_addr"`
	Status     string `json:"status"`
	// Since is when Status last changed.
	Since time.Time `json:"since"`
}

// Config is what Start needs.
type Config struct {
	// Self is this node's metadata; Leader is kept up to date by SetLeader.
	Self Meta
	// GossipAddr is the host:port memberlist binds (UDP and TCP);
	// GossipAdvertise, if set, is the one other nodes dial.
	GossipAddr      string
	GossipAdvertise string
	// Join lists gossip addresses of nodes already in the domain.
	Join []string
	// JoinTimeout bounds the retries of Join.
	JoinTimeout time.Duration
	// RetryJoin lists gossip addresses retried without a deadline, for
	// unattended starts: Join waits until one answers, and KeepJoined
	// contacts again any of them gossip does not see alive (retryjoin.go).
	RetryJoin []string
	// RetryInterval is how often RetryJoin's addresses are tried (0:
	// DefaultRetryInterval).
	RetryInterval time.Duration
	Logger        *slog.Logger
}

// Cluster is this node's membership in the domain's gossip pool.
type Cluster struct {
	cfg Config
	log *slog.Logger
	ml  *memberlist.Memberlist

	mu      sync.RWMutex
	self    Meta
	members map[string]*Member // by node id
	changed chan struct{}      // capacity 1: a membership change happened
	leaving bool               // Leave has begun
	// announced records members that said they are leaving, by id, with
	// the run (Boot) that said it and when: the member counts as left only
	// once gossip also sees it go, so a forged message cannot remove a
	// live member.
	announced map[string]announcement
	// suspects are the members this node's own probe failed to reach and
	// that have not answered one since (memberlist v0.5.4 does not expose
	// its suspect state; see logWriter and NotifyPingComplete).
	suspects map[string]bool
}

// announcement is a member's "leaving" message.
type announcement struct {
	boot string
	at   time.Time
}

// leaveWindow is how long after its leaving message a member's departure
// from gossip still counts as a graceful leave.
const leaveWindow = 30 * time.Second

// Start creates the memberlist pool on cfg.GossipAddr. It does not join
// anyone; call Join.
func Start(cfg Config) (*Cluster, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Cluster{cfg: cfg, log: log.With("component", "cluster"), self: cfg.Self,
		members: map[string]*Member{}, changed: make(chan struct{}, 1), announced: map[string]announcement{}, suspects: map[string]bool{}}
	c.self.Boot = strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := c.self.encode(); err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.GossipAddr, err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Self.ID
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.GossipAdvertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(cfg.GossipAdvertise); err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.GossipAdvertise, err)
		}
	}
	mc.Delegate = delegate{c}
	mc.Events = events{c}
	// A node restarted on a new address reclaims its name once the old
	// address is declared dead, instead of being refused as a conflict.
	mc.DeadNodeReclaimTime = time.Second
	mc.Logger = stdlog.New(logWriter{log: c.log, suspect: c.markSuspect}, "", 0)
	mc.Ping = pings{c}
	t, err := newBoundTransport(host, port, mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.GossipAddr, err)
	}
	mc.Transport = t
	if c.ml, err = memberlist.Create(mc); err != nil {
		t.Shutdown()
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.GossipAddr, err)
	}
	return c, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// GossipAddr returns the address this node gossips on.
func (c *Cluster) GossipAddr() string { return c.ml.LocalNode().Address() }

// Join contacts the configured peers, retrying with exponential backoff
// until one answers or the join timeout passes. Its own address in the
// list is skipped. Without Join addresses, or when none answered in time,
// it waits for one of RetryJoin's instead, with no deadline but ctx's.
func (c *Cluster) Join(ctx context.Context) error {
	var peers []string
	for _, p := range c.cfg.Join {
		if p != "" && p != c.cfg.GossipAddr && p != c.GossipAddr() {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return c.retryJoin(ctx)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.JoinTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		n, err := c.ml.Join(peers)
		if n > 0 {
			c.log.Info("joined the domain", "contacted", n, "peers", peers)
			return nil
		}
		c.log.Info("join failed; retrying", "peers", peers, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			if len(c.others(c.cfg.RetryJoin)) > 0 && parent.Err() == nil {
				c.log.Info("no -join address answered within the join timeout; going on with -retry-join, without a deadline", "peers", peers)
				return c.retryJoin(parent)
			}
			return fmt.Errorf("could not join any of %v within %s: %w", peers, c.cfg.JoinTimeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// SetLeader advertises the zone leader this node now sees.
func (c *Cluster) SetLeader(id string) {
	c.mu.Lock()
	if c.self.Leader == id || c.leaving {
		c.mu.Unlock()
		return
	}
	c.self.Leader = id
	c.mu.Unlock()
	if err := c.ml.UpdateNode(5 * time.Second); err != nil {
		c.log.Warn("could not advertise the new zone leader", "leader", id, "err", err)
	}
}

// SetIdentity advertises the zone id this node's state belongs to and
// whether it has Raft state at all.
func (c *Cluster) SetIdentity(zoneID string, hasState bool) {
	c.mu.Lock()
	if c.self.ZoneID == zoneID && c.self.State == hasState || c.leaving {
		c.mu.Unlock()
		return
	}
	c.self.ZoneID, c.self.State = zoneID, hasState
	c.mu.Unlock()
	if err := c.ml.UpdateNode(5 * time.Second); err != nil {
		c.log.Warn("could not advertise the node's zone identity", "zone_id", zoneID, "err", err)
	}
}

// Self returns this node's current metadata.
func (c *Cluster) Self() Meta {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.self
}

// Members returns every node of the domain gossip knows of, this one
// included, sorted by zone and id.
func (c *Cluster) Members() []Member {
	c.mu.RLock()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		mm := *m
		if mm.Status == StatusAlive && c.suspects[mm.ID] {
			mm.Status = StatusSuspect
		}
		out = append(out, mm)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Zone != out[j].Zone {
			return out[i].Zone < out[j].Zone
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Member returns the member with id, if gossip knows it.
func (c *Cluster) Member(id string) (Member, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.members[id]
	if !ok {
		return Member{}, false
	}
	mm := *m
	if mm.Status == StatusAlive && c.suspects[id] {
		mm.Status = StatusSuspect
	}
	return mm, true
}

// HTTPOf returns the HTTP URL node id advertises, or "".
func (c *Cluster) HTTPOf(id string) string {
	m, ok := c.Member(id)
	if !ok || m.Status == StatusDead || m.Status == StatusLeft {
		return ""
	}
	return m.HTTP
}

// ZoneLeaders returns each zone's leader id as its members advertise it: a
// live member that claims to lead wins; otherwise the leader most members
// name.
//
// Where two Raft groups share a zone name (a node that founded its own zone
// joined the domain), only members of the group most members belong to
// count.
func (c *Cluster) ZoneLeaders() map[string]string {
	members := c.Members()
	ids := map[string]map[string]int{}
	for _, m := range members {
		if m.ZoneID != "" && m.Status != StatusDead && m.Status != StatusLeft {
			if ids[m.Zone] == nil {
				ids[m.Zone] = map[string]int{}
			}
			ids[m.Zone][m.ZoneID]++
		}
	}
	mainID := map[string]string{}
	for zone, counts := range ids {
		best, n := "", 0
		for id, k := range counts {
			if k > n || k == n && id < best {
				best, n = id, k
			}
		}
		mainID[zone] = best
	}
	votes := map[string]map[string]int{}
	claims := map[string]string{}
	for _, m := range members {
		if m.Status == StatusDead || m.Status == StatusLeft || m.Leader == "" {
			continue
		}
		if m.ZoneID != "" && m.ZoneID != mainID[m.Zone] {
			continue
		}
		if m.Leader == m.ID {
			claims[m.Zone] = m.ID
		}
		if votes[m.Zone] == nil {
			votes[m.Zone] = map[string]int{}
		}
		votes[m.Zone][m.Leader]++
	}
	out := map[string]string{}
	for zone, v := range votes {
		if id, ok := claims[zone]; ok {
			out[zone] = id
			continue
		}
		best, n := "", 0
		for id, k := range v {
			if k > n || k == n && id < best {
				best, n = id, k
			}
		}
		out[zone] = best
	}
	return out
}

// LogFormatOf returns the latest log format the member whose Raft server id
// is raftID reads, as it advertises it; 0 if gossip does not know it.
func (c *Cluster) LogFormatOf(raftID string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.members {
		if m.raftID() == raftID && m.Status != StatusLeft {
			return m.LogFormat
		}
	}
	return 0
}

// ForeignZoneID returns the zone id that other live members of zone carry
// when it is not own and no other member carries own: this node's state
// belongs to another Raft group than the zone it joined. It returns "" when
// no such id is seen.
func (c *Cluster) ForeignZoneID(zone, own string) string {
	self := c.Self().ID
	foreign := ""
	for _, m := range c.Members() {
		if m.Zone != zone || m.ID == self || m.ZoneID == "" || m.Status == StatusDead || m.Status == StatusLeft {
			continue
		}
		if m.ZoneID == own {
			return ""
		}
		foreign = m.ZoneID
	}
	return foreign
}

// Changes signals (coalesced) that membership changed.
func (c *Cluster) Changes() <-chan struct{} { return c.changed }

func (c *Cluster) notifyChange() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Leave tells the domain this node is leaving, then stops gossip.
func (c *Cluster) Leave(timeout time.Duration) error {
	// memberlist's events do not tell a leave from a failure, so say it
	// first, over TCP, to every live member.
	c.mu.Lock()
	c.leaving = true // no more metadata updates: they would read as alive
	c.mu.Unlock()
	msg := []byte(leavingPrefix + c.cfg.Self.ID + ":" + c.Self().Boot)
	told := 0
	for _, n := range c.ml.Members() {
		if n.Name == c.cfg.Self.ID {
			continue
		}
		if err := c.ml.SendReliable(n, msg); err != nil {
			c.log.Debug("could not tell a member this node is leaving", "member", n.Name, "err", err)
			continue
		}
		told++
	}
	// Nobody left to hear the leave broadcast (the whole domain is
	// stopping): memberlist would wait out the timeout for it.
	var err error
	if told > 0 {
		err = c.ml.Leave(timeout)
	}
	if e := c.ml.Shutdown(); err == nil {
		err = e
	}
	return err
}

// Shutdown stops gossip without saying goodbye (others will see this node
// fail).
func (c *Cluster) Shutdown() error { return c.ml.Shutdown() }

// setMember records a node's state from a memberlist event.
func (c *Cluster) setMember(n *memberlist.Node, status string) {
	meta, err := decodeMeta(n.Meta)
	if err != nil || meta.ID == "" {
		c.log.Warn("ignoring gossip member with unreadable metadata", "name", n.Name, "addr", n.Address(), "err", err)
		return
	}
	c.mu.Lock()
	old, ok := c.members[meta.ID]
	// It said goodbye and then went: a leave, not a failure.
	if a, said := c.announced[meta.ID]; said && status == StatusDead {
		if a.boot == meta.Boot && time.Since(a.at) < leaveWindow {
			status = StatusLeft
		}
		delete(c.announced, meta.ID)
	}
	// Once left, its failure is no news, and neither is an update the same
	// run sent before leaving (a leader advertising its successor) that
	// arrives after. Only a new run comes back.
	if ok && old.Status == StatusLeft && (status == StatusDead || meta.Boot != "" && meta.Boot == old.Boot) {
		status = StatusLeft
	}
	delete(c.suspects, meta.ID) // news of it: alive again, or gone
	m := &Member{Meta: meta, GossipAddr: n.Address(), Status: status, Since: time.Now()}
	if ok && old.Status == status {
		m.Since = old.Since
	}
	c.members[meta.ID] = m
	c.mu.Unlock()
	if !ok || old.Status != status || old.Meta != meta || old.GossipAddr != m.GossipAddr {
		if !ok || old.Status != status {
			c.log.Info("member "+status, "id", meta.ID, "zone", meta.Zone, "gossip", m.GossipAddr, "raft", meta.Raft, "http", meta.HTTP)
		}
		c.notifyChange()
	}
}

// markSuspect records that this node's probe of member name failed.
func (c *Cluster) markSuspect(name string) {
	c.mu.Lock()
	m, ok := c.members[name]
	known := ok && m.Status == StatusAlive && !c.suspects[name]
	if known {
		c.suspects[name] = true
	}
	c.mu.Unlock()
	if known {
		c.log.Info("member suspect", "id", name)
		c.notifyChange()
	}
}

// pings hears memberlist's successful probes: a suspect member that
// answers one is alive again.
type pings struct{ c *Cluster }

func (p pings) AckPayload() []byte { return nil }
func (p pings) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	p.c.mu.Lock()
	was := p.c.suspects[other.Name]
	delete(p.c.suspects, other.Name)
	p.c.mu.Unlock()
	if was {
		p.c.log.Info("member alive again", "id", other.Name)
		p.c.notifyChange()
	}
}

// leavingPrefix starts the message a node sends before leaving gracefully.
const leavingPrefix = "leaving:"

// announceLeaving records that member id's run boot said it is leaving.
// Nothing changes until gossip sees that run go (setMember): the message
// names a node but cannot prove who sent it.
func (c *Cluster) announceLeaving(id, boot string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.members[id]; ok && m.Boot == boot && m.Status != StatusLeft {
		c.announced[id] = announcement{boot: boot, at: time.Now()}
		c.log.Info("member is leaving", "id", id)
	}
}

// delegate gives memberlist this node's metadata; Cairn sends no other
// gossip payload.
type delegate struct{ c *Cluster }

func (d delegate) NodeMeta(limit int) []byte {
	b, err := d.c.Self().encode()
	if err != nil || len(b) > limit {
		d.c.log.Error("node metadata does not fit gossip", "err", err, "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg receives the one message Cairn sends: "leaving:<id>:<boot>".
func (d delegate) NotifyMsg(b []byte) {
	rest, ok := strings.CutPrefix(string(b), leavingPrefix)
	if !ok {
		return
	}
	id, boot, _ := strings.Cut(rest, ":")
	d.c.announceLeaving(id, boot)
}
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d delegate) LocalState(join bool) []byte                { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool)     {}

// events feeds memberlist's join, leave and update events into Members.
type events struct{ c *Cluster }

func (e events) NotifyJoin(n *memberlist.Node)   { e.c.setMember(n, StatusAlive) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.c.setMember(n, StatusAlive) }

// NotifyLeave is called for failures and graceful leaves alike; a leave
// was announced first (markLeft), and setMember keeps it.
func (e events) NotifyLeave(n *memberlist.Node) { e.c.setMember(n, StatusDead) }
