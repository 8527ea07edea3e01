package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func Test_EncodeDecodeCommand_RoundTrips(t *testing.T) {
	cmds := []Command{
		{},
		{Ops: []Op{}, Time: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)},
		{Ops: []Op{
			put(kindHost, "a", `{"name":"x","tags":["p"]}`),
			withRequire(del(kindJob, "j/1 ü"), RequireVersion, 1<<63),
			check(kindBlob, "b", RequireAbsent, 0),
			withRequire(put(kindJob, "k", `[1,2.5,"s",null,true]`), RequireExists, 0),
		}, Time: time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", -7*3600))},
	}
	g := &gen{r: rand.New(rand.NewSource(testSeed(t)))}
	m := newModel()
	for i := range 200 {
		cmd := g.command(m, uint64(i))
		if m.valid(cmd) {
			for j := range cmd.Ops {
				if cmd.Ops[j].Body != nil {
					cmd.Ops[j].Body = modelCanonical(cmd.Ops[j].Body)
				}
			}
			cmds = append(cmds, cmd)
		}
	}
	for _, cmd := range cmds {
		data, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("EncodeCommand: %v", err)
		}
		if data[0] != entryCommandBinary {
			t.Fatalf("format byte %d", data[0])
		}
		got, err := DecodeCommand(data)
		if err != nil {
			t.Fatalf("DecodeCommand: %v", err)
		}
		if !got.Time.Equal(cmd.Time) {
			t.Fatalf("time %v; want %v", got.Time, cmd.Time)
		}
		got.Time, cmd.Time = time.Time{}, time.Time{}
		if len(got.Ops) == 0 && len(cmd.Ops) == 0 {
			continue
		}
		if !reflect.DeepEqual(got.Ops, cmd.Ops) {
			t.Fatalf("ops %+v; want %+v", got.Ops, cmd.Ops)
		}
		again, _ := EncodeCommand(got)
		got2, _ := DecodeCommand(again)
		got2.Time = time.Time{}
		if !reflect.DeepEqual(got2, got) {
			t.Fatalf("second round trip differs")
		}
	}
}

func mustEncode(t *testing.T, c Command) []byte {
	t.Helper()
	data, err := EncodeCommand(c)
	if err != nil {
		t.Fatalf("EncodeCommand: %v", err)
	}
	return data
}

// Test_DecodeCommand_JSONFormat_StillDecodes checks that log entries
// written in the JSON format, before the binary one, still replay alike.
func Test_DecodeCommand_JSONFormat_StillDecodes(t *testing.T) {
	cmd := Command{Ops: []Op{
		put(kindHost, "a", `{"name":"x","tags":["p"],"h":"<&>"}`),
		withRequire(del(kindJob, "j/1 ü"), RequireVersion, 1<<63),
		check(kindBlob, "b", RequireAbsent, 0),
	}, Time: time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.FixedZone("", -7*3600))}
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	fromJSON, err := DecodeCommand(append([]byte{entryCommandJSON}, b...))
	if err != nil {
		t.Fatalf("DecodeCommand(JSON): %v", err)
	}
	fromBinary, err := DecodeCommand(mustEncode(t, cmd))
	if err != nil {
		t.Fatalf("DecodeCommand(binary): %v", err)
	}
	if !fromJSON.Time.Equal(fromBinary.Time) || !reflect.DeepEqual(fromJSON.Ops, fromBinary.Ops) {
		t.Fatalf("JSON entry decodes to %+v; binary to %+v", fromJSON, fromBinary)
	}
	a, b2 := newTestStore(t), newTestStore(t)
	NewFSM(a, quietLogger()).Apply(raftLog(1, append([]byte{entryCommandJSON}, b...)))
	NewFSM(b2, quietLogger()).Apply(raftLog(1, mustEncode(t, cmd)))
	if da, db := a.View().Digest(), b2.View().Digest(); da != db {
		t.Fatalf("digests differ: JSON entry %s, binary entry %s", da, db)
	}
}

func Test_EncodeCommand_InvalidBody_Fails(t *testing.T) {
	if _, err := EncodeCommand(Command{Ops: []Op{put(kindJob, "j", `{"x":`)}}); err == nil {
		t.Fatalf("EncodeCommand accepted a body that is not JSON")
	}
}

func Test_DecodeCommand_Malformed_WrapsErrInvalid(t *testing.T) {
	for name, data := range map[string][]byte{
		"nil":                 nil,
		"empty":               {},
		"unknown format 0":    append([]byte{0}, `{"ops":[]}`...),
		"unknown format 3":    append([]byte{3}, `{"ops":[]}`...),
		"json after binary":   append([]byte{entryCommandBinary}, `{"ops":[]}`...),
		"binary byte only":    {entryCommandBinary},
		"binary truncated":    mustEncode(t, Command{Ops: []Op{put(kindJob, "j", `{"x":1}`)}})[:12],
		"binary trailing":     append(mustEncode(t, Command{}), 0),
		"binary op count":     append(mustEncode(t, Command{})[:len(mustEncode(t, Command{}))-1], 0xff, 0xff, 0x7f),
		"unknown format 0xff": {0xff},
		"format byte only":    {entryCommandJSON},
		"garbage":             append([]byte{entryCommandJSON}, "\x00\x01garbage"...),
		"truncated":           append([]byte{entryCommandJSON}, `{"ops":[{"op":"put"`...),
		"wrong types":         append([]byte{entryCommandJSON}, `{"ops":"put"}`...),
		"bad time":            append([]byte{entryCommandJSON}, `{"time":"yesterday"}`...),
		"trailing data":       append([]byte{entryCommandJSON}, `{} {}`...),
	} {
		if _, err := DecodeCommand(data); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: DecodeCommand error = %v; want ErrInvalid", name, err)
		}
	}
}

func Test_FSMApply_UndecodableEntry_SkipsIt(t *testing.T) {
	s := seeded(t)
	f := NewFSM(s, quietLogger())
	before := s.View()
	for i, data := range [][]byte{nil, {9, 9, 9}, {entryCommandJSON, '{'}, []byte(`{"ops":[]}`)} {
		index := uint64(10 + i)
		r := f.Apply(raftLog(index, data))
		res, ok := r.(*Result)
		if !ok || res.Index != index || res.Invalid == "" || !errors.Is(res.Err(), ErrInvalid) {
			t.Fatalf("FSM.Apply(%q) = %#v; want an Invalid *Result at %d", data, r, index)
		}
		if s.Index() != index {
			t.Fatalf("Index() = %d; want %d", s.Index(), index)
		}
	}
	mustSameContents(t, before, s.View())
	// Entries of other types advance the index without a result.
	for i, typ := range []raft.LogType{raft.LogNoop, raft.LogBarrier, raft.LogConfiguration} {
		index := uint64(20 + i)
		if r := f.Apply(&raft.Log{Index: index, Type: typ, Data: []byte("x")}); r != nil {
			t.Fatalf("FSM.Apply(%v) = %v; want nil", typ, r)
		}
		if s.Index() != index {
			t.Fatalf("Index() = %d; want %d", s.Index(), index)
		}
	}
	mustSameContents(t, before, s.View())
	// And the next command applies normally.
	data, _ := EncodeCommand(Command{Ops: []Op{put(kindJob, "after", `{}`)}})
	if res := f.Apply(raftLog(30, data)).(*Result); res.Err() != nil || s.View().Get(kindJob, "after").Version != 30 {
		t.Fatalf("command after skipped entries: %v", res.Err())
	}
}

func Test_FSMApply_RefusedCommand_ReturnsResult(t *testing.T) {
	s := seeded(t)
	f := NewFSM(s, quietLogger())
	data, _ := EncodeCommand(Command{Ops: []Op{check(kindHost, "a", RequireAbsent, 0)}})
	res, ok := f.Apply(raftLog(10, data)).(*Result)
	if !ok || res.Conflict == nil || !errors.Is(res.Err(), ErrConflict) || s.Index() != 10 {
		t.Fatalf("FSM.Apply of a conflicting command = %+v", res)
	}
	// The result survives being sent over the wire (node returns it to a
	// forwarding follower, say).
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("marshal Result: %v", err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back.Conflict == nil || *back.Conflict != *res.Conflict {
		t.Fatalf("Result round trip: %v %+v", err, back)
	}
	if !bytes.Contains(b, []byte(`"require":"absent"`)) {
		t.Fatalf("Result JSON %s", b)
	}
}

func Test_FSM_StoreConfiguration_AdvancesIndexOnly(t *testing.T) {
	s := seeded(t)
	f := NewFSM(s, quietLogger())
	var _ raft.ConfigurationStore = f
	before := s.View()
	f.StoreConfiguration(10, raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "127.0.0.1:1"}}})
	if s.Index() != 10 {
		t.Fatalf("Index() = %d after StoreConfiguration(10)", s.Index())
	}
	mustSameContents(t, before, s.View())
}
