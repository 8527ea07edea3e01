package main

// Tests of `cairn bench`: its flag parsing, percentiles and table as unit
// tests, and its load runs against a real single node. They check counts
// and bounds, never how fast anything was.

import (
	"cairn/cmd/cairn/bench"

	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mustBenchConfig parses `cairn bench` flags, failing the test on error.
func mustBenchConfig(t *testing.T, args ...string) *bench.Config {
	t.Helper()
	cfg, _, table, _, err := bench.ParseFlags(args, io.Discard)
	if err != nil || table {
		t.Fatalf("cairn bench %s: table %v, err %v", strings.Join(args, " "), table, err)
	}
	return cfg
}

// mustRunBench runs the bench core against a, with args after -addr.
func mustRunBench(t *testing.T, a *agent, args ...string) *bench.Report {
	t.Helper()
	cfg := mustBenchConfig(t, append([]string{"-addr", a.url, "-timeout", "10s"}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep := bench.Run(ctx, cfg, &progress)
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
func checkBenchSums(t *testing.T, rep *bench.Report) {
	t.Helper()
	check := func(name string, c *bench.Counts) {
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
	check("total", &rep.Counts)
	var sum int64
	for name, c := range rep.Ops {
		check(name, c)
		sum += c.Requests
	}
	if sum != rep.Requests {
		t.Errorf("requests per op sum to %d, total says %d", sum, rep.Requests)
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
		if want := string(bench.Value(256)); string(res.Body) != want {
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
		t.Errorf("invalid kind: %+v", rep.Counts)
	}
	var out, errOut bytes.Buffer
	code := bench.Main([]string{"-addr", a.url, "-kind", "Not_A_Kind", "-n", "5", "-warmup", "0"}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "400: 5") || !strings.Contains(errOut.String(), "no request succeeded") {
		t.Errorf("exit %d; stdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
}

func Test_Bench_NoNode_TransportErrorsCounted(t *testing.T) {
	t.Parallel()
	port := freePorts(t, 1)[0] // nothing listens there
	cfg := mustBenchConfig(t, "-addr", hostPort(port), "-n", "10", "-c", "2", "-warmup", "0", "-timeout", "2s")
	rep := bench.Run(context.Background(), cfg, io.Discard)
	checkBenchSums(t, rep)
	if rep.Requests != 10 || rep.TransportErrors != 10 || rep.Errors != 10 || rep.TransportError == "" {
		t.Errorf("refused connections: %+v", rep.Counts)
	}
}

func Test_Bench_JSON_ParsesAndTables(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	var out, errOut bytes.Buffer
	code := bench.Main([]string{"-addr", a.url, "-op", "mixed", "-ratio", "put=2,get=6,cas=2", "-kind", "bench.mixed",
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
	var rep bench.Report
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
	rows, err := bench.ReadRows(&out)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	bench.WriteTable(&table, rows)
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
			t.Errorf("-consistency %s: %+v", cons, rep.Counts)
		}
	}
	// Without a warm-up nothing creates the ids: every GET is a 404.
	rep := mustRunBench(t, a, "-op", "get", "-kind", "bench.none", "-n", "20", "-warmup", "0")
	if rep.ErrorsByStatus["404"] != 20 {
		t.Errorf("gets of ids nobody wrote: %+v", rep.Counts)
	}
}

func Test_Bench_CAS_OneKeyEightWorkers_ConflictsNotErrors(t *testing.T) {
	t.Parallel()
	a := mustStartAgent(t, agentOpts{})
	rep := mustRunBench(t, a, "-op", "cas", "-kind", "bench.cas", "-keys", "1", "-c", "8", "-n", "400", "-warmup", "0")
	checkBenchSums(t, rep)
	if rep.Requests != 400 || rep.Errors != 0 || rep.OK+rep.Conflicts != 400 {
		t.Errorf("cas: %+v", rep.Counts)
	}
	if rep.Conflicts == 0 || rep.OK == 0 {
		t.Errorf("8 workers on one id: %d conflicts, %d ok; want some of each", rep.Conflicts, rep.OK)
	}
	if rep.Status["412"] != rep.Conflicts || len(rep.ErrorsByStatus) != 0 {
		t.Errorf("a 412 must count as a conflict only: %+v", rep.Counts)
	}
	if res := a.mustGet("bench.cas", "k0"); string(res.Body) != string(bench.Value(1024)) {
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
		t.Errorf("-d 1s: %+v", rep.Counts)
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
