package fsm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// seeded returns a store holding two hosts and a job at index 3:
//
//	host a: name x, tags [p q], addr h:1   (version 1)
//	host b: name y, tags [q],   addr h:2   (version 2)
//	job  j                                  (version 3)
//	blob d                                  (version 3)
func seeded(t *testing.T) *Store {
	t.Helper()
	s := newTestStore(t)
	mustApply(t, s, 1, put(kindHost, "a", `{"name":"x","tags":["p","q"],"host":"h","port":1}`))
	mustApply(t, s, 2, put(kindHost, "b", `{"name":"y","tags":["q"],"host":"h","port":2}`))
	mustApply(t, s, 3, put(kindJob, "j", `{"cmd":"run"}`), put(kindBlob, "d", `"blob"`))
	return s
}

func Test_Apply_FailedPrecondition_LeavesStateUntouched(t *testing.T) {
	cases := []struct {
		name string
		op   Op
		want Conflict
	}{
		{"absent but exists", check(kindHost, "a", RequireAbsent, 0),
			Conflict{Kind: kindHost, ID: "a", Version: 1, Require: RequireAbsent}},
		{"exists but absent", check(kindHost, "zz", RequireExists, 0),
			Conflict{Kind: kindHost, ID: "zz", Version: 0, Require: RequireExists}},
		{"version mismatch", check(kindHost, "b", RequireVersion, 1),
			Conflict{Kind: kindHost, ID: "b", Version: 2, Require: RequireVersion}},
		{"version of absent", check(kindHost, "zz", RequireVersion, 0),
			Conflict{Kind: kindHost, ID: "zz", Version: 0, Require: RequireVersion}},
		{"put if absent", withRequire(put(kindJob, "j", `{}`), RequireAbsent, 0),
			Conflict{Kind: kindJob, ID: "j", Version: 3, Require: RequireAbsent}},
		{"delete at old version", withRequire(del(kindHost, "a"), RequireVersion, 2),
			Conflict{Kind: kindHost, ID: "a", Version: 1, Require: RequireVersion}},
		{"delete if exists", withRequire(del(kindBlob, "none"), RequireExists, 0),
			Conflict{Kind: kindBlob, ID: "none", Version: 0, Require: RequireExists}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(t)
			// The failing op sits between writes that would have applied.
			res := mustRefuse(t, s, 10,
				put(kindHost, "c", `{"name":"z"}`),
				del(kindBlob, "d"),
				tc.op,
				put(kindJob, "k", `{}`))
			if res.Conflict == nil || *res.Conflict != tc.want {
				t.Fatalf("Conflict = %+v; want %+v", res.Conflict, tc.want)
			}
			if res.Invalid != "" {
				t.Fatalf("Invalid = %q alongside a conflict", res.Invalid)
			}
			err := res.Err()
			if !errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
				t.Fatalf("Err() = %v; want it to wrap ErrConflict", err)
			}
			if !strings.Contains(err.Error(), tc.want.ID) {
				t.Fatalf("Err() = %q does not name %q", err, tc.want.ID)
			}
			if s.View().Get(kindHost, "c") != nil || s.View().Get(kindBlob, "d") == nil {
				t.Fatalf("earlier ops of the refused batch took effect")
			}
			if got := ids(mustLookup(t, s.View(), kindHost, "name", "z")); len(got) != 0 {
				t.Fatalf("index entry of the refused put remains: %v", got)
			}
		})
	}
}

func Test_Apply_SatisfiedPreconditions_Apply(t *testing.T) {
	s := seeded(t)
	res := mustApply(t, s, 10,
		check(kindHost, "a", RequireExists, 0),
		check(kindHost, "zz", RequireAbsent, 0),
		withRequire(put(kindHost, "b", `{"name":"y2"}`), RequireVersion, 2),
		withRequire(del(kindJob, "j"), RequireVersion, 3),
		withRequire(put(kindJob, "new", `{}`), RequireAbsent, 0))
	if res.Resources[0] != nil || res.Resources[1] != nil || res.Resources[3] != nil {
		t.Fatalf("checks and deletes returned resources: %v", res.Resources)
	}
	if r := res.Resources[2]; r == nil || r.Version != 10 || r.CreateIndex != 2 {
		t.Fatalf("put b = %+v; want version 10, create index 2", r)
	}
	want := []bool{true, false, true, true, false}
	for i, w := range want {
		if res.Existed[i] != w {
			t.Fatalf("Existed = %v; want %v", res.Existed, want)
		}
	}
	if s.View().Get(kindJob, "j") != nil {
		t.Fatalf("job j survived its delete")
	}
}

func Test_Apply_UniqueIndexClash_LeavesStateUntouched(t *testing.T) {
	cases := []struct {
		name string
		op   Op
		want Conflict
	}{
		{"new resource takes a held name", put(kindHost, "c", `{"name":"x"}`),
			Conflict{Kind: kindHost, ID: "c", Version: 0, Index: "name", Value: "x", HolderID: "a"}},
		{"existing resource takes a held name", put(kindHost, "b", `{"name":"x"}`),
			Conflict{Kind: kindHost, ID: "b", Version: 2, Index: "name", Value: "x", HolderID: "a"}},
		{"held address", put(kindHost, "c", `{"name":"free","host":"h","port":2}`),
			Conflict{Kind: kindHost, ID: "c", Version: 0, Index: "addr", Value: "h:2", HolderID: "b"}},
		{"held address, port as a string", put(kindHost, "c", `{"host":"h","port":"1"}`),
			Conflict{Kind: kindHost, ID: "c", Version: 0, Index: "addr", Value: "h:1", HolderID: "a"}},
		{"name checked before address", put(kindHost, "b", `{"name":"x","host":"h","port":1}`),
			Conflict{Kind: kindHost, ID: "b", Version: 2, Index: "name", Value: "x", HolderID: "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(t)
			res := mustRefuse(t, s, 10,
				put(kindJob, "k", `{}`),
				tc.op,
				del(kindHost, "a"))
			if res.Conflict == nil || *res.Conflict != tc.want {
				t.Fatalf("Conflict = %+v; want %+v", res.Conflict, tc.want)
			}
			err := res.Err()
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("Err() = %v; want ErrConflict", err)
			}
			for _, s := range []string{tc.want.Index, tc.want.Value, tc.want.HolderID} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("Err() = %q does not mention %q", err, s)
				}
			}
		})
	}
}

func Test_Apply_UniqueIndex_FollowsBatchOrder(t *testing.T) {
	t.Run("value freed earlier in the batch can be taken", func(t *testing.T) {
		s := seeded(t)
		mustApply(t, s, 10,
			put(kindHost, "a", `{"name":"x-old"}`),
			put(kindHost, "c", `{"name":"x","host":"h","port":1}`))
		if got := ids(mustLookup(t, s.View(), kindHost, "name", "x")); len(got) != 1 || got[0] != "c" {
			t.Fatalf("Lookup(name, x) = %q; want [c]", got)
		}
	})
	t.Run("names swap through a third value", func(t *testing.T) {
		s := seeded(t)
		mustApply(t, s, 10,
			put(kindHost, "a", `{"name":"tmp"}`),
			put(kindHost, "b", `{"name":"x"}`),
			put(kindHost, "a", `{"name":"y"}`))
		if got := ids(mustLookup(t, s.View(), kindHost, "name", "y")); len(got) != 1 || got[0] != "a" {
			t.Fatalf("Lookup(name, y) = %q; want [a]", got)
		}
		if got := mustLookup(t, s.View(), kindHost, "name", "tmp"); len(got) != 0 {
			t.Fatalf("Lookup(name, tmp) = %q; want none", ids(got))
		}
	})
	t.Run("value taken before it is freed clashes", func(t *testing.T) {
		s := seeded(t)
		res := mustRefuse(t, s, 10,
			put(kindHost, "c", `{"name":"x"}`),
			del(kindHost, "a"))
		want := Conflict{Kind: kindHost, ID: "c", Index: "name", Value: "x", HolderID: "a"}
		if res.Conflict == nil || *res.Conflict != want {
			t.Fatalf("Conflict = %+v; want %+v", res.Conflict, want)
		}
	})
	t.Run("clash with a resource created earlier in the batch", func(t *testing.T) {
		s := seeded(t)
		res := mustRefuse(t, s, 10,
			put(kindHost, "c", `{"name":"new"}`),
			put(kindHost, "d", `{"name":"new"}`))
		want := Conflict{Kind: kindHost, ID: "d", Index: "name", Value: "new", HolderID: "c"}
		if res.Conflict == nil || *res.Conflict != want {
			t.Fatalf("Conflict = %+v; want %+v", res.Conflict, want)
		}
	})
	t.Run("a resource keeps its own value", func(t *testing.T) {
		s := seeded(t)
		mustApply(t, s, 10, put(kindHost, "a", `{"name":"x","host":"h","port":1,"v":2}`))
	})
}

func Test_Apply_InvalidOps_ChangeNothing(t *testing.T) {
	cases := []struct {
		name string
		op   Op
	}{
		{"empty kind", put("", "a", `{}`)},
		{"upper-case kind", put("T.host", "a", `{}`)},
		{"kind starting with a digit", del("1host", "a")},
		{"kind too long", check(strings.Repeat("k", 65), "a", RequireNothing, 0)},
		{"empty id", put(kindHost, "", `{}`)},
		{"id with a control character", del(kindHost, "a\nb")},
		{"id not UTF-8", put(kindJob, "a\xffb", `{}`)},
		{"id too long", put(kindJob, strings.Repeat("i", MaxIDBytes+1), `{}`)},
		{"invalid JSON body", put(kindJob, "x", `{"cmd":`)},
		{"two JSON values", put(kindJob, "x", `{} {}`)},
		{"empty body", put(kindJob, "x", ``)},
		{"unknown op type", Op{Type: "upsert", Kind: kindJob, ID: "x", Body: json.RawMessage(`{}`)}},
		{"missing op type", Op{Kind: kindJob, ID: "x"}},
		{"unknown precondition", check(kindHost, "a", "maybe", 0)},
		{"tags not an array", put(kindHost, "c", `{"tags":"p"}`)},
		{"tag not a scalar", put(kindHost, "c", `{"tags":["p",["q"]]}`)},
		{"name an object", put(kindHost, "c", `{"name":{"first":"x"}}`)},
		{"port an array", put(kindHost, "c", `{"host":"h","port":[1]}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, prefix := range [][]Op{
				{put(kindJob, "ok", `{}`)},
				// Malformed beats a failed precondition, wherever it is.
				{check(kindHost, "a", RequireAbsent, 0), del(kindHost, "b")},
			} {
				s := seeded(t)
				res := mustRefuse(t, s, 10, append(prefix, tc.op)...)
				if res.Invalid == "" || res.Conflict != nil {
					t.Fatalf("got invalid=%q conflict=%+v; want Invalid", res.Invalid, res.Conflict)
				}
				if want := "op " + string(rune('0'+len(prefix))) + ":"; !strings.HasPrefix(res.Invalid, want) {
					t.Fatalf("Invalid = %q; want it to name %q", res.Invalid, want)
				}
				err := res.Err()
				if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) {
					t.Fatalf("Err() = %v; want it to wrap ErrInvalid", err)
				}
			}
		})
	}
}

func Test_Apply_Put_PreservesCreateIndexAndCreated(t *testing.T) {
	s := newTestStore(t)
	mustApply(t, s, 4, put(kindJob, "j", `{"v":1}`))
	res := mustApply(t, s, 9, put(kindJob, "j", `{"v":2}`))
	r := s.View().Get(kindJob, "j")
	if r != res.Resources[0] && diffResource(r, res.Resources[0]) != "" {
		t.Fatalf("Result resource %+v differs from stored %+v", res.Resources[0], r)
	}
	if r.Version != 9 || r.CreateIndex != 4 || !r.Created.Equal(timeAt(4)) || !r.Updated.Equal(timeAt(9)) {
		t.Fatalf("after update: %+v; want version 9, create index 4, created at 4, updated at 9", r)
	}
	if string(r.Body) != `{"v":2}` {
		t.Fatalf("body %s", r.Body)
	}
	// Deleted and recreated, it starts a new life.
	mustApply(t, s, 12, del(kindJob, "j"), put(kindJob, "j", `{"v":3}`))
	r = s.View().Get(kindJob, "j")
	if r.Version != 12 || r.CreateIndex != 12 || !r.Created.Equal(timeAt(12)) {
		t.Fatalf("after recreate: %+v; want version and create index 12", r)
	}
}

func Test_Apply_DeleteAbsent_IsNoOp(t *testing.T) {
	s := seeded(t)
	before := s.View()
	res := mustApply(t, s, 10, del(kindHost, "nope"), del(kindBlob, "nope"))
	if res.Resources[0] != nil || res.Existed[0] || res.Existed[1] {
		t.Fatalf("delete of absent: Resources %v Existed %v", res.Resources, res.Existed)
	}
	mustSameContents(t, before, s.View())
	if s.Index() != 10 {
		t.Fatalf("Index() = %d; want 10", s.Index())
	}
}

func Test_Apply_EmptyCommand_AdvancesIndex(t *testing.T) {
	s := seeded(t)
	res := mustApply(t, s, 10)
	if len(res.Resources) != 0 || s.Index() != 10 {
		t.Fatalf("empty command: %+v, index %d", res, s.Index())
	}
}

func Test_Apply_Delete_RemovesIndexEntries(t *testing.T) {
	s := seeded(t)
	mustApply(t, s, 10, del(kindHost, "a"))
	v := s.View()
	for _, q := range [][2]string{{"name", "x"}, {"tags", "p"}, {"addr", "h:1"}} {
		if got := mustLookup(t, v, kindHost, q[0], q[1]); len(got) != 0 {
			t.Fatalf("Lookup(%s, %s) = %q after delete", q[0], q[1], ids(got))
		}
	}
	if got := ids(mustLookup(t, v, kindHost, "tags", "q")); len(got) != 1 || got[0] != "b" {
		t.Fatalf("Lookup(tags, q) = %q; want [b]", got)
	}
	// The name is free again.
	mustApply(t, s, 11, put(kindHost, "c", `{"name":"x","host":"h","port":1}`))
}

func Test_Apply_IndexValues(t *testing.T) {
	s := newTestStore(t)
	mustApply(t, s, 1,
		put(kindHost, "num", `{"name":42,"tags":[1,true,"1","x","x"]}`),
		put(kindHost, "bool", `{"name":false}`),
		put(kindHost, "null", `{"name":null,"tags":null,"host":"h","port":null}`),
		put(kindHost, "hostless", `{"port":1}`),
		put(kindHost, "array-body", `["name","x"]`),
		put(kindHost, "string-body", `"x"`),
		put(kindHost, "nested", `{"spec":{"name":"x"}}`),
		put(kindHost, "empty-tags", `{"tags":[]}`))
	v := s.View()
	for _, tc := range []struct{ index, value, want string }{
		{"name", "42", "num"},
		{"name", "false", "bool"},
		{"tags", "1", "num"},
		{"tags", "true", "num"},
		{"tags", "x", "num"},
		{"name", "x", ""},
		{"name", "null", ""},
		{"addr", "h:null", ""},
		{"addr", ":1", ""},
	} {
		got := ids(mustLookup(t, v, kindHost, tc.index, tc.value))
		want := []string{}
		if tc.want != "" {
			want = []string{tc.want}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("Lookup(%s, %q) = %q; want %q", tc.index, tc.value, got, want)
		}
	}
	if _, err := v.Lookup(kindHost, "nope", "x"); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Lookup of an undeclared index: %v; want ErrNoIndex", err)
	}
	if _, err := v.Lookup(kindBlob, "name", "x"); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Lookup on an undeclared kind: %v; want ErrNoIndex", err)
	}
}

// Regression: an index value that continues with a NUL byte used to match
// look-ups of (and clash with) its NUL-free prefix, because entry keys are
// NUL-separated and look-ups are prefix scans.
func Test_Apply_IndexValueWithNUL_IsItsOwnValue(t *testing.T) {
	s := newTestStore(t)
	mustApply(t, s, 1, put(kindHost, "a", `{"name":"x\u0000y","tags":["t\u0000"]}`))
	mustApply(t, s, 2, put(kindHost, "b", `{"name":"x","tags":["t"]}`))
	v := s.View()
	for _, q := range []struct{ index, value, want string }{
		{"name", "x", "b"}, {"name", "x\x00y", "a"}, {"tags", "t", "b"}, {"tags", "t\x00", "a"},
	} {
		if got := ids(mustLookup(t, v, kindHost, q.index, q.value)); len(got) != 1 || got[0] != q.want {
			t.Fatalf("Lookup(%s, %q) = %q; want [%s]", q.index, q.value, got, q.want)
		}
	}
	res := mustRefuse(t, s, 3, put(kindHost, "c", `{"name":"x\u0000y"}`))
	if c := res.Conflict; c == nil || c.HolderID != "a" || c.Value != "x\x00y" {
		t.Fatalf("Conflict = %+v; want x\\0y held by a", c)
	}
}

// Regression: bodies are stored in canonical form, so that a store restored
// from a snapshot is byte-identical (equal Digest) to one that applied the
// log, and Store.Apply stores what the raft path stores.
func Test_Apply_Body_StoredCanonically(t *testing.T) {
	body := "{ \"name\" : \"x\",\n  \"note\": \"a < b & c\" }"
	want := `{"name":"x","note":"a \u003c b \u0026 c"}`
	direct := newTestStore(t)
	res := mustApply(t, direct, 1, put(kindHost, "a", body))
	if got := string(res.Resources[0].Body); got != want {
		t.Fatalf("stored body %s; want %s", got, want)
	}

	viaRaft := newTestStore(t)
	data, err := EncodeCommand(Command{Ops: []Op{put(kindHost, "a", body)}, Time: timeAt(1)})
	if err != nil {
		t.Fatalf("EncodeCommand: %v", err)
	}
	NewFSM(viaRaft, quietLogger()).Apply(raftLog(1, data))
	restored := newTestStore(t)
	mustRestore(t, restored, mustSnapshot(t, direct.View()))
	for name, s := range map[string]*Store{"via raft": viaRaft, "restored": restored} {
		if a, b := direct.View().Digest(), s.View().Digest(); a != b {
			t.Fatalf("%s: digest %s; want %s", name, b, a)
		}
	}
	// The caller's slice is not retained.
	raw := []byte(`{"name":"y"}`)
	mustApply(t, direct, 2, Op{Type: OpPut, Kind: kindJob, ID: "j", Body: raw})
	raw[2] = 'X'
	if got := string(direct.View().Get(kindJob, "j").Body); got != `{"name":"y"}` {
		t.Fatalf("stored body changed with the caller's slice: %s", got)
	}
}

func Test_Result_Err(t *testing.T) {
	if err := (&Result{Index: 1}).Err(); err != nil {
		t.Fatalf("Err() of an applied result = %v", err)
	}
	c := &Result{Conflict: &Conflict{Kind: kindHost, ID: "a", Version: 3, Require: RequireVersion}}
	if err := c.Err(); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("conflict Err() = %v", err)
	}
	i := &Result{Invalid: "op 0: bad"}
	if err := i.Err(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "op 0: bad") {
		t.Fatalf("invalid Err() = %v", err)
	}
	for _, tc := range []struct {
		c    Conflict
		want string
	}{
		{Conflict{Kind: "k", ID: "a", Version: 2, Require: RequireAbsent}, `k "a" already exists (version 2)`},
		{Conflict{Kind: "k", ID: "a", Require: RequireExists}, `k "a" does not exist`},
		{Conflict{Kind: "k", ID: "a", Require: RequireVersion}, `k "a" does not exist`},
		{Conflict{Kind: "k", ID: "a", Version: 4, Require: RequireVersion}, `k "a" is at version 4`},
		{Conflict{Kind: "k", ID: "a", Index: "name", Value: "x", HolderID: "b"}, `k "a": name "x" is already used by k "b"`},
	} {
		if got := tc.c.Error(); got != tc.want {
			t.Fatalf("Error() = %q; want %q", got, tc.want)
		}
	}
}

func Test_NewSchema_RefusesBadDeclarations(t *testing.T) {
	values := func(json.RawMessage) ([]string, error) { return nil, nil }
	for name, kinds := range map[string][]KindSchema{
		"bad kind":        {{Kind: "Bad"}},
		"duplicate kind":  {{Kind: "k"}, {Kind: "k"}},
		"unnamed index":   {{Kind: "k", Indexes: []Index{{Values: values}}}},
		"no Values":       {{Kind: "k", Indexes: []Index{{Name: "i"}}}},
		"duplicate index": {{Kind: "k", Indexes: []Index{{Name: "i", Values: values}, {Name: "i", Values: values}}}},
	} {
		if _, err := NewSchema(kinds...); err == nil {
			t.Fatalf("%s: NewSchema accepted it", name)
		}
	}
	s := mustSchema(t)
	if len(s) != 2 || len(s[kindHost].Indexes) != 3 || NewStore(s).Schema()[kindJob].Kind != kindJob {
		t.Fatalf("schema %v", s)
	}
}

// Preconditions are evaluated against the state the earlier ops of the
// same batch produced.
func Test_Apply_Preconditions_SeeEarlierOpsOfTheBatch(t *testing.T) {
	s := seeded(t)
	mustApply(t, s, 10,
		withRequire(put(kindJob, "new", `{}`), RequireAbsent, 0),
		check(kindJob, "new", RequireVersion, 10),
		del(kindJob, "j"),
		check(kindJob, "j", RequireAbsent, 0))
	res := mustRefuse(t, s, 11,
		del(kindHost, "a"),
		check(kindHost, "a", RequireExists, 0))
	want := Conflict{Kind: kindHost, ID: "a", Require: RequireExists}
	if res.Conflict == nil || *res.Conflict != want {
		t.Fatalf("Conflict = %+v; want %+v", res.Conflict, want)
	}
}

// A unique index whose Values yields several values indexes (and checks)
// only the first.
func Test_Apply_UniqueIndexWithSeveralValues_UsesTheFirst(t *testing.T) {
	aliases := Index{Name: "alias", Unique: true, Values: func(body json.RawMessage) ([]string, error) {
		var v struct{ Aliases []string }
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		return v.Aliases, nil
	}}
	schema, err := NewSchema(KindSchema{Kind: "t.user", Indexes: []Index{aliases}})
	if err != nil {
		t.Fatalf("NewSchema: %v", err)
	}
	s := NewStore(schema)
	mustApply(t, s, 1, put("t.user", "u1", `{"Aliases":["first","second"]}`))
	mustApply(t, s, 2, put("t.user", "u2", `{"Aliases":["second","third"]}`))
	v := s.View()
	for value, want := range map[string]string{"first": "u1", "second": "u2", "third": ""} {
		got := strings.Join(ids(mustLookup(t, v, "t.user", "alias", value)), ",")
		if got != want {
			t.Fatalf("Lookup(alias, %s) = %q; want %q", value, got, want)
		}
	}
	res := mustRefuse(t, s, 3, put("t.user", "u3", `{"Aliases":["second"]}`))
	if c := res.Conflict; c == nil || c.HolderID != "u2" {
		t.Fatalf("Conflict = %+v; want second held by u2", c)
	}
}
