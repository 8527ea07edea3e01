package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Decoding limits: one set, shared by every path that writes or reads a
// stored body — the API dialects before they propose (through CheckBody),
// log apply, snapshot persist and restore. Whatever one path accepts the
// others can read back, so an accepted write can never make a snapshot
// that a restart, or a new member, cannot install.
const (
	// MaxBodyDepth bounds the nesting of objects and arrays in a stored
	// body. encoding/json refuses values nested past 10,000 levels, and a
	// snapshot line wraps the body in one more object: a body accepted at
	// exactly 10,000 once broke every restore. 100 levels is far past any
	// document the dialects store (MaxScale's deepest is 5) and keeps every
	// decoder's recursion small.
	MaxBodyDepth = 100
)

// CheckBody checks that b is one JSON value every path of the store
// accepts: syntactically valid, valid UTF-8 throughout (encoding/json
// passes invalid bytes inside strings through, and a list holding one
// is no longer JSON), and nested at most MaxBodyDepth levels. The error is
// a sentence for the client; callers wrap it in their own class.
func CheckBody(b []byte) error {
	if err := checkLimits(b); err != nil {
		return err
	}
	if !json.Valid(b) {
		return errors.New("the body is not valid JSON")
	}
	return nil
}

// CheckValidBody is CheckBody for a body already known to be valid JSON
// (json.Compact accepted it): the limits only, without a second scan.
func CheckValidBody(b []byte) error { return checkLimits(b) }

// checkLimits is CheckBody without the syntax check, for Apply, whose
// json.Marshal of the body checks the syntax anyway.
func checkLimits(b []byte) error {
	if len(b) == 0 {
		return errors.New("the body is empty")
	}
	if !utf8.Valid(b) {
		return errors.New("the body is not valid UTF-8")
	}
	if bytes.Count(b, []byte{'{'})+bytes.Count(b, []byte{'['}) <= MaxBodyDepth {
		// Too few brackets to nest deeper (the common case, in two
		// vectorised counts instead of jsonDepth's byte loop).
		return nil
	}
	if d := jsonDepth(b); d > MaxBodyDepth {
		return fmt.Errorf("the body nests %d levels deep; the limit is %d", d, MaxBodyDepth)
	}
	return nil
}

// jsonDepth returns the deepest nesting of objects and arrays in b, read
// without recursion so that a hostile body costs one linear pass. It does
// not validate b; brackets inside strings do not count.
func jsonDepth(b []byte) int {
	depth, max := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				max = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return max
}

// Canonical reports whether b is valid JSON already in the form the store
// keeps (json.Marshal's: compact, HTML-escaped), read with encoding/json
// v2's validator (about 9 times faster than v1's scanner on 1 KiB) and
// isCanonical. False says only that the fast path does not apply: v1's
// rules (json.Compact, json.Marshal) then decide, as they always did. What
// v2 validates, v1 does too (duplicate names are allowed, as v1 does;
// invalid UTF-8, which v2 refuses, goes to v1 and then to checkLimits).
func Canonical(b []byte) bool {
	return isCanonical(b) && jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true))
}

// checkedCanonical returns b as the store keeps it, json.Marshal's form, and
// whether it is valid JSON. It never returns b itself: the store keeps
// what it returns, and the caller may reuse its buffer.
func checkedCanonical(b []byte) (json.RawMessage, bool) {
	if Canonical(b) {
		return bytes.Clone(b), true
	}
	out, err := json.Marshal(json.RawMessage(b))
	return out, err == nil
}
