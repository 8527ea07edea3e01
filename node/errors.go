package node

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// ErrNotLeader means this node does not lead its zone; the write must go to
// the leader.
var ErrNotLeader = errors.New("not the zone leader")

// ErrNoLeader means the zone has no leader right now (an election is under
// way or quorum is lost); the client should retry.
var ErrNoLeader = errors.New("the zone has no leader")

// ErrLeadershipLost means this node lost its leadership while a write it
// had appended to its log was in flight: the write may or may not be
// applied (by the next leader). It is an ErrNotLeader.
var ErrLeadershipLost = fmt.Errorf("%w: leadership was lost before the write committed; it may still be applied", ErrNotLeader)

// ErrTimeout means the deadline passed before the command could be
// proposed (for a read: before the read barrier completed).
var ErrTimeout = errors.New("timed out waiting for the zone to commit")

// ErrOverloaded means this node already has its limit of commands in
// flight (Config.MaxApplyInFlight): the command was not proposed, so it is
// an ErrTimeout, safe to retry.
var ErrOverloaded = fmt.Errorf("%w: the zone leader has its limit of writes in flight (overloaded); retry", ErrTimeout)

// ErrShutdown means the node is shutting down.
var ErrShutdown = errors.New("node is shutting down")

// ErrDiskFault means a write of this node's Raft state (log, term, vote,
// snapshot) failed on its disk: the node takes no writes and is not ready
// until it is restarted with the disk fixed. The error is a *DiskFault
// that names the write and the disk's error.
var ErrDiskFault = errors.New("disk fault")

// ErrCredentialsChanged means a write a follower authorised and sent the
// leader (ForwardCommand) was refused because the caller's user record,
// which the follower checked the credentials against, has changed since at
// the leader (a new password or role, revoked tokens, the user removed):
// the follower's replica was behind. Nothing was applied; a retry is
// checked again against the change.
var ErrCredentialsChanged = errors.New("the caller's user changed since this node checked the credentials")

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
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout // raft.Apply's timeout bounds only the enqueueing
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}

// NotApplied reports whether err, returned by Apply, guarantees that the
// command was never appended to the log, or was refused whole where it was
// (ErrCredentialsChanged), so it will never be applied and retrying it is
// safe. Other errors (ErrLeadershipLost, ErrShutdown) leave the outcome
// unknown.
func NotApplied(err error) bool {
	if re := (*remoteError)(nil); errors.As(err, &re) {
		return re.notApplied // the leader's word (commands.go)
	}
	if errors.Is(err, ErrLeadershipLost) {
		return false
	}
	if errors.Is(err, ErrCredentialsChanged) {
		return true
	}
	if errors.As(err, new(writeRefused)) {
		return true // refused before it was proposed
	}
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrTimeout)
}
