// Package bench is `cairn bench`: a load generator for the native API of any Cairn node or
// zone. Each of -c workers sends one request at a time over a keep-alive
// connection of its own to each node (client.go), records every answer's status and latency
// in memory (exact percentiles: no histogram buckets, 8 bytes a request),
// and the run ends after -n requests, after -d, or on Ctrl-C, whichever
// comes first; the summary covers what was done until then. table.go
// prints the results of many runs (and go test -bench output) as one table.
package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Op is one kind of operation the load generator sends.
type Op int

const (
	OpPut Op = iota // PUT a value
	OpGet           // GET a value
	OpCAS           // GET the ETag, then PUT with If-Match
	numOps
)

var opNames = [numOps]string{"put", "get", "cas"}

func (o Op) String() string { return opNames[o] }

// Mix is the relative weight of each operation in a run.
type Mix [numOps]int

// ParseMix reads a ratio such as "put=20,get=80" (weights, not
// necessarily summing to 100).
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		i := slices.Index(opNames[:], name)
		if !ok || i < 0 {
			return m, fmt.Errorf("ratio part %q: want op=weight with op put, get or cas", part)
		}
		if seen[name] {
			return m, fmt.Errorf("ratio names %s twice", name)
		}
		seen[name] = true
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 || w > 1_000_000 {
			return m, fmt.Errorf("ratio part %q: the weight must be an integer from 0 to 1000000", part)
		}
		m[i] = w
	}
	if m.total() == 0 {
		return m, fmt.Errorf("ratio %q gives no operation a weight", s)
	}
	return m, nil
}

func (m Mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// reads reports whether the mix reads existing keys, so a warm-up should
// create them first.
func (m Mix) reads() bool { return m[OpGet] > 0 || m[OpCAS] > 0 }

func (m Mix) String() string {
	var parts []string
	for op, w := range m {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", Op(op), w))
		}
	}
	return strings.Join(parts, ",")
}

// pick draws an operation with probability proportional to its weight.
func (m Mix) pick(rng *rand.Rand) Op {
	x := rng.IntN(m.total())
	for op, w := range m {
		if x < w {
			return Op(op)
		}
		x -= w
	}
	return OpPut // not reached
}

// Warmup is how much load to send before measuring: a number of
// requests or a duration. Both zero means none.
type Warmup struct {
	requests int64
	duration time.Duration
}

func parseWarmup(s string) (Warmup, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Warmup{}, fmt.Errorf("-warmup %q must not be negative", s)
		}
		return Warmup{requests: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return Warmup{}, fmt.Errorf("-warmup %q: want a duration such as 2s or a request count such as 500", s)
	}
	return Warmup{duration: d}, nil
}

func (w Warmup) none() bool { return w.requests == 0 && w.duration == 0 }

func (w Warmup) String() string {
	switch {
	case w.requests > 0:
		return strconv.FormatInt(w.requests, 10) + " requests"
	case w.duration > 0:
		return w.duration.String()
	}
	return "none"
}

// consistencies maps -consistency to the query a GET carries.
var consistencies = map[string]string{"default": "", "consistent": "?consistent", "stale": "?stale"}

// Config is one load run, flags parsed and validated.
type Config struct {
	addrs       []string       // base URLs without a trailing slash
	rootCAs     *x509.CertPool // -cacert: what https nodes are verified with; nil: the system's roots
	random      bool           // pick a node at random per request, else round-robin
	op          string         // put, get, cas or mixed
	mix         Mix
	concurrency int
	requests    int64         // 0: no count bound
	duration    time.Duration // 0: no time bound
	size        int
	keys        int
	kind        string
	consistency string
	warmup      Warmup
	timeout     time.Duration
	retryAfter  bool
	// preferMinimal asks for PUTs' answers without the written resource.
	preferMinimal bool
	label         string
}

// pickName is -pick's value.
func (c *Config) pickName() string {
	if c.random {
		return "random"
	}
	return "round-robin"
}

const usage = `usage: cairn bench [flags]
       cairn bench -table [file ...]

Sends load to the native API (/cairn/v1/resources/{kind}/{id}) of one or
more Cairn nodes and reports throughput and latency. Each of -c workers
sends one request at a time over a keep-alive HTTP/1.1 connection of its
own to each node it sends to. The run ends after -n requests or after -d,
whichever comes first (neither given: -d 10s); Ctrl-C ends it early and
still prints the summary so far.

Operations (-op):
  put     PUT a -size byte JSON value to a random one of -keys ids
  get     GET a random id (the warm-up creates every id first)
  cas     compare-and-set: GET the id's ETag, then PUT with If-Match (or
          If-None-Match: * if it does not exist); a 412 counts as a cas
          conflict, not an error. One cas is one request in the summary.
  mixed   a mix of the above, by -ratio weights: -ratio put=20,get=80

Requests that answer 200/201 (and cas conflicts) succeed; any other status
and any transport failure (refused, timed out, ...) is an error, counted by
status. Latency percentiles are exact (every latency is kept) and cover
every request that got an answer, whatever its status.

-json prints the summary as one line of JSON. -table reads such lines, and
the output of go test -bench, from the files named (or stdin) and prints
them as one table.

The exit code is 0 when the run happened, even with errors; 1 if no
request succeeded; 2 for bad flags.

Example, against make run:
  cairn bench -addr http://127.0.0.1:8180 -op put -c 16 -d 10s -size 1024

Flags:
`

// ParseFlags parses `cairn bench` arguments. table is true for -table
// mode, whose input files are then in files.
func ParseFlags(args []string, stderr io.Writer) (cfg *Config, jsonOut, table bool, files []string, err error) {
	cfg = &Config{}
	fs := flag.NewFlagSet("cairn bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	addrs := fs.String("addr", "http://127.0.0.1:8180", "node URL(s) to send to, comma-separated")
	cacert := fs.String("cacert", "", "PEM CA certificate(s) https nodes are verified with, e.g. the agent's -tls-ca or <data-dir>/tls/cert.pem (default: the system's roots)")
	pick := fs.String("pick", "round-robin", "how each request picks a node of -addr: round-robin or random")
	fs.StringVar(&cfg.op, "op", "put", "operation: put, get, cas or mixed")
	ratio := fs.String("ratio", "put=20,get=80", "weights of -op mixed, e.g. put=20,get=70,cas=10")
	fs.IntVar(&cfg.concurrency, "c", 16, "concurrent workers (and connections per node)")
	fs.Int64Var(&cfg.requests, "n", 0, "requests to measure (0: bounded by -d only)")
	fs.DurationVar(&cfg.duration, "d", 0, "how long to measure (0: bounded by -n only; default 10s if -n is not given either)")
	fs.IntVar(&cfg.size, "size", 1024, "bytes of each value written (a JSON object, or a JSON string below 10 bytes)")
	fs.IntVar(&cfg.keys, "keys", 1000, "number of distinct ids the requests pick from at random")
	fs.StringVar(&cfg.kind, "kind", "bench", "resource kind the ids belong to")
	fs.StringVar(&cfg.consistency, "consistency", "default", "reads: default (local store), consistent (?consistent: linearizable, via the leader) or stale (?stale)")
	warmup := fs.String("warmup", "1s", "load sent before measuring, not counted: a duration (2s) or a request count (500); 0 for none. For get, cas and mixed it first creates every id")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "deadline of one request (a cas: of each of its two)")
	fs.BoolVar(&cfg.retryAfter, "retry-after", false, "after a PUT answered 503 or 429, the worker waits about a second (the Retry-After every node sends) before its next request, as a well-behaved client does")
	fs.BoolVar(&cfg.preferMinimal, "prefer-minimal", false, "PUTs ask for an answer without the written resource (Prefer: return=minimal): status and headers only")
	fs.StringVar(&cfg.label, "label", "", "name of this run in the summary, the JSON and -table (default: op, concurrency and node)")
	fs.BoolVar(&jsonOut, "json", false, "print the summary as one line of JSON")
	fs.BoolVar(&table, "table", false, "read -json lines and go test -bench output from the named files (or stdin) and print one table")
	if err = fs.Parse(args); err != nil {
		return nil, false, false, nil, err
	}
	if table {
		return nil, false, true, fs.Args(), nil
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	bad := func(format string, a ...any) (*Config, bool, bool, []string, error) {
		return nil, false, false, nil, fmt.Errorf(format, a...)
	}
	if fs.NArg() > 0 {
		return bad("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *cacert != "" {
		pem, err := os.ReadFile(*cacert)
		if err != nil {
			return bad("-cacert: %v", err)
		}
		cfg.rootCAs = x509.NewCertPool()
		if !cfg.rootCAs.AppendCertsFromPEM(pem) {
			return bad("-cacert %s: no PEM certificate in it", *cacert)
		}
	}
	for _, a := range splitList(*addrs) {
		u, err := normalizeAddr(a)
		if err != nil {
			return bad("-addr: %v", err)
		}
		cfg.addrs = append(cfg.addrs, u)
	}
	if len(cfg.addrs) == 0 {
		return bad("-addr names no node")
	}
	switch *pick {
	case "round-robin":
	case "random":
		cfg.random = true
	default:
		return bad("-pick %q: want round-robin or random", *pick)
	}
	switch cfg.op {
	case "put", "get", "cas":
		if given["ratio"] {
			return bad("-ratio goes with -op mixed, not -op %s", cfg.op)
		}
		cfg.mix[slices.Index(opNames[:], cfg.op)] = 1
	case "mixed":
		if cfg.mix, err = ParseMix(*ratio); err != nil {
			return bad("-ratio: %v", err)
		}
	default:
		return bad("-op %q: want put, get, cas or mixed", cfg.op)
	}
	switch {
	case cfg.concurrency < 1 || cfg.concurrency > 100_000:
		return bad("-c must be from 1 to 100000")
	case cfg.requests < 0:
		return bad("-n must not be negative")
	case cfg.duration < 0:
		return bad("-d must not be negative")
	case cfg.size < 2 || cfg.size > 64<<20:
		return bad("-size must be from 2 to %d bytes", 64<<20)
	case cfg.keys < 1 || cfg.keys > 100_000_000:
		return bad("-keys must be from 1 to 100000000")
	case cfg.kind == "":
		return bad("-kind must not be empty")
	case cfg.timeout <= 0:
		return bad("-timeout must be positive")
	}
	if _, ok := consistencies[cfg.consistency]; !ok {
		return bad("-consistency %q: want default, consistent or stale", cfg.consistency)
	}
	if cfg.warmup, err = parseWarmup(*warmup); err != nil {
		return bad("%v", err)
	}
	if cfg.requests == 0 && cfg.duration == 0 {
		cfg.duration = 10 * time.Second
	}
	if cfg.label == "" {
		cfg.label = fmt.Sprintf("%s c=%d %s", cfg.op, cfg.concurrency, strings.Join(cfg.addrs, ","))
	}
	return cfg, jsonOut, false, nil, nil
}

// normalizeAddr turns "host:port" or a URL into a base URL without a
// trailing slash.
func normalizeAddr(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL of a node", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// Main is `cairn bench`; it returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, jsonOut, table, files, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cairn bench:", err)
		return 2
	}
	if table {
		if err := TableFiles(stdout, files); err != nil {
			fmt.Fprintln(stderr, "cairn bench -table:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := Run(ctx, cfg, stderr)
	if jsonOut {
		b, err := json.Marshal(rep)
		if err != nil {
			fmt.Fprintln(stderr, "cairn bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		rep.writeText(stdout)
	}
	if rep.OK+rep.Conflicts == 0 {
		fmt.Fprintln(stderr, "cairn bench: no request succeeded")
		return 1
	}
	return 0
}

// Latency summarises latencies in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Quantile returns the q-quantile of sorted by the nearest-rank
// method: the smallest sample with at least q of all samples at or below
// it. It is exact, which a histogram is not.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// SummarizeLatency sorts lat in place and summarises it.
func SummarizeLatency(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{
		Min:  msOf(lat[0]),
		P50:  msOf(Quantile(lat, 0.50)),
		P90:  msOf(Quantile(lat, 0.90)),
		P99:  msOf(Quantile(lat, 0.99)),
		P999: msOf(Quantile(lat, 0.999)),
		Max:  msOf(lat[len(lat)-1]),
		Mean: msOf(sum / time.Duration(len(lat))),
	}
}

// Counts are the outcomes of a set of requests.
type Counts struct {
	// Requests is OK + Conflicts + Errors.
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// Conflicts are cas writes refused with 412: the key changed between
	// the GET and the PUT.
	Conflicts int64 `json:"cas_conflicts"`
	// Errors are ErrorsByStatus and TransportErrors together.
	Errors int64 `json:"errors"`
	// Status counts every answer by its HTTP status.
	Status         map[string]int64 `json:"status"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	// TransportErrors are requests that got no answer (refused, reset,
	// timed out); TransportError is the first one's message.
	TransportErrors int64   `json:"transport_errors"`
	TransportError  string  `json:"transport_error,omitempty"`
	ReqPerSec       float64 `json:"req_per_s"`
	Latency         Latency `json:"latency_ms"`
	// OKLatency covers only the requests that succeeded: under overload,
	// what an admitted request waited (the refused ones answer at once).
	OKLatency Latency `json:"ok_latency_ms"`
}

// Report is the summary of one run: what -json prints.
type Report struct {
	Label       string   `json:"label"`
	Op          string   `json:"op"`
	Ratio       string   `json:"ratio,omitempty"`
	Addrs       []string `json:"addrs"`
	Pick        string   `json:"pick"`
	Concurrency int      `json:"concurrency"`
	Size        int      `json:"size"`
	Keys        int      `json:"keys"`
	Kind        string   `json:"kind"`
	Consistency string   `json:"consistency"`
	// PreferMinimal: PUTs asked for no body in their answers.
	PreferMinimal bool               `json:"prefer_minimal,omitempty"`
	Warmup        string             `json:"warmup"`
	Seconds       float64            `json:"seconds"`
	Interrupted   bool               `json:"interrupted"`
	Counts                           // all operations together
	Ops           map[string]*Counts `json:"ops"`
}

// outcome is what one operation came to.
type outcome struct {
	status   int   // the final answer's status; 0 with err
	err      error // transport failure
	ok       bool
	conflict bool
	// retryAfter is the answer's Retry-After (0: none, or not honoured).
	retryAfter time.Duration
}

// workerStats accumulates one worker's outcomes, without locks.
type workerStats struct {
	lat       [numOps][]time.Duration
	okLat     [numOps][]time.Duration // of the requests that succeeded
	status    [numOps]map[int]int64
	transport [numOps]int64
	ok        [numOps]int64
	conflicts [numOps]int64
	errors    [numOps]int64
	firstErr  string
}

func (s *workerStats) record(op Op, o outcome, lat time.Duration) {
	switch {
	case o.err != nil:
		s.transport[op]++
		s.errors[op]++
		if s.firstErr == "" {
			s.firstErr = o.err.Error()
		}
		return
	case o.ok:
		s.ok[op]++
	case o.conflict:
		s.conflicts[op]++
	default:
		s.errors[op]++
	}
	if s.status[op] == nil {
		s.status[op] = map[int]int64{}
	}
	s.status[op][o.status]++
	s.lat[op] = append(s.lat[op], lat)
	if o.ok || o.conflict {
		s.okLat[op] = append(s.okLat[op], lat)
	}
}

// liveCounts are a phase's running totals, for the progress line.
type liveCounts struct {
	done, errors, conflicts atomic.Int64
}

// runner sends the requests of one run.
type runner struct {
	cfg *Config
	// clients are the workers' own, by worker number (populate's and
	// phase's worker w use clients[w], one phase after the other).
	clients []*client
	query   string // the reads' consistency query
	kind    string // path-escaped
	value   []byte
	seed    uint64
	rr      atomic.Uint64 // round-robin position
}

// Run runs cfg until its bounds or until ctx ends (Ctrl-C), and
// returns the summary of what it measured. Progress lines go to progress.
func Run(ctx context.Context, cfg *Config, progress io.Writer) *Report {
	var tlsConfig *tls.Config
	if cfg.rootCAs != nil {
		tlsConfig = &tls.Config{RootCAs: cfg.rootCAs, MinVersion: tls.VersionTLS12}
	}
	r := &runner{
		cfg:     cfg,
		clients: make([]*client, cfg.concurrency),
		query:   consistencies[cfg.consistency],
		kind:    url.PathEscape(cfg.kind),
		value:   Value(cfg.size),
		seed:    uint64(time.Now().UnixNano()),
	}
	for w := range r.clients {
		r.clients[w] = newClient(cfg.timeout, tlsConfig, cfg.preferMinimal)
	}
	defer func() {
		for _, cl := range r.clients {
			cl.close()
		}
	}()
	if !cfg.warmup.none() {
		if cfg.mix.reads() {
			r.populate(ctx, progress)
		}
		var deadline time.Time
		if cfg.warmup.duration > 0 {
			deadline = time.Now().Add(cfg.warmup.duration)
		}
		ws, took := r.phase(ctx, "warm-up", cfg.warmup.requests, deadline, progress)
		var done, errs int64
		for op := range numOps {
			done += ws.ok[op] + ws.conflicts[op] + ws.errors[op]
			errs += ws.errors[op]
		}
		fmt.Fprintf(progress, "warm-up: %d requests in %s, %d errors (not counted)\n", done, took.Round(time.Millisecond), errs)
	}
	var deadline time.Time
	if cfg.duration > 0 {
		deadline = time.Now().Add(cfg.duration)
	}
	var st *workerStats
	var took time.Duration
	if ctx.Err() == nil {
		st, took = r.phase(ctx, "bench", cfg.requests, deadline, progress)
	} else {
		st = &workerStats{}
	}
	return r.report(st, took, ctx.Err() != nil)
}

// Value is a JSON value of exactly size bytes: an object with a
// padding string, or a bare string when size is too small for one.
func Value(size int) []byte {
	const head, tail = `{"pad":"`, `"}`
	if size < len(head)+len(tail) {
		return []byte(`"` + strings.Repeat("x", size-2) + `"`)
	}
	return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
}

func keyName(i int) string { return "k" + strconv.Itoa(i) }

// addr picks the node for the next request.
func (r *runner) addr(rng *rand.Rand) string {
	a := r.cfg.addrs
	if len(a) == 1 {
		return a[0]
	}
	if r.cfg.random {
		return a[rng.IntN(len(a))]
	}
	return a[(r.rr.Add(1)-1)%uint64(len(a))]
}

// populate creates every key once, so that reads find them; what it sends
// is not counted.
func (r *runner) populate(ctx context.Context, progress io.Writer) {
	var next atomic.Int64
	var live liveCounts
	var mu sync.Mutex
	statuses := map[string]int64{}
	var wg sync.WaitGroup
	start := time.Now()
	stopProgress := r.progress(progress, "populate", &live, start)
	for w := range min(r.cfg.concurrency, r.cfg.keys) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.seed, uint64(w)+1<<32))
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(r.cfg.keys) {
					return
				}
				status, _, err := r.clients[w].send(ctx, http.MethodPut, r.addr(rng), r.path(keyName(int(i)), ""), r.value, "", "")
				if err != nil && ctx.Err() != nil {
					return
				}
				live.done.Add(1)
				if err != nil || status != http.StatusOK && status != http.StatusCreated {
					live.errors.Add(1)
					k := "transport"
					if err == nil {
						k = strconv.Itoa(status)
					}
					mu.Lock()
					statuses[k]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	stopProgress()
	msg := fmt.Sprintf("populate: wrote %d ids of kind %s in %s", live.done.Load()-live.errors.Load(), r.cfg.kind, time.Since(start).Round(time.Millisecond))
	if n := live.errors.Load(); n > 0 {
		msg += fmt.Sprintf(", %d failed (%s)", n, formatStatusCounts(statuses))
	}
	fmt.Fprintln(progress, msg)
}

// phase runs the workers until limit requests were sent (0: no limit),
// deadline passed (zero: none), or ctx ended, and returns their outcomes
// and how long it took. Requests cut short by ctx are not counted.
func (r *runner) phase(ctx context.Context, name string, limit int64, deadline time.Time, progress io.Writer) (*workerStats, time.Duration) {
	var issued atomic.Int64
	var live liveCounts
	stats := make([]*workerStats, r.cfg.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	stopProgress := r.progress(progress, name, &live, start)
	for w := range r.cfg.concurrency {
		st := &workerStats{}
		if limit > 0 {
			n := int(limit/int64(r.cfg.concurrency)) + 1
			st.lat[r.cfg.mix.only()] = make([]time.Duration, 0, min(n, 1<<16))
		}
		stats[w] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.seed, uint64(w)))
			for ctx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				if limit > 0 && issued.Add(1) > limit {
					return
				}
				op := r.cfg.mix.pick(rng)
				key := keyName(rng.IntN(r.cfg.keys))
				t0 := time.Now()
				o := r.do(ctx, r.clients[w], rng, op, key)
				lat := time.Since(t0)
				if o.err != nil && ctx.Err() != nil {
					return // cut short by Ctrl-C: not an outcome of the server
				}
				st.record(op, o, lat)
				live.done.Add(1)
				if o.conflict {
					live.conflicts.Add(1)
				} else if !o.ok {
					live.errors.Add(1)
				}
				if o.retryAfter > 0 {
					// -retry-after: wait as the server asked, as a
					// well-behaved client does, within the run.
					wait := time.NewTimer(o.retryAfter)
					select {
					case <-ctx.Done():
					case <-wait.C:
					}
					wait.Stop()
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	stopProgress()
	all := &workerStats{}
	for _, st := range stats {
		for op := range numOps {
			all.lat[op] = append(all.lat[op], st.lat[op]...)
			all.okLat[op] = append(all.okLat[op], st.okLat[op]...)
			st.lat[op], st.okLat[op] = nil, nil
			all.transport[op] += st.transport[op]
			all.ok[op] += st.ok[op]
			all.conflicts[op] += st.conflicts[op]
			all.errors[op] += st.errors[op]
			for s, n := range st.status[op] {
				if all.status[op] == nil {
					all.status[op] = map[int]int64{}
				}
				all.status[op][s] += n
			}
		}
		if all.firstErr == "" {
			all.firstErr = st.firstErr
		}
	}
	return all, took
}

// only returns the mix's operation if it has just one (for sizing), else
// put.
func (m Mix) only() Op {
	for op, w := range m {
		if w == m.total() {
			return Op(op)
		}
	}
	return OpPut
}

// progress prints a line on w once a second until the returned function is
// called: requests done, the rate over the last second, errors.
func (r *runner) progress(w io.Writer, name string, live *liveCounts, start time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		lastAt := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := live.done.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				line := fmt.Sprintf("%s %4.0fs: %d done, %.0f req/s, %d errors", name, now.Sub(start).Seconds(), n, rate, live.errors.Load())
				if r.cfg.mix[OpCAS] > 0 {
					line += fmt.Sprintf(", %d cas conflicts", live.conflicts.Load())
				}
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// path is the resource path of key on a node, with query.
func (r *runner) path(key, query string) string {
	return "/cairn/v1/resources/" + r.kind + "/" + key + query
}

// do sends one operation with cl.
func (r *runner) do(ctx context.Context, cl *client, rng *rand.Rand, op Op, key string) outcome {
	base := r.addr(rng)
	switch op {
	case OpGet:
		status, _, err := cl.send(ctx, http.MethodGet, base, r.path(key, r.query), nil, "", "")
		return outcome{status: status, err: err, ok: err == nil && status == http.StatusOK}
	case OpCAS:
		status, hdr, err := cl.send(ctx, http.MethodGet, base, r.path(key, r.query), nil, "", "")
		etag := hdr.Get("ETag")
		cond, val := "If-Match", etag
		switch {
		case err != nil:
			return outcome{err: err}
		case status == http.StatusNotFound:
			cond, val = "If-None-Match", "*"
		case status != http.StatusOK || etag == "":
			return outcome{status: status}
		}
		status, _, err = cl.send(ctx, http.MethodPut, base, r.path(key, ""), r.value, cond, val)
		return outcome{status: status, err: err, ok: err == nil && (status == http.StatusOK || status == http.StatusCreated),
			conflict: err == nil && status == http.StatusPreconditionFailed}
	}
	status, hdr, err := cl.send(ctx, http.MethodPut, base, r.path(key, ""), r.value, "", "")
	return outcome{status: status, err: err, ok: err == nil && (status == http.StatusOK || status == http.StatusCreated),
		retryAfter: r.waitAfter(status, hdr.Get("Retry-After"))}
}

// waitAfter is how long a worker waits after a PUT answered status with
// that Retry-After header: with -retry-after, a 503 or 429 waits its
// Retry-After seconds (1 if absent or unreadable) plus a jitter of up to a
// tenth, so workers do not return in lockstep; else nothing.
func (r *runner) waitAfter(status int, retryAfter string) time.Duration {
	if !r.cfg.retryAfter || (status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests) {
		return 0
	}
	d := time.Second
	if n, err := strconv.Atoi(retryAfter); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	}
	return d + time.Duration(rand.Int64N(int64(d/10)))
}

// report turns a phase's outcomes into the summary.
func (r *runner) report(st *workerStats, took time.Duration, interrupted bool) *Report {
	cfg := r.cfg
	rep := &Report{
		Label: cfg.label, Op: cfg.op, Addrs: cfg.addrs, Pick: cfg.pickName(), Concurrency: cfg.concurrency,
		Size: cfg.size, Keys: cfg.keys, Kind: cfg.kind, Consistency: cfg.consistency, PreferMinimal: cfg.preferMinimal, Warmup: cfg.warmup.String(),
		Seconds: took.Seconds(), Interrupted: interrupted, Ops: map[string]*Counts{},
	}
	if cfg.op == "mixed" {
		rep.Ratio = cfg.mix.String()
	}
	var all, allOK []time.Duration
	total := Counts{Status: map[string]int64{}, ErrorsByStatus: map[string]int64{}}
	for op := range numOps {
		if cfg.mix[op] == 0 {
			continue
		}
		c := Counts{
			OK: st.ok[op], Conflicts: st.conflicts[op], Errors: st.errors[op], TransportErrors: st.transport[op],
			Status: map[string]int64{}, ErrorsByStatus: map[string]int64{},
		}
		c.Requests = c.OK + c.Conflicts + c.Errors
		for s, n := range st.status[op] {
			k := strconv.Itoa(s)
			c.Status[k] += n
			total.Status[k] += n
			if !success(op, s) {
				c.ErrorsByStatus[k] += n
				total.ErrorsByStatus[k] += n
			}
		}
		if took > 0 {
			c.ReqPerSec = float64(c.Requests) / took.Seconds()
		}
		all = append(all, st.lat[op]...)
		allOK = append(allOK, st.okLat[op]...)
		c.Latency = SummarizeLatency(st.lat[op])
		c.OKLatency = SummarizeLatency(st.okLat[op])
		total.Requests += c.Requests
		total.OK += c.OK
		total.Conflicts += c.Conflicts
		total.Errors += c.Errors
		total.TransportErrors += c.TransportErrors
		rep.Ops[op.String()] = &c
	}
	total.TransportError = st.firstErr
	if took > 0 {
		total.ReqPerSec = float64(total.Requests) / took.Seconds()
	}
	total.Latency = SummarizeLatency(all)
	total.OKLatency = SummarizeLatency(allOK)
	rep.Counts = total
	return rep
}

// success reports whether status is not an error for op (a cas 412
// is a conflict, not an error).
func success(op Op, status int) bool {
	switch op {
	case OpGet:
		return status == http.StatusOK
	case OpCAS:
		return status == http.StatusOK || status == http.StatusCreated || status == http.StatusPreconditionFailed
	}
	return status == http.StatusOK || status == http.StatusCreated
}

// formatStatusCounts lists counts by status in status order: "200: 10, 503: 2".
func formatStatusCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// fmtMS prints milliseconds with about three significant digits.
func fmtMS(v float64) string {
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func (l Latency) text() string {
	return fmt.Sprintf("min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s (ms)",
		fmtMS(l.Min), fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max), fmtMS(l.Mean))
}

// writeText prints the human-readable summary.
func (rep *Report) writeText(w io.Writer) {
	what := rep.Op
	if rep.Ratio != "" {
		what += " (" + rep.Ratio + ")"
	}
	fmt.Fprintf(w, "cairn bench %q: %s, c=%d, %d-byte values, %d ids of kind %s, %s reads, warm-up %s\n",
		rep.Label, what, rep.Concurrency, rep.Size, rep.Keys, rep.Kind, rep.Consistency, rep.Warmup)
	fmt.Fprintf(w, "  nodes       %s (%s)\n", strings.Join(rep.Addrs, ", "), rep.Pick)
	if rep.Interrupted {
		fmt.Fprintln(w, "  interrupted: the summary so far")
	}
	rep.Counts.writeText(w, "  ")
	if len(rep.Ops) > 1 {
		for _, name := range opNames {
			if c := rep.Ops[name]; c != nil {
				fmt.Fprintf(w, "  %s:\n", name)
				c.writeText(w, "    ")
			}
		}
	}
}

func (c *Counts) writeText(w io.Writer, indent string) {
	fmt.Fprintf(w, "%srequests    %d, %.1f req/s\n", indent, c.Requests, c.ReqPerSec)
	ok := map[string]int64{}
	for _, k := range []string{"200", "201"} {
		if n := c.Status[k]; n > 0 && c.ErrorsByStatus[k] == 0 {
			ok[k] = n
		}
	}
	fmt.Fprintf(w, "%sok          %d", indent, c.OK)
	if len(ok) > 0 {
		fmt.Fprintf(w, " (%s)", formatStatusCounts(ok))
	}
	fmt.Fprintln(w)
	if c.Conflicts > 0 {
		fmt.Fprintf(w, "%scas 412     %d conflicts (the id changed between GET and PUT)\n", indent, c.Conflicts)
	}
	fmt.Fprintf(w, "%serrors      %d", indent, c.Errors)
	if c.Errors > 0 {
		fmt.Fprintf(w, " (%s)", c.errorText())
	}
	fmt.Fprintln(w)
	if c.TransportError != "" {
		fmt.Fprintf(w, "%s            first transport error: %s\n", indent, c.TransportError)
	}
	fmt.Fprintf(w, "%slatency     %s\n", indent, c.Latency.text())
	if c.Errors > 0 && c.OK > 0 {
		fmt.Fprintf(w, "%ssucceeded   %s\n", indent, c.OKLatency.text())
	}
}

// errorText lists the errors by status, and the transport errors.
func (c *Counts) errorText() string {
	errs := maps.Clone(c.ErrorsByStatus)
	if c.TransportErrors > 0 {
		if errs == nil {
			errs = map[string]int64{}
		}
		errs["transport"] = c.TransportErrors
	}
	return formatStatusCounts(errs)
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
