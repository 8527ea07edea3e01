package node

import (
	"errors"

	"github.com/hashicorp/raft"
)

// ErrNotLeader means this node does not lead its zone; the write must go to
// the leader.
var ErrNotLeader = errors.New("not the zone leader")

// ErrNoLeader means the zone has no leader right now (an election is under
// way or quorum is lost); the client should retry.
var ErrNoLeader = errors.New("the zone has no leader")

// ErrTimeout means the deadline passed before Raft committed and applied
// the command; it may still be applied later.
var ErrTimeout = errors.New("timed out waiting for the zone to commit")

// ErrShutdown means the node is shutting down.
var ErrShutdown = errors.New("node is shutting down")

// ErrDataDirInUse means another process holds this data dir.
var ErrDataDirInUse = errors.New("data dir is in use by another process")

// errNotAdvertisable means Raft listens on an address peers cannot dial
// (0.0.0.0) and no advertise address was given.
var errNotAdvertisable = errors.New("the raft bind address is not advertisable")

// translate maps hashicorp/raft's errors to this package's, once, at the
// node boundary.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return ErrNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}
