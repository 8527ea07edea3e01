package fsm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// otherSchema is mustSchema as a later version might declare it: the name
// index reads another field, the list index is gone, a new index exists.
func otherSchema(tb testing.TB) Schema {
	tb.Helper()
	s, err := NewSchema(
		KindSchema{Kind: kindHost, Indexes: []Index{
			FieldIndex("name", "label", true),
			CompoundIndex("addr", true, "host", "port"),
		}},
		KindSchema{Kind: kindJob, Indexes: []Index{FieldIndex("owner", "owner", false)}},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// viaLog encodes cmd as a log entry and applies it through the FSM.
func viaLog(tb testing.TB, s *Store, index uint64, cmd Command) *Result {
	tb.Helper()
	data, err := EncodeCommand(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	res, ok := NewFSM(s, quietLogger()).Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}).(*Result)
	if !ok {
		tb.Fatalf("entry %d not applied as a command", index)
	}
	return res
}

func entryCount(s *Store) int { return s.View().t.entries.Len() }

// Two replicas whose binaries declare different indexes (a rolling
// upgrade) apply a prepared entry alike: same resources, same index keys,
// byte-identical snapshots. The same entry unprepared (a legacy zone)
// makes them differ: that is what the prepared format closes.
func TestPreparedEntry_AppliesAlikeAcrossSchemaVersions(t *testing.T) {
	ops := []Op{
		put(kindHost, "a", `{"name":"x","label":"L","tags":["p","q"],"host":"h","port":1}`),
		put(kindJob, "j", `{"owner":"me"}`),
	}
	setFormat := Command{Ops: []Op{{Type: OpSetFormat, Version: FormatPrepared}}}

	oldNode, newNode := NewStore(mustSchema(t)), NewStore(otherSchema(t))
	for _, s := range []*Store{oldNode, newNode} {
		if res := viaLog(t, s, 1, setFormat); res.Err() != nil {
			t.Fatal(res.Err())
		}
	}
	cmd, err := PrepareCommand(oldNode.Schema(), Command{Time: timeAt(2), Ops: ops}) // proposed by the old leader
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{oldNode, newNode} {
		if res := viaLog(t, s, 2, cmd); res.Err() != nil {
			t.Fatal(res.Err())
		}
	}
	a, b := mustSnapshot(t, oldNode.View()), mustSnapshot(t, newNode.View())
	if !bytes.Equal(a, b) {
		t.Fatalf("replicas of two versions differ after one prepared entry:\n%s\n%s", a, b)
	}
	if !bytes.Contains(a, []byte(`"keys":[{"i":"name","v":"x","u":true}`)) {
		t.Fatalf("snapshot v3 lacks the proposer's keys:\n%s", a)
	}
	// Deleting removes exactly the stored keys on both, whatever their
	// schemas would compute now.
	del := Command{Time: timeAt(3), Ops: []Op{del(kindHost, "a"), del(kindJob, "j")}}
	for _, s := range []*Store{oldNode, newNode} {
		if res := viaLog(t, s, 3, del); res.Err() != nil {
			t.Fatal(res.Err())
		}
		if n := entryCount(s); n != 0 {
			t.Fatalf("%d index entries left after deleting every resource", n)
		}
	}

	// Legacy entries are indexed by each replica's own schema: they differ.
	oldLegacy, newLegacy := NewStore(mustSchema(t)), NewStore(otherSchema(t))
	for _, s := range []*Store{oldLegacy, newLegacy} {
		viaLog(t, s, 1, Command{Time: timeAt(1), Ops: ops})
	}
	if entryCount(oldLegacy) == entryCount(newLegacy) {
		t.Fatalf("legacy replicas of two schemas agree (%d entries): the test shows nothing", entryCount(oldLegacy))
	}
}

// A prepared entry is applied as the proposer checked it: the applying
// binary's own rules for kinds and bodies are not applied again.
func TestPreparedEntry_TrustedNotRevalidated(t *testing.T) {
	s := newTestStore(t)
	cmd := Command{Time: timeAt(1), Prepared: true, Ops: []Op{{Type: OpPut, Kind: "Kind Of Tomorrow", ID: "x", Body: []byte(`{"a":  1}`)}}}
	res := viaLog(t, s, 1, cmd)
	if res.Err() != nil {
		t.Fatalf("a prepared entry was re-validated: %v", res.Err())
	}
	if r := s.View().Get("Kind Of Tomorrow", "x"); r == nil || string(r.Body) != `{"a":  1}` {
		t.Fatalf("stored %+v, want the entry's bytes as they are", r)
	}
	// Structure still counts: an unknown operation is refused alike
	// everywhere.
	bad := Command{Time: timeAt(2), Prepared: true, Ops: []Op{{Type: "frobnicate", Kind: kindJob, ID: "y"}}}
	if res := viaLog(t, s, 2, bad); !strings.Contains(res.Invalid, "unknown operation") {
		t.Fatalf("unknown operation in a prepared entry: %+v", res)
	}
}

// PrepareCommand refuses what Apply would refuse in a legacy zone, with the
// same words, before anything is proposed.
func TestPrepareCommand_RefusesMalformed(t *testing.T) {
	schema := mustSchema(t)
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Type: OpPut, Kind: "Bad Kind", ID: "x", Body: []byte(`{}`)}, "kind"},
		{Op{Type: OpPut, Kind: kindJob, ID: "", Body: []byte(`{}`)}, "id"},
		{Op{Type: OpPut, Kind: kindJob, ID: "x", Body: []byte(`{`)}, "not valid JSON"},
		{Op{Type: OpPut, Kind: kindHost, ID: "x", Body: []byte(`{"name":{"a":1}}`)}, "index name"},
		{Op{Type: "frobnicate", Kind: kindJob, ID: "x"}, "unknown operation"},
		{Op{Type: OpPut, Kind: kindJob, ID: "x", Body: []byte(`{}`), Require: "maybe"}, "unknown precondition"},
	} {
		_, err := PrepareCommand(schema, Command{Ops: []Op{tc.op}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalid mentioning %q", tc.op, err, tc.want)
		}
		legacy := NewStore(schema).Apply(1, Command{Ops: []Op{tc.op}})
		if legacy.Invalid == "" || !strings.Contains(err.Error(), legacy.Invalid) {
			t.Errorf("%+v: prepare says %v, a legacy apply %q", tc.op, err, legacy.Invalid)
		}
	}
}

// The zone's log format moves only forward, only by its command, never
// past what this binary reads, and survives a snapshot.
func TestSetFormat(t *testing.T) {
	s := newTestStore(t)
	if f := s.View().LogFormat(); f != FormatLegacy {
		t.Fatalf("a new store is at format %d", f)
	}
	if snap := mustSnapshot(t, s.View()); !bytes.Contains(snap, []byte(`"version":2`)) {
		t.Fatalf("a legacy zone wrote a snapshot other than version 2: %s", snap)
	}
	if res := viaLog(t, s, 1, Command{Ops: []Op{{Type: OpSetFormat, Version: LatestFormat + 1}}}); res.Invalid == "" {
		t.Fatal("moved to a format newer than this binary reads")
	}
	viaLog(t, s, 2, Command{Ops: []Op{{Type: OpSetFormat, Version: FormatPrepared}}})
	viaLog(t, s, 3, Command{Ops: []Op{{Type: OpSetFormat, Version: 1}}})
	if f := s.View().LogFormat(); f != FormatPrepared {
		t.Fatalf("format %d after raising to %d and asking for 1", f, FormatPrepared)
	}
	mustApply(t, s, 4, put(kindHost, "a", `{"name":"n","tags":["t"]}`))
	snap := mustSnapshot(t, s.View())
	restored := newTestStore(t)
	mustRestore(t, restored, snap)
	if f := restored.View().LogFormat(); f != FormatPrepared {
		t.Fatalf("format %d after restoring a snapshot of format %d", f, FormatPrepared)
	}
	if got := mustLookup(t, restored.View(), kindHost, "tags", "t"); len(got) != 1 {
		t.Fatalf("restored lookup by tag: %v", ids(got))
	}
	if !bytes.Equal(mustSnapshot(t, restored.View()), snap) {
		t.Fatal("a restored store's snapshot differs from the one it restored")
	}
	// A snapshot claiming a format this binary cannot read is refused.
	future := bytes.Replace(snap, []byte(`"log_format":3`), []byte(`"log_format":9`), 1)
	if err := newTestStore(t).Restore(bytes.NewReader(future)); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("restore of a future format: %v", err)
	}
}

// Prepared entries survive encoding, and a cut-short one is refused.
func TestPreparedEntry_EncodeDecode(t *testing.T) {
	cmd, err := PrepareCommand(mustSchema(t), Command{Time: timeAt(1), Ops: []Op{
		put(kindHost, "a", `{"name":"x","tags":["p","q"],"host":"h","port":1}`), del(kindJob, "j"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != entryCommandPrepared {
		t.Fatalf("format byte %d", data[0])
	}
	got, err := DecodeCommand(data)
	if err != nil || !got.Prepared || len(got.Ops[0].Keys) != 4 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	for i := 1; i < len(data); i++ {
		if _, err := DecodeCommand(data[:i]); err == nil {
			t.Fatalf("a prepared entry cut to %d of %d bytes decoded", i, len(data))
		}
	}
}
