package node

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// TestCheckWAL_EmptyNewestSegment: a newest segment raft-wal made but
// wrote nothing to (its making failed on a full disk, after the one
// before was sealed) passes the start-up check; an empty segment before
// the newest does not.
func TestCheckWAL_EmptyNewestSegment(t *testing.T) {
	raftDir := t.TempDir()
	dir := filepath.Join(raftDir, "wal")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithSegmentSize(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 40; i++ { // several segments of a few entries
		if err := w.StoreLogs([]*raft.Log{{Index: i, Term: 1, Data: make([]byte, 1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	meta.Close()
	if err := checkWAL(raftDir); err != nil {
		t.Fatalf("a healthy wal: %v", err)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("want at least 3 segments, have %v (%v)", segs, err)
	}
	sort.Strings(segs)
	zero := func(p string) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, st.Size()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	zero(segs[len(segs)-1])
	if err := checkWAL(raftDir); err != nil {
		t.Fatalf("an empty newest segment: %v", err)
	}
	zero(segs[1])
	if err := checkWAL(raftDir); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("an empty segment before the newest: %v, want ErrCorruptData", err)
	}
}

// TestCheckWAL_TailTruncatedSegment: when Raft truncates the log's tail (a
// follower clearing a suffix that conflicts with the leader's), raft-wal
// seals the segment and starts a new one. That older segment, ending on a
// committed batch, is healthy: a jepsen run (seed 7006) saw a node refuse
// to restart on one. One that ends inside a batch is still refused. And
// raft-wal reads every entry back after a restart: v0.4.0 sealed such a
// segment without an index block and then could not (a jepsen run, seed
// 234438623: "sealed segment has no index block", the node panicked on
// every restart); v0.4.1 fixed it.
func TestCheckWAL_TailTruncatedSegment(t *testing.T) {
	raftDir := t.TempDir()
	dir := filepath.Join(raftDir, "wal")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithSegmentSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	store := func(from, to uint64, term uint64) {
		for i := from; i <= to; i++ {
			if err := w.StoreLogs([]*raft.Log{{Index: i, Term: term, Data: make([]byte, 100)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	store(1, 10, 1)
	if err := w.DeleteRange(8, 10); err != nil { // what raft does to clear a suffix
		t.Fatal(err)
	}
	store(8, 12, 2)
	w.Close()
	meta.Close()
	meta = &metadb.BoltMetaDB{}
	if w, err = wal.Open(dir, wal.WithMetaStore(meta), wal.WithSegmentSize(1<<20)); err != nil {
		t.Fatalf("reopening the wal after a tail truncation: %v", err)
	}
	for i := uint64(1); i <= 12; i++ {
		var l raft.Log
		if err := w.GetLog(i, &l); err != nil || l.Index != i {
			t.Fatalf("entry %d after a tail truncation and a restart: %+v %v", i, l, err)
		}
	}
	w.Close()
	meta.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 2 {
		t.Fatalf("segments after a tail truncation: %v, want a new one", segs)
	}
	if err := checkWAL(raftDir); err != nil {
		t.Fatalf("a wal whose tail was truncated: %v", err)
	}

	// The older segment cut inside its last batch (its commit frame gone).
	sort.Strings(segs)
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	if err := os.WriteFile(segs[0], b[:end-walFrameHeaderLen], 0o640); err != nil {
		t.Fatal(err)
	}
	if err := checkWAL(raftDir); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("an older segment cut inside a batch: %v, want ErrCorruptData", err)
	}
}

// unreadableAt is a log store holding 1..10 whose entry bad cannot be read.
type unreadableAt struct {
	*raft.InmemStore
	bad uint64
}

func (s unreadableAt) GetLog(i uint64, l *raft.Log) error {
	if i == s.bad {
		return errors.New("sealed segment has no index block")
	}
	return s.InmemStore.GetLog(i, l)
}

// Test_ReadableLog_RefusesALogRaftCouldNotRead: a log with an entry that
// cannot be read is refused (ErrCorruptData, naming the entry and the
// cause) before Raft starts and panics on it; a whole one passes.
func Test_ReadableLog_RefusesALogRaftCouldNotRead(t *testing.T) {
	s := raft.NewInmemStore()
	for i := uint64(1); i <= 10; i++ {
		if err := s.StoreLog(&raft.Log{Index: i, Term: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := readableLog("/d/raft", s); err != nil {
		t.Fatalf("a whole log: %v", err)
	}
	err := readableLog("/d/raft", unreadableAt{s, 7})
	if !errors.Is(err, ErrCorruptData) || !strings.Contains(err.Error(), "entry 7 of 1..10") || !strings.Contains(err.Error(), "no index block") {
		t.Fatalf("a log with entry 7 unreadable: %v", err)
	}
	if err := readableLog("/d/raft", raft.NewInmemStore()); err != nil {
		t.Fatalf("an empty log: %v", err)
	}
}
