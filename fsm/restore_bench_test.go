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
// first) and after it. Goal of issue #22: 10 s and 2.5 GiB. The store is
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
	var took time.Duration
	var heapMiB, rssMiB, peakMiB float64
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
		runtime.KeepAlive(s)
	}
	b.ReportMetric(took.Seconds(), "restore-s")
	b.ReportMetric(heapMiB, "MiB-heap")
	b.ReportMetric(rssMiB, "MiB-RSS")
	b.ReportMetric(peakMiB, "MiB-RSS-peak")
	b.Logf("%d resources: restored in %s; heap %.0f MiB, RSS %.0f MiB after, peak %.0f MiB", n, took.Round(time.Millisecond), heapMiB, rssMiB, peakMiB)
}

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
