package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
)

var update = flag.Bool("update", false, "rewrite the golden backup in testdata/formats")

func Test_Open_RecordsDataDirFormat_RefusesNewer(t *testing.T) {
	dir := t.TempDir()
	n := mustOpen(t, testConfig(t, dir), mustSchema(t))
	mustClose(t, n)
	b, err := os.ReadFile(filepath.Join(dir, "format"))
	if err != nil || strings.TrimSpace(string(b)) != "cairn-data-dir 2" {
		t.Fatalf("format file: %q, %v; want cairn-data-dir 2 (the log in raft-wal)", b, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "format"), []byte("cairn-data-dir 3\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = node.Open(testConfig(t, dir), mustSchema(t))
	if !errors.Is(err, node.ErrNewerData) || !strings.Contains(err.Error(), "format 3") || !strings.Contains(err.Error(), "up to 2") {
		t.Fatalf("open a data dir of format 3: %v; want ErrNewerData naming both formats", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "format"), []byte("something else\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Open(testConfig(t, dir), mustSchema(t)); err == nil || !strings.Contains(err.Error(), "is this a Cairn data dir") {
		t.Fatalf("open a data dir with a foreign format file: %v", err)
	}
}

// goldenBackup is testdata/formats/backup-v1.snap: the golden version 3
// snapshot (fsm's golden test) in a version 1 backup envelope.
const goldenBackup = "../testdata/formats/backup-v1.snap"

func Test_Golden_Backup_StaysReadable(t *testing.T) {
	if *update {
		snap, err := os.ReadFile("../testdata/formats/snapshot-v3.snap")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(snap)
		h := node.BackupHeader{Format: "cairn-backup", Version: 1, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(snap)),
			Index: 6, Zone: "golden", ZoneID: "golden-zone", NodeID: "g1", Created: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		line, _ := json.Marshal(h)
		if err := os.WriteFile(goldenBackup, append(append(line, '\n'), snap...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(goldenBackup)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := node.ReadBackupHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	if sum := sha256.Sum256(rest); int64(len(rest)) != h.Size || hex.EncodeToString(sum[:]) != h.SHA256 {
		t.Fatalf("the golden backup's size or checksum does not match its header %+v", h)
	}
	if err := fsm.NewStore(nil).Restore(bytes.NewReader(rest)); err != nil {
		t.Fatalf("the golden backup's snapshot: %v", err)
	}
	// Restored into a node, through Raft.
	n, _ := mustOpenLeader(t)
	hdr, index, err := n.RestoreBackup(context.Background(), bytes.NewReader(raw))
	if err != nil || hdr.Zone != "golden" || index <= h.Index {
		t.Fatalf("RestoreBackup: %+v index %d, %v", hdr, index, err)
	}
	if r := n.View().Get("g.job", "j2"); r == nil || r.Version != 6 {
		t.Fatalf("g.job j2 after the restore: %+v", r)
	}
}

func Test_RestoreBackup_NewerOrDamaged_RefusedUnchanged(t *testing.T) {
	n, _ := mustOpenLeader(t)
	mustApply(t, n, putOp(kindItem, "keep", `{"name":"keep"}`))
	before := n.View().Digest()
	raw, err := os.ReadFile(goldenBackup)
	if err != nil {
		t.Fatal(err)
	}
	newer := bytes.Replace(raw, []byte(`"version":1`), []byte(`"version":2`), 1)
	damaged := bytes.Clone(raw)
	damaged[len(damaged)-5] ^= 1
	for name, c := range map[string]struct {
		body []byte
		want string
	}{
		"newer":     {newer, "backup of version 2, and this node reads up to version 1"},
		"damaged":   {damaged, "checksum does not match"},
		"truncated": {raw[:len(raw)-20], "where its header says"},
		"not one":   {[]byte("hello\n"), "not a Cairn backup"},
	} {
		_, _, err := n.RestoreBackup(context.Background(), bytes.NewReader(c.body))
		if !errors.Is(err, node.ErrBadBackup) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want ErrBadBackup saying %q", name, err, c.want)
		}
	}
	if n.View().Digest() != before {
		t.Fatal("a refused restore changed the store")
	}
}
