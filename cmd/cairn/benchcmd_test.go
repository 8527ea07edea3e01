package main

// Tests of `cairn bench`: its flag parsing, percentiles and table as unit
// tests, and its load runs against a real single node. They check counts
// and bounds, never how fast anything was.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mustBenchConfig parses `cairn bench` flags, failing the test on error.
func mustBenchConfig(t *testing.T, args ...string) *benchConfig {
	t.Helper()
	cfg, _, table, _, err := parseBenchFlags(args, io.Discard)
	if err != nil || table {
		t.Fatalf("cairn bench %s: table %v, err %v", strings.Join(args, " "), table, err)
	}
	return cfg
}

// mustRunBench runs the bench core against a, with args after -addr.
func mustRunBench(t *testing.T, a *agent, args ...string) *benchReport {
	t.Helper()
	cfg := mustBenchConfig(t, append([]string{"-addr", a.url, "-timeout", "10s"}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep := runBench(ctx, cfg, &progress)
	if ctx.Err() != nil {
		t.Fatalf("cairn bench %s did not end within a minute; progress:\n%s", strings.Join(args, " "), &progress)
	}
	if rep.Interrupted {
		t.Fatalf("cairn bench %s reports an interruption nobody made", strings.Join(args, " "))
	}
	return rep
}

// checkBenchSums checks that a report's counts add up: in total, per
// operation, and by status.
func checkBenchSums(t *testing.T, rep *benchReport) {
	t.Helper()
	check := func(name string, c *benchCounts) {
		t.Helper()
		if c.Requests != c.OK+c.Conflicts+c.Errors {
			t.Errorf("%s: %d requests != %d ok + %d conflicts + %d errors", name, c.Requests, c.OK, c.Conflicts, c.Errors)
		}
		var answered, errs int64
		for _, n := range c.Status {
			answered += n
		}
		for _, n := range c.ErrorsByStatus {
			errs += n
		}
		if answered+c.TransportErrors != c.Requests {
			t.Errorf("%s: statuses %v and %d transport errors do not sum to %d requests", name, c.Status, c.TransportErrors, c.Requests)
		}
		if errs+c.TransportErrors != c.Errors {
			t.Errorf("%s: errors by status %v and %d transport errors do not sum to %d errors", name, c.ErrorsByStatus, c.TransportErrors, c.Errors)
		}
		if answered > 0 {
			l := c.Latency
			if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Min <= l.Mean && l.Mean <= l.Max) {
				t.Errorf("%s: latencies out of order: %+v", name, l)
			}
		}
	}
	check("total", &rep.benchCounts)
	var sum int64
	for name, c := range rep.Ops {
		check(name, c)
		sum += c.Requests
	}
	if sum != rep.Requests {
		t.Errorf("requests per op sum to %d, total says %d", sum, rep.Requests)
	}
}

func Test_BenchQuantile_KnownSamples_NearestRank(t *testing.T) {
	ms := time.Millisecond
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(i+1) * ms
	}
	rand.Shuffle(len(lat), func(i, j int) { lat[i], lat[j] = lat[j], lat[i] })
	got := summarizeLatency(lat)
	want := benchLatency{Min: 1, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if got != want {
		t.Errorf("1..1000 ms: got %+v, want %+v", got, want)
	}

	for _, c := range []struct {
		n    int
		q    float64
		want int // 1-based rank of the sample
	}{
		{10, 0.5, 5}, {10, 0.9, 9}, {10, 0.99, 10}, {10, 0.999, 10}, {10, 0.0, 1},
		{1, 0.5, 1}, {1, 0.999, 1}, {3, 0.5, 2}, {4, 0.5, 2}, {2000, 0.999, 1998}, {100000, 0.999, 99900},
	} {
		s := make([]time.Duration, c.n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		if got := benchQuantile(s, c.q); got != time.Duration(c.want) {
			t.Errorf("q%v of 1..%d: got %d, want %d", c.q, c.n, got, c.want)
		}
	}
	if got := summarizeLatency(nil); got != (benchLatency{}) {
		t.Errorf("no samples: %+v", got)
	}
	if got := benchQuantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing: %v", got)
	}
}

func Test_BenchFlags_Valid(t *testing.T) {
	cfg := mustBenchConfig(t, "-addr", "127.0.0.1:1, http://127.0.0.1:2/", "-pick", "random", "-op", "mixed",
		"-ratio", "put=1,get=2,cas=3", "-c", "3", "-n", "10", "-warmup", "25", "-consistency", "stale")
	if strings.Join(cfg.addrs, " ") != "http://127.0.0.1:1 http://127.0.0.1:2" || !cfg.random {
		t.Errorf("addrs %v random %v", cfg.addrs, cfg.random)
	}
	if cfg.mix != (benchMix{1, 2, 3}) || cfg.concurrency != 3 || cfg.requests != 10 || cfg.duration != 0 {
		t.Errorf("config %+v", cfg)
	}
	if cfg.warmup != (benchWarmup{requests: 25}) {
		t.Errorf("warmup %+v", cfg.warmup)
	}
	def := mustBenchConfig(t)
	if def.duration != 10*time.Second || def.requests != 0 || def.mix != (benchMix{1, 0, 0}) || def.size != 1024 ||
		def.kind != "bench" || def.warmup != (benchWarmup{duration: time.Second}) || def.addrs[0] != "http://127.0.0.1:8180" {
		t.Errorf("defaults %+v", def)
	}
	if w := mustBenchConfig(t, "-warmup", "0").warmup; !w.none() {
		t.Errorf("-warmup 0: %+v", w)
	}
	if cfg := mustBenchConfig(t, "-op", "get"); cfg.mix != (benchMix{0, 1, 0}) || !cfg.mix.reads() {
		t.Errorf("-op get: %+v", cfg.mix)
	}
	_, _, table, files, err := parseBenchFlags([]string{"-table", "a", "b"}, io.Discard)
	if err != nil || !table || strings.Join(files, ",") != "a,b" {
		t.Errorf("-table a b: %v %v %v", table, files, err)
	}
}

func Test_BenchFlags_Bad_Exit2(t *testing.T) {
	for _, args := range [][]string{
		{"-op", "delete"},
		{"-op", "put", "-ratio", "put=1"},
		{"-op", "mixed", "-ratio", "put=0,get=0"},
		{"-op", "mixed", "-ratio", "put=1,post=2"},
		{"-op", "mixed", "-ratio", "put=1,put=2"},
		{"-op", "mixed", "-ratio", "get=x"},
		{"-c", "0"},
		{"-n", "-1"},
		{"-d", "-1s"},
		{"-size", "1"},
		{"-keys", "0"},
		{"-kind", ""},
		{"-consistency", "strong"},
		{"-pick", "first"},
		{"-warmup", "soon"},
		{"-warmup", "-3"},
		{"-timeout", "0"},
		{"-addr", ""},
		{"-addr", "ftp://127.0.0.1:1"},
		{"extra"},
		{"-no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := runBenchCmd(args, &out, &errOut); code != 2 {
			t.Errorf("cairn bench %s: exit %d, want 2; stderr %s", strings.Join(args, " "), code, &errOut)
		}
		if out.Len() != 0 {
			t.Errorf("cairn bench %s wrote to stdout: %s", strings.Join(args, " "), &out)
		}
	}
	var out, errOut bytes.Buffer
	if code := runBenchCmd([]string{"-h"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-ratio") {
		t.Errorf("-h: exit %d, usage %q", code, errOut.String())
	}
}

func Test_BenchMix_Pick_FollowsWeights(t *testing.T) {
	m := benchMix{1, 0, 3}
	rng := rand.New(rand.NewPCG(1, 2))
	var n [numBenchOps]int
	for range 4000 {
		n[m.pick(rng)]++
	}
	if n[benchGetOp] != 0 || n[benchPutOp] < 800 || n[benchPutOp] > 1200 || n[benchPutOp]+n[benchCASOp] != 4000 {
		t.Errorf("put=1,cas=3 picked %v", n)
	}
	if got := m.String(); got != "put=1,cas=3" {
		t.Errorf("String %q", got)
	}
}

func Test_BenchRunner_RoundRobin_EveryNodeInTurn(t *testing.T) {
	r := &benchRunner{cfg: &benchConfig{addrs: []string{"a", "b", "c"}}}
	var got []string
	for range 7 {
		got = append(got, r.addr(nil))
	}
	if strings.Join(got, "") != "abcabca" {
		t.Errorf("round-robin order %v", got)
	}
}

func Test_BenchValue_ExactSizeValidJSON(t *testing.T) {
	for _, size := range []int{2, 5, 9, 10, 11, 1024, 4096} {
		v := benchValue(size)
		if len(v) != size || !json.Valid(v) {
			t.Errorf("size %d: %d bytes, valid %v: %s", size, len(v), json.Valid(v), v)
		}
	}
}

func Test_BenchTable_JSONAndGoBenchRows(t *testing.T) {
	rep := &benchReport{Label: "put leader", Concurrency: 16, benchCounts: benchCounts{
		Requests: 100, OK: 97, Errors: 3, ErrorsByStatus: map[string]int64{"503": 2}, TransportErrors: 1,
		ReqPerSec: 1234.5, Latency: benchLatency{Min: 0.5, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5}}}
	line, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	in := "goos: linux\npkg: cairn/cmd/cairn\n" + string(line) + "\n" +
		"BenchmarkHTTPPut/c=16-2   \t    5000\t    400000 ns/op\t      2500 req/s\t  5.10 p50-ms\t  9.80 p99-ms\n" +
		"BenchmarkApply_Put1KiB-2\t  300000\t      4000 ns/op\t  1100 B/op\t  12 allocs/op\n" +
		"BenchmarkRSSPer100k\n       1\t 27305966156 ns/op\t 120.5 MiB-RSS/100k\t 3783 fill-req/s\n" +
		"--- BENCH: BenchmarkRSSPer100k\n    bench_test.go:150: node pid 1\nPASS\nok  \tcairn/cmd/cairn\t9.1s\n"
	rows, err := readBenchRows(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(rows), rows)
	}
	if r := rows[0]; r.name != "put leader" || r.c != "16" || r.requests != "100" || r.errors != "3" || r.lat[3] != 3 ||
		r.notes != "errors 503: 2, transport: 1" {
		t.Errorf("JSON row %+v", r)
	}
	if r := rows[1]; r.name != "BenchmarkHTTPPut/c=16-2" || r.c != "16" || r.rate != 2500 || r.lat[1] != 5.1 || r.lat[3] != 9.8 {
		t.Errorf("HTTP row %+v", r)
	}
	if r := rows[2]; r.rate != 250000 || r.notes != "4000 ns/op, 1100 B/op, 12 allocs/op" {
		t.Errorf("fsm row %+v", r)
	}
	if r := rows[3]; r.name != "BenchmarkRSSPer100k" || r.requests != "1" || r.rate != 3783 || r.notes != "27305966156 ns/op, 120.5 MiB-RSS/100k, 3783 fill-req/s" {
		t.Errorf("RSS row %+v", r)
	}
	var out bytes.Buffer
	writeBenchTable(&out, rows)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "case") || !strings.Contains(lines[2], "1234") {
		t.Errorf("table:\n%s", &out)
	}
}

func Test_Bench_Put_CountsAddUp(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	rep := mustRunBench(t, a, "-op", "put", "-kind", "bench.put", "-keys", "20", "-c", "8", "-n", "300", "-warmup", "50", "-size", "256")
	checkBenchSums(t, rep)
	if rep.Requests != 300 || rep.OK != 300 || rep.Errors != 0 || rep.Conflicts != 0 {
		t.Errorf("-n 300 (after 50 warm-up requests): %d requests, %d ok, %d errors, %d conflicts", rep.Requests, rep.OK, rep.Errors, rep.Conflicts)
	}
	if rep.Status["200"]+rep.Status["201"] != 300 {
		t.Errorf("statuses %v", rep.Status)
	}
	if len(rep.Ops) != 1 || rep.Ops["put"] == nil || rep.Ops["put"].Requests != 300 {
		t.Errorf("ops %+v", rep.Ops)
	}
	if rep.ReqPerSec <= 0 || rep.Seconds <= 0 {
		t.Errorf("rate %v over %vs", rep.ReqPerSec, rep.Seconds)
	}
	items := a.mustList("bench.put")
	if len(items) == 0 || len(items) > 20 {
		t.Fatalf("%d resources of kind bench.put, want 1 to 20", len(items))
	}
	for id, res := range items {
		if want := string(benchValue(256)); string(res.Body) != want {
			t.Fatalf("%s holds %s, want %s", id, res.Body, want)
		}
	}
}

func Test_Bench_InvalidKind_400sCountedExit1(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	rep := mustRunBench(t, a, "-kind", "Not_A_Kind", "-n", "40", "-c", "4", "-warmup", "0")
	checkBenchSums(t, rep)
	if rep.Requests != 40 || rep.Errors != 40 || rep.ErrorsByStatus["400"] != 40 || rep.OK != 0 || rep.TransportErrors != 0 {
		t.Errorf("invalid kind: %+v", rep.benchCounts)
	}
	var out, errOut bytes.Buffer
	code := runBenchCmd([]string{"-addr", a.url, "-kind", "Not_A_Kind", "-n", "5", "-warmup", "0"}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "400: 5") || !strings.Contains(errOut.String(), "no request succeeded") {
		t.Errorf("exit %d; stdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
}

func Test_Bench_NoNode_TransportErrorsCounted(t *testing.T) {
	t.Parallel()
	port := freePorts(t, 1)[0] // nothing listens there
	cfg := mustBenchConfig(t, "-addr", hostPort(port), "-n", "10", "-c", "2", "-warmup", "0", "-timeout", "2s")
	rep := runBench(context.Background(), cfg, io.Discard)
	checkBenchSums(t, rep)
	if rep.Requests != 10 || rep.TransportErrors != 10 || rep.Errors != 10 || rep.TransportError == "" {
		t.Errorf("refused connections: %+v", rep.benchCounts)
	}
}

func Test_Bench_JSON_ParsesAndTables(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	var out, errOut bytes.Buffer
	code := runBenchCmd([]string{"-addr", a.url, "-op", "mixed", "-ratio", "put=2,get=6,cas=2", "-kind", "bench.mixed",
		"-keys", "30", "-c", "4", "-n", "200", "-warmup", "20", "-json", "-label", "mixed run"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, &errOut)
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
		t.Fatalf("-json printed %d lines, want 1:\n%s", n+1, &out)
	}
	var raw map[string]any
	mustUnmarshal(t, out.Bytes(), &raw)
	for _, k := range []string{"label", "requests", "errors", "errors_by_status", "status", "transport_errors", "req_per_s", "latency_ms", "ops", "cas_conflicts"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, &out)
		}
	}
	var rep benchReport
	mustUnmarshal(t, out.Bytes(), &rep)
	checkBenchSums(t, &rep)
	if rep.Label != "mixed run" || rep.Ratio != "put=2,get=6,cas=2" || rep.Requests != 200 || rep.Errors != 0 || len(rep.Ops) != 3 {
		t.Errorf("report %+v", rep)
	}
	// The warm-up created every id, so no GET found nothing.
	if g := rep.Ops["get"]; g == nil || g.Requests == 0 || g.OK != g.Requests {
		t.Errorf("gets %+v", g)
	}
	if len(a.mustList("bench.mixed")) != 30 {
		t.Error("the warm-up did not create all 30 ids")
	}
	var table bytes.Buffer
	rows, err := readBenchRows(&out)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	writeBenchTable(&table, rows)
	if !strings.Contains(table.String(), "mixed run") {
		t.Errorf("table:\n%s", &table)
	}
}

func Test_Bench_Get_AllConsistencies(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	for _, cons := range []string{"default", "consistent", "stale"} {
		rep := mustRunBench(t, a, "-op", "get", "-kind", "bench.get", "-keys", "25", "-c", "4", "-n", "100", "-consistency", cons)
		checkBenchSums(t, rep)
		if rep.Requests != 100 || rep.OK != 100 || rep.Status["200"] != 100 {
			t.Errorf("-consistency %s: %+v", cons, rep.benchCounts)
		}
	}
	// Without a warm-up nothing creates the ids: every GET is a 404.
	rep := mustRunBench(t, a, "-op", "get", "-kind", "bench.none", "-n", "20", "-warmup", "0")
	if rep.ErrorsByStatus["404"] != 20 {
		t.Errorf("gets of ids nobody wrote: %+v", rep.benchCounts)
	}
}

func Test_Bench_CAS_OneKeyEightWorkers_ConflictsNotErrors(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	rep := mustRunBench(t, a, "-op", "cas", "-kind", "bench.cas", "-keys", "1", "-c", "8", "-n", "400", "-warmup", "0")
	checkBenchSums(t, rep)
	if rep.Requests != 400 || rep.Errors != 0 || rep.OK+rep.Conflicts != 400 {
		t.Errorf("cas: %+v", rep.benchCounts)
	}
	if rep.Conflicts == 0 || rep.OK == 0 {
		t.Errorf("8 workers on one id: %d conflicts, %d ok; want some of each", rep.Conflicts, rep.OK)
	}
	if rep.Status["412"] != rep.Conflicts || len(rep.ErrorsByStatus) != 0 {
		t.Errorf("a 412 must count as a conflict only: %+v", rep.benchCounts)
	}
	if res := a.mustGet("bench.cas", "k0"); string(res.Body) != string(benchValue(1024)) {
		t.Errorf("k0 holds %s", res.Body)
	}
}

func Test_Bench_DurationBound(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	start := time.Now()
	rep := mustRunBench(t, a, "-kind", "bench.d", "-d", "1s", "-c", "4", "-warmup", "0", "-timeout", "5s")
	wall := time.Since(start)
	checkBenchSums(t, rep)
	// It stops sending at 1s; requests then in flight finish within -timeout.
	if rep.Seconds < 1 || rep.Seconds > 6 || wall > 7*time.Second {
		t.Errorf("-d 1s ran %.3fs (wall %s)", rep.Seconds, wall)
	}
	if rep.Requests == 0 || rep.Errors != 0 {
		t.Errorf("-d 1s: %+v", rep.benchCounts)
	}
	// -n bounds a run that -d would let go on.
	rep = mustRunBench(t, a, "-kind", "bench.d", "-d", "1m", "-n", "37", "-c", "5", "-warmup", "0")
	if rep.Requests != 37 {
		t.Errorf("-n 37 -d 1m: %d requests", rep.Requests)
	}
}

func Test_Bench_SIGINT_PrintsSummarySoFar(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	requireBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cairnBin, "bench", "-addr", a.url, "-kind", "bench.sig", "-d", "5m", "-c", "4", "-warmup", "0")
	cmd.Env = childEnv(nil)
	cmd.SysProcAttr = childProcAttr()
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the first progress line: the run is under way.
	progress := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if !sent && strings.HasPrefix(sc.Text(), "bench ") {
				progress <- sc.Text()
				sent = true
			}
		}
		close(progress)
	}()
	select {
	case line, ok := <-progress:
		if !ok {
			cmd.Wait()
			t.Fatalf("cairn bench ended without a progress line; stdout:\n%s", &out)
		}
		if !strings.Contains(line, "done") || !strings.Contains(line, "req/s") || !strings.Contains(line, "errors") {
			t.Errorf("progress line %q", line)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("no progress line within 30s")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("cairn bench did not stop after SIGINT; stdout:\n%s", &out)
	}
	if err != nil {
		t.Fatalf("cairn bench after SIGINT: %v; stdout:\n%s", err, &out)
	}
	s := out.String()
	if !strings.Contains(s, "interrupted") || !strings.Contains(s, "requests") || !strings.Contains(s, "p99.9") {
		t.Errorf("summary after SIGINT:\n%s", s)
	}
	if r, err := a.do(http.MethodGet, "/ready", nil, nil); err != nil || r.status != http.StatusOK {
		t.Errorf("node after the run: %v %v", r.status, err)
	}
}
