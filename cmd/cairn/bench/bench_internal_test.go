package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// mustConfig parses `cairn bench` flags, failing the test on error.
func mustConfig(t *testing.T, args ...string) *Config {
	t.Helper()
	cfg, _, table, _, err := ParseFlags(args, io.Discard)
	if err != nil || table {
		t.Fatalf("cairn bench %s: table %v, err %v", strings.Join(args, " "), table, err)
	}
	return cfg
}

func Test_BenchQuantile_KnownSamples_NearestRank(t *testing.T) {
	ms := time.Millisecond
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(i+1) * ms
	}
	rand.Shuffle(len(lat), func(i, j int) { lat[i], lat[j] = lat[j], lat[i] })
	got := SummarizeLatency(lat)
	want := Latency{Min: 1, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
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
		if got := Quantile(s, c.q); got != time.Duration(c.want) {
			t.Errorf("q%v of 1..%d: got %d, want %d", c.q, c.n, got, c.want)
		}
	}
	if got := SummarizeLatency(nil); got != (Latency{}) {
		t.Errorf("no samples: %+v", got)
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing: %v", got)
	}
}

func Test_BenchFlags_Valid(t *testing.T) {
	cfg := mustConfig(t, "-addr", "127.0.0.1:1, http://127.0.0.1:2/", "-pick", "random", "-op", "mixed",
		"-ratio", "put=1,get=2,cas=3", "-c", "3", "-n", "10", "-warmup", "25", "-consistency", "stale")
	if strings.Join(cfg.addrs, " ") != "http://127.0.0.1:1 http://127.0.0.1:2" || !cfg.random {
		t.Errorf("addrs %v random %v", cfg.addrs, cfg.random)
	}
	if cfg.mix != (Mix{1, 2, 3}) || cfg.concurrency != 3 || cfg.requests != 10 || cfg.duration != 0 {
		t.Errorf("config %+v", cfg)
	}
	if cfg.warmup != (Warmup{requests: 25}) {
		t.Errorf("warmup %+v", cfg.warmup)
	}
	def := mustConfig(t)
	if def.duration != 10*time.Second || def.requests != 0 || def.mix != (Mix{1, 0, 0}) || def.size != 1024 ||
		def.kind != "bench" || def.warmup != (Warmup{duration: time.Second}) || def.addrs[0] != "http://127.0.0.1:8180" {
		t.Errorf("defaults %+v", def)
	}
	if w := mustConfig(t, "-warmup", "0").warmup; !w.none() {
		t.Errorf("-warmup 0: %+v", w)
	}
	if cfg := mustConfig(t, "-op", "get"); cfg.mix != (Mix{0, 1, 0}) || !cfg.mix.reads() {
		t.Errorf("-op get: %+v", cfg.mix)
	}
	_, _, table, files, err := ParseFlags([]string{"-table", "a", "b"}, io.Discard)
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
		if code := Main(args, &out, &errOut); code != 2 {
			t.Errorf("cairn bench %s: exit %d, want 2; stderr %s", strings.Join(args, " "), code, &errOut)
		}
		if out.Len() != 0 {
			t.Errorf("cairn bench %s wrote to stdout: %s", strings.Join(args, " "), &out)
		}
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"-h"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-ratio") {
		t.Errorf("-h: exit %d, usage %q", code, errOut.String())
	}
}

func Test_BenchMix_Pick_FollowsWeights(t *testing.T) {
	m := Mix{1, 0, 3}
	rng := rand.New(rand.NewPCG(1, 2))
	var n [numOps]int
	for range 4000 {
		n[m.pick(rng)]++
	}
	if n[OpGet] != 0 || n[OpPut] < 800 || n[OpPut] > 1200 || n[OpPut]+n[OpCAS] != 4000 {
		t.Errorf("put=1,cas=3 picked %v", n)
	}
	if got := m.String(); got != "put=1,cas=3" {
		t.Errorf("String %q", got)
	}
}

func Test_BenchRunner_RoundRobin_EveryNodeInTurn(t *testing.T) {
	r := &runner{cfg: &Config{addrs: []string{"a", "b", "c"}}}
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
		v := Value(size)
		if len(v) != size || !json.Valid(v) {
			t.Errorf("size %d: %d bytes, valid %v: %s", size, len(v), json.Valid(v), v)
		}
	}
}

func Test_BenchTable_JSONAndGoBenchRows(t *testing.T) {
	rep := &Report{Label: "put leader", Concurrency: 16, Counts: Counts{
		Requests: 100, OK: 97, Errors: 3, ErrorsByStatus: map[string]int64{"503": 2}, TransportErrors: 1,
		ReqPerSec: 1234.5, Latency: Latency{Min: 0.5, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5}}}
	line, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	in := "goos: linux\npkg: cairn/cmd/cairn\n" + string(line) + "\n" +
		"BenchmarkHTTPPut/c=16-2   \t    5000\t    400000 ns/op\t      2500 req/s\t  5.10 p50-ms\t  9.80 p99-ms\n" +
		"BenchmarkApply_Put1KiB-2\t  300000\t      4000 ns/op\t  1100 B/op\t  12 allocs/op\n" +
		"BenchmarkRSSPer100k\n       1\t 27305966156 ns/op\t 120.5 MiB-RSS/100k\t 3783 fill-req/s\n" +
		"--- BENCH: BenchmarkRSSPer100k\n    bench_test.go:150: node pid 1\nPASS\nok  \tcairn/cmd/cairn\t9.1s\n"
	rows, err := ReadRows(strings.NewReader(in))
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
	WriteTable(&out, rows)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "case") || !strings.Contains(lines[2], "1234") {
		t.Errorf("table:\n%s", &out)
	}
}

func Test_WaitAfter_HonoursRetryAfterOnlyWhenAsked(t *testing.T) {
	on := &runner{cfg: &Config{retryAfter: true}}
	off := &runner{cfg: &Config{}}
	for _, c := range []struct {
		r      *runner
		status int
		header string
		min    time.Duration
		max    time.Duration
	}{
		{on, http.StatusServiceUnavailable, "2", 2 * time.Second, 2200 * time.Millisecond},
		{on, http.StatusTooManyRequests, "", time.Second, 1100 * time.Millisecond},
		{on, http.StatusServiceUnavailable, "soon", time.Second, 1100 * time.Millisecond},
		{on, http.StatusOK, "5", 0, 0},
		{off, http.StatusServiceUnavailable, "1", 0, 0},
	} {
		if got := c.r.waitAfter(c.status, c.header); got < c.min || got > c.max {
			t.Errorf("retry-after %v, status %d, header %q: wait %s, want %s..%s", c.r.cfg.retryAfter, c.status, c.header, got, c.min, c.max)
		}
	}
}
