package main

// Benchmarks against the real binary: one `cairn agent` on the default Raft
// settings (the log fsync'd on every commit, as in production), driven over
// HTTP from this process. Run them with, for example,
//
//	go test -run '^$' -bench 'BenchmarkHTTP' -benchtime 2000x ./cmd/cairn
//	go test -run '^$' -bench 'BenchmarkRSS' -benchtime 1x ./cmd/cairn
//
// Besides ns/op they report throughput (req/s) and the latency percentiles
// of single requests (p50-ms, p99-ms); with concurrency c, ns/op is wall
// time divided by requests, not the latency of one.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchBodyBytes = 1024
	// benchKeyspace is how many distinct ids the PUT benchmark cycles
	// through; the first pass creates them, later ones update them.
	benchKeyspace = 10000
	// benchGetKeys is how many resources the GET benchmark reads among.
	benchGetKeys = 1000
	// benchLoadTimeout bounds one load run, so a wedged node fails the
	// benchmark instead of hanging it.
	benchLoadTimeout = 10 * time.Minute
)

// BenchmarkHTTPPut measures PUTs of 1 KiB JSON bodies through the native
// API at 1, 16 and 64 concurrent clients.
func BenchmarkHTTPPut(b *testing.B) {
	a := mustStartAgent(b, agentOpts{nodeID: "bench-put", noFastRaft: true})
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			client := benchClient(c)
			defer client.CloseIdleConnections()
			runLoad(b, c, b.N, func(ctx context.Context, i int) error {
				id := fmt.Sprintf("k%06d", i%benchKeyspace)
				return benchPut(ctx, client, a.url, "bench.put", id, benchBody(id))
			})
		})
	}
}

// BenchmarkHTTPGet measures GETs of existing 1 KiB resources (default
// consistency: served from the local store) at 16 and 64 concurrent
// clients.
func BenchmarkHTTPGet(b *testing.B) {
	a := mustStartAgent(b, agentOpts{nodeID: "bench-get", noFastRaft: true})
	fill := benchClient(64)
	ctx, cancel := context.WithTimeout(context.Background(), benchLoadTimeout)
	defer cancel()
	if _, err := load(ctx, 64, benchGetKeys, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("k%06d", i)
		return benchPut(ctx, fill, a.url, "bench.get", id, benchBody(id))
	}); err != nil {
		b.Fatalf("filling %d resources: %v", benchGetKeys, err)
	}
	fill.CloseIdleConnections()
	for _, c := range []int{16, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			client := benchClient(c)
			defer client.CloseIdleConnections()
			runLoad(b, c, b.N, func(ctx context.Context, i int) error {
				return benchGet(ctx, client, a.url+resPath("bench.get", fmt.Sprintf("k%06d", i%benchGetKeys)))
			})
		})
	}
}

// rssResult is BenchmarkRSSPer100k's measurement, taken once per test
// binary run however many times the framework calls the benchmark.
var rssResult struct {
	once    sync.Once
	err     error
	metrics map[string]float64
}

// BenchmarkRSSPer100k writes 100k resources of 1 KiB through PUTs at 64
// concurrent clients and reports how much the node's resident memory grew
// (VmRSS, and RssAnon, which leaves out the file pages of the mmap'd Raft
// log), and its Go heap if the node exposes /metrics. The work is done
// once; run it with -benchtime 1x.
func BenchmarkRSSPer100k(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc/<pid>/status (Linux)")
	}
	rssResult.once.Do(func() { rssResult.metrics, rssResult.err = measureRSS(b) })
	if rssResult.err != nil {
		b.Fatal(rssResult.err)
	}
	for _, unit := range slices.Sorted(maps.Keys(rssResult.metrics)) {
		b.ReportMetric(rssResult.metrics[unit], unit)
	}
}

func measureRSS(b *testing.B) (map[string]float64, error) {
	const n = 100_000
	a := mustStartAgent(b, agentOpts{nodeID: "bench-rss", noFastRaft: true})
	pid := a.cmd.Process.Pid
	before, err := procStatus(pid)
	if err != nil {
		return nil, err
	}
	heapBefore, heapOK := goHeapInuse(a)

	client := benchClient(64)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), benchLoadTimeout)
	defer cancel()
	start := time.Now()
	if _, err := load(ctx, 64, n, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("r%06d", i)
		return benchPut(ctx, client, a.url, "bench.rss", id, benchBody(id))
	}); err != nil {
		return nil, fmt.Errorf("writing %d resources: %w", n, err)
	}
	elapsed := time.Since(start)
	after, err := procStatus(pid)
	if err != nil {
		return nil, err
	}
	if st := a.mustStatus(); st.StoreIndex < n {
		return nil, fmt.Errorf("store index %d after %d writes", st.StoreIndex, n)
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	m := map[string]float64{
		"MiB-RSS/100k":     mib(after["VmRSS"] - before["VmRSS"]),
		"MiB-RssAnon/100k": mib(after["RssAnon"] - before["RssAnon"]),
		"MiB-RSS-total":    mib(after["VmRSS"]),
		"fill-req/s":       n / elapsed.Seconds(),
	}
	b.Logf("node pid %d: VmRSS %d kB → %d kB, RssAnon %d kB → %d kB, RssFile %d kB → %d kB; %d PUTs in %s",
		pid, before["VmRSS"], after["VmRSS"], before["RssAnon"], after["RssAnon"], before["RssFile"], after["RssFile"], n, elapsed.Round(time.Millisecond))
	if heapAfter, ok := goHeapInuse(a); heapOK && ok {
		m["MiB-heap/100k"] = (heapAfter - heapBefore) / (1 << 20)
	} else {
		b.Log("the node serves no /metrics with go_memstats_heap_inuse_bytes: Go heap not reported")
	}
	if code := a.mustStop(); code != 0 {
		return nil, fmt.Errorf("node exited %d after SIGTERM", code)
	}
	return m, nil
}

// runLoad runs op n times from c goroutines under the benchmark timer and
// reports throughput and latency percentiles.
func runLoad(b *testing.B, c, n int, op func(ctx context.Context, i int) error) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchLoadTimeout)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	lat, err := load(ctx, c, n, op)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}

// load calls op(ctx, i) for i in [0, n) from c goroutines and returns each
// call's latency; it stops at the first error and returns it.
func load(ctx context.Context, c, n int, op func(ctx context.Context, i int) error) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					cancel(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return lat, nil
}

// percentile returns the q-quantile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchClient keeps enough idle connections for c concurrent clients, so
// the benchmark measures requests, not TCP handshakes.
func benchClient(c int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        2 * c,
			MaxIdleConnsPerHost: max(c, 2),
			IdleConnTimeout:     time.Minute,
		},
	}
}

// benchBody is a JSON object of exactly benchBodyBytes bytes.
func benchBody(id string) []byte {
	head := fmt.Sprintf(`{"id":%q,"pad":"`, id)
	const tail = `"}`
	return []byte(head + strings.Repeat("x", benchBodyBytes-len(head)-len(tail)) + tail)
}

func benchPut(ctx context.Context, client *http.Client, base, kind, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+resPath(kind, id), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return benchDo(client, req, http.StatusCreated, http.StatusOK)
}

func benchGet(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	return benchDo(client, req, http.StatusOK)
}

// benchDo sends req and drains the answer, which must have one of the
// statuses ok.
func benchDo(client *http.Client, req *http.Request, ok ...int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !slices.Contains(ok, resp.StatusCode) {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// procStatus reads the kB fields of /proc/<pid>/status (VmRSS, RssAnon,
// RssFile, ...).
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, errors.New("no VmRSS in /proc/<pid>/status")
	}
	return out, nil
}

// goHeapInuse reads go_memstats_heap_inuse_bytes from the node's /metrics,
// if it serves one.
func goHeapInuse(a *agent) (float64, bool) {
	r, err := a.do(http.MethodGet, "/metrics", nil, nil)
	if err != nil || r.status != http.StatusOK {
		return 0, false
	}
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
