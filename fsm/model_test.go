package fsm

import (
	"math/rand"
	"testing"
)

// Test_Apply_MatchesModel_Randomized applies a few thousand random batches
// to a Store and to a plain map model that implements the same semantics
// independently, comparing every Result and, periodically, the whole state.
func Test_Apply_MatchesModel_Randomized(t *testing.T) {
	seed := testSeed(t)
	g := &gen{r: rand.New(rand.NewSource(seed))}
	h := newHarness(t)
	n := 3000
	if testing.Short() {
		n = 500
	}
	h.run(g, n, 97)
	h.checkState(h.store)

	// The final state survives a snapshot round trip, index entries and all.
	restored := newTestStore(t)
	mustRestore(t, restored, mustSnapshot(t, h.store.View()))
	h.checkState(restored)
	if a, b := h.store.View().Digest(), restored.View().Digest(); a != b {
		t.Fatalf("restored digest %s; want %s", b, a)
	}
}

// Test_Apply_SameCommandsSameDigest checks determinism: two stores fed the
// same commands, one directly and one through EncodeCommand and the raft
// adapter, end with equal digests.
func Test_Apply_SameCommandsSameDigest(t *testing.T) {
	seed := testSeed(t)
	g := &gen{r: rand.New(rand.NewSource(seed))}
	a := newHarness(t)
	b := newTestStore(t)
	bf := NewFSM(b, quietLogger())
	for i := range 400 {
		index := uint64(i + 1)
		cmd := g.command(a.model, index)
		a.apply(index, cmd, false)
		if a.model.valid(cmd) {
			data, err := EncodeCommand(cmd)
			if err != nil {
				t.Fatalf("EncodeCommand: %v", err)
			}
			bf.Apply(raftLog(index, data))
		} else {
			b.Apply(index, cmd)
		}
	}
	if da, db := a.store.View().Digest(), b.View().Digest(); da != db {
		t.Fatalf("digests differ: direct %s, via raft %s", da, db)
	}
	a.checkState(b)
}
