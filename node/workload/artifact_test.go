package workload

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"cairn/fsm"
)

func Test_Artifact_ChunkedRoundTrip_MismatchRefused_GarbageCollected(t *testing.T) {
	schema, _ := fsm.NewSchema(Kinds()...)
	store := fsm.NewStore(schema)
	blob := make([]byte, 2*ChunkBytes+123)
	rand.Read(blob)
	h := sha1.Sum(blob)
	sum := hex.EncodeToString(h[:])
	idx := uint64(0)
	apply := func(ops ...fsm.Op) {
		idx++
		if res := store.Apply(idx, fsm.Command{Ops: ops, Time: time.Now().UTC()}); res.Err() != nil {
			t.Fatal(res.Err())
		}
	}
	up := NewUploader()
	r := bytes.NewReader(blob)
	for {
		op, err := up.Next(r, sum)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(op.Body) > 2*ChunkBytes {
			t.Fatalf("a chunk entry of %d bytes", len(op.Body))
		}
		apply(op)
	}
	if _, err := up.Finish(sum, int64(len(blob))+1); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong length: %v", err)
	}
	bad := "0000000000000000000000000000000000000000"
	if _, err := up.Finish(bad, -1); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong sha1: %v", err)
	}
	m, err := up.Finish(sum, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	apply(m)
	var out bytes.Buffer
	if err := WriteArtifact(store.View(), sum, &out); err != nil || !bytes.Equal(out.Bytes(), blob) {
		t.Fatalf("read back %d bytes, %v", out.Len(), err)
	}
	if n := store.View().Count(KindChunk); n != 3 {
		t.Fatalf("%d chunks, want 3", n)
	}
	// Referenced: kept. Unreferenced: kept for the grace period, then
	// collected with its chunks.
	apply(fsm.Op{Type: fsm.OpPut, Kind: KindWorkload, ID: "w", Body: []byte(`{"artifact":"` + sum + `"}`)})
	if ops := GarbageOps(store.View(), time.Now().Add(time.Hour)); len(ops) != 0 {
		t.Fatalf("a referenced artifact collected: %+v", ops)
	}
	if h := Holders(store.View())[sum]; h != "workload w" {
		t.Fatalf("holder %q, want workload w", h)
	}
	apply(fsm.Op{Type: fsm.OpDelete, Kind: KindWorkload, ID: "w"})
	// A hold (an Apcera package's) keeps it as a workload does.
	apply(fsm.Op{Type: fsm.OpPut, Kind: KindArtifactRef, ID: "pkg", Body: []byte(`{"artifact":"` + sum + `"}`)})
	if h := Holders(store.View())[sum]; h != KindArtifactRef+" pkg" {
		t.Fatalf("holder %q, want the hold", h)
	}
	if ops := GarbageOps(store.View(), time.Now().Add(time.Hour)); len(ops) != 0 {
		t.Fatalf("a held artifact collected: %+v", ops)
	}
	apply(fsm.Op{Type: fsm.OpDelete, Kind: KindArtifactRef, ID: "pkg"})
	if ops := GarbageOps(store.View(), time.Now()); len(ops) != 0 {
		t.Fatalf("collected within the grace period: %+v", ops)
	}
	apply(GarbageOps(store.View(), time.Now().Add(ArtifactGrace+time.Second))...)
	if v := store.View(); v.Count(KindArtifact) != 0 || v.Count(KindChunk) != 0 {
		t.Fatalf("left after collection: %d artifacts, %d chunks", v.Count(KindArtifact), v.Count(KindChunk))
	}
}
