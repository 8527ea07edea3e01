package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// A new data dir gets a Raft id of its own, kept across restarts; a wiped
// one gets another; a data dir with Raft state from before incarnations
// keeps the node id, so the zone's configuration still names it.
func TestRecordIdentity(t *testing.T) {
	dir := t.TempDir()
	first, err := recordIdentity(dir, "n1", false)
	if err != nil {
		t.Fatal(err)
	}
	if NodeIDOf(first) != "n1" || !strings.HasPrefix(first, "n1@") || len(first) < len("n1@")+16 {
		t.Fatalf("raft id %q", first)
	}
	again, err := recordIdentity(dir, "n1", true)
	if err != nil || again != first {
		t.Fatalf("second start: %q %v, want %q kept", again, err, first)
	}
	if StoredNodeID(dir) != "n1" {
		t.Fatalf("node id file: %q", StoredNodeID(dir))
	}
	if err := checkDataDirOwner(dir, "n2"); err == nil {
		t.Fatal("another node id was allowed on n1's data dir")
	}

	wiped := t.TempDir()
	other, err := recordIdentity(wiped, "n1", false)
	if err != nil || other == first {
		t.Fatalf("a new data dir for n1: %q %v, want a raft id other than %q", other, err, first)
	}

	legacy := t.TempDir()
	if err := os.WriteFile(filepath.Join(legacy, nodeIDFile), []byte("n1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if id, err := recordIdentity(legacy, "n1", true); err != nil || id != "n1" {
		t.Fatalf("legacy data dir: %q %v, want the node id", id, err)
	}
	entries, _ := os.ReadDir(legacy)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left a temporary file: %s", e.Name())
		}
	}
}

func TestValidNodeID(t *testing.T) {
	for _, id := range []string{"n1", "node-1.example_a", strings.Repeat("a", 64)} {
		if err := ValidNodeID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", "a@b", "a b", "a/b", strings.Repeat("a", 65), "é"} {
		if err := ValidNodeID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

// holdsEntry: an entry held in the log with the same term, or covered by
// the newest snapshot, is held; a term mismatch or an index past both is
// not (the guard then lets raft install the snapshot).
func TestHoldsEntry(t *testing.T) {
	logs := raft.NewInmemStore()
	for i := uint64(5); i <= 9; i++ {
		if err := logs.StoreLog(&raft.Log{Index: i, Term: 2, Type: raft.LogCommand}); err != nil {
			t.Fatal(err)
		}
	}
	snaps := raft.NewInmemSnapshotStore()
	sink, err := snaps.Create(raft.SnapshotVersionMax, 4, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		index, term uint64
		want        bool
	}{
		{7, 2, true}, {7, 3, false}, {4, 1, true}, {4, 2, false}, {3, 1, true}, {10, 2, false},
	} {
		if got := holdsEntry(logs, snaps, c.index, c.term); got != c.want {
			t.Errorf("holdsEntry(%d, %d) = %v, want %v", c.index, c.term, got, c.want)
		}
	}
}
