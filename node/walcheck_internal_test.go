package node

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
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
