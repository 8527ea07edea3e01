package node

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// checkWAL checks the Raft log of a wal data dir (raft/wal, absent: none)
// before raft-wal opens it. raft-wal verifies a segment's CRCs only where
// it recovers a tail after a crash: a damaged sealed segment would be
// read as it is. Every segment is read: each commit's CRC (over the
// frames since the previous commit) must match, no frame may run past
// the end of its file, and every segment but the last must end on a
// committed batch (sealed by an index frame, or in the segment list only,
// after a tail truncation). The last segment's last batch is allowed to
// fail its CRC, or to have no commit: that is a write torn by a crash,
// never acknowledged, which raft-wal drops; and a newest segment that
// holds no batch at all passes (so would one cut to nothing). The segment list
// (wal-meta.db, bolt) is walked as raft.db is.
func checkWAL(raftDir string) error {
	dir := filepath.Join(raftDir, "wal")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := checkRaftDB(filepath.Join(dir, "wal-meta.db")); err != nil {
		return err
	}
	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		return err
	}
	sort.Strings(segs) // named <base index>-<id>.wal, zero-padded: oldest first
	for i, p := range segs {
		if err := checkWALSegment(p, i == len(segs)-1); err != nil {
			return err
		}
	}
	return nil
}

// The segment format of hashicorp/raft-wal (segment/format.go).
const (
	walFileHeaderLen  = 32
	walMagic          = 0x58eb6b0d
	walFrameHeaderLen = 8
	walFrameInvalid   = 0
	walFrameEntry     = 1
	walFrameIndex     = 2
	walFrameCommit    = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checkWALSegment(path string, tail bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return corrupt(path, "%v", err)
	}
	if tail && strings.Trim(string(b[:min(len(b), walFileHeaderLen)]), "\x00") == "" {
		// A newest segment raft-wal made and wrote no batch to (its header
		// goes out with the first batch): one whose making failed on a
		// full disk, say. raft-wal sets it up anew.
		return nil
	}
	if len(b) < walFileHeaderLen || binary.LittleEndian.Uint32(b) != walMagic {
		return corrupt(path, "it does not start with a raft-wal segment header")
	}
	off, crcStart := walFileHeaderLen, 0
	var badCommit error // a CRC mismatch not yet known to be the tail's last batch
	for off+walFrameHeaderLen <= len(b) {
		typ, n := b[off], int(binary.LittleEndian.Uint32(b[off+4:]))
		if typ == walFrameInvalid {
			if strings.Trim(string(b[off:off+walFrameHeaderLen]), "\x00") != "" {
				return corrupt(path, "a damaged frame header at offset %d", off)
			}
			break // the end of what was written (raft-wal allocates a segment whole)
		}
		if badCommit != nil {
			return badCommit // more followed it: not a torn tail
		}
		switch typ {
		case walFrameEntry, walFrameIndex:
			size := walFrameHeaderLen + n + (walFrameHeaderLen-n%walFrameHeaderLen)%walFrameHeaderLen
			if n > 64<<20 || off+size > len(b) {
				return corrupt(path, "the frame at offset %d (%d bytes) runs past the end of the file (%d bytes): it was truncated or damaged", off, n, len(b))
			}
			off += size
		case walFrameCommit:
			if got := crc32.Checksum(b[crcStart:off], castagnoli); got != uint32(n) {
				badCommit = corrupt(path, "the batch committed at offset %d fails its CRC (%08x, recorded %08x)", off, got, uint32(n))
				if !tail {
					return badCommit
				}
			}
			off += walFrameHeaderLen
			crcStart = off
		default:
			return corrupt(path, "a frame of unknown type %d at offset %d", typ, off)
		}
	}
	// An older segment must end on a committed batch (its index frame is
	// committed too); only the newest may end inside one. It need not
	// hold an index frame: raft-wal before v0.4.1 sealed a segment whose
	// tail Raft truncated (a follower clearing a conflicting suffix) in
	// its segment list only.
	if !tail && off != crcStart {
		return corrupt(path, "it ends (at %d bytes) inside a batch that was never committed: it was truncated", len(b))
	}
	return nil
}
