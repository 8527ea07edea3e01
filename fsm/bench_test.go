package fsm

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const benchKeys = 100_000

var benchIDs = sync.OnceValue(func() []string {
	ids := make([]string, benchKeys)
	for i := range ids {
		ids[i] = fmt.Sprintf("res-%06d", i)
	}
	return ids
})

// benchBody appends a JSON body of exactly 1 KiB for resource i to dst:
// unique name and host+port, a few tags, padding.
func benchBody(dst []byte, i int) []byte {
	start := len(dst)
	dst = append(dst, `{"name":"n`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","tags":["a","b","t`...)
	dst = strconv.AppendInt(dst, int64(i%10), 10)
	dst = append(dst, `"],"host":"h`...)
	dst = strconv.AppendInt(dst, int64(i/1000), 10)
	dst = append(dst, `","port":`...)
	dst = strconv.AppendInt(dst, int64(i%1000), 10)
	dst = append(dst, `,"pad":"`...)
	for len(dst)-start < 1024-2 {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

func reportOps(b *testing.B, perOp float64, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
		if perOp != 1 {
			b.ReportMetric(perOp*float64(b.N)/s, unit)
		}
	}
}

func mustApplied(b *testing.B, res *Result) {
	if err := res.Err(); err != nil {
		b.Fatalf("Apply: %v", err)
	}
}

// BenchmarkApply_Put1KiB applies commands of one 1 KiB put each, cycling
// over 100k ids of an unindexed kind (the first pass creates, later ones
// update).
func BenchmarkApply_Put1KiB(b *testing.B) {
	ids := benchIDs()
	s := newTestStore(b)
	body := json.RawMessage(benchBody(nil, 0))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	i := 0
	for b.Loop() {
		i++
		mustApplied(b, s.Apply(uint64(i), Command{Ops: []Op{{Type: OpPut, Kind: kindJob, ID: ids[i%benchKeys], Body: body}}, Time: baseTime}))
	}
	reportOps(b, 1, "")
}

// BenchmarkApply_Batch16 applies commands of sixteen 1 KiB puts each.
func BenchmarkApply_Batch16(b *testing.B) {
	ids := benchIDs()
	s := newTestStore(b)
	body := json.RawMessage(benchBody(nil, 0))
	ops := make([]Op, 16)
	b.ReportAllocs()
	b.SetBytes(int64(16 * len(body)))
	i, n := 0, 0
	for b.Loop() {
		i++
		for k := range ops {
			ops[k] = Op{Type: OpPut, Kind: kindJob, ID: ids[n%benchKeys], Body: body}
			n++
		}
		mustApplied(b, s.Apply(uint64(i), Command{Ops: ops, Time: baseTime}))
	}
	reportOps(b, 16, "puts/s")
}

// BenchmarkApply_Indexed applies 1 KiB puts on the kind with a unique field
// index, a list index and a unique compound index.
func BenchmarkApply_Indexed(b *testing.B) {
	ids := benchIDs()
	s := newTestStore(b)
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(1024)
	i := 0
	for b.Loop() {
		i++
		k := i % benchKeys
		buf = benchBody(buf[:0], k) // Apply keeps its own copy
		mustApplied(b, s.Apply(uint64(i), Command{Ops: []Op{{Type: OpPut, Kind: kindHost, ID: ids[k], Body: buf}}, Time: baseTime}))
	}
	reportOps(b, 1, "")
}

// BenchmarkEncodeDecodeCommand round-trips a command of four 1 KiB puts
// through the Raft log encoding.
func BenchmarkEncodeDecodeCommand(b *testing.B) {
	cmd := Command{Time: baseTime}
	for k := range 4 {
		cmd.Ops = append(cmd.Ops, withRequire(Op{Type: OpPut, Kind: kindHost, ID: benchIDs()[k], Body: benchBody(nil, k)}, RequireVersion, uint64(k)))
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		data, err := EncodeCommand(cmd)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeCommand(data); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b, 1, "")
}

// buildStore returns a store holding n resources of kind with 1 KiB
// bodies, applied in batches of 64.
func buildStore(tb testing.TB, n int, kind string) *Store {
	ids := benchIDs()
	s := newTestStore(tb)
	ops := make([]Op, 0, 64)
	index := uint64(0)
	for i := range n {
		ops = append(ops, Op{Type: OpPut, Kind: kind, ID: ids[i%benchKeys], Body: benchBody(make([]byte, 0, 1024), i)})
		if len(ops) == cap(ops) || i == n-1 {
			index++
			if err := s.Apply(index, Command{Ops: ops, Time: baseTime}).Err(); err != nil {
				tb.Fatalf("Apply: %v", err)
			}
			ops = ops[:0]
		}
	}
	return s
}

// BenchmarkMemory_100kResources reports the heap a store of 100k resources
// with 1 KiB bodies occupies (indexes of the indexed kind included).
func BenchmarkMemory_100kResources(b *testing.B) {
	for _, kind := range []string{kindJob, kindHost} {
		b.Run(strings.TrimPrefix(kind, "t."), func(b *testing.B) {
			var mib float64
			var m0, m1 runtime.MemStats
			for b.Loop() {
				runtime.GC()
				runtime.ReadMemStats(&m0)
				s := buildStore(b, benchKeys, kind)
				runtime.GC()
				runtime.ReadMemStats(&m1)
				mib = float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / (1 << 20)
				if s.View().Count(kind) != benchKeys {
					b.Fatalf("store holds %d resources", s.View().Count(kind))
				}
				runtime.KeepAlive(s)
			}
			b.ReportMetric(mib, "MiB/100k")
		})
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkSnapshot_100k writes a snapshot of 100k 1 KiB resources to
// io.Discard; MB/s is the snapshot's size over the time taken.
func BenchmarkSnapshot_100k(b *testing.B) {
	s := buildStore(b, benchKeys, kindHost)
	v := s.View()
	var cw countingWriter
	if err := v.WriteSnapshot(&cw); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(cw.n)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.WriteSnapshot(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
