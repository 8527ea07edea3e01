package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"
)

// ErrNoIndex means a look-up named an index the kind does not declare.
var ErrNoIndex = fmt.Errorf("no such index")

// View is an immutable, consistent view of the store: every read through it
// sees the state as of Index, whatever is applied meanwhile.
type View struct {
	txn    *memdb.Txn
	schema Schema
}

// Index returns the Raft index of the last command applied in this view.
func (v *View) Index() uint64 {
	raw, err := v.txn.First(tableMeta, "id", "meta")
	if err != nil {
		panic(err)
	}
	if raw == nil {
		return 0
	}
	return raw.(*meta).Index
}

// Schema returns the kinds and indexes of the store this view reads.
func (v *View) Schema() Schema { return v.schema }

// LogFormat returns the zone's log format as of this view.
func (v *View) LogFormat() int { return currentMeta(v.txn).Format }

// Get returns the resource kind/id, or nil if it does not exist.
func (v *View) Get(kind, id string) *Resource {
	return getResource(v.txn, kind, id)
}

// List returns up to limit resources of kind whose ids start with prefix and
// sort after the id after (exclusive; "" starts at the beginning), in id
// order. more reports whether further resources follow.
func (v *View) List(kind, prefix, after string, limit int) (items []*Resource, more bool) {
	start := resourceKey(kind, prefix)
	if after > prefix {
		start = resourceKey(kind, after) + "\x00\x00" // just past after's own key
	}
	it, err := v.txn.LowerBound(tableResources, "id", start)
	if err != nil {
		panic(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*Resource)
		if r.Kind != kind || !strings.HasPrefix(r.ID, prefix) {
			break
		}
		if r.ID == after {
			continue
		}
		if limit > 0 && len(items) == limit {
			return items, true
		}
		items = append(items, r)
	}
	return items, false
}

// Count returns how many resources of kind exist.
func (v *View) Count(kind string) int {
	it, err := v.txn.Get(tableResources, "id_prefix", resourceKey(kind, ""))
	if err != nil {
		panic(err)
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

// Kinds returns every kind that has at least one resource, in byte order.
// It seeks from one kind to the next rather than visiting every resource:
// a resource's key is its kind, a NUL byte and its id, so the first key at
// or above kind+"\x01" belongs to the next kind.
func (v *View) Kinds() []string {
	var kinds []string
	from := ""
	for {
		it, err := v.txn.LowerBound(tableResources, "id", from)
		if err != nil {
			panic(err)
		}
		raw := it.Next()
		if raw == nil {
			return kinds
		}
		kind := raw.(*Resource).Kind
		kinds = append(kinds, kind)
		from = kind + "\x01"
	}
}

// Lookup returns the resources of kind whose index holds value, in id order,
// without scanning the kind. It fails with ErrNoIndex if kind declares no
// such index.
func (v *View) Lookup(kind, index, value string) ([]*Resource, error) {
	if _, ok := v.schema.index(kind, index); !ok {
		return nil, fmt.Errorf("%w: kind %q has no index %q", ErrNoIndex, kind, index)
	}
	it, err := v.txn.Get(tableEntries, "id_prefix", entryPrefix(kind, index, value))
	if err != nil {
		panic(err)
	}
	var out []*Resource
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := raw.(*entry)
		if e.Value != value {
			continue // a longer value that continues with a NUL byte
		}
		if r := getResource(v.txn, e.Kind, e.ID); r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// LookupPage is Lookup a page at a time: up to limit resources (0: all)
// whose ids sort after the id after (exclusive; "" starts at the
// beginning), in id order; more reports whether further ones follow. It
// seeks to after rather than skipping to it, so a page costs its own size.
func (v *View) LookupPage(kind, index, value, after string, limit int) (items []*Resource, more bool, err error) {
	if _, ok := v.schema.index(kind, index); !ok {
		return nil, false, fmt.Errorf("%w: kind %q has no index %q", ErrNoIndex, kind, index)
	}
	prefix := entryPrefix(kind, index, value)
	// Ids hold no NUL byte, so prefix+after+"\x00\x00" sorts just past
	// after's own entry (prefix+after+"\x00") and before any later id's.
	start := prefix
	if after != "" {
		start = prefix + after + "\x00\x00"
	}
	it, err := v.txn.LowerBound(tableEntries, "id", start)
	if err != nil {
		panic(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := raw.(*entry)
		if !strings.HasPrefix(entryPrefix(e.Kind, e.Index, e.Value), prefix) {
			break
		}
		if e.Value != value {
			continue // a longer value that continues with a NUL byte
		}
		r := getResource(v.txn, e.Kind, e.ID)
		if r == nil {
			continue
		}
		if limit > 0 && len(items) == limit {
			return items, true, nil
		}
		items = append(items, r)
	}
	return items, false, nil
}

// ForEach calls fn for every resource of kind, in id order.
func (v *View) ForEach(kind string, fn func(*Resource)) {
	it, err := v.txn.Get(tableResources, "id_prefix", resourceKey(kind, ""))
	if err != nil {
		panic(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		fn(raw.(*Resource))
	}
}

// each calls fn for every resource, in kind and id order, until fn returns
// false.
func (v *View) each(fn func(*Resource) bool) {
	it, err := v.txn.Get(tableResources, "id_prefix", "")
	if err != nil {
		panic(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if !fn(raw.(*Resource)) {
			return
		}
	}
}

// Digest is a SHA-256 over every resource (kind, id, versions, timestamps and
// body) in key order. Replicas that applied the same log have equal digests;
// tests compare them after faults.
func (v *View) Digest() string {
	h := sha256.New()
	var num [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(num[:], uint64(len(b)))
		h.Write(num[:])
		h.Write(b)
	}
	v.each(func(r *Resource) bool {
		field([]byte(r.Kind))
		field([]byte(r.ID))
		binary.BigEndian.PutUint64(num[:], r.Version)
		h.Write(num[:])
		binary.BigEndian.PutUint64(num[:], r.CreateIndex)
		h.Write(num[:])
		field([]byte(r.Created.UTC().Format("2006-01-02T15:04:05.999999999Z")))
		field([]byte(r.Updated.UTC().Format("2006-01-02T15:04:05.999999999Z")))
		field(r.Body)
		return true
	})
	return hex.EncodeToString(h.Sum(nil))
}
