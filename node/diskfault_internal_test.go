package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
)

// failingLogs is a log store whose writes fail with err.
type failingLogs struct {
	raft.LogStore
	err error
}

func (s failingLogs) StoreLogs([]*raft.Log) error { return s.err }

func TestDiskWatch_RecordsTheFirstFault(t *testing.T) {
	faults := 0
	w := newDiskWatch(slog.New(slog.NewTextHandler(io.Discard, nil)), func() { faults++ })
	if w.err() != nil || w.refuse() != nil {
		t.Fatal("a new watch reports a fault")
	}
	enospc := &os.PathError{Op: "write", Path: "raft.db", Err: syscall.ENOSPC}
	logs := w.watchLogs(failingLogs{raft.NewInmemStore(), enospc})
	err := logs.StoreLog(&raft.Log{Index: 1})
	if !errors.Is(err, ErrDiskFault) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("StoreLog = %v, want an ErrDiskFault wrapping ENOSPC", err)
	}
	w.record("write a snapshot", syscall.EIO) // a second fault: the first is kept
	got := w.err()
	if got == nil || !strings.Contains(got.Error(), "append entries to the raft log") || !strings.Contains(got.Error(), "(ENOSPC)") {
		t.Fatalf("recorded %v, want the log append's ENOSPC", got)
	}
	if faults != 1 {
		t.Fatalf("onFault ran %d times for two faults, want once", faults)
	}
	if r := w.refuse(); !errors.Is(r, ErrDiskFault) || !NotApplied(r) {
		t.Fatalf("refuse() = %v: want an ErrDiskFault that is NotApplied", r)
	}
	if e := w.explain(errors.New("unable to store logs")); !errors.Is(e, ErrDiskFault) || NotApplied(e) {
		t.Fatalf("explain = %v: want an ErrDiskFault whose outcome is unknown", e)
	}
	if e := w.explain(ErrNotLeader); e != ErrNotLeader {
		t.Fatalf("explain(ErrNotLeader) = %v: a known error says more than the fault", e)
	}
	if _, ok := logs.(raft.MonotonicLogStore); !ok {
		t.Fatal("the watched log store hides raft.MonotonicLogStore")
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("x: %w", syscall.ENOSPC):                    "(ENOSPC)",
		&os.PathError{Op: "write", Err: syscall.EIO}:           "(EIO)",
		errors.New("file resize error: read-only file system"): "(EROFS)",
		errors.New("something else"):                           "write error",
	} {
		if got := classify(err); !strings.Contains(got, want) {
			t.Errorf("classify(%v) = %q, want %q in it", err, got, want)
		}
	}
}

func TestDiskWatch_RaftWALRotateError(t *testing.T) {
	w := newDiskWatch(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	log := w.watchLog(slog.New(slog.NewTextHandler(io.Discard, nil))).With("component", "raft-wal")
	log.Info("rotate error", "err", syscall.ENOSPC) // not an error record: ignored
	if w.err() != nil {
		t.Fatal("an info record was taken for a fault")
	}
	newHCLog(log, "raft-wal").Error("rotate error", "err", &os.PathError{Op: "open", Path: "00002.wal", Err: syscall.ENOSPC})
	if err := w.err(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "segment") {
		t.Fatalf("after raft-wal's rotate error the fault is %v, want ENOSPC starting a segment", err)
	}
}
