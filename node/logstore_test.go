package node_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/node"
)

// Each log store keeps what was written across a restart, a data dir keeps
// the store it was created with (its format file says which), and naming
// the other store for it is refused before anything is opened.
func Test_Open_LogStore_ChosenAtCreation_KeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ask, want, other string
		format           string
	}{
		{"", node.LogStoreWAL, node.LogStoreBolt, "cairn-data-dir 2"},
		{node.LogStoreWAL, node.LogStoreWAL, node.LogStoreBolt, "cairn-data-dir 2"},
		{node.LogStoreBolt, node.LogStoreBolt, node.LogStoreWAL, "cairn-data-dir 1"},
	} {
		t.Run(fmt.Sprintf("ask=%q", c.ask), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			schema := mustSchema(t)
			cfg := testConfig(t, dir)
			cfg.LogStore = c.ask
			n := mustOpen(t, cfg, schema)
			mustLeader(t, n)
			for i := range 20 {
				mustApply(t, n, putOp(kindItem, fmt.Sprintf("id-%d", i), fmt.Sprintf(`{"name":"n%d"}`, i)))
			}
			digest := n.View().Digest()
			mustClose(t, n)

			b, _ := os.ReadFile(filepath.Join(dir, "format"))
			if strings.TrimSpace(string(b)) != c.format {
				t.Errorf("format file %q, want %q", b, c.format)
			}
			_, err := os.Stat(filepath.Join(dir, "raft", "wal"))
			if hasWAL := err == nil; hasWAL != (c.want == node.LogStoreWAL) {
				t.Errorf("raft/wal exists: %v, with the log in %s", hasWAL, c.want)
			}

			cfg.LogStore = c.other
			if _, err := node.Open(cfg, schema); !errors.Is(err, node.ErrLogStoreMismatch) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("reopen asking for %s: %v; want ErrLogStoreMismatch naming %s", c.other, err, c.want)
			}
			cfg.LogStore = ""
			n2 := mustOpen(t, cfg, schema)
			mustLeader(t, n2)
			if got := n2.View().Digest(); got != digest {
				t.Fatalf("digest after restart %s, want %s", got, digest)
			}
			mustApply(t, n2, putOp(kindItem, "after", `{}`))
		})
	}
}

// A data dir from before the format file (raft/raft.db and no format
// file) has its log in bolt: it opens as bolt and is recorded as format 1.
func Test_Open_DataDirWithoutFormatFile_IsBolt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema := mustSchema(t)
	cfg := testConfig(t, dir)
	cfg.LogStore = node.LogStoreBolt
	n := mustOpen(t, cfg, schema)
	mustLeader(t, n)
	mustApply(t, n, putOp(kindItem, "old", `{"name":"old"}`))
	mustClose(t, n)
	if err := os.Remove(filepath.Join(dir, "format")); err != nil {
		t.Fatal(err)
	}
	cfg.LogStore = ""
	n2 := mustOpen(t, cfg, schema)
	mustLeader(t, n2)
	if n2.View().Count(kindItem) != 1 {
		t.Fatalf("the old data dir's resource is gone")
	}
	mustClose(t, n2)
	if b, _ := os.ReadFile(filepath.Join(dir, "format")); strings.TrimSpace(string(b)) != "cairn-data-dir 1" {
		t.Errorf("format file %q, want cairn-data-dir 1", b)
	}
}

func Test_Open_UnknownLogStore_Refused(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.LogStore = "rocks"
	if _, err := node.Open(cfg, mustSchema(t)); err == nil || !strings.Contains(err.Error(), `"rocks"`) {
		t.Fatalf("open with log store rocks: %v", err)
	}
}
