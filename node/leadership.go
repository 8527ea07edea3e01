package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cairn/fsm"
)

// leaderNotifications drains raft's leadership notifications into a
// coalescing signal. Raft blocks on its NotifyCh until someone reads it, and
// leaderLoop may be busy waiting for leader tasks that themselves wait on
// Raft; reading here at once keeps Raft's main loop from ever waiting on
// Cairn. The signal carries no value: leaderLoop reads the current state.
func (n *Node) leaderNotifications(notify <-chan bool) <-chan struct{} {
	wake := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-n.closed:
				return
			case <-notify:
				select {
				case wake <- struct{}{}:
				default: // a wake-up is already pending
				}
			}
		}
	}()
	return wake
}

// leaderLoop runs this node's leader tasks for each term it leads, once it
// has established leadership (establishLeadership). It reads Raft's state
// whenever woken, so coalesced notifications lose nothing; a failed
// establishment is retried while this node still leads that term.
func (n *Node) leaderLoop(wake <-chan struct{}) {
	defer close(n.loopDone)
	defer n.stopLeaderTasks()
	var (
		ledTerm    uint64 // the term whose leader tasks run; 0 for none
		seenTerm   uint64 // the last term this node was leader in
		retry      <-chan time.Time
		retryDelay time.Duration
	)
	for {
		select {
		case <-n.closed:
			return
		case <-wake:
		case <-retry:
		}
		retry = nil
		term, leading := n.raft.CurrentTerm(), n.IsLeader()
		if leading && term == ledTerm {
			continue
		}
		if ledTerm != 0 {
			n.readyTerm.Store(0)
			n.stopLeaderTasks()
			ledTerm = 0
		}
		if !leading {
			if seenTerm != 0 {
				n.log.Info("lost leadership", "zone", n.cfg.Zone)
				seenTerm = 0
			}
			continue
		}
		if seenTerm != term {
			n.log.Info("became leader", "zone", n.cfg.Zone, "term", term)
			seenTerm, retryDelay = term, 0
		}
		if err := n.establishLeadership(term); err != nil {
			retryDelay = min(max(2*retryDelay, 50*time.Millisecond), time.Second)
			n.log.Warn("establishing leadership failed; retrying while this node leads the term", "term", term, "err", err, "retry_in", retryDelay)
			retry = time.After(retryDelay)
			continue
		}
		ledTerm = term
		n.readyTerm.Store(term)
		n.updateOwnAddress()
		n.startLeaderTasks()
	}
}

// errTermChanged means leadership changed hands while it was being
// established; a wake-up follows.
var errTermChanged = errors.New("leadership changed hands meanwhile")

// establishLeadership applies a barrier command, so that every entry of
// earlier terms is applied here, and then writes the zone's identity if
// the zone has none yet (its first leader does this).
func (n *Node) establishLeadership(term uint64) error {
	// The barrier is an empty command rather than raft.Barrier: its entry
	// reaches the store, so from here on every entry up to the commit index
	// does (configuration changes via fsm.StoreConfiguration), and
	// ReadBarrier can wait on the store's own index.
	if _, _, err := n.Apply(context.Background(), fsm.Command{}); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	if n.raft.CurrentTerm() != term {
		return errTermChanged
	}
	if err := n.raiseLogFormat(); err != nil {
		return err
	}
	if n.ZoneID() != "" {
		return nil
	}
	id, err := newZoneID()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(ZoneIdentity{ZoneID: id, Zone: n.cfg.Zone, FoundedBy: n.cfg.NodeID})
	cmd := fsm.Command{Time: time.Now().UTC(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: ZoneKind, ID: ZoneIdentityID, Body: body, Require: fsm.RequireAbsent}}}
	_, _, err = n.Apply(context.Background(), cmd)
	if err != nil && !errors.Is(err, fsm.ErrConflict) {
		return fmt.Errorf("record the zone's identity: %w", err)
	}
	if err == nil {
		n.log.Info("recorded the zone's identity", "zone", n.cfg.Zone, "zone_id", id)
	}
	return nil
}

// raiseLogFormat moves the zone to the latest log format once every server
// of its configuration reads it: through a replicated command, so that
// every replica switches at the same entry.
func (n *Node) raiseLogFormat() error {
	if n.LogFormat() >= fsm.LatestFormat || !n.zoneReads(fsm.LatestFormat) {
		return nil
	}
	cmd := fsm.Command{Time: time.Now().UTC(), Ops: []fsm.Op{{Type: fsm.OpSetFormat, Version: fsm.LatestFormat}}}
	if _, _, err := n.Apply(context.Background(), cmd); err != nil {
		return fmt.Errorf("move the zone to log format %d: %w", fsm.LatestFormat, err)
	}
	n.log.Info("moved the zone to the latest log format", "zone", n.cfg.Zone, "format", fsm.LatestFormat)
	return nil
}

// raiseLogFormatLoop retries raiseLogFormat while this node leads, until
// the zone is at the latest format: a member still running an older
// version holds it back until it is upgraded. It is a leader task.
func (n *Node) raiseLogFormatLoop(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for n.LogFormat() < fsm.LatestFormat {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := n.raiseLogFormat(); err != nil {
			n.log.Warn("could not move the zone to the latest log format; will retry", "err", err)
		}
	}
}

// The zone's identity is a resource of the store, so it is replicated,
// snapshotted and restored with everything else. A zone id tells two Raft
// groups that happen to share a zone name apart: gossip carries it, and no
// member of one is ever added to the other.
const (
	ZoneKind       = "cairn.zone"
	ZoneIdentityID = "identity"
)

// Kinds are the kinds the node itself writes: the zone's identity, owned
// by the zone's leader (no API writes it).
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{{Kind: ZoneKind, Owner: "zone's leader (no API writes it)"}}
}

// ZoneIdentity is the body of the zone's identity resource.
type ZoneIdentity struct {
	ZoneID    string `json:"zone_id"`
	Zone      string `json:"zone"`
	FoundedBy string `json:"founded_by"`
}

// ZoneID returns the identity of the zone whose state this node holds, or
// "" while it has applied none.
func (n *Node) ZoneID() string {
	r := n.store.View().Get(ZoneKind, ZoneIdentityID)
	if r == nil {
		return ""
	}
	var zi ZoneIdentity
	if json.Unmarshal(r.Body, &zi) != nil {
		return ""
	}
	return zi.ZoneID
}

func newZoneID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
