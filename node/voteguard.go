package node

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// voteGuardTransport is raft's network transport with one rule added: this
// node grants no vote (nor pre-vote) unless it is a voter in the
// configuration it knows.
//
// hashicorp/raft grants votes while it knows no configuration at all (it
// takes that for a zone being bootstrapped). A voter whose data dir was
// wiped and that comes back on the same address would then vote with an
// empty log, and its vote could elect a peer that lacks entries the old dir
// had acknowledged. A node only votes once a leader has made it a voter
// under its own Raft server id (bound to the data dir's incarnation), and
// by then its log holds everything committed before that configuration.
// A zone's founders are voters in their bootstrap configuration, so
// founding elections are unaffected.
type voteGuardTransport struct {
	*raft.NetworkTransport
	self     raft.ServerID
	raft     atomic.Pointer[raft.Raft] // nil until raft.NewRaft returns: no votes before
	consumer chan raft.RPC
	refused  atomic.Uint64 // votes refused, for tests and logs

	closed    chan struct{}
	closeOnce sync.Once
}

func newVoteGuardTransport(t *raft.NetworkTransport, self raft.ServerID) *voteGuardTransport {
	g := &voteGuardTransport{NetworkTransport: t, self: self, consumer: make(chan raft.RPC), closed: make(chan struct{})}
	go g.filter()
	return g
}

// Consumer is where raft reads incoming RPCs: every RPC of the network
// transport but the votes this node may not grant.
func (g *voteGuardTransport) Consumer() <-chan raft.RPC { return g.consumer }

// filter passes RPCs on to raft and answers refused votes itself. It ends
// when the transport closes (raft stops reading then too).
func (g *voteGuardTransport) filter() {
	in := g.NetworkTransport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-g.shutdownCh():
			return
		}
		if resp := g.refusal(rpc); resp != nil {
			g.refused.Add(1)
			rpc.Respond(resp, nil)
			continue
		}
		select {
		case g.consumer <- rpc:
		case <-g.shutdownCh():
			return
		}
	}
}

// shutdownCh is closed when the transport is.
func (g *voteGuardTransport) shutdownCh() <-chan struct{} { return g.closed }

// Close closes the network transport and ends the filter.
func (g *voteGuardTransport) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.NetworkTransport.Close()
}

// refusal returns the answer to a vote this node may not grant, or nil to
// let raft decide.
func (g *voteGuardTransport) refusal(rpc raft.RPC) any {
	switch req := rpc.Command.(type) {
	case *raft.RequestVoteRequest:
		if !g.mayVote() {
			return &raft.RequestVoteResponse{RPCHeader: g.header(), Term: req.Term, Granted: false}
		}
	case *raft.RequestPreVoteRequest:
		if !g.mayVote() {
			return &raft.RequestPreVoteResponse{RPCHeader: g.header(), Term: req.Term, Granted: false}
		}
	}
	return nil
}

func (g *voteGuardTransport) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(g.self), Addr: []byte(g.LocalAddr())}
}

// mayVote reports whether this node is a voter in its latest configuration.
func (g *voteGuardTransport) mayVote() bool {
	r := g.raft.Load()
	if r == nil {
		return false
	}
	for _, s := range r.GetConfiguration().Configuration().Servers {
		if s.ID == g.self {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}
