package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// A node that finds its Raft log or newest snapshot corrupt on start
// refuses to start, naming the file, rather than serve wrong data or
// panic. Left to themselves, bolt panics (or faults) on a damaged page,
// and hashicorp/raft skips a snapshot whose meta.json it cannot read or
// whose state.bin fails its CRC and restores an older one (or none), then
// replays a log that no longer reaches back that far: wrong state, served.
//
// The checks, before Raft starts:
//   - raft.db (checkRaftDB): opened read-only and walked, every bucket and
//     key, in this goroutine with faults turned into panics and recovered;
//     the log's keys must be consecutive indexes and each entry must
//     decode and name its own index. Bolt keeps no checksums of its data
//     pages: a flipped bit inside an entry's payload that leaves it
//     decodable is not found.
//   - the wal log store's segments (checkWAL): their CRCs and framing.
//   - snapshots (checkSnapshots): each one's meta.json must parse, agree
//     with its directory's name (term and index) and name state.bin's
//     size, except an older snapshot that lacks one of its files: raft
//     removes old snapshots (os.RemoveAll) once a newer one is complete,
//     and a node killed meanwhile leaves part of one, which raft would
//     never list, nor remove, again; it is removed here. The newest's
//     state.bin must match its CRC-64 (checkSnapshotCRC:
//     Raft would restore an older snapshot instead, and then panic on the
//     log entries compacted since); and after Raft started, the newest
//     must be the one it restored (checkRestored).
//   - the opened wal log (readableLog): every entry read once, as Raft
//     will (raft.db's entries were decoded by checkRaftDB).

// ErrCorruptData means a file of the data dir is damaged: the node
// refuses to start. The error names the file.
var ErrCorruptData = errors.New("corrupt data")

// corruptHint is what the operator can do about a corrupt data dir.
const corruptHint = "the node refuses to start rather than serve wrong data: move the data dir away and start the node with an empty one so that it rejoins its zone and gets everything from the leader (or restore a backup if it was the zone's only node)"

func corrupt(path string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s; %s", ErrCorruptData, path, fmt.Sprintf(format, args...), corruptHint)
}

// checkDataFiles checks the data dir's raft.db and snapshots before the
// node opens them.
func checkDataFiles(dataDir string) error {
	raftDir := filepath.Join(dataDir, "raft")
	if err := checkRaftDB(filepath.Join(raftDir, "raft.db")); err != nil {
		if errors.Is(err, errRaftDBInUse) {
			return fmt.Errorf("%w: %s", ErrDataDirInUse, dataDir)
		}
		return err
	}
	if err := checkWAL(raftDir); err != nil {
		return err
	}
	return checkSnapshots(raftDir)
}

// checkRaftDB checks the bolt file at path (absent: nothing to check).
// errRaftDBInUse reports another process holding it.
func checkRaftDB(path string) (err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, "bolt could not read it (a damaged or missing page): %v", r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return errRaftDBInUse
	}
	if err != nil {
		return corrupt(path, "bolt cannot open it: %v", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) == "logs" {
				return checkLogBucket(path, b)
			}
			return walkBucket(b)
		})
	})
	// Not deferred: after a panic inside View its read transaction still
	// holds bolt's mmap lock, and Close would wait for it for ever. The
	// node then refuses to start; the file stays open until it exits.
	db.Close()
	return err
}

// errRaftDBInUse means another process has raft.db open.
var errRaftDBInUse = errors.New("raft.db is in use")

// walkBucket reads every key and value of b and its nested buckets.
func walkBucket(b *bolt.Bucket) error {
	var sink int
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walkBucket(nb)
			}
		}
		for _, c := range v { // touch every byte: a missing page faults here
			sink += int(c)
		}
		_ = sink
		return nil
	})
}

// checkLogBucket checks raft-boltdb's "logs" bucket: 8-byte big-endian
// indexes, consecutive, each entry decoding to a log of that index.
func checkLogBucket(path string, b *bolt.Bucket) error {
	var prev uint64
	h := &codec.MsgpackHandle{}
	return b.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return corrupt(path, "a log entry's key is %d bytes long, not 8", len(k))
		}
		idx := binary.BigEndian.Uint64(k)
		if prev != 0 && idx != prev+1 {
			return corrupt(path, "the log jumps from index %d to %d", prev, idx)
		}
		prev = idx
		var l raft.Log
		if err := codec.NewDecoder(bytes.NewReader(v), h).Decode(&l); err != nil {
			return corrupt(path, "the log entry at index %d does not decode: %v", idx, err)
		}
		if l.Index != idx {
			return corrupt(path, "the log entry stored at index %d says it is entry %d", idx, l.Index)
		}
		return nil
	})
}

// snapshotMeta is what the file snapshot store writes to meta.json.
type snapshotMeta struct {
	raft.SnapshotMeta
	CRC []byte
}

// checkSnapshots checks every snapshot of the file snapshot store under
// raftDir (see the top of this file).
func checkSnapshots(raftDir string) error {
	dir := filepath.Join(raftDir, "snapshots")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the snapshot dir: %w", err)
	}
	var newest *snapshotMeta
	var newestDir string
	var partial []string // lacking meta.json or state.bin
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue // raft ignores (and removes) unfinished snapshots
		}
		path := filepath.Join(dir, e.Name())
		if partlyRemoved(path) {
			partial = append(partial, path)
			continue
		}
		m, err := checkSnapshot(path)
		if err != nil {
			return err
		}
		if newest == nil || m.Term > newest.Term || m.Term == newest.Term && (m.Index > newest.Index || m.Index == newest.Index && m.ID > newest.ID) {
			newest, newestDir = m, path
		}
	}
	for _, path := range partial {
		term, index, ok := snapshotDirName(filepath.Base(path))
		if !ok || newest == nil || term > newest.Term || term == newest.Term && index >= newest.Index {
			_, err := checkSnapshot(path) // not older than a whole one: damage
			return err
		}
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove the partly removed older snapshot %s: %w", path, err)
		}
	}
	if newest == nil {
		return nil
	}
	// The newest is the one Raft restores. Were its state.bin damaged,
	// Raft would fall back to an older snapshot and then panic on the log
	// entries compacted since; so its checksum is checked here (a read of
	// the file Raft reads next anyway).
	return checkSnapshotCRC(newestDir, newest.CRC)
}

// checkSnapshotCRC checks dir's state.bin against the CRC-64 (ECMA) its
// meta.json records, as raft's file snapshot store computes it.
func checkSnapshotCRC(dir string, want []byte) error {
	statePath := filepath.Join(dir, "state.bin")
	f, err := os.Open(statePath)
	if err != nil {
		return corrupt(statePath, "%v", err)
	}
	defer f.Close()
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	if _, err := io.Copy(h, f); err != nil {
		return corrupt(statePath, "%v", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return corrupt(statePath, "its CRC-64 is %x; meta.json records %x", got, want)
	}
	return nil
}

// partlyRemoved reports whether the snapshot dir lacks its meta.json or
// its state.bin.
func partlyRemoved(dir string) bool {
	for _, name := range []string{"meta.json", "state.bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// snapshotDirName parses a snapshot directory's name, which raft makes
// term-index-milliseconds.
func snapshotDirName(name string) (term, index uint64, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(parts[0], 10, 64)
	index, err2 := strconv.ParseUint(parts[1], 10, 64)
	return term, index, err1 == nil && err2 == nil
}

func checkSnapshot(dir string) (*snapshotMeta, error) {
	metaPath := filepath.Join(dir, "meta.json")
	b, err := os.ReadFile(metaPath)
	if err != nil {
		return nil, corrupt(metaPath, "%v", err)
	}
	var m snapshotMeta
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, corrupt(metaPath, "it does not parse: %v", err)
	}
	if dec.More() {
		return nil, corrupt(metaPath, "it has data after its JSON document")
	}
	name := filepath.Base(dir)
	if term, index, ok := snapshotDirName(name); ok && (m.ID != name || m.Term != term || m.Index != index) {
		return nil, corrupt(metaPath, "it says snapshot %q of term %d, index %d; its directory says %q", m.ID, m.Term, m.Index, name)
	}
	if len(m.CRC) == 0 {
		return nil, corrupt(metaPath, "it records no checksum of state.bin")
	}
	statePath := filepath.Join(dir, "state.bin")
	st, err := os.Stat(statePath)
	if err != nil {
		return nil, corrupt(statePath, "%v", err)
	}
	if st.Size() != m.Size {
		return nil, corrupt(statePath, "it is %d bytes long; meta.json says %d", st.Size(), m.Size)
	}
	return &m, nil
}

// newestSnapshot returns the newest snapshot of snaps, nil for none.
func newestSnapshot(snaps raft.SnapshotStore) (*raft.SnapshotMeta, error) {
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return nil, err
	}
	return metas[0], nil
}

// checkRestored reports an error naming the newest snapshot's state.bin
// unless Raft restored that snapshot on start (startErr: NewRaft's
// error, nil if it started); it then shuts Raft down. raft tries older
// snapshots when the newest fails; that is refused.
func (n *Node) checkRestored(newest *raft.SnapshotMeta, startErr error) error {
	if newest == nil {
		return nil
	}
	restored := ""
	if startErr == nil {
		restored = n.raft.Stats()["last_snapshot_index"]
		if restored == strconv.FormatUint(newest.Index, 10) {
			return nil
		}
	}
	if n.raft != nil {
		n.raft.Shutdown().Error()
	}
	statePath := filepath.Join(n.cfg.DataDir, "raft", "snapshots", newest.ID, "state.bin")
	why := "it could not be restored"
	var openErr error
	if w, ok := n.snaps.(*watchedSnapshotStore); ok {
		openErr = w.openError(newest.ID)
	}
	if openErr != nil {
		why = fmt.Sprintf("it could not be opened: %v", openErr)
	} else if p := n.restoreErr.Load(); p != nil { // raft restores the newest first
		if errors.Is(*p, ErrNewerData) {
			// Not damage: a newer Cairn wrote it; the message says so.
			return fmt.Errorf("snapshot %s: %w", statePath, *p)
		}
		why = fmt.Sprintf("it could not be restored: %v", *p)
	}
	if startErr != nil {
		why += fmt.Sprintf(" (raft: %v)", startErr)
	} else {
		why += fmt.Sprintf(" (raft fell back to older state, a snapshot at index %s, which it would have served)", restored)
	}
	return corrupt(statePath, "%s", why)
}

// readableLog reads every entry of the opened wal Raft log once: Raft reads
// them as it starts, and panics on one it cannot read. A wal segment that
// raft-wal before v0.4.1 sealed without its index block after a tail
// truncation (its files are sound, so checkWAL passes them) is one; the
// node then refuses to start, naming the log, instead.
func readableLog(raftDir string, logs raft.LogStore) error {
	first, err := logs.FirstIndex()
	if err != nil {
		return corrupt(raftDir, "its Raft log (wal) cannot say where it starts: %v", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return corrupt(raftDir, "its Raft log (wal) cannot say where it ends: %v", err)
	}
	if first == 0 {
		return nil // empty
	}
	var l raft.Log
	for i := first; i <= last; i++ {
		if err := logs.GetLog(i, &l); err != nil {
			return corrupt(raftDir, "its Raft log (wal) cannot read entry %d of %d..%d: %v", i, first, last, err)
		}
	}
	return nil
}
