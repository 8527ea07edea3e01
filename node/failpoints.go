package node

import (
	"io"

	"cairn/node/failpoint"

	"github.com/hashicorp/raft"
)

// withFailpoints wraps the Raft log store and the FSM so that the named
// failpoints of a failpoints build fire inside them; any other build gets
// both back as they are.
func withFailpoints(logs raft.LogStore, f raft.ConfigurationStore) (raft.LogStore, raft.ConfigurationStore) {
	if !failpoint.Enabled {
		return logs, f
	}
	return failpointLogStore{logs}, failpointFSM{f}
}

// failpointLogStore fires LogBeforeStore and LogAfterStore around the log's
// writes.
type failpointLogStore struct{ raft.LogStore }

func (s failpointLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s failpointLogStore) StoreLogs(logs []*raft.Log) error {
	failpoint.Inject(failpoint.LogBeforeStore)
	err := s.LogStore.StoreLogs(logs)
	failpoint.Inject(failpoint.LogAfterStore)
	return err
}

// IsMonotonic passes on the wrapped store's answer (raft.MonotonicLogStore).
func (s failpointLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// failpointFSM fires SnapshotPersist after a snapshot's first bytes are
// written and SnapshotRestore after a restore's first bytes are read: both in
// the middle of the stream. Embedding the ConfigurationStore keeps
// StoreConfiguration reaching the FSM.
type failpointFSM struct{ raft.ConfigurationStore }

func (f failpointFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.ConfigurationStore.Snapshot()
	if err != nil {
		return nil, err
	}
	return failpointSnapshot{s}, nil
}

func (f failpointFSM) Restore(rc io.ReadCloser) error {
	return f.ConfigurationStore.Restore(&failpointReader{ReadCloser: rc})
}

type failpointSnapshot struct{ raft.FSMSnapshot }

func (s failpointSnapshot) Persist(sink raft.SnapshotSink) error {
	return s.FSMSnapshot.Persist(&failpointSink{SnapshotSink: sink})
}

type failpointSink struct {
	raft.SnapshotSink
	fired bool
}

func (s *failpointSink) Write(p []byte) (int, error) {
	n, err := s.SnapshotSink.Write(p)
	if !s.fired && n > 0 {
		s.fired = true
		failpoint.Inject(failpoint.SnapshotPersist)
	}
	return n, err
}

type failpointReader struct {
	io.ReadCloser
	fired bool
}

func (r *failpointReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if !r.fired && n > 0 {
		r.fired = true
		failpoint.Inject(failpoint.SnapshotRestore)
	}
	return n, err
}

// restoreTracker records whether the last snapshot install failed: such a
// node holds older state than its log position claims and must not report
// ready or be promoted to voter until an install succeeds.
type restoreTracker struct {
	raft.ConfigurationStore
	n *Node
}

func (t restoreTracker) Restore(rc io.ReadCloser) error {
	err := t.ConfigurationStore.Restore(rc)
	if err != nil {
		t.n.restoreErr.CompareAndSwap(nil, &err)
		if !t.n.restoreFailed.Swap(true) {
			t.n.log.Error("installing a snapshot failed; this node is not ready until one installs", "err", err)
		}
		return err
	}
	if t.n.restoreFailed.Swap(false) {
		t.n.log.Info("a snapshot installed after an earlier failure")
	}
	return nil
}
