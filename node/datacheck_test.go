package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
	dir := fillWithTwoSnapshots(t, schema, store)
	path := damage(t, dir)

	start := time.Now()
	n, err := node.Open(testConfig(t, dir), schema)
	if err == nil {
		n.Close()
		t.Fatalf("a node with %s started", what)
	}
	if !errors.Is(err, node.ErrCorruptData) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open: %v; want an ErrCorruptData naming %s", err, path)
	}
	t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// fillWithTwoSnapshots writes 50 resources r0-r49 through a node (log
// store store), with snapshots after r25 and r49, stops it and returns its
// data dir.
func fillWithTwoSnapshots(t *testing.T, schema fsm.Schema, store string) string {
	t.Helper()
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
	return dir
}

// snapshotDirs returns the snapshot directories of dataDir, oldest first.
func snapshotDirs(t testing.TB, dataDir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, "raft", "snapshots", "*-*-*"))
	if err != nil {
		t.Fatal(err)
	}
	index := func(d string) uint64 {
		i, _ := strconv.ParseUint(strings.Split(filepath.Base(d), "-")[1], 10, 64)
		return i
	}
	sort.Slice(dirs, func(i, j int) bool { return index(dirs[i]) < index(dirs[j]) })
	return dirs
}

// A node killed while raft removed its older snapshot (os.RemoveAll, once
// a newer one is complete) has part of that snapshot left: it starts, on
// the newer one, and the part is removed. The newest snapshot lacking a
// file is still refused, naming it.
func Test_Open_OlderSnapshotPartlyRemoved_StartsAndRemovesIt(t *testing.T) {
	t.Parallel()
	schema := mustSchema(t)
	for _, file := range []string{"meta.json", "state.bin"} {
		t.Run("older without "+file, func(t *testing.T) {
			t.Parallel()
			dir := fillWithTwoSnapshots(t, schema, node.LogStoreWAL)
			dirs := snapshotDirs(t, dir)
			if len(dirs) != 2 {
				t.Fatalf("snapshots %v, want two", dirs)
			}
			if err := os.Remove(filepath.Join(dirs[0], file)); err != nil {
				t.Fatal(err)
			}
			n, err := node.Open(testConfig(t, dir), schema)
			if err != nil {
				t.Fatalf("a node whose older snapshot lacks %s did not start: %v", file, err)
			}
			defer n.Close()
			mustLeader(t, n)
			if got := n.View().Count(kindOther); got != 50 {
				t.Errorf("%d resources after the restart, want 50", got)
			}
			if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the partly removed snapshot %s is still there (%v)", dirs[0], err)
			}
		})
		t.Run("newest without "+file, func(t *testing.T) {
			t.Parallel()
			testCorruptFile(t, schema, node.LogStoreWAL, "a newest snapshot without "+file, func(t testing.TB, dataDir string) string {
				dirs := snapshotDirs(t, dataDir)
				path := filepath.Join(dirs[len(dirs)-1], file)
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				return path
			})
		})
	}
}
