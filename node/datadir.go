package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A data dir carries the version of its layout in its "format" file
// ("cairn-data-dir 1"), so that a binary never opens a data dir laid out by
// a later one and misreads it. The pieces inside carry versions of their
// own: the store's snapshots (fsm snapshot versions 2 and 3, whose header
// says which) and every Raft log entry (its first byte names its encoding:
// fsm's entry formats 1 to 3). Each is refused with a message saying so
// when it is newer than this binary reads. Data dirs from before the file
// existed are of format 1; Open writes the file into them.
const (
	dataDirFormatFile   = "format"
	dataDirFormatPrefix = "cairn-data-dir "
	// DataDirFormat is the newest data dir layout this binary reads. 1:
	// raft/raft.db (raft-boltdb v2: the log and stable store),
	// raft/snapshots (hashicorp/raft's file snapshots of the store), and the
	// node-id, raft-id and zone-id files. 2: the same, but the log is in
	// raft/wal (raft-wal segments) and raft.db is only the stable store: a
	// binary that reads only 1 would find no log there. A data dir is
	// written as 1 with -raft-log-store bolt, 2 with wal.
	DataDirFormat = 2
	// dataDirFormatWAL is the first format whose log is the wal.
	dataDirFormatWAL = 2
)

// ErrNewerData means the data dir, a snapshot or a log entry was written
// by a newer Cairn than this binary: it refuses to read it rather than
// misread it.
var ErrNewerData = errors.New("written by a newer Cairn")

// checkDataDirFormat returns the data dir's format, refusing one newer
// than this binary reads, or whose format file it cannot read. A missing
// file (0) is a new data dir or one from before the file existed.
func checkDataDirFormat(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, dataDirFormatFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the data dir's format: %w", err)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.Atoi(strings.TrimPrefix(s, dataDirFormatPrefix))
	if !strings.HasPrefix(s, dataDirFormatPrefix) || err != nil || v < 1 {
		return 0, fmt.Errorf("data dir %s: its format file holds %q, not %q followed by a number: is this a Cairn data dir?", dataDir, s, dataDirFormatPrefix)
	}
	if v > DataDirFormat {
		return 0, fmt.Errorf("data dir %s is of format %d, %w; this node reads formats up to %d: run the newer Cairn on it, or restore a backup (cairn snapshot restore) into a zone of this version",
			dataDir, v, ErrNewerData, DataDirFormat)
	}
	return v, nil
}

// recordDataDirFormat writes the format file if the data dir has none: 1
// for a log in bolt, 2 for the wal. The caller holds the data dir's lock.
func recordDataDirFormat(dataDir, logStore string) error {
	path := filepath.Join(dataDir, dataDirFormatFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	v := 1
	if logStore == LogStoreWAL {
		v = dataDirFormatWAL
	}
	if err := writeFileAtomic(path, []byte(dataDirFormatPrefix+strconv.Itoa(v)+"\n")); err != nil {
		return fmt.Errorf("record the data dir's format: %w", err)
	}
	return nil
}
