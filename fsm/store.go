package fsm

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
)

const (
	tableResources = "resources"
	tableEntries   = "entries" // secondary index entries
	tableMeta      = "meta"
)

// entry is one value of one secondary index for one resource.
type entry struct {
	Kind, Index, Value, ID string
	Unique                 bool // the index holds one resource per value
}

// meta holds the Raft index of the last applied command, kept in the same
// memdb as the data so that every View sees an index consistent with it,
// and the zone's log format (FormatLegacy, FormatPrepared).
type meta struct {
	Index  uint64
	Format int
}

// keyIndexer makes memdb keys that Cairn builds itself (NUL-separated and
// NUL-terminated), so that prefix and lower-bound scans are plain byte ranges.
type keyIndexer struct{ key func(obj any) string }

func (k keyIndexer) FromObject(obj any) (bool, []byte, error) {
	return true, []byte(k.key(obj)), nil
}

func (k keyIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one key argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("key argument must be a string, got %T", args[0])
	}
	return []byte(s), nil
}

func (k keyIndexer) PrefixFromArgs(args ...any) ([]byte, error) { return k.FromArgs(args...) }

func entryPrefix(kind, index, value string) string {
	return kind + "\x00" + index + "\x00" + value + "\x00"
}

var dbSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	tableResources: {Name: tableResources, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndexer{func(o any) string {
			r := o.(*Resource)
			return resourceKey(r.Kind, r.ID) + "\x00"
		}}},
	}},
	tableEntries: {Name: tableEntries, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndexer{func(o any) string {
			e := o.(*entry)
			return entryPrefix(e.Kind, e.Index, e.Value) + e.ID + "\x00"
		}}},
	}},
	tableMeta: {Name: tableMeta, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: keyIndexer{func(any) string { return "meta" }}},
	}},
}}

// Store is the in-memory resource store. Apply and Restore must be called
// from one goroutine at a time (Raft's FSM goroutine does so); reads may run
// concurrently from any number of goroutines through View.
type Store struct {
	schema Schema

	mu      sync.RWMutex // guards db (swapped wholesale by Restore) and changed
	db      *memdb.MemDB
	changed chan struct{} // closed and replaced whenever the index advances

	restoreFailures atomic.Uint64

	// counts are the resources per kind, kept by Apply and Restore so that
	// a /metrics scrape reads them instead of counting the whole store.
	// Outside memdb: an extra table row per write cost a third more
	// allocations on the put path, and metrics need no view consistency.
	countsMu sync.Mutex
	counts   map[string]int
}

// NewStore returns an empty store that indexes the kinds in schema.
func NewStore(schema Schema) *Store {
	return &Store{schema: schema, db: newDB(), changed: make(chan struct{}), counts: map[string]int{}}
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(dbSchema)
	if err != nil {
		panic(err) // the schema is a constant; a failure is a programming error
	}
	return db
}

// Schema returns the kinds the store indexes.
func (s *Store) Schema() Schema { return s.schema }

// View returns an immutable, consistent view of the whole store.
func (s *Store) View() *View {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &View{txn: s.db.Txn(false), schema: s.schema}
}

// Index returns the Raft index of the last applied command.
func (s *Store) Index() uint64 { return s.View().Index() }

// WaitIndex blocks until the store has applied index, or ctx ends.
func (s *Store) WaitIndex(ctx context.Context, index uint64) error {
	for {
		s.mu.RLock()
		ch := s.changed
		s.mu.RUnlock()
		if s.Index() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advanced wakes WaitIndex callers.
func (s *Store) advanced() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Apply applies cmd as Raft log entry index: all of it, or none of it with
// the reason in the Result. The index advances either way.
func (s *Store) Apply(index uint64, cmd Command) *Result {
	s.mu.RLock()
	db := s.db
	s.mu.RUnlock()
	txn := db.Txn(true)
	res := applyOps(txn, s.schema, index, cmd)
	if res.Conflict != nil || res.Invalid != "" {
		txn.Abort()
		res.Resources, res.Existed = nil, nil
		txn = db.Txn(true)
	}
	setIndex(txn, index)
	txn.Commit()
	if res.Conflict == nil && res.Invalid == "" {
		s.count(cmd, res)
	}
	s.advanced()
	return res
}

// count moves the per-kind counts by what an applied batch created and
// deleted: a put of a resource that did not exist adds one, a delete of
// one that did removes one (Existed is per operation, so a batch that
// touches one id twice counts right).
func (s *Store) count(cmd Command, res *Result) {
	s.countsMu.Lock()
	defer s.countsMu.Unlock()
	for i, op := range cmd.Ops {
		switch {
		case op.Type == OpPut && !res.Existed[i]:
			s.counts[op.Kind]++
		case op.Type == OpDelete && res.Existed[i]:
			if s.counts[op.Kind]--; s.counts[op.Kind] <= 0 {
				delete(s.counts, op.Kind)
			}
		}
	}
}

// KindCounts returns how many resources of each kind the store holds, as
// of the last Apply or Restore, without visiting any resource.
func (s *Store) KindCounts() map[string]int {
	s.countsMu.Lock()
	defer s.countsMu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, n := range s.counts {
		out[k] = n
	}
	return out
}

// SkipIndex records that a Raft log entry carrying no command (or one that
// could not be decoded) was applied, so the store's index keeps pace.
func (s *Store) SkipIndex(index uint64) {
	s.mu.RLock()
	txn := s.db.Txn(true)
	s.mu.RUnlock()
	setIndex(txn, index)
	txn.Commit()
	s.advanced()
}

func setIndex(txn *memdb.Txn, index uint64) {
	m := currentMeta(txn)
	m.Index = index
	if err := txn.Insert(tableMeta, &m); err != nil {
		panic(err)
	}
}

func currentMeta(txn *memdb.Txn) meta {
	raw, err := txn.First(tableMeta, "id", "meta")
	if err != nil {
		panic(err)
	}
	if raw == nil {
		return meta{}
	}
	return *raw.(*meta)
}

func setFormat(txn *memdb.Txn, format int) {
	m := currentMeta(txn)
	m.Format = format
	if err := txn.Insert(tableMeta, &m); err != nil {
		panic(err)
	}
}

func applyOps(txn *memdb.Txn, schema Schema, index uint64, cmd Command) *Result {
	res := &Result{Index: index, Resources: make([]*Resource, len(cmd.Ops)), Existed: make([]bool, len(cmd.Ops))}
	// Whether a batch is malformed depends on the batch alone, never on the
	// store's state: check every operation before looking at any resource.
	// A prepared command was checked, canonicalised and indexed by its
	// proposer: only its structure is checked here, so that replicas of
	// different versions apply it alike. A legacy one is checked, and its
	// bodies canonicalised and indexed, with this binary's rules.
	bodies := make([]json.RawMessage, len(cmd.Ops))
	keys := make([][]IndexKey, len(cmd.Ops))
	for i, op := range cmd.Ops {
		var msg string
		switch {
		case op.Type == OpSetFormat:
			if op.Version > LatestFormat {
				msg = fmt.Sprintf("log format %d is newer than this node's %d", op.Version, LatestFormat)
			}
		case cmd.Prepared:
			msg = checkStructure(op)
			bodies[i], keys[i] = op.Body, op.Keys
		default:
			if msg = checkOp(op); msg == "" && op.Type == OpPut {
				bodies[i], keys[i], msg = prepareBody(schema, op)
			}
		}
		if msg != "" {
			res.Invalid = fmt.Sprintf("op %d: %s", i, msg)
			return res
		}
	}
	for i, op := range cmd.Ops {
		if op.Type == OpSetFormat {
			if int(op.Version) > currentMeta(txn).Format {
				setFormat(txn, int(op.Version))
			}
			continue
		}
		cur := getResource(txn, op.Kind, op.ID)
		res.Existed[i] = cur != nil
		if c := checkRequire(op, cur); c != nil {
			res.Conflict = c
			return res
		}
		switch op.Type {
		case OpDelete:
			if cur != nil {
				removeResource(txn, cur)
			}
		case OpPut:
			r := &Resource{Kind: op.Kind, ID: op.ID, Version: index, CreateIndex: index,
				Created: cmd.Time, Updated: cmd.Time, Body: bodies[i], keys: keys[i]}
			if cur != nil {
				r.CreateIndex, r.Created = cur.CreateIndex, cur.Created
			}
			entries := entriesOf(r.Kind, r.ID, r.keys)
			if c := uniqueClash(txn, r, entries); c != nil {
				if cur != nil {
					c.Version = cur.Version
				}
				res.Conflict = c
				return res
			}
			if cur != nil {
				removeResource(txn, cur)
			}
			insertResource(txn, r, entries)
			res.Resources[i] = r
		}
	}
	return res
}

// checkStructure says what makes a prepared op impossible to apply, or
// returns "". It checks only what the entry's format defines, never a
// rule of this binary's (kind and id syntax, JSON, indexes): those were
// the proposer's to check.
func checkStructure(op Op) string {
	switch op.Require {
	case RequireNothing, RequireAbsent, RequireExists, RequireVersion:
	default:
		return fmt.Sprintf("unknown precondition %q", op.Require)
	}
	switch op.Type {
	case OpCheck, OpDelete:
	case OpPut:
		if len(op.Body) == 0 {
			return fmt.Sprintf("put of %s %q has no body", op.Kind, op.ID)
		}
	default:
		return fmt.Sprintf("unknown operation %q", op.Type)
	}
	return ""
}

func checkRequire(op Op, cur *Resource) *Conflict {
	var version uint64
	if cur != nil {
		version = cur.Version
	}
	ok := true
	switch op.Require {
	case RequireNothing:
	case RequireAbsent:
		ok = cur == nil
	case RequireExists:
		ok = cur != nil
	case RequireVersion:
		ok = cur != nil && cur.Version == op.Version
	default:
		return &Conflict{Kind: op.Kind, ID: op.ID, Version: version, Require: op.Require}
	}
	if ok {
		return nil
	}
	return &Conflict{Kind: op.Kind, ID: op.ID, Version: version, Require: op.Require}
}

func getResource(txn *memdb.Txn, kind, id string) *Resource {
	raw, err := txn.First(tableResources, "id", resourceKey(kind, id)+"\x00")
	if err != nil {
		panic(err)
	}
	if raw == nil {
		return nil
	}
	return raw.(*Resource)
}

// uniqueClash reports a unique index value of r already held by another
// resource of its kind. The caller fills in r's current version.
func uniqueClash(txn *memdb.Txn, r *Resource, entries []*entry) *Conflict {
	for _, e := range entries {
		if !e.Unique {
			continue
		}
		it, err := txn.Get(tableEntries, "id_prefix", entryPrefix(e.Kind, e.Index, e.Value))
		if err != nil {
			panic(err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			holder := raw.(*entry)
			// The prefix also matches longer values that continue with a
			// NUL byte ("x\u0000y" for "x"): skip those too.
			if holder.ID == r.ID || holder.Value != e.Value {
				continue
			}
			return &Conflict{Kind: r.Kind, ID: r.ID, Index: e.Index, Value: e.Value, HolderID: holder.ID}
		}
	}
	return nil
}

func insertResource(txn *memdb.Txn, r *Resource, entries []*entry) {
	if err := txn.Insert(tableResources, r); err != nil {
		panic(err)
	}
	for _, e := range entries {
		if err := txn.Insert(tableEntries, e); err != nil {
			panic(err)
		}
	}
}

// removeResource deletes r and its index entries: the keys stored with it,
// whatever this binary's schema would compute from its body now.
func removeResource(txn *memdb.Txn, r *Resource) {
	if err := txn.Delete(tableResources, r); err != nil {
		panic(err)
	}
	for _, e := range entriesOf(r.Kind, r.ID, r.keys) {
		if err := txn.Delete(tableEntries, e); err != nil && err != memdb.ErrNotFound {
			panic(err)
		}
	}
}
