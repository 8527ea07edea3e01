package nodetest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Corruptions damage one file of a stopped node's data dir, each in its
// own way, and return the file's path: raft.db, the wal log store's
// newest segment (a data dir with the wal: the default), the newest
// snapshot's state.bin and meta.json, each truncated and bit-flipped.
var Corruptions = map[string]func(t testing.TB, dataDir string) string{
	"raft.db truncated": func(t testing.TB, dataDir string) string {
		// Cut where the current root page starts: bolt reuses low pages,
		// so a cut past the live ones would lose nothing.
		p := filepath.Join(dataDir, "raft", "raft.db")
		root, pageSize := boltRoot(t, p)
		mustTruncate(t, p, int64(root)*int64(pageSize))
		return p
	},
	"raft.db bit-flipped": func(t testing.TB, dataDir string) string {
		// A bit of the current root page's type flags: bolt keeps no
		// checksum of its data pages, so a flip there is what it can see.
		p := filepath.Join(dataDir, "raft", "raft.db")
		root, pageSize := boltRoot(t, p)
		flipBit(t, p, int64(root)*int64(pageSize)+8, 1)
		return p
	},
	"wal segment truncated": func(t testing.TB, dataDir string) string {
		p := tailSegment(t, dataDir)
		mustTruncate(t, p, 1000)
		return p
	},
	"wal segment bit-flipped": func(t testing.TB, dataDir string) string {
		// Inside the first entry (past the 32-byte file header and its
		// frame's header): a batch that is not the last, whose CRC no
		// longer holds.
		p := tailSegment(t, dataDir)
		flipBit(t, p, 32+8+2, 5)
		return p
	},
	"state.bin truncated": func(t testing.TB, dataDir string) string {
		p := filepath.Join(newestSnapshotDir(t, dataDir), "state.bin")
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mustTruncate(t, p, st.Size()/2)
		return p
	},
	"state.bin bit-flipped": func(t testing.TB, dataDir string) string {
		p := filepath.Join(newestSnapshotDir(t, dataDir), "state.bin")
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		flipBit(t, p, st.Size()/2, 3)
		return p
	},
	"meta.json truncated": func(t testing.TB, dataDir string) string {
		p := filepath.Join(newestSnapshotDir(t, dataDir), "meta.json")
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mustTruncate(t, p, st.Size()/2)
		return p
	},
	"meta.json bit-flipped": func(t testing.TB, dataDir string) string {
		// A bit of the index's first digit: still JSON, another index.
		p := filepath.Join(newestSnapshotDir(t, dataDir), "meta.json")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(string(b), `"Index":`)
		if i < 0 {
			t.Fatalf("%s has no Index: %s", p, b)
		}
		flipBit(t, p, int64(i+len(`"Index":`)), 0)
		return p
	},
}

func mustTruncate(t testing.TB, p string, size int64) {
	t.Helper()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

func flipBit(t testing.TB, p string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// boltRoot reads the current meta page of a bolt file: its page size and
// root page (bolt's on-disk layout: a 16-byte page header, then magic,
// version, page size, flags, the root bucket's page and sequence, the
// freelist's page, the high-water mark, the txid).
func boltRoot(t testing.TB, p string) (root uint64, pageSize uint32) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	pageSize = le.Uint32(b[16+8:])
	var best uint64
	for i := 0; i < 2; i++ {
		m := b[int(pageSize)*i+16:]
		if txid := le.Uint64(m[48:]); i == 0 || txid > best {
			best, root = txid, le.Uint64(m[16:])
		}
	}
	if root < 2 {
		t.Fatalf("%s: root page %d", p, root)
	}
	return root, pageSize
}

func newestSnapshotDir(t testing.TB, dataDir string) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, "raft", "snapshots", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no snapshots in %s: %v", dataDir, err)
	}
	var newest string
	var nt, ni uint64
	for _, d := range dirs {
		var term, index, ms uint64
		if _, err := fmt.Sscanf(filepath.Base(d), "%d-%d-%d", &term, &index, &ms); err != nil {
			continue
		}
		if term > nt || term == nt && index > ni {
			newest, nt, ni = d, term, index
		}
	}
	return newest
}

// tailSegment is the newest segment of a wal data dir.
func tailSegment(t testing.TB, dataDir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dataDir, "raft", "wal", "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no wal segments in %s: %v", dataDir, err)
	}
	sort.Strings(segs)
	return segs[len(segs)-1]
}
