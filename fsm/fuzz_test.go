package fsm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// byteSource hands out fuzz bytes one decision at a time; exhausted, it
// returns zeros.
type byteSource struct{ data []byte }

func (b *byteSource) next() int {
	if len(b.data) == 0 {
		return 0
	}
	c := b.data[0]
	b.data = b.data[1:]
	return int(c)
}

func (b *byteSource) pick(choices ...string) string { return choices[b.next()%len(choices)] }

// fuzzOp builds one op from the fuzz bytes, over a deliberately small key
// space so that preconditions and unique indexes interact.
func fuzzOp(b *byteSource, m *model) Op {
	op := Op{
		Kind: testKinds[b.next()%len(testKinds)],
		ID:   testIDs[b.next()%6],
	}
	switch c := b.next(); {
	case c < 120:
		op.Type = OpPut
	case c < 190:
		op.Type = OpDelete
	case c < 250:
		op.Type = OpCheck
	default:
		op.Type = "frob"
	}
	switch c := b.next(); c % 16 {
	case 0, 1, 2, 3, 4, 5:
	case 6, 7:
		op.Require = RequireAbsent
	case 8, 9:
		op.Require = RequireExists
	case 15:
		op.Require = "maybe"
	default:
		op.Require = RequireVersion
		cur, ok := m.res[mkey{op.Kind, op.ID}]
		switch v := b.next(); {
		case ok && v < 128:
			op.Version = cur.r.Version
		case ok && v < 160:
			op.Version = cur.r.Version + 1
		default:
			op.Version = uint64(v % 8)
		}
	}
	switch c := b.next(); {
	case c >= 250:
		op.Kind = b.pick("", "Bad", "t.host\x00")
	case c >= 245:
		op.ID = b.pick("", "a\x7f", "\xff")
	}
	if op.Type == OpPut {
		op.Body = fuzzBody(b)
	}
	return op
}

func fuzzBody(b *byteSource) json.RawMessage {
	if b.next() >= 240 {
		// Raw bytes: mostly not JSON at all.
		n := b.next() % 12
		raw := make([]byte, 0, n)
		for range n {
			raw = append(raw, byte(b.next()))
		}
		return raw
	}
	var fields []string
	add := func(key string, vals ...string) {
		if v := b.pick(vals...); v != "" {
			fields = append(fields, fmt.Sprintf("%q:%s", key, v))
		}
	}
	add("name", "", `"n0"`, `"n1"`, `"n2"`, `"n0\u0000"`, `null`, `7`, `true`, `{"x":1}`, `"<n>"`)
	add("tags", "", `["a"]`, `["a","b","a"]`, `[]`, `["b",1,true]`, `null`, `"a"`, `[["a"]]`, `["a\u0000"]`)
	add("host", "", `"h0"`, `"h1"`, `null`, `[1]`)
	add("port", "", `1`, `"1"`, `2`, `null`, `{}`)
	add("note", "", "", `"a < b & c"`)
	sep := b.pick(",", ", ", " ,\n ")
	return json.RawMessage("{" + strings.Join(fields, sep) + "}")
}

var fuzzSeedPopulation = Command{Ops: []Op{
	put(kindHost, "id-00", `{"name":"n0","tags":["a","b"],"host":"h0","port":1}`),
	put(kindHost, "id-01", `{"name":"n1","tags":["b"],"host":"h1","port":"1"}`),
	put(kindJob, "id-02", `{"name":"n0"}`),
	put(kindBlob, "id-03", `[1]`),
}}

// FuzzApply decodes fuzz bytes into commands and applies them to a Store
// and to the model: Apply must never panic, every Result must match the
// model, and afterwards every invariant (Get, List, Count, Lookup against
// a scan, snapshot round trip) must hold.
//
// The first byte chooses the decoding: even, the rest drives a generator
// of structured batches; odd, the rest is a raw Raft log entry handed to
// FSM.Apply (after a fixed population), exercising DecodeCommand too.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte("\x00structured fuzz input that drives several batches of operations"))
	f.Add([]byte{0, 4, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 6, 0, 0, 4, 4, 4, 4, 4, 0, 0, 0, 10, 1, 0})
	f.Add([]byte{0, 2, 0, 1, 0, 10, 0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 1, 0, 10, 200, 0, 0, 0, 4, 0, 0, 0, 0})
	f.Add([]byte{1})
	f.Add([]byte{1, 9, 9})
	f.Add([]byte{1, 1, '{'})
	for _, cmd := range []Command{
		{Ops: []Op{put(kindHost, "id-09", `{ "name" : "n0" }`)}},
		{Ops: []Op{put(kindHost, "id-09", `{"name":"n0\u0000x","tags":["a\u0000"]}`), check(kindHost, "id-00", RequireVersion, 1)}},
		{Ops: []Op{del(kindHost, "id-00"), put(kindHost, "id-09", `{"name":"n0","host":"h0","port":"1"}`)}},
		{Ops: []Op{withRequire(put(kindJob, "id-02", `{"a":"<&>"}`), RequireVersion, 2), {Type: "frob", Kind: kindJob, ID: "x"}}},
		{Ops: []Op{{Type: OpPut, Kind: "weird kind", ID: "x", Body: json.RawMessage(`{}`)}}},
		{Ops: []Op{check(kindHost, "id-00", "maybe", 0)}},
	} {
		data, err := EncodeCommand(cmd)
		if err != nil {
			f.Fatalf("EncodeCommand: %v", err)
		}
		f.Add(append([]byte{1}, data...))
	}
	f.Add(append([]byte{1, entryCommandJSON}, `{"ops":[{"op":"put","kind":"t.host","id":"z","body":{"tags":"x"}}],"time":"2024-01-01T00:00:00+01:00"}`...))

	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t)
		b := &byteSource{data: data}
		if b.next()%2 == 1 {
			h.apply(1, fuzzSeedPopulation, false)
			entry := b.data
			cmd, decodeErr := DecodeCommand(entry)
			got, _ := h.fsm.Apply(raftLog(2, entry)).(*Result)
			if got == nil {
				t.Fatalf("FSM.Apply returned no *Result")
			}
			if decodeErr != nil {
				if got.Invalid == "" || got.Index != 2 || h.store.Index() != 2 {
					t.Fatalf("undecodable entry: result %+v, index %d", got, h.store.Index())
				}
				h.model.index = 2
			} else {
				h.compareResult(2, cmd, got, h.model.apply(2, cmd))
			}
		} else {
			for index := uint64(1); len(b.data) > 0 && index <= 16; index++ {
				cmd := Command{Time: timeAt(index)}
				for range 1 + b.next()%5 {
					cmd.Ops = append(cmd.Ops, fuzzOp(b, h.model))
				}
				h.apply(index, cmd, b.next()%2 == 0)
			}
		}
		h.checkState(h.store)
		restored := newTestStore(t)
		mustRestore(t, restored, mustSnapshot(t, h.store.View()))
		h.checkState(restored)
		if a, b := h.store.View().Digest(), restored.View().Digest(); a != b {
			t.Fatalf("restored digest %s; want %s", b, a)
		}
	})
}
