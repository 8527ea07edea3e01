package fsm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Snapshot format: one JSON header line, which counts the resources, then
// one JSON line per resource in key order. Secondary index entries are not
// written; Restore recomputes them from the bodies.
const snapshotFormat = "cairn-fsm-snapshot"

// snapshotVersion is bumped whenever the format changes; Restore refuses
// versions it does not know.
const snapshotVersion = 2

type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	// Count is the number of resource lines that follow, so that a
	// snapshot cut short at a line boundary is refused.
	Count int `json:"count"`
}

// WriteSnapshot streams the view to w in the snapshot format.
func (v *View) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	count := 0
	v.each(func(*Resource) bool { count++; return true })
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Version: snapshotVersion, Index: v.Index(), Count: count}); err != nil {
		return err
	}
	var err error
	v.each(func(r *Resource) bool {
		err = enc.Encode(r)
		return err == nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the store's state wholly with the snapshot read from r.
// The new state is built aside and swapped in only when complete, so a
// broken snapshot leaves the store as it was.
func (s *Store) Restore(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("read snapshot header: %w", err)
	}
	if h.Format != snapshotFormat || h.Version != snapshotVersion {
		return fmt.Errorf("unsupported snapshot %q version %d", h.Format, h.Version)
	}
	db := newDB()
	txn := db.Txn(true)
	prev := ""
	for n := 0; ; n++ {
		res := new(Resource)
		err := dec.Decode(res)
		if err == io.EOF {
			if n != h.Count {
				txn.Abort()
				return fmt.Errorf("snapshot ends after %d of %d resources", n, h.Count)
			}
			break
		}
		if err == nil {
			err = ValidateKind(res.Kind)
		}
		if err == nil {
			err = ValidateID(res.ID)
		}
		if err == nil {
			if key := resourceKey(res.Kind, res.ID); key > prev {
				prev = key
			} else {
				err = fmt.Errorf("%s %q is out of order or repeated", res.Kind, res.ID)
			}
		}
		if err != nil {
			txn.Abort()
			return fmt.Errorf("read snapshot resource %d: %w", n, err)
		}
		// Index entries that no longer compute (a schema change between
		// versions) are left out rather than failing the restore; every
		// replica running this binary leaves out the same ones.
		entries, err := indexEntries(s.schema, res)
		if err != nil || uniqueClash(txn, s.schema, res, entries) != nil {
			entries = nil
		}
		insertResource(txn, res, entries)
	}
	setIndex(txn, h.Index)
	txn.Commit()

	s.mu.Lock()
	s.db = db
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}
