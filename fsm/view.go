package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// ErrNoIndex means a look-up named an index the kind does not declare.
var ErrNoIndex = fmt.Errorf("no such index")

// View is an immutable, consistent view of the store: every read through it
// sees the state as of Index, whatever is applied meanwhile.
type View struct {
	t      *trees // a published version: never written
	schema Schema
}

// Index returns the Raft index of the last command applied in this view.
func (v *View) Index() uint64 { return v.t.meta.Index }

// Schema returns the kinds and indexes of the store this view reads.
func (v *View) Schema() Schema { return v.schema }

// LogFormat returns the zone's log format as of this view.
func (v *View) LogFormat() int { return v.t.meta.Format }

// Get returns the resource kind/id, or nil if it does not exist.
func (v *View) Get(kind, id string) *Resource {
	return getResource(v.t, kind, id)
}

// List returns up to limit resources of kind whose ids start with prefix and
// sort after the id after (exclusive; "" starts at the beginning), in id
// order. more reports whether further resources follow.
func (v *View) List(kind, prefix, after string, limit int) (items []*Resource, more bool) {
	start := prefix
	if after > prefix {
		start = after + "\x00" // just past after itself
	}
	v.t.resources.AscendGreaterOrEqual(&Resource{Kind: kind, ID: start}, func(r *Resource) bool {
		if r.Kind != kind || !strings.HasPrefix(r.ID, prefix) {
			return false
		}
		if r.ID == after {
			return true
		}
		if limit > 0 && len(items) == limit {
			more = true
			return false
		}
		items = append(items, r)
		return true
	})
	return items, more
}

// Count returns how many resources of kind exist.
func (v *View) Count(kind string) int {
	n := 0
	v.ForEach(kind, func(*Resource) { n++ })
	return n
}

// Kinds returns every kind that has at least one resource, in byte order.
// It seeks from one kind to the next rather than visiting every resource:
// kind+"\x00" is the least kind after kind.
func (v *View) Kinds() []string {
	var kinds []string
	from := ""
	for {
		var next *Resource
		v.t.resources.AscendGreaterOrEqual(&Resource{Kind: from}, func(r *Resource) bool {
			next = r
			return false
		})
		if next == nil {
			return kinds
		}
		kinds = append(kinds, next.Kind)
		from = next.Kind + "\x00"
	}
}

// Lookup returns the resources of kind whose index holds value, in id order,
// without scanning the kind. It fails with ErrNoIndex if kind declares no
// such index.
func (v *View) Lookup(kind, index, value string) ([]*Resource, error) {
	if _, ok := v.schema.index(kind, index); !ok {
		return nil, fmt.Errorf("%w: kind %q has no index %q", ErrNoIndex, kind, index)
	}
	var out []*Resource
	v.t.eachHolder(kind, index, value, "", func(r *Resource) bool {
		out = append(out, r)
		return true
	})
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
	from := ""
	if after != "" {
		from = after + "\x00" // just past after itself (ids hold no NUL)
	}
	v.t.eachHolder(kind, index, value, from, func(r *Resource) bool {
		if limit > 0 && len(items) == limit {
			more = true
			return false
		}
		items = append(items, r)
		return true
	})
	return items, more, nil
}

// ForEach calls fn for every resource of kind, in id order.
func (v *View) ForEach(kind string, fn func(*Resource)) {
	v.t.resources.AscendGreaterOrEqual(&Resource{Kind: kind}, func(r *Resource) bool {
		if r.Kind != kind {
			return false
		}
		fn(r)
		return true
	})
}

// each calls fn for every resource, in kind and id order, until fn returns
// false.
func (v *View) each(fn func(*Resource) bool) {
	v.t.resources.Ascend(fn)
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
