package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"
)

// Test_Open_CorruptFile_RefusesNamingIt: a node whose raft.db or newest
// snapshot is damaged (truncated, a bit flipped) refuses to open with an
// ErrCorruptData naming the file, rather than start on wrong state.
func Test_Open_CorruptFile_RefusesNamingIt(t *testing.T) {
	schema := mustSchema(t)
	for _, store := range []string{node.LogStoreWAL, node.LogStoreBolt} {
		for what, damage := range nodetest.Corruptions {
			if store == node.LogStoreBolt && strings.HasPrefix(what, "wal") {
				continue
			}
			t.Run(store+"/"+strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
				testCorruptFile(t, schema, store, what, damage)
			})
		}
	}
}

// testCorruptFile fills a node (log store store) and two snapshots, stops
// it, damages a file, and expects Open to refuse naming it.
func testCorruptFile(t *testing.T, schema fsm.Schema, store, what string, damage func(testing.TB, string) string) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.LogStore = store
	cfg.SnapshotThreshold = 1 << 20 // snapshots only when asked
	n, err := node.Open(cfg, schema)
	if err != nil {
		t.Fatal(err)
	}
	mustLeader(t, n)
	for i := 0; i < 50; i++ {
		cmd := fsm.Command{Time: time.Now().UTC(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: kindOther, ID: fmt.Sprintf("r%d", i), Body: []byte(`{"x":1}`)}}}
		if _, _, err := n.Apply(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
		if i == 25 || i == 49 {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	n.Close()
	path := damage(t, dir)

	start := time.Now()
	n, err = node.Open(testConfig(t, dir), schema)
	if err == nil {
		n.Close()
		t.Fatalf("a node with %s started", what)
	}
	if !errors.Is(err, node.ErrCorruptData) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open: %v; want an ErrCorruptData naming %s", err, path)
	}
	t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
}
