package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Server is one member of the zone's Raft configuration.
type Server struct {
	// ID is the node id; RaftID the Raft server id, which also names the
	// node's data dir (see NodeIDOf).
	ID      string `json:"id"`
	RaftID  string `json:"raft_id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Suffrage names a server's vote as the APIs show it.
func (s Server) Suffrage() string {
	if s.Voter {
		return "voter"
	}
	return "nonvoter"
}

// Servers returns the zone's current Raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, translate(err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: NodeIDOf(string(s.ID)), RaftID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AddVoter adds the server raftID at addr as a voter, or updates its
// address in place if it is already a member. Only the leader can change
// the configuration.
func (n *Node) AddVoter(raftID, addr string) error {
	return translate(n.raft.AddVoter(raft.ServerID(raftID), raft.ServerAddress(addr), 0, n.cfg.ApplyTimeout).Error())
}

// AddNonvoter adds the server raftID at addr as a non-voter (it receives
// the log but does not vote), or updates its address in place.
func (n *Node) AddNonvoter(raftID, addr string) error {
	return translate(n.raft.AddNonvoter(raft.ServerID(raftID), raft.ServerAddress(addr), 0, n.cfg.ApplyTimeout).Error())
}

// RemoveServer removes the server raftID from the configuration.
func (n *Node) RemoveServer(raftID string) error {
	return translate(n.raft.RemoveServer(raft.ServerID(raftID), 0, n.cfg.ApplyTimeout).Error())
}

// CommitIndex returns the highest log index this node knows to be
// committed.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// HasState reports whether the node has Raft state (a log, a snapshot or a
// term) from an earlier run or from having been joined.
func (n *Node) HasState() bool {
	return n.raft.LastIndex() > 0 || n.raft.CurrentTerm() > 0
}

// ErrAlreadyBootstrapped means the node already has Raft state.
var ErrAlreadyBootstrapped = errors.New("the node already has raft state")

// BootstrapZone founds a zone whose first configuration is servers (this
// node among them). Every node that bootstraps the same zone must pass the
// same servers; -bootstrap-expect arranges that.
func (n *Node) BootstrapZone(servers []Server) error {
	cfg := raft.Configuration{}
	self := false
	for _, s := range servers {
		suffrage := raft.Nonvoter
		if s.Voter {
			suffrage = raft.Voter
		}
		self = self || s.RaftID == n.raftID
		cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(s.RaftID), Address: raft.ServerAddress(s.Address), Suffrage: suffrage})
	}
	if !self {
		return fmt.Errorf("bootstrap configuration does not include this node %q", n.cfg.NodeID)
	}
	err := n.raft.BootstrapCluster(cfg).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return ErrAlreadyBootstrapped
	}
	if err == nil {
		n.bootstrapped = true
	}
	return translate(err)
}

// TransferLeadership hands leadership to another voter and waits for it;
// a leader does this before leaving so that the zone does not wait for an
// election timeout.
func (n *Node) TransferLeadership() error {
	if !n.IsLeader() {
		return nil
	}
	return translate(n.raft.LeadershipTransfer().Error())
}

// OnLeaderChange calls fn with the leader's node id ("" while there is
// none) every time this node sees the leader change. fn runs on one
// goroutine, in order; it must not block for long.
//
// Raft's observations are only a wake-up: they are dropped when the
// channel is full, so the leader is read from Raft each time, and once a
// second regardless, and fn hears every change that lasts.
func (n *Node) OnLeaderChange(fn func(leaderID string)) {
	ch := make(chan raft.Observation, 1)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	go func() {
		defer n.raft.DeregisterObserver(obs)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, told := "", false
		for {
			if id, _ := n.Leader(); id != last || !told {
				last, told = id, true
				fn(id)
			}
			select {
			case <-n.closed:
				return
			case <-ch:
			case <-tick.C:
			}
		}
	}()
}
