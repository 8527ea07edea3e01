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
	// DataDirFormat is the data dir layout this binary writes and the
	// newest it reads. 1: raft/raft.db (raft-boltdb v2: the log and stable
	// store), raft/snapshots (hashicorp/raft's file snapshots of the
	// store), and the node-id, raft-id and zone-id files.
	DataDirFormat = 1
)

// ErrNewerData means the data dir, a snapshot or a log entry was written
// by a newer Cairn than this binary: it refuses to read it rather than
// misread it.
var ErrNewerData = errors.New("written by a newer Cairn")

// checkDataDirFormat refuses a data dir whose format is newer than this
// binary reads, or whose format file it cannot read. A missing file is a
// new data dir or one from before the file existed: format 1.
func checkDataDirFormat(dataDir string) error {
	b, err := os.ReadFile(filepath.Join(dataDir, dataDirFormatFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the data dir's format: %w", err)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.Atoi(strings.TrimPrefix(s, dataDirFormatPrefix))
	if !strings.HasPrefix(s, dataDirFormatPrefix) || err != nil || v < 1 {
		return fmt.Errorf("data dir %s: its format file holds %q, not %q followed by a number: is this a Cairn data dir?", dataDir, s, dataDirFormatPrefix)
	}
	if v > DataDirFormat {
		return fmt.Errorf("data dir %s is of format %d, %w; this node reads formats up to %d: run the newer Cairn on it, or restore a backup (cairn snapshot restore) into a zone of this version",
			dataDir, v, ErrNewerData, DataDirFormat)
	}
	return nil
}

// recordDataDirFormat writes the format file if the data dir has none;
// the caller holds the data dir's lock.
func recordDataDirFormat(dataDir string) error {
	path := filepath.Join(dataDir, dataDirFormatFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := writeFileAtomic(path, []byte(dataDirFormatPrefix+strconv.Itoa(DataDirFormat)+"\n")); err != nil {
		return fmt.Errorf("record the data dir's format: %w", err)
	}
	return nil
}
