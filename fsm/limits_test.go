package fsm

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func nestedBody(depth int) json.RawMessage {
	return json.RawMessage(strings.Repeat(`{"a":`, depth-1) + "[1]" + strings.Repeat("}", depth-1))
}

func TestCheckBody_Limits(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"object", `{"a":[1,"x",null]}`, true},
		{"at the depth limit", string(nestedBody(MaxBodyDepth)), true},
		{"brackets in strings do not nest", `{"a":"[[[[[[[[[[{{{{{{{{{{\"["}`, true},
		{"past the depth limit", string(nestedBody(MaxBodyDepth + 1)), false},
		{"many brackets, shallow", "[" + strings.Repeat("[],{},", MaxBodyDepth) + "[]]", true},
		{"past the limit among many brackets", "[" + strings.Repeat("[],", MaxBodyDepth) + string(nestedBody(MaxBodyDepth)) + "]", false},
		{"10000 levels", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), false},
		{"invalid UTF-8 in a string", "{\"a\":\"\xff\"}", false},
		{"empty", ``, false},
		{"not JSON", `{"a":`, false},
	} {
		if err := CheckBody([]byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("%s: CheckBody: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// Test_Apply_RefusesBodiesPastTheLimits: log apply enforces the same limits
// as the write path, so nothing past them reaches a snapshot.
func Test_Apply_RefusesBodiesPastTheLimits(t *testing.T) {
	s := NewStore(nil)
	for i, body := range []json.RawMessage{nestedBody(MaxBodyDepth + 1), json.RawMessage("\"\xff\"")} {
		res := s.Apply(uint64(i+1), Command{Ops: []Op{{Type: OpPut, Kind: "k", ID: "x", Body: body}}})
		if res.Invalid == "" {
			t.Errorf("body %d: applied, want refused", i)
		}
	}
	if s.View().Get("k", "x") != nil {
		t.Error("a refused body was stored")
	}
}

// Test_Snapshot_AtTheLimits_RoundTrips: whatever Apply accepts, Restore
// reads back identically.
func Test_Snapshot_AtTheLimits_RoundTrips(t *testing.T) {
	s := NewStore(nil)
	bodies := map[string]json.RawMessage{
		"deep":    nestedBody(MaxBodyDepth),
		"arrays":  json.RawMessage(strings.Repeat("[", MaxBodyDepth) + strings.Repeat("]", MaxBodyDepth)),
		"escapes": json.RawMessage(`"\u2028\u0000\ud800<>&\n"`),
	}
	i := uint64(0)
	for id, b := range bodies {
		i++
		if res := s.Apply(i, Command{Ops: []Op{{Type: OpPut, Kind: "k", ID: id, Body: b}}, Time: time.Unix(1, 0)}); res.Err() != nil {
			t.Fatalf("%s: %v", id, res.Err())
		}
	}
	var buf bytes.Buffer
	if err := s.View().WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r := NewStore(nil)
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for id := range bodies {
		a, b := s.View().Get("k", id), r.View().Get("k", id)
		if b == nil || !bytes.Equal(a.Body, b.Body) {
			t.Errorf("%s: restored %v, want %s", id, b, a.Body)
		}
	}
}

// Test_Restore_Unreadable_NamesResourceAndCounts: a snapshot line that does
// not decode (a body stored before the limits, nested past encoding/json's
// own) fails the restore with the resource's kind and id, and is counted.
func Test_Restore_Unreadable_NamesResourceAndCounts(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	snap := `{"format":"cairn-fsm-snapshot","version":2,"index":5,"count":1}` + "\n" +
		`{"kind":"widget","id":"w1","version":5,"create_index":5,"created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z","body":` + deep + "}\n"
	s := NewStore(nil)
	err := s.Restore(strings.NewReader(snap))
	if err == nil || !strings.Contains(err.Error(), `widget "w1"`) {
		t.Fatalf("restore: %v, want an error naming widget \"w1\"", err)
	}
	if s.RestoreFailures() != 1 {
		t.Errorf("RestoreFailures %d, want 1", s.RestoreFailures())
	}
}

// Test_Counts_KeptThroughPutsDeletesAbortsAndRestore: the per-kind counts
// the store keeps (what /metrics reads) match a scan after every kind of
// change (#13 item 10).
func Test_Counts_KeptThroughPutsDeletesAbortsAndRestore(t *testing.T) {
	s := NewStore(nil)
	idx := uint64(0)
	apply := func(ops ...Op) *Result {
		idx++
		return s.Apply(idx, Command{Ops: ops, Time: time.Unix(1, 0)})
	}
	put := func(kind, id string) Op { return Op{Type: OpPut, Kind: kind, ID: id, Body: json.RawMessage(`{}`)} }
	check := func(st *Store, want map[string]int) {
		t.Helper()
		scan := map[string]int{}
		st.View().each(func(r *Resource) bool { scan[r.Kind]++; return true })
		got := st.KindCounts()
		if len(got) != len(want) || len(scan) != len(want) {
			t.Errorf("counts %v, scan %v, want %v", got, scan, want)
		}
		for k, n := range want {
			if got[k] != n || scan[k] != n {
				t.Errorf("%s: counted %d, scan %d, want %d", k, got[k], scan[k], n)
			}
		}
	}
	apply(put("a", "1"), put("a", "2"), put("b", "1"))
	apply(put("a", "1")) // a replace
	check(s, map[string]int{"a": 2, "b": 1})
	// One id twice in a batch, and a delete then a put of another.
	apply(put("c", "1"), put("c", "1"), Op{Type: OpDelete, Kind: "a", ID: "2"}, put("a", "2"))
	apply(put("d", "1"), Op{Type: OpDelete, Kind: "d", ID: "1"})
	check(s, map[string]int{"a": 2, "b": 1, "c": 1})
	apply(Op{Type: OpDelete, Kind: "c", ID: "1"})
	// A batch refused half-way changes no count.
	if res := apply(put("c", "1"), Op{Type: OpPut, Kind: "a", ID: "1", Body: json.RawMessage(`{}`), Require: RequireAbsent}); res.Conflict == nil {
		t.Fatal("want a conflict")
	}
	check(s, map[string]int{"a": 2, "b": 1})
	apply(Op{Type: OpDelete, Kind: "b", ID: "1"}, Op{Type: OpDelete, Kind: "b", ID: "nope"})
	check(s, map[string]int{"a": 2})
	var buf bytes.Buffer
	if err := s.View().WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r := NewStore(nil)
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	check(r, map[string]int{"a": 2})
}

// countingHandler counts the records logged at error level.
type countingHandler struct {
	slog.Handler
	errors *int
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		*h.errors++
	}
	return nil
}

// Test_FSMRestore_SameFailure_LoggedOnce: raft retries a failing install
// every few seconds; the failure is logged at error level once, and
// counted every time.
func Test_FSMRestore_SameFailure_LoggedOnce(t *testing.T) {
	errs := 0
	s := NewStore(nil)
	f := NewFSM(s, slog.New(countingHandler{Handler: slog.DiscardHandler, errors: &errs}))
	bad := `{"format":"cairn-fsm-snapshot","version":2,"index":5,"count":1}` + "\n" + `{"kind":"widget","id":"w1","body":[` + "\n"
	for i := 0; i < 3; i++ {
		if err := f.Restore(io.NopCloser(strings.NewReader(bad))); err == nil {
			t.Fatal("a broken snapshot restored")
		}
	}
	if errs != 1 || s.RestoreFailures() != 3 {
		t.Errorf("%d error logs and %d failures counted, want 1 and 3", errs, s.RestoreFailures())
	}
}
