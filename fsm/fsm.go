package fsm

import (
	"io"
	"log/slog"

	"github.com/hashicorp/raft"
)

// FSM adapts the Store to hashicorp/raft. It only decodes log entries and
// delegates; the Store does the work.
type FSM struct {
	store *Store
	log   *slog.Logger

	// lastRestoreErr is the last restore failure logged: raft retries a
	// snapshot install every few seconds, and the same failure is logged
	// at error level once, not on every retry.
	lastRestoreErr string
}

// NewFSM returns the raft.FSM for store.
func NewFSM(store *Store, log *slog.Logger) *FSM {
	return &FSM{store: store, log: log.With("component", "fsm")}
}

// Apply decodes a committed log entry and applies it. The returned value is
// a *Result, handed back to the proposer through raft's ApplyFuture.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		f.store.SkipIndex(l.Index)
		return nil
	}
	cmd, err := DecodeCommand(l.Data)
	if err != nil {
		// A node never proposes an undecodable entry; if one is committed
		// anyway (a newer format replayed by an older binary) every replica
		// skips it alike rather than crashing.
		f.log.Error("skipping undecodable log entry", "index", l.Index, "err", err)
		f.store.SkipIndex(l.Index)
		return &Result{Index: l.Index, Invalid: err.Error()}
	}
	return f.store.Apply(l.Index, cmd)
}

// StoreConfiguration is called (raft.ConfigurationStore) for every
// committed configuration change. The store keeps no membership, but its
// index must pass these entries too: a consistent read waits for the
// store's index to reach the commit index.
func (f *FSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.store.SkipIndex(index)
}

// Snapshot captures an immutable view; the write-out happens later in
// Persist without holding up Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{view: f.store.View()}, nil
}

// Restore replaces the store's whole state with the snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	err := f.store.Restore(rc)
	switch {
	case err == nil:
		f.lastRestoreErr = ""
	case err.Error() != f.lastRestoreErr:
		f.lastRestoreErr = err.Error()
		f.log.Error("cannot install snapshot; this node keeps its state and raft will retry", "err", err)
	default:
		f.log.Debug("cannot install snapshot, again", "err", err)
	}
	return err
}

type fsmSnapshot struct{ view *View }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.view.WriteSnapshot(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
