package node

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// voteGuardTransport is raft's network transport with two rules added.
//
// First, this node grants no vote (nor pre-vote) unless it is a voter in
// the configuration it knows.
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
//
// Second, a snapshot older than this node's log is acknowledged without
// being installed (Raft §7: "retain log entries following it and reply").
// hashicorp/raft would install it and take its configuration for the
// latest, forgetting a newer configuration entry in the log: a wiped node
// restarted on its old address got such a snapshot from the leader's last
// replication to its old, removed server, came to believe it was a
// non-voter again while the leader counted its vote, and the zone could no
// longer elect a leader once one more node failed.
type voteGuardTransport struct {
	*raft.NetworkTransport
	self     raft.ServerID
	raft     atomic.Pointer[raft.Raft] // nil until raft.NewRaft returns: no votes before
	consumer chan raft.RPC
	refused  atomic.Uint64 // votes refused, for tests and logs
	// holds reports whether this node's log or snapshot holds the entry at
	// index with term.
	holds func(index, term uint64) bool
	// disk, once set, isolates this node from Raft when it records a disk
	// fault (isolateOnDiskFault).
	disk atomic.Pointer[diskWatch]

	closed    chan struct{}
	closeOnce sync.Once
}

func newVoteGuardTransport(t *raft.NetworkTransport, self raft.ServerID, holds func(index, term uint64) bool) *voteGuardTransport {
	g := &voteGuardTransport{NetworkTransport: t, self: self, holds: holds, consumer: make(chan raft.RPC), closed: make(chan struct{})}
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
		if g.refuseForDisk(rpc) {
			continue
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
	case *raft.InstallSnapshotRequest:
		if g.staleSnapshot(req) {
			// The sender streams the snapshot after the request: read it
			// off so the connection stays usable.
			if rpc.Reader != nil {
				io.Copy(io.Discard, io.LimitReader(rpc.Reader, req.Size))
			}
			return &raft.InstallSnapshotResponse{RPCHeader: g.header(), Term: req.Term, Success: true}
		}
	}
	return nil
}

// staleSnapshot reports whether req offers a snapshot this node's log
// already goes past, in the current term: it holds the snapshot's last
// entry (so, by Raft's log matching, everything before it) and more.
func (g *voteGuardTransport) staleSnapshot(req *raft.InstallSnapshotRequest) bool {
	r := g.raft.Load()
	if r == nil || g.holds == nil || req.Term != r.CurrentTerm() || req.LastLogIndex >= r.LastIndex() {
		return false
	}
	return g.holds(req.LastLogIndex, req.LastLogTerm)
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

// holdsEntry reports whether the log holds the entry at index with term,
// or the newest snapshot covers index (a snapshot holds only committed
// entries, which every later leader's log holds too).
func holdsEntry(logs raft.LogStore, snaps raft.SnapshotStore, index, term uint64) bool {
	var l raft.Log
	if err := logs.GetLog(index, &l); err == nil {
		return l.Term == term
	}
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return false
	}
	newest := metas[0]
	return newest.Index > index || newest.Index == index && newest.Term == term
}
