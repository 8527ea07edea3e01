package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"
)

// FuzzRestoreBackup sends any bytes to RestoreBackup, the path of
// `cairn snapshot restore` (an operator's upload, through POST
// /cairn/v1/snapshot): the backup header (ReadBackupHeader), the envelope's
// size and checksum, then the snapshot inside (FuzzRestore covers its
// decoder on its own). Properties: no panic; a refused backup is
// ErrBadBackup (or a context error) and leaves the store's digest as it
// was; an accepted one is the golden backup's state.
func FuzzRestoreBackup(f *testing.F) {
	golden, err := os.ReadFile(goldenBackup)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(golden[:bytes.IndexByte(golden, '\n')+1])
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"format":"cairn-backup","version":1,"sha256":"00","size":1}` + "\n{}"))
	f.Add(bytes.Replace(golden, []byte(`"version":1`), []byte(`"version":0`), 1))
	f.Add(bytes.Repeat([]byte("x"), 70000))
	n := nodetest.MustLeader(f, node.Config{Zone: "z1", CommitTimeout: 5 * time.Millisecond, ApplyTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, fsm.Schema{})
	f.Fuzz(func(t *testing.T, b []byte) {
		before := n.View().Digest()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _, err := n.RestoreBackup(ctx, bytes.NewReader(b))
		if err == nil {
			if !bytes.Equal(b, golden) && n.View().Get("g.job", "j2") == nil {
				t.Fatalf("an accepted backup (%d bytes) that is not the golden one", len(b))
			}
			return
		}
		if !errors.Is(err, node.ErrBadBackup) && ctx.Err() == nil {
			t.Fatalf("refused with %v, want ErrBadBackup", err)
		}
		if after := n.View().Digest(); after != before {
			t.Fatalf("a refused backup (%v) changed the store", err)
		}
	})
}
