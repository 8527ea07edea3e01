package fsm

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// restoreFuzzPopulation is the state FuzzRestore restores over: a fixed
// population with index values, so a half-applied restore would show.
func restoreFuzzHarness(tb testing.TB) *harness {
	tb.Helper()
	h := newHarness(tb)
	h.apply(1, fuzzSeedPopulation, false)
	return h
}

// restoreFuzzSeeds are real snapshots: a random legacy (version 2) one, a
// version 3 one with its index keys, and the golden files.
func restoreFuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	h := newHarness(tb)
	h.run(&gen{r: rand.New(rand.NewSource(7))}, 40, 0)
	v2 := mustSnapshot(tb, h.store.View())

	s := newTestStore(tb)
	mustApply(tb, s, 1, Op{Type: OpSetFormat, Version: FormatPrepared})
	mustApply(tb, s, 2, fuzzSeedPopulation.Ops...)
	v3 := mustSnapshot(tb, s.View())
	out := [][]byte{v2, v3}
	for _, name := range []string{goldenSnapV2, goldenSnapV3} {
		if b, err := os.ReadFile(filepath.Join(goldenDir, name)); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// FuzzRestore hands Restore any byte stream, as a peer's InstallSnapshot
// can. Restore must not panic; it either succeeds or fails, and a failed
// restore leaves the store exactly as it was (Restore builds the new state
// aside: index, contents and every index look-up unchanged). A restored
// store round-trips: its snapshot restores into a fresh store with the
// same digest and index, and snapshots to the same bytes. Each line of
// the stream also decodes through decodeLine (json v2, v1 fallback) as
// through encoding/json v1: both refuse, or both give equal records.
func FuzzRestore(f *testing.F) {
	for _, snap := range restoreFuzzSeeds(f) {
		f.Add(snap)
		f.Add(snap[:len(snap)/2])
		f.Add(snap[:len(snap)-1])
		if i := bytes.IndexByte(snap, '\n'); i >= 0 {
			f.Add(snap[:i+1])
		}
	}
	hdr := `{"format":"cairn-fsm-snapshot","version":2,"index":7,"count":1}` + "\n"
	hdr3 := `{"format":"cairn-fsm-snapshot","version":3,"index":7,"count":1,"log_format":1}` + "\n"
	for _, s := range []string{
		"",
		"\n",
		hdr,
		hdr + `{"kind":"t.host","id":"a","version":3,"create_index":3,"created":"2024-01-01T00:00:00Z","updated":"2024-01-01T00:00:00+01:00","body":{ "name" : "x" }}` + "\n",
		hdr + `{"kind":"t.host","id":"a","kind":"t.job","version":3,"body":1}` + "\n",
		hdr + `{"KIND":"t.host","Id":"a","version":3,"body":{}}` + "\n",
		hdr + `{"kind":"t.host","id":"a","version":3,"body":"\xff"}` + "\n",
		hdr + `{"kind":"t.host","id":"a","version":-1,"create_index":1e3,"body":null}` + "\n",
		hdr + `{"kind":"t.host","id":"a","created":"2024-13-01T00:00:00Z","body":{}}` + "\n",
		hdr + `{"kind":"t.host","id":"a"}` + "\n",
		hdr + `[{"kind":"t.host","id":"a"}]` + "\n",
		hdr3 + `{"kind":"t.host","id":"a","version":3,"body":{"name":"x"},"keys":[{"i":"name","v":"x","u":true},{"i":"name","v":"x","u":true},{"i":"nope","v":""}]}` + "\n",
		hdr3 + `{"kind":"t.host","id":"a","version":3,"body":{},"keys":null,"keys":[{"i":1}]}` + "\n",
		`{"format":"cairn-fsm-snapshot","version":3,"index":7,"count":0,"log_format":99}` + "\n",
		`{"format":"cairn-fsm-snapshot","version":2,"index":-1,"count":-1}` + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := restoreFuzzHarness(t)
		before := h.store.View()
		failures := h.store.RestoreFailures()
		err := h.store.Restore(bytes.NewReader(data))
		if err != nil {
			if got := h.store.RestoreFailures(); got != failures+1 {
				t.Fatalf("a failed restore counted %d failures, want %d", got-failures, 1)
			}
			if got := h.store.Index(); got != before.Index() {
				t.Fatalf("failed restore (%v) moved Index() from %d to %d", err, before.Index(), got)
			}
			if got := h.store.View().LogFormat(); got != before.LogFormat() {
				t.Fatalf("failed restore (%v) moved the log format from %d to %d", err, before.LogFormat(), got)
			}
			mustSameContents(t, before, h.store.View())
			h.checkState(h.store)
		} else {
			snap := mustSnapshot(t, h.store.View())
			again := newTestStore(t)
			mustRestore(t, again, snap)
			if a, b := h.store.View().Digest(), again.View().Digest(); a != b {
				t.Fatalf("the restored store's snapshot restores to digest %s, want %s\nsnapshot:\n%s", b, a, snap)
			}
			if a, b := h.store.Index(), again.Index(); a != b {
				t.Fatalf("the restored store's snapshot restores to index %d, want %d", b, a)
			}
			if snap2 := mustSnapshot(t, again.View()); !bytes.Equal(snap, snap2) {
				t.Fatalf("snapshot of the round trip differs:\n%s\nwant:\n%s", snap2, snap)
			}
		}
		// The differential: every line but the header.
		lines := bytes.Split(data, []byte("\n"))
		for _, line := range lines[min(1, len(lines)):] {
			sameAsV1(t, line)
		}
	})
}

// sameAsV1 fails unless decodeLine and encoding/json v1 agree on line:
// both refuse it, or both decode it to equal resources and keys.
func sameAsV1(t *testing.T, line []byte) {
	t.Helper()
	res := new(Resource)
	rec := snapshotResource{Resource: res}
	v1err := json.Unmarshal(line, &rec)
	// Scratch that held an earlier line's keys: none of them may show.
	scratch := []IndexKey{{Index: "stale", Value: "a"}, {Index: "stale", Value: "b", Unique: true}}
	d, _ := decodeLine(line, scratch[:1])
	sameKeys := len(d.keys) == 0 && len(rec.Keys) == 0 || reflect.DeepEqual(d.keys, rec.Keys)
	switch {
	case (v1err == nil) != (d.err == nil):
		t.Fatalf("line %q: v1 error %v, decodeLine error %v", line, v1err, d.err)
	case v1err == nil && (!reflect.DeepEqual(d.res, res) || !sameKeys):
		t.Fatalf("line %q:\ndecodeLine %+v %+v\nv1         %+v %+v", line, d.res, d.keys, res, rec.Keys)
	}
}
