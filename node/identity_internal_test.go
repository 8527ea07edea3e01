package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
