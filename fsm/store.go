package fsm

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// entry is one value of one secondary index for one resource: the
// resource's key number k. Its kind and id are the resource's, its index,
// value and uniqueness the key's; 16 bytes in the tree, nothing copied.
type entry struct {
	r *Resource
	k int
}

func (e entry) key() *IndexKey { return &e.r.keys[e.k] }

// meta holds the Raft index of the last applied command, kept in the same
// state as the data so that every View sees an index consistent with it,
// and the zone's log format (FormatLegacy, FormatPrepared).
type meta struct {
	Index  uint64
	Format int
}

// trees is one version of the store: the resources in kind and id order,
// their secondary index entries in kind, index, value and id order, and
// meta. The trees are copy-on-write B-trees (google/btree): clone is O(1),
// and a write to a clone copies only the nodes on its path, so a version
// handed to readers never changes. Unlike go-memdb's radix trees, whose
// every node carried a watch channel Cairn never used, a resource costs
// its own allocation, its entries' and a pointer in each tree.
type trees struct {
	resources *btree.BTreeG[*Resource]
	entries   *btree.BTreeG[entry]
	meta      meta
}

// B-tree degrees: nodes of up to 63 and 31 items. Wider nodes make
// lookups shallower and cost more to copy on a write.
const (
	resourceDegree = 32
	entryDegree    = 16
)

func newTrees() *trees {
	return &trees{
		resources: btree.NewG(resourceDegree, resourceLess),
		entries:   btree.NewG(entryDegree, entryLess),
	}
}

// clone returns a copy of t that may be written without changing t.
// Clone writes to the tree it copies (its copy-on-write context): only
// the writer's own trees are ever cloned, never a version readers hold.
func (t *trees) clone() *trees {
	return &trees{resources: t.resources.Clone(), entries: t.entries.Clone(), meta: t.meta}
}

// resourceLess orders resources by kind, then id: the byte order of
// kind+NUL+id, as neither holds a NUL byte.
func resourceLess(a, b *Resource) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.ID < b.ID
}

// entryLess orders entries by kind, index, value, then id: a value's
// holders are contiguous and in id order.
func entryLess(a, b entry) bool {
	if c := cmp.Compare(a.r.Kind, b.r.Kind); c != 0 {
		return c < 0
	}
	ka, kb := a.key(), b.key()
	if c := cmp.Compare(ka.Index, kb.Index); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(ka.Value, kb.Value); c != 0 {
		return c < 0
	}
	return a.r.ID < b.r.ID
}

// Store is the in-memory resource store. Apply and Restore must be called
// from one goroutine at a time (Raft's FSM goroutine does so); reads may run
// concurrently from any number of goroutines through View.
type Store struct {
	schema Schema

	// writer is the writer's own version, changed in place by Apply
	// (under copy-on-write); current is the version readers get, a clone
	// of writer published after each Apply and never written.
	writer  *trees
	current atomic.Pointer[trees]

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced whenever the index advances

	restoreFailures atomic.Uint64

	// counts are the resources per kind, kept by Apply and Restore so that
	// a /metrics scrape reads them instead of counting the whole store.
	countsMu sync.Mutex
	counts   map[string]int
}

// NewStore returns an empty store that indexes the kinds in schema.
func NewStore(schema Schema) *Store {
	s := &Store{schema: schema, changed: make(chan struct{}), counts: map[string]int{}}
	s.install(newTrees())
	return s
}

// install makes t the writer's version and publishes a clone of it.
func (s *Store) install(t *trees) {
	s.writer = t
	s.current.Store(t.clone())
}

// Schema returns the kinds the store indexes.
func (s *Store) Schema() Schema { return s.schema }

// View returns an immutable, consistent view of the whole store.
func (s *Store) View() *View {
	return &View{t: s.current.Load(), schema: s.schema}
}

// Index returns the Raft index of the last applied command.
func (s *Store) Index() uint64 { return s.current.Load().meta.Index }

// WaitIndex blocks until the store has applied index, or ctx ends.
func (s *Store) WaitIndex(ctx context.Context, index uint64) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
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
	before := s.writer.clone() // O(1): what a refused batch rolls back to
	res := applyOps(s.writer, s.schema, index, cmd)
	if res.Conflict != nil || res.Invalid != "" {
		s.writer = before
		res.Resources, res.Existed = nil, nil
	}
	s.writer.meta.Index = index
	s.current.Store(s.writer.clone())
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
	s.writer.meta.Index = index
	// The trees did not change: the published ones serve again.
	cur := s.current.Load()
	s.current.Store(&trees{resources: cur.resources, entries: cur.entries, meta: s.writer.meta})
	s.advanced()
}

func applyOps(txn *trees, schema Schema, index uint64, cmd Command) *Result {
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
			if int(op.Version) > txn.meta.Format {
				txn.meta.Format = int(op.Version)
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
			if c := uniqueClash(txn, r); c != nil {
				if cur != nil {
					c.Version = cur.Version
				}
				res.Conflict = c
				return res
			}
			if cur != nil {
				removeEntries(txn, cur) // the resource itself is replaced
			}
			insertResource(txn, r)
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

func getResource(t *trees, kind, id string) *Resource {
	r, _ := t.resources.Get(&Resource{Kind: kind, ID: id})
	return r
}

// eachHolder calls fn for the resource of every entry of kind's index
// holding value, in id order, until fn returns false; ids up to from are
// skipped ("" starts at the first).
func (t *trees) eachHolder(kind, index, value, from string, fn func(*Resource) bool) {
	probe := entry{r: &Resource{Kind: kind, ID: from, keys: []IndexKey{{Index: index, Value: value}}}}
	t.entries.AscendGreaterOrEqual(probe, func(e entry) bool {
		if k := e.key(); e.r.Kind != kind || k.Index != index || k.Value != value {
			return false
		}
		return fn(e.r)
	})
}

// uniqueClash reports a unique index value of r already held by another
// resource of its kind. The caller fills in r's current version.
func uniqueClash(t *trees, r *Resource) *Conflict {
	for _, k := range r.keys {
		if !k.Unique {
			continue
		}
		var c *Conflict
		t.eachHolder(r.Kind, k.Index, k.Value, "", func(holder *Resource) bool {
			if holder.ID == r.ID {
				return true
			}
			c = &Conflict{Kind: r.Kind, ID: r.ID, Index: k.Index, Value: k.Value, HolderID: holder.ID}
			return false
		})
		if c != nil {
			return c
		}
	}
	return nil
}

// insertResource adds r and its index entries; r replaces any resource
// of its kind and id, whose entries removeEntries must have taken out.
func insertResource(t *trees, r *Resource) {
	t.resources.ReplaceOrInsert(r)
	for k := range r.keys {
		t.entries.ReplaceOrInsert(entry{r: r, k: k})
	}
}

// removeResource deletes r and its index entries: the keys stored with it,
// whatever this binary's schema would compute from its body now.
func removeResource(t *trees, r *Resource) {
	t.resources.Delete(r)
	removeEntries(t, r)
}

// removeEntries deletes r's index entries (the keys stored with it).
func removeEntries(t *trees, r *Resource) {
	for k := range r.keys {
		t.entries.Delete(entry{r: r, k: k})
	}
}
