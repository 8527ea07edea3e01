package fsm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzCanonical checks the fast path of body checks (Canonical: encoding/json
// v2's validator and isCanonical) against encoding/json v1, whose rules the
// store has always applied: a body the fast path takes as it is must be one
// v1 accepts and stores byte for byte unchanged; and checkedCanonical gives
// what json.Marshal gives, for every input.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `[1,2,{"x":null}]`, `"s"`, `1e5`, `-0`, `123456789012345678901234567890`,
		`{"a":"\u003c"}`, `{"a":"<"}`, `{"a":"\/"}`, "{\"a\":\"\u2028\"}", `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{ "a": 1 }`, ` 1`, `1 `, `{"a":1}{}`, ``, `nul`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, "{\"a\":\"\x7f\"}",
		`{"":""}`, `[[[[[]]]]]`, `true`, `false`, `null`, `{"a":[]}`, `1E+2`, `{"a":"tab\there"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := json.Marshal(json.RawMessage(b))
		if Canonical(b) {
			if err != nil {
				t.Fatalf("Canonical(%q) but json.Marshal refuses it: %v", b, err)
			}
			if !bytes.Equal(want, b) {
				t.Fatalf("Canonical(%q) but json.Marshal gives %q", b, want)
			}
		}
		got, ok := checkedCanonical(b)
		if ok != (err == nil) {
			t.Fatalf("checkedCanonical(%q) valid=%v, json.Marshal's error %v", b, ok, err)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("checkedCanonical(%q) = %q, json.Marshal gives %q", b, got, want)
		}
	})
}
