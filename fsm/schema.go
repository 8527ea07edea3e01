package fsm

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Index declares a secondary index over one kind's bodies. Values must be a
// pure function of the body: every replica computes it while applying.
type Index struct {
	// Name identifies the index within its kind ("fqn", "tags", "address").
	Name string
	// Unique indexes hold at most one resource per value; the store refuses
	// a put that would give a second resource the same value.
	Unique bool
	// Values returns the body's values for this index; none means the
	// resource is not in the index. A unique index uses only the first.
	Values func(body json.RawMessage) ([]string, error)
}

// KindSchema lists the secondary indexes of one kind. Kinds that are not
// declared can still be stored; they simply have no secondary indexes.
type KindSchema struct {
	Kind    string
	Indexes []Index
	// Owner names the API that owns the kind ("maxscale", "mrf"): the
	// only one that writes it, with its own schema checks. A generic API
	// must not write an owned kind, nor any kind that shares an owned
	// kind's prefix (its first dot-separated segment).
	Owner string
	// Secret marks a kind whose bodies hold credentials (password salts
	// and hashes): only its owner reads it; a generic API never serves it.
	Secret bool
}

// Schema is every declared kind, by name. The composition root (cmd/cairn)
// gathers it from the API dialects and hands it to every node, so all
// replicas index alike.
type Schema map[string]KindSchema

// NewSchema builds a Schema from kind declarations, refusing duplicates.
func NewSchema(kinds ...KindSchema) (Schema, error) {
	s := Schema{}
	for _, k := range kinds {
		if err := ValidateKind(k.Kind); err != nil {
			return nil, err
		}
		if _, dup := s[k.Kind]; dup {
			return nil, fmt.Errorf("kind %q declared twice", k.Kind)
		}
		seen := map[string]bool{}
		for _, ix := range k.Indexes {
			if ix.Name == "" || ix.Values == nil || seen[ix.Name] {
				return nil, fmt.Errorf("kind %q: index %q is unnamed, has no Values or is declared twice", k.Kind, ix.Name)
			}
			seen[ix.Name] = true
		}
		s[k.Kind] = k
	}
	return s, nil
}

// Owner returns the API that owns kind, or "" when any API may write it:
// the owner declared for kind, or else that of a declared kind with the
// same prefix ("maxscale.anything" belongs to maxscale, declared or not),
// so a dialect's namespace is closed, not only the kinds it uses today.
func (s Schema) Owner(kind string) string {
	if k, ok := s[kind]; ok && k.Owner != "" {
		return k.Owner
	}
	prefix := kindPrefix(kind)
	for _, k := range s {
		if k.Owner != "" && kindPrefix(k.Kind) == prefix {
			return k.Owner
		}
	}
	return ""
}

// Secret reports whether kind is declared secret.
func (s Schema) Secret(kind string) bool { return s[kind].Secret }

// kindPrefix is a kind's first dot-separated segment.
func kindPrefix(kind string) string {
	if i := strings.IndexByte(kind, '.'); i >= 0 {
		return kind[:i]
	}
	return kind
}

// index returns the named index of kind, if declared.
func (s Schema) index(kind, name string) (Index, bool) {
	for _, ix := range s[kind].Indexes {
		if ix.Name == name {
			return ix, true
		}
	}
	return Index{}, false
}

// FieldIndex indexes the string (or number) found at a dotted path in the
// body, e.g. "name" or "spec.fqn". A missing or null field is not indexed.
func FieldIndex(name, path string, unique bool) Index {
	parts := strings.Split(path, ".")
	return Index{Name: name, Unique: unique, Values: func(body json.RawMessage) ([]string, error) {
		v, ok, err := lookupPath(body, parts)
		if err != nil || !ok {
			return nil, err
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", path, err)
		}
		return []string{s}, nil
	}}
}

// ListIndex indexes every element of the array of strings at a dotted path
// (tags, labels): a multi-valued index. Duplicates count once.
func ListIndex(name, path string) Index {
	parts := strings.Split(path, ".")
	return Index{Name: name, Values: func(body json.RawMessage) ([]string, error) {
		v, ok, err := lookupPath(body, parts)
		if err != nil || !ok {
			return nil, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, fmt.Errorf("field %s: want an array", path)
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, err := scalarString(it)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", path, err)
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return dedupSorted(out), nil
	}}
}

// CompoundIndex indexes several fields joined by ":" (host and port, say);
// the resource is indexed only when every field is present.
func CompoundIndex(name string, unique bool, paths ...string) Index {
	return Index{Name: name, Unique: unique, Values: func(body json.RawMessage) ([]string, error) {
		vals := make([]string, 0, len(paths))
		for _, p := range paths {
			v, ok, err := lookupPath(body, strings.Split(p, "."))
			if err != nil || !ok {
				return nil, err
			}
			s, err := scalarString(v)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", p, err)
			}
			vals = append(vals, s)
		}
		return []string{strings.Join(vals, ":")}, nil
	}}
}

// lookupPath walks objects along parts; ok is false when a step is missing
// or the value is null.
func lookupPath(body json.RawMessage, parts []string) (json.RawMessage, bool, error) {
	cur := body
	for _, p := range parts {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return nil, false, nil // not an object: nothing to index
		}
		next, ok := obj[p]
		if !ok {
			return nil, false, nil
		}
		cur = next
	}
	if string(cur) == "null" {
		return nil, false, nil
	}
	return cur, true, nil
}

func scalarString(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err == nil {
		return n.String(), nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return strconv.FormatBool(b), nil
	}
	return "", fmt.Errorf("want a string, number or boolean, got %.40s", v)
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
