package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"cairn/fsm"

	"github.com/hashicorp/raft"
)

// A backup (cairn snapshot save) is one JSON header line, BackupHeader,
// then exactly Header.Size bytes of the store's snapshot (fsm's snapshot
// format, versioned on its own), whose SHA-256 the header carries. The
// checksum is in front so a restore can refuse a damaged file before
// anything changes, and a streamed save can check what it received; the
// node spools the snapshot to a file first to know it.
const (
	backupFormat = "cairn-backup"
	// BackupVersion is the version of the backup envelope this binary
	// writes and the newest it reads.
	BackupVersion = 1
	// maxBackupHeader bounds the header line a restore reads.
	maxBackupHeader = 64 << 10
)

// ErrBadBackup means a backup offered to RestoreBackup is not one this
// node can restore: damaged (size or checksum), of a newer version, or
// not a backup at all. Nothing was changed.
var ErrBadBackup = errors.New("the backup cannot be restored")

// BackupHeader is a backup's first line.
type BackupHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// SHA256 and Size are of the snapshot bytes that follow the header.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Index is the Raft index the store was at; Zone, ZoneID and NodeID
	// say where it was taken, Created when (for the operator's eyes).
	Index   uint64    `json:"index"`
	Zone    string    `json:"zone"`
	ZoneID  string    `json:"zone_id,omitempty"`
	NodeID  string    `json:"node_id"`
	Created time.Time `json:"created"`
}

// Backup is a snapshot of the store spooled to a file of the data dir,
// ready to be written out with its header. Close removes the file.
type Backup struct {
	Header BackupHeader
	file   *os.File
}

// removeSpools removes the spool files a backup or restore left in the
// data dir when its process died mid-way.
func removeSpools(dataDir string) {
	for _, pattern := range []string{".backup-*.tmp", ".restore-*.tmp"} {
		matches, _ := filepath.Glob(filepath.Join(dataDir, pattern))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// Backup takes the store's current state (an immutable view: writes go
// on meanwhile) and spools it, computing its checksum.
func (n *Node) Backup() (*Backup, error) {
	v := n.store.View()
	f, err := os.CreateTemp(n.cfg.DataDir, ".backup-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("spool the backup in the data dir: %w", err)
	}
	b := &Backup{file: f}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	if err := v.WriteSnapshot(cw); err != nil {
		b.Close()
		return nil, fmt.Errorf("write the backup: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.Close()
		return nil, err
	}
	b.Header = BackupHeader{Format: backupFormat, Version: BackupVersion, SHA256: hex.EncodeToString(h.Sum(nil)), Size: cw.n,
		Index: v.Index(), Zone: n.cfg.Zone, ZoneID: n.ZoneID(), NodeID: n.cfg.NodeID, Created: time.Now().UTC()}
	return b, nil
}

// Len is the length of the whole backup, header line included.
func (b *Backup) Len() int64 {
	line, _ := json.Marshal(b.Header)
	return int64(len(line)) + 1 + b.Header.Size
}

// WriteTo writes the header line and the snapshot to w.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	line, err := json.Marshal(b.Header)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(append(line, '\n'))
	if err != nil {
		return int64(n), err
	}
	m, err := io.Copy(w, b.file)
	return int64(n) + m, err
}

// Close removes the spooled file.
func (b *Backup) Close() error {
	b.file.Close()
	return os.Remove(b.file.Name())
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadBackupHeader reads and checks a backup's header line from br.
func ReadBackupHeader(br *bufio.Reader) (BackupHeader, error) {
	var h BackupHeader
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return h, fmt.Errorf("%w: its first line is longer than a backup header", ErrBadBackup)
	}
	if err != nil {
		return h, fmt.Errorf("%w: reading its header: %v", ErrBadBackup, err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), &h); err != nil || h.Format != backupFormat {
		return h, fmt.Errorf("%w: it is not a Cairn backup (no %q header line)", ErrBadBackup, backupFormat)
	}
	if h.Version > BackupVersion || h.Version < 1 {
		return h, fmt.Errorf("%w: it is a backup of version %d, and this node reads up to version %d: restore it with a newer Cairn", ErrBadBackup, h.Version, BackupVersion)
	}
	if len(h.SHA256) != sha256.Size*2 || h.Size <= 0 {
		return h, fmt.Errorf("%w: its header has no checksum or size", ErrBadBackup)
	}
	return h, nil
}

// RestoreBackup replaces the zone's whole state with a backup read from
// r, through Raft (hashicorp/raft's user restore): the leader installs it
// and every member receives it as a snapshot, so the whole zone has it.
// Only the leader can do this (ErrNotLeader otherwise). The backup is
// checked first, all of it: the envelope's size and checksum, then the
// snapshot inside, read into a throwaway store. A backup that fails any
// check is refused with ErrBadBackup and nothing changes. The zone's Raft
// configuration stays as it is; the Raft index moves past the backup's, so
// versions keep growing. It returns the index from which the zone serves
// the backup's state (0 if not known: the barrier after it failed).
func (n *Node) RestoreBackup(ctx context.Context, r io.Reader) (BackupHeader, uint64, error) {
	h, err := n.restoreBackup(ctx, r)
	if err != nil {
		return h, 0, err
	}
	// The store's index is the backup's now, behind Raft's; an entry that
	// reaches the store brings it level, so consistent reads and Ready
	// work at once.
	index, _, err := n.Apply(ctx, fsm.Command{})
	if err != nil {
		n.log.Warn("the barrier after a restore failed; the next write brings the store's index level", "err", err)
		return h, 0, nil
	}
	return h, index, nil
}

func (n *Node) restoreBackup(ctx context.Context, r io.Reader) (BackupHeader, error) {
	br := bufio.NewReaderSize(r, maxBackupHeader)
	h, err := ReadBackupHeader(br)
	if err != nil {
		return h, err
	}
	f, err := os.CreateTemp(n.cfg.DataDir, ".restore-*.tmp")
	if err != nil {
		return h, fmt.Errorf("spool the backup in the data dir: %w", err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	sum := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(br, h.Size+1))
	if err != nil {
		return h, fmt.Errorf("read the backup: %w", err)
	}
	if size != h.Size {
		return h, fmt.Errorf("%w: it holds %d bytes of snapshot where its header says %d (cut short or appended to)", ErrBadBackup, size, h.Size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.SHA256 {
		return h, fmt.Errorf("%w: its checksum does not match (sha256 %s, the header says %s): the file is damaged", ErrBadBackup, got, h.SHA256)
	}
	// raft panics when the FSM cannot restore a user snapshot: the
	// snapshot is read whole into a store of its own first.
	trial := fsm.NewStore(n.store.Schema())
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return h, err
	}
	if err := trial.Restore(f); err != nil {
		return h, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	if !n.IsLeader() {
		return h, ErrNotLeader
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return h, err
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: trial.Index(), Size: h.Size}
	if err := n.raft.Restore(meta, f, timeout); err != nil {
		return h, translate(err)
	}
	n.log.Info(fmt.Sprintf("restored the zone's state from a backup of zone %s taken on node %s at index %d (%d bytes)", h.Zone, h.NodeID, h.Index, h.Size),
		"backup_index", h.Index, "backup_zone", h.Zone, "backup_node", h.NodeID, "bytes", h.Size)
	return h, nil
}
