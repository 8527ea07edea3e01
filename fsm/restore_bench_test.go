package fsm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkRestore_1M restores a snapshot of a million 1 KiB resources of
// the indexed kind (five index keys each) into a new store, as a node does
// when it starts from a snapshot or installs the leader's, and reports the
// time the restore took, the Go heap the store holds afterwards and the
// process's resident memory at its peak during the restore (VmHWM, reset
// first) and after it. Goal of issue #22: 10 s and 2.5 GiB. Then a
// snapshot of the restored store is written out while writes go on, and
// it reports the longest an Apply took meanwhile (goal: 50 ms; raft calls
// FSM.Snapshot where it applies, so that call counts as one). The store is
// built and snapshotted first (untimed); run with -benchtime 1x.
// CAIRN_RESTORE_N changes the count.
func BenchmarkRestore_1M(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CAIRN_RESTORE_N")); err == nil && v > 0 {
		n = v
	}
	path := filepath.Join(b.TempDir(), "snapshot")
	func() {
		s := newTestStore(b)
		// A zone at the prepared format, as every zone of this version:
		// its snapshots carry each resource's index keys.
		if err := s.Apply(1, Command{Ops: []Op{{Type: OpSetFormat, Version: FormatPrepared}}}).Err(); err != nil {
			b.Fatal(err)
		}
		ops := make([]Op, 0, 64)
		index := uint64(1)
		for i := range n {
			ops = append(ops, Op{Type: OpPut, Kind: kindHost, ID: fmt.Sprintf("res-%07d", i), Body: benchBody(make([]byte, 0, 1024), i)})
			if len(ops) == cap(ops) || i == n-1 {
				index++
				if err := s.Apply(index, Command{Ops: ops, Time: baseTime}).Err(); err != nil {
					b.Fatalf("Apply: %v", err)
				}
				ops = ops[:0]
			}
		}
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if err := s.View().WriteSnapshot(w); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}()
	var took, stall, persisted time.Duration
	var heapMiB, rssMiB, peakMiB float64
	var applied int
	for b.Loop() {
		debug.FreeOSMemory()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		resetPeakRSS()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s := newTestStore(b)
		start := time.Now()
		if err := s.Restore(bufio.NewReaderSize(f, 1<<20)); err != nil {
			b.Fatal(err)
		}
		took = time.Since(start)
		f.Close()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heapMiB = float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / (1 << 20)
		rss, peak := procMemKB("VmRSS"), procMemKB("VmHWM")
		rssMiB, peakMiB = float64(rss)/1024, float64(peak)/1024
		if got := s.View().Count(kindHost); got != n {
			b.Fatalf("restored %d resources, want %d", got, n)
		}
		stall, persisted, applied = applyDuringSnapshot(b, s, n)
	}
	b.ReportMetric(took.Seconds(), "restore-s")
	b.ReportMetric(heapMiB, "MiB-heap")
	b.ReportMetric(rssMiB, "MiB-RSS")
	b.ReportMetric(peakMiB, "MiB-RSS-peak")
	b.ReportMetric(float64(stall)/float64(time.Millisecond), "ms-apply-max-in-snapshot")
	b.Logf("%d resources: restored in %s; heap %.0f MiB, RSS %.0f MiB after, peak %.0f MiB", n, took.Round(time.Millisecond), heapMiB, rssMiB, peakMiB)
	b.Logf("snapshot written out in %s while %d writes were applied, the longest in %s",
		persisted.Round(time.Millisecond), applied, stall.Round(10*time.Microsecond))
}

// applyDuringSnapshot takes a snapshot of s (n resources of kindHost, as
// BenchmarkRestore_1M made them) through the FSM, as raft does, and
// applies one-resource puts, one after another, until it has been written
// out (to nowhere). It returns the longest an Apply took, counting the
// Snapshot call (raft makes it between two Applies), how long the
// write-out took, and how many puts were applied meanwhile.
func applyDuringSnapshot(tb testing.TB, s *Store, n int) (longest, persisted time.Duration, applied int) {
	f := NewFSM(s, quietLogger())
	start := time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	longest = time.Since(start)
	done := make(chan error, 1)
	go func() { done <- snap.Persist(&countingSink{}) }()
	index, body := s.Index(), make([]byte, 0, 1024)
	for {
		select {
		case err := <-done:
			if err != nil {
				tb.Fatal(err)
			}
			return longest, time.Since(start), applied
		default:
		}
		index++
		op := Op{Type: OpPut, Kind: kindHost, ID: fmt.Sprintf("res-%07d", applied%n), Body: benchBody(body[:0], applied)}
		t0 := time.Now()
		if err := s.Apply(index, Command{Ops: []Op{op}, Time: baseTime}).Err(); err != nil {
			tb.Fatalf("Apply: %v", err)
		}
		longest = max(longest, time.Since(t0))
		applied++
	}
}

// countingSink is a raft.SnapshotSink that keeps only the count of bytes.
type countingSink struct{ n int64 }

func (c *countingSink) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
func (c *countingSink) Close() error                { return nil }
func (c *countingSink) Cancel() error               { return nil }
func (c *countingSink) ID() string                  { return "counting" }

// procMemKB reads one kB figure of /proc/self/status (0 if absent).
func procMemKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux: "5"
// to clear_refs), so the peak is this restore's.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
