package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"cairn/node/failpoint"

	"github.com/hashicorp/raft"
)

// A disk fault is a write of Raft's state that failed: log entries, the
// term or a vote, a snapshot. The node records the first one and from
// then on, until it is restarted:
//
//   - it is not ready (Ready names the fault) and takes no writes: Apply
//     and the HTTP forwarder refuse them with the fault (ErrDiskFault);
//   - it drops out of Raft: its transport refuses every RPC in and out
//     (isolateOnDiskFault), so it neither votes nor takes entries it
//     cannot store, and its election and heartbeat timeouts are raised
//     out of reach (stopStanding), so it never stands for election, not
//     even alone in a single-node zone; nor does it take snapshots.
//     hashicorp/raft makes a leader whose log write fails step down at
//     once (dispatchLogs); a leader whose snapshot write failed steps
//     down when its lease runs out without heartbeats (a single-node
//     zone's leader stays, refusing writes). Raft would panic if it had
//     to persist a new term on the failed disk (setCurrentTerm); isolated
//     and never a candidate, it never has to.
//
// Nothing acknowledged is lost: a write is acknowledged once a quorum
// stored it, and the faulty node acknowledges nothing it did not store.
// Once the disk has space again (or is replaced), restarting the node
// resumes it: it catches up from the leader.

// DiskFault is the first failed disk write a node recorded. It is an
// ErrDiskFault and wraps the disk's error.
type DiskFault struct {
	Op   string    // what could not be written: "append entries to the raft log", ...
	Kind string    // the error's class: "no space left on device (ENOSPC)", ...
	Err  error     // the disk's error
	At   time.Time // when
}

func (f *DiskFault) Error() string {
	return fmt.Sprintf("%s: could not %s: %s (%v); this node takes no writes until it is restarted with the disk fixed",
		ErrDiskFault, f.Op, f.Kind, f.Err)
}

func (f *DiskFault) Unwrap() []error { return []error{ErrDiskFault, f.Err} }

// writeRefused is the DiskFault a write was refused with before it was
// proposed: certainly not applied (NotApplied).
type writeRefused struct{ *DiskFault }

func (e writeRefused) Unwrap() error { return e.DiskFault }

// classify names the kind of a disk error.
func classify(err error) string {
	for _, c := range []struct {
		errno syscall.Errno
		name  string
	}{
		{syscall.ENOSPC, "ENOSPC"}, {syscall.EDQUOT, "EDQUOT"}, {syscall.EIO, "EIO"}, {syscall.EROFS, "EROFS"},
	} {
		// Some layers flatten the error to text (bolt's "file resize
		// error: %s"): the errno's message is then looked for instead.
		if errors.Is(err, c.errno) || strings.Contains(err.Error(), c.errno.Error()) {
			return fmt.Sprintf("%s (%s)", c.errno.Error(), c.name)
		}
	}
	return "write error"
}

// diskWatch records the first disk fault of a node.
type diskWatch struct {
	fault atomic.Pointer[DiskFault]
	log   *slog.Logger
	// onFault runs once, on the first fault, in the goroutine that met it
	// (raft's own, often): it must not block.
	onFault func()
}

func newDiskWatch(log *slog.Logger, onFault func()) *diskWatch {
	return &diskWatch{log: log, onFault: onFault}
}

// record notes that op failed with err (nil: it did not) and returns the
// error to hand on.
func (w *diskWatch) record(op string, err error) error {
	if err == nil {
		return nil
	}
	f := &DiskFault{Op: op, Kind: classify(err), Err: err, At: time.Now()}
	if w.fault.CompareAndSwap(nil, f) {
		w.log.Error("disk fault: a write of raft state failed; this node takes no writes, is not ready and leaves raft until it is restarted with the disk fixed",
			"op", op, "kind", f.Kind, "err", err)
		if w.onFault != nil {
			w.onFault()
		}
	} else {
		w.log.Warn("disk fault: another write of raft state failed", "op", op, "kind", f.Kind, "err", err)
	}
	return f
}

// err returns the recorded fault, or nil.
func (w *diskWatch) err() error {
	if w == nil {
		return nil
	}
	if f := w.fault.Load(); f != nil {
		return f
	}
	return nil
}

// refuse returns the error a write is refused with before it is
// proposed, or nil while the disk is fine.
func (w *diskWatch) refuse() error {
	if w == nil {
		return nil
	}
	if f := w.fault.Load(); f != nil {
		return writeRefused{f}
	}
	return nil
}

// explain returns the recorded fault in place of a proposed write's
// error (raft's own error names no cause: the log cache flattens it),
// unless err is one this package knows, which says more (ErrNotLeader,
// ErrTimeout: certainly not applied); err itself while the disk is fine.
// The fault leaves the write's outcome unknown.
func (w *diskWatch) explain(err error) error {
	f := w.err()
	if f == nil || err == nil || errors.Is(err, ErrShutdown) || errors.Is(err, ErrTimeout) ||
		errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost) {
		return err
	}
	return f
}

// neverTimeout is a Raft timeout that does not run out (about 73 years;
// raft draws a random timeout up to twice it, within time.Duration).
const neverTimeout = time.Duration(math.MaxInt64 / 4)

// stopStanding raises the node's Raft election and heartbeat timeouts
// and snapshot threshold out of reach, through raft's ReloadConfig (which
// does not block): with a disk fault it must never stand for election,
// whose first step, persisting a new term, raft cannot survive failing.
func (n *Node) stopStanding() {
	if n.transport == nil {
		return
	}
	r := n.transport.raft.Load()
	if r == nil {
		return
	}
	rc := r.ReloadableConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.SnapshotThreshold = neverTimeout, neverTimeout, math.MaxUint64
	if err := r.ReloadConfig(rc); err != nil {
		n.log.Error("disk fault: could not stop this node from standing for election", "err", err)
		return
	}
	n.log.Warn("disk fault: this node no longer stands for election nor takes snapshots until it is restarted")
}

// DiskFault returns the disk fault this node recorded (a *DiskFault), or
// nil while its disk is fine.
func (n *Node) DiskFault() error { return n.disk.err() }

// diskFaultText is DiskFault's message, "" for none.
func (n *Node) diskFaultText() string {
	if err := n.disk.err(); err != nil {
		return err.Error()
	}
	return ""
}

// watchLogs wraps a Raft log store so that its failed writes are recorded.
func (w *diskWatch) watchLogs(s raft.LogStore) raft.LogStore { return watchedLogStore{s, w} }

type watchedLogStore struct {
	raft.LogStore
	w *diskWatch
}

func (s watchedLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s watchedLogStore) StoreLogs(logs []*raft.Log) error {
	// The failpoint stands for the disk: it fails the write in its stead.
	if err := failpoint.InjectError(failpoint.LogStoreError); err != nil {
		return s.w.record("append entries to the raft log", err)
	}
	return s.w.record("append entries to the raft log", s.LogStore.StoreLogs(logs))
}

func (s watchedLogStore) DeleteRange(min, max uint64) error {
	return s.w.record("delete entries from the raft log", s.LogStore.DeleteRange(min, max))
}

// IsMonotonic passes on the wrapped store's answer (raft.MonotonicLogStore).
func (s watchedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// watchLog returns log with its records also watched for raft-wal's
// "rotate error": raft-wal starts each new segment file in a goroutine of
// its own and only logs why that failed (ENOSPC, say); the next append
// then fails with "segment is sealed", which names no cause.
func (w *diskWatch) watchLog(log *slog.Logger) *slog.Logger {
	return slog.New(rotateErrHandler{log.Handler(), w})
}

type rotateErrHandler struct {
	slog.Handler
	w *diskWatch
}

func (h rotateErrHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && r.Message == "rotate error" {
		err := errors.New("raft-wal could not start a new segment file")
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "err" {
				return true
			}
			if e, ok := a.Value.Any().(error); ok {
				err = e
			} else {
				err = errors.New(a.Value.String())
			}
			return false
		})
		h.w.record("start a new segment of the raft log", err)
	}
	return h.Handler.Handle(ctx, r)
}

func (h rotateErrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return rotateErrHandler{h.Handler.WithAttrs(as), h.w}
}

func (h rotateErrHandler) WithGroup(name string) slog.Handler {
	return rotateErrHandler{h.Handler.WithGroup(name), h.w}
}

// watchStable wraps Raft's stable store (term, vote) likewise.
func (w *diskWatch) watchStable(s raft.StableStore) raft.StableStore { return watchedStableStore{s, w} }

type watchedStableStore struct {
	raft.StableStore
	w *diskWatch
}

func (s watchedStableStore) Set(key, val []byte) error {
	if err := failpoint.InjectError(failpoint.LogStoreError); err != nil {
		return s.w.record("persist raft's term or vote", err)
	}
	return s.w.record("persist raft's term or vote", s.StableStore.Set(key, val))
}

func (s watchedStableStore) SetUint64(key []byte, val uint64) error {
	if err := failpoint.InjectError(failpoint.LogStoreError); err != nil {
		return s.w.record("persist raft's term or vote", err)
	}
	return s.w.record("persist raft's term or vote", s.StableStore.SetUint64(key, val))
}

// watchSnapshots wraps a snapshot store so that failed snapshot writes
// (a snapshot taken here, or one installed from the leader) are recorded.
func (w *diskWatch) watchSnapshots(s raft.SnapshotStore) *watchedSnapshotStore {
	return &watchedSnapshotStore{SnapshotStore: s, w: w}
}

type watchedSnapshotStore struct {
	raft.SnapshotStore
	w *diskWatch
	// openErr records, by snapshot id, why Open failed: start-up names
	// the file of a newest snapshot raft could not open (checkRestored).
	openErr atomic.Pointer[map[string]error]
}

func (s *watchedSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, s.w.record("create a snapshot", err)
	}
	return &watchedSink{SnapshotSink: sink, w: s.w}, nil
}

func (s *watchedSnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil {
		m := map[string]error{}
		if old := s.openErr.Load(); old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		m[id] = err
		s.openErr.Store(&m)
	}
	return meta, rc, err
}

// openError returns why opening snapshot id failed, or nil.
func (s *watchedSnapshotStore) openError(id string) error {
	if m := s.openErr.Load(); m != nil {
		return (*m)[id]
	}
	return nil
}

type watchedSink struct {
	raft.SnapshotSink
	w      *diskWatch
	failed bool // a write failed: Close's error is the same fault
}

func (s *watchedSink) Write(p []byte) (int, error) {
	if err := failpoint.InjectError(failpoint.SnapshotWriteError); err != nil {
		s.failed = true
		return 0, s.w.record("write a snapshot", err)
	}
	n, err := s.SnapshotSink.Write(p)
	if err != nil {
		s.failed = true
		err = s.w.record("write a snapshot", err)
	}
	return n, err
}

func (s *watchedSink) Close() error {
	if err := failpoint.InjectError(failpoint.SnapshotWriteError); err != nil {
		s.SnapshotSink.Cancel()
		return s.w.record("write a snapshot", err)
	}
	err := s.SnapshotSink.Close()
	if err != nil && !s.failed {
		err = s.w.record("write a snapshot", err)
	}
	return err
}

// isolateOnDiskFault makes the transport refuse every Raft RPC, in and
// out, once w has recorded a fault (see the top of this file).
func (g *voteGuardTransport) isolateOnDiskFault(w *diskWatch) { g.disk.Store(w) }

// diskErr is the fault the transport is isolated for, or nil.
func (g *voteGuardTransport) diskErr() error { return g.disk.Load().err() }

// refuseForDisk answers rpc with the disk fault, if there is one; it
// reports whether it did.
func (g *voteGuardTransport) refuseForDisk(rpc raft.RPC) bool {
	err := g.diskErr()
	if err == nil {
		return false
	}
	if req, ok := rpc.Command.(*raft.InstallSnapshotRequest); ok && rpc.Reader != nil {
		// Read the streamed snapshot off so the connection stays usable.
		io.Copy(io.Discard, io.LimitReader(rpc.Reader, req.Size))
	}
	rpc.Respond(nil, err)
	return true
}

// SetHeartbeatHandler installs raft's heartbeat fast path, which bypasses
// Consumer, behind the disk-fault refusal.
func (g *voteGuardTransport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		g.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	g.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		if !g.refuseForDisk(rpc) {
			cb(rpc)
		}
	})
}

func (g *voteGuardTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if err := g.diskErr(); err != nil {
		return nil, err
	}
	p, err := g.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return guardedPipeline{p, g}, nil
}

// guardedPipeline is a pipeline that fails once the node has a disk
// fault: a pipeline opened before the fault would otherwise go on
// sending (raft sends on it every CommitTimeout, entries or not, and
// counts the answers as contact), and keep a faulty leader in office.
type guardedPipeline struct {
	raft.AppendPipeline
	g *voteGuardTransport
}

func (p guardedPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if err := p.g.diskErr(); err != nil {
		return nil, err
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}

func (g *voteGuardTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if err := g.diskErr(); err != nil {
		return err
	}
	return g.NetworkTransport.AppendEntries(id, target, args, resp)
}

func (g *voteGuardTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if err := g.diskErr(); err != nil {
		return err
	}
	return g.NetworkTransport.RequestVote(id, target, args, resp)
}

func (g *voteGuardTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if err := g.diskErr(); err != nil {
		return err
	}
	return g.NetworkTransport.RequestPreVote(id, target, args, resp)
}

func (g *voteGuardTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if err := g.diskErr(); err != nil {
		return err
	}
	return g.NetworkTransport.InstallSnapshot(id, target, args, resp, data)
}

func (g *voteGuardTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	if err := g.diskErr(); err != nil {
		return err
	}
	return g.NetworkTransport.TimeoutNow(id, target, args, resp)
}
