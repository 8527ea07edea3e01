package node

import (
	"fmt"
	"time"
)

// RaftTuning is the part of Raft's configuration that may change while the
// node runs (hashicorp/raft's ReloadableConfig, less the timeouts, which
// stay as the node was started with).
type RaftTuning struct {
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
}

// RaftTuning returns the values Raft runs with now.
func (n *Node) RaftTuning() RaftTuning {
	rc := n.raft.ReloadableConfig()
	return RaftTuning{SnapshotThreshold: rc.SnapshotThreshold, TrailingLogs: rc.TrailingLogs, SnapshotInterval: rc.SnapshotInterval}
}

// SetRaftTuning changes the snapshot settings of the running Raft member
// (raft.ReloadConfig); the heartbeat and election timeouts are kept.
func (n *Node) SetRaftTuning(t RaftTuning) error {
	rc := n.raft.ReloadableConfig()
	rc.SnapshotThreshold, rc.TrailingLogs, rc.SnapshotInterval = t.SnapshotThreshold, t.TrailingLogs, t.SnapshotInterval
	if err := n.raft.ReloadConfig(rc); err != nil {
		return fmt.Errorf("reload raft config: %w", err)
	}
	return nil
}
