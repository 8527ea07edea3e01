package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	bolt "go.etcd.io/bbolt"
)

// The Raft log stores a node can keep its log in (-raft-log-store).
const (
	// LogStoreWAL is hashicorp/raft-wal: segment files under raft/wal, one
	// fsync per append. The default for new data dirs.
	LogStoreWAL = "wal"
	// LogStoreBolt is raft-boltdb/v2: the log in raft/raft.db beside the
	// stable store, two fsyncs per append (data, then meta).
	LogStoreBolt = "bolt"
)

// DefaultLogStore is the log store a new data dir gets.
const DefaultLogStore = LogStoreWAL

// ErrLogStoreMismatch means the data dir keeps its log in another store
// than the one asked for: there is no migration between the two.
var ErrLogStoreMismatch = errors.New("the data dir keeps its Raft log in another store")

// raftStores are the stores under raft/: the stable store (always bolt, in
// raft.db: the current term and vote) and the log, in raft.db too (bolt)
// or in raft/wal (wal).
type raftStores struct {
	stable *raftboltdb.BoltStore
	log    raft.LogStore
	wal    *wal.WAL // nil with bolt
	// walMeta is the wal's own segment list (raft/wal/wal-meta.db):
	// wal.Close leaves it open, so it is opened and closed here.
	walMeta *metadb.BoltMetaDB
}

// logStoreOf tells which log store the data dir at dataDir already uses
// from its format file ("" for a new data dir): format 2 is the wal, 1 (or
// no format file beside an existing raft.db) is bolt.
func logStoreOf(dataDir string, format int) string {
	switch {
	case format >= dataDirFormatWAL:
		return LogStoreWAL
	case format >= 1:
		return LogStoreBolt
	}
	if _, err := os.Stat(filepath.Join(dataDir, "raft", "raft.db")); err == nil {
		return LogStoreBolt // a data dir from before the format file
	}
	return ""
}

// chooseLogStore picks the log store for the data dir: the one it has,
// else want (DefaultLogStore when empty). Asking for another than the one
// it has is an error.
func chooseLogStore(dataDir string, format int, want string) (string, error) {
	switch want {
	case "", LogStoreWAL, LogStoreBolt:
	default:
		return "", fmt.Errorf("raft log store %q: want %s or %s", want, LogStoreWAL, LogStoreBolt)
	}
	has := logStoreOf(dataDir, format)
	switch {
	case has == "" && want == "":
		return DefaultLogStore, nil
	case has == "":
		return want, nil
	case want != "" && want != has:
		return "", fmt.Errorf("%w: data dir %s keeps it in %s, not %s (the log store is chosen when a data dir is created; leave -raft-log-store unset, or start this node on an empty data dir and let it catch up)",
			ErrLogStoreMismatch, dataDir, has, want)
	}
	return has, nil
}

// openRaftStores opens the stable store and the log of kind under raftDir.
func openRaftStores(raftDir, kind string, log *slog.Logger) (*raftStores, error) {
	bs, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(raftDir, "raft.db"),
		// NoFreelistSync and the map freelist, as etcd runs bolt: a
		// commit writes no freelist pages; an open rebuilds the freelist
		// by scanning, which costs little at a Raft log's size.
		BoltOptions: &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType},
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, ErrDataDirInUse
		}
		return nil, fmt.Errorf("open %s: %w", filepath.Join(raftDir, "raft.db"), err)
	}
	s := &raftStores{stable: bs, log: bs}
	if kind == LogStoreWAL {
		dir := filepath.Join(raftDir, "wal")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			bs.Close()
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
		meta := &metadb.BoltMetaDB{}
		w, err := wal.Open(dir, wal.WithLogger(newHCLog(log, "raft-wal")), wal.WithSegmentSize(walSegmentSize),
			wal.WithMetaStore(meta), wal.WithMetricsCollector(walMetrics{}))
		if err != nil {
			meta.Close()
			bs.Close()
			return nil, fmt.Errorf("open the Raft log in %s: %w", dir, err)
		}
		s.wal, s.walMeta, s.log = w, meta, w
	}
	return s, nil
}

// walSegmentSize is the size of one wal segment file: a 1 KiB write makes
// an entry of about 1.2 KiB, so one segment holds some 13k of them, about
// the trailing logs a snapshot keeps.
const walSegmentSize = 16 << 20

// Close closes the log, then the wal's segment list, then the stable
// store.
func (s *raftStores) Close() error {
	var closers []io.Closer
	if s.wal != nil {
		closers = append(closers, s.wal, s.walMeta)
	}
	var errs []error
	for _, c := range append(closers, s.stable) {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// walMetrics hands raft-wal's counters to go-metrics as raft.wal.<name>,
// where the bridge (gometrics.go) picks up those it exports.
type walMetrics struct{}

func (walMetrics) IncrementCounter(name string, delta uint64) {
	gometrics.IncrCounter([]string{"raft", "wal", name}, float32(delta))
}

func (walMetrics) SetGauge(name string, val uint64) {
	gometrics.SetGauge([]string{"raft", "wal", name}, float32(val))
}
