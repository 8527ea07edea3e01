package fsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The golden files in testdata/formats/ were written by this package's
// formats as they are; a later version must still read them. They change
// only with -update (go test ./fsm -run Test_Golden -update), and only to
// add files: a format change adds a new version and a new golden file
// beside the old ones, which stay and stay readable.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/formats")

const goldenDir = "../testdata/formats"

// goldenSchema is the schema the golden files were written with; it is
// its own, so that changes to the other tests' schema leave them alone.
func goldenSchema(tb testing.TB) Schema {
	tb.Helper()
	s, err := NewSchema(
		KindSchema{Kind: "g.host", Indexes: []Index{
			FieldIndex("name", "name", true),
			ListIndex("tags", "tags"),
			CompoundIndex("addr", true, "host", "port"),
		}},
		KindSchema{Kind: "g.job"},
	)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// goldenEntry is one Raft log entry of the golden log: its index and its
// bytes as the log holds them.
type goldenEntry struct {
	index uint64
	data  []byte
}

// goldenLog writes entries of every format this binary reads: JSON (1),
// binary (2), the move to FormatPrepared, and prepared entries (3).
func goldenLog(tb testing.TB) []goldenEntry {
	tb.Helper()
	at := func(i int) time.Time { return time.Date(2026, 12, 1, 9, 0, i, 0, time.UTC) }
	schema := goldenSchema(tb)
	var out []goldenEntry
	add := func(c Command) {
		b, err := EncodeCommand(c)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, goldenEntry{index: uint64(len(out) + 1), data: b})
	}
	// 1: a JSON entry, as logs from before the binary format hold.
	j, err := json.Marshal(Command{Time: at(1), Ops: []Op{
		{Type: OpPut, Kind: "g.host", ID: "h1", Body: json.RawMessage(`{"name":"alpha","tags":["a","b"],"host":"10.0.0.1","port":22}`)},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	out = append(out, goldenEntry{index: 1, data: append([]byte{entryCommandJSON}, j...)})
	// 2: binary entries.
	add(Command{Time: at(2), Ops: []Op{
		{Type: OpPut, Kind: "g.host", ID: "h2", Body: json.RawMessage(`{"name":"beta","tags":["b"],"host":"10.0.0.2","port":22}`)},
		{Type: OpPut, Kind: "g.job", ID: "j1", Body: json.RawMessage(`{"cmd":"run <x> & y"}`)},
	}})
	add(Command{Time: at(3), Ops: []Op{
		{Type: OpPut, Kind: "g.host", ID: "h2", Body: json.RawMessage(`{"name":"beta","tags":["b","c"],"host":"10.0.0.2","port":2222}`), Require: RequireVersion, Version: 2},
	}})
	// 4: the zone moves to FormatPrepared.
	add(Command{Time: at(4), Ops: []Op{{Type: OpSetFormat, Version: FormatPrepared}}})
	// 5, 6: prepared entries, their index keys in the entry.
	prep := func(c Command) Command {
		p, err := PrepareCommand(schema, c)
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	add(prep(Command{Time: at(5), Ops: []Op{
		{Type: OpPut, Kind: "g.host", ID: "h3", Body: json.RawMessage(`{"name":"gamma","tags":["c"],"host":"10.0.0.3","port":22}`), Require: RequireAbsent},
		{Type: OpDelete, Kind: "g.host", ID: "h1"},
	}}))
	add(prep(Command{Time: at(6), Ops: []Op{
		{Type: OpCheck, Kind: "g.host", ID: "h3", Require: RequireExists},
		{Type: OpPut, Kind: "g.job", ID: "j2", Body: json.RawMessage(`{"on":"h3","env":{"A":"1"}}`)},
	}}))
	return out
}

const goldenLogMagic = "cairn-golden-log 1\n"

// encodeGoldenLog lays entries out as the golden log file: a magic line,
// then per entry its index and length (uvarints) and its bytes.
func encodeGoldenLog(entries []goldenEntry) []byte {
	out := []byte(goldenLogMagic)
	for _, e := range entries {
		out = binary.AppendUvarint(out, e.index)
		out = binary.AppendUvarint(out, uint64(len(e.data)))
		out = append(out, e.data...)
	}
	return out
}

func decodeGoldenLog(tb testing.TB, b []byte) []goldenEntry {
	tb.Helper()
	if !bytes.HasPrefix(b, []byte(goldenLogMagic)) {
		tb.Fatalf("golden log: no %q line", strings.TrimSpace(goldenLogMagic))
	}
	r := bufio.NewReader(bytes.NewReader(b[len(goldenLogMagic):]))
	var out []goldenEntry
	for {
		index, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return out
		}
		n, err2 := binary.ReadUvarint(r)
		if err != nil || err2 != nil {
			tb.Fatalf("golden log: entry %d: %v %v", len(out)+1, err, err2)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			tb.Fatalf("golden log: entry %d: %v", len(out)+1, err)
		}
		out = append(out, goldenEntry{index: index, data: data})
	}
}

// replay applies a log's entries to a new store, as a replica does.
func replay(tb testing.TB, entries []goldenEntry) *Store {
	tb.Helper()
	s := NewStore(goldenSchema(tb))
	for _, e := range entries {
		c, err := DecodeCommand(e.data)
		if err != nil {
			tb.Fatalf("entry %d: %v", e.index, err)
		}
		if res := s.Apply(e.index, c); res.Err() != nil {
			tb.Fatalf("entry %d: %v", e.index, res.Err())
		}
	}
	return s
}

// The golden files: the log, the snapshots of its state after entry 3
// (version 2, a zone at FormatLegacy) and after the last (version 3), and
// the digests of both states.
const (
	goldenLogFile   = "log-entries-v1-3.bin"
	goldenSnapV2    = "snapshot-v2.snap"
	goldenSnapV3    = "snapshot-v3.snap"
	goldenDigestsV1 = "digests.json"
)

func Test_Golden_LogAndSnapshots_StayReadable(t *testing.T) {
	if *update {
		entries := goldenLog(t)
		legacy := replay(t, entries[:3])
		latest := replay(t, entries)
		digests := map[string]string{goldenSnapV2: legacy.View().Digest(), goldenSnapV3: latest.View().Digest()}
		d, _ := json.MarshalIndent(digests, "", "  ")
		for name, b := range map[string][]byte{
			goldenLogFile:   encodeGoldenLog(entries),
			goldenSnapV2:    mustSnapshot(t, legacy.View()),
			goldenSnapV3:    mustSnapshot(t, latest.View()),
			goldenDigestsV1: append(d, '\n'),
		} {
			if err := os.WriteFile(filepath.Join(goldenDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("rewrote the golden files in %s", goldenDir)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			t.Fatalf("%v (write them with go test ./fsm -run Test_Golden -update)", err)
		}
		return b
	}
	var digests map[string]string
	if err := json.Unmarshal(read(goldenDigestsV1), &digests); err != nil {
		t.Fatal(err)
	}
	entries := decodeGoldenLog(t, read(goldenLogFile))
	formats := map[byte]bool{}
	for _, e := range entries {
		formats[e.data[0]] = true
	}
	for _, f := range []byte{entryCommandJSON, entryCommandBinary, entryCommandPrepared} {
		if !formats[f] {
			t.Errorf("the golden log has no entry of format %d", f)
		}
	}
	// The log replays to the recorded states.
	if got := replay(t, entries[:3]).View().Digest(); got != digests[goldenSnapV2] {
		t.Errorf("the golden log's first 3 entries replay to digest %s, recorded %s", got, digests[goldenSnapV2])
	}
	latest := replay(t, entries)
	if got := latest.View().Digest(); got != digests[goldenSnapV3] {
		t.Errorf("the golden log replays to digest %s, recorded %s", got, digests[goldenSnapV3])
	}
	// Each snapshot restores to its state, index keys and log format
	// included.
	for _, name := range []string{goldenSnapV2, goldenSnapV3} {
		s := NewStore(goldenSchema(t))
		if err := s.Restore(bytes.NewReader(read(name))); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := s.View().Digest(); got != digests[name] {
			t.Errorf("%s restores to digest %s, recorded %s", name, got, digests[name])
		}
		if name == goldenSnapV3 {
			if f := s.View().LogFormat(); f != FormatPrepared {
				t.Errorf("%s: log format %d, want %d", name, f, FormatPrepared)
			}
			if rs, err := s.View().Lookup("g.host", "tags", "c"); err != nil || len(rs) != 2 {
				t.Errorf("%s: the tags index finds %d hosts for c (err %v), want 2", name, len(rs), err)
			}
		}
	}
	// This binary still writes version 3 as it did: when it does not, the
	// format changed, and needs a new version (and golden file).
	if got := mustSnapshot(t, latest.View()); !bytes.Equal(got, read(goldenSnapV3)) {
		t.Errorf("a snapshot of the golden state differs from %s: the snapshot format changed; give it a new version and add a golden file for it (go test ./fsm -run Test_Golden -update), keeping the old one", goldenSnapV3)
	}
}

func Test_NewerData_RefusedSayingSo(t *testing.T) {
	snap := []byte(fmt.Sprintf(`{"format":%q,"version":%d,"index":1,"count":0}`+"\n", snapshotFormat, LatestSnapshotVersion+1))
	err := NewStore(goldenSchema(t)).Restore(bytes.NewReader(snap))
	if !errors.Is(err, ErrNewer) || !strings.Contains(err.Error(), "upgrade this node") {
		t.Errorf("a snapshot of version %d: %v", LatestSnapshotVersion+1, err)
	}
	snap = []byte(fmt.Sprintf(`{"format":%q,"version":3,"index":1,"count":0,"log_format":%d}`+"\n", snapshotFormat, LatestFormat+1))
	if err := NewStore(goldenSchema(t)).Restore(bytes.NewReader(snap)); !errors.Is(err, ErrNewer) {
		t.Errorf("a snapshot of log format %d: %v", LatestFormat+1, err)
	}
	_, err = DecodeCommand([]byte{LatestEntryFormat + 1, 0, 0})
	if !errors.Is(err, ErrNewer) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "upgrade this node") {
		t.Errorf("a log entry of format %d: %v", LatestEntryFormat+1, err)
	}
}
