package bench

// `cairn bench -table`: one table from several runs' -json lines and from
// go test -bench output, so `make bench` can show the cluster runs and the
// micro-benchmarks together.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Row is one line of the table; NaN marks a number a row lacks.
type Row struct {
	name     string
	c        string
	requests string
	errors   string
	rate     float64
	lat      [6]float64 // min, p50, p90, p99, p99.9, max in ms
	notes    string
}

var benchTableHeader = []string{"case", "c", "requests", "errors", "req/s", "min", "p50", "p90", "p99", "p99.9", "max", "notes"}

// TableFiles prints the table of the named files, or of stdin when
// none is named.
func TableFiles(w io.Writer, files []string) error {
	var rows []Row
	if len(files) == 0 {
		r, err := ReadRows(os.Stdin)
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		rows = r
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		r, err := ReadRows(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, r...)
	}
	if len(rows) == 0 {
		return fmt.Errorf("no results found (want lines of cairn bench -json or go test -bench output)")
	}
	WriteTable(w, rows)
	return nil
}

// ReadRows reads lines of cairn bench -json output (lines starting
// with "{") and of go test -bench output (lines starting with "Benchmark"),
// and skips everything else.
func ReadRows(r io.Reader) ([]Row, error) {
	var rows []Row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	pending := "" // a benchmark name printed alone, its results on the next line
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(text, "{"):
			var rep Report
			if err := json.Unmarshal([]byte(text), &rep); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			rows = append(rows, rowOfReport(&rep))
		case strings.HasPrefix(text, "Benchmark"):
			if row, ok := rowOfGoBench(strings.Fields(text)); ok {
				rows = append(rows, row)
				pending = ""
			} else if f := strings.Fields(text); len(f) == 1 {
				pending = f[0]
			}
		case pending != "":
			if row, ok := rowOfGoBench(append([]string{pending}, strings.Fields(text)...)); ok {
				rows = append(rows, row)
			}
			pending = ""
		}
	}
	return rows, sc.Err()
}

func rowOfReport(rep *Report) Row {
	row := Row{
		name:     rep.Label,
		c:        strconv.Itoa(rep.Concurrency),
		requests: strconv.FormatInt(rep.Requests, 10),
		errors:   strconv.FormatInt(rep.Errors, 10),
		rate:     rep.ReqPerSec,
		lat:      [6]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()},
	}
	if rep.Requests-rep.TransportErrors > 0 {
		l := rep.Latency
		row.lat = [6]float64{l.Min, l.P50, l.P90, l.P99, l.P999, l.Max}
	}
	var notes []string
	if rep.Errors > 0 {
		notes = append(notes, "errors "+rep.Counts.errorText())
	}
	if rep.Conflicts > 0 {
		notes = append(notes, fmt.Sprintf("%d cas conflicts", rep.Conflicts))
	}
	if rep.Interrupted {
		notes = append(notes, "interrupted")
	}
	row.notes = strings.Join(notes, "; ")
	return row
}

var benchConcurrencyRE = regexp.MustCompile(`\bc=(\d+)`)

// rowOfGoBench reads a go test -bench result: name, iterations, then value
// and unit pairs. Throughput is its req/s or ops/s metric, else 1e9/(ns/op);
// a metric named like fill-req/s counts as req/s too; p50-ms and p99-ms fill the latency columns; other metrics go to notes.
func rowOfGoBench(f []string) (Row, bool) {
	if len(f) < 4 || len(f)%2 != 0 {
		return Row{}, false
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return Row{}, false
	}
	row := Row{name: f[0], requests: f[1], rate: math.NaN(),
		lat: [6]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}}
	if m := benchConcurrencyRE.FindStringSubmatch(f[0]); m != nil {
		row.c = m[1]
	}
	var notes []string
	nsPerOp := math.NaN()
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Row{}, false
		}
		switch unit := f[i+1]; {
		case unit == "req/s", unit == "ops/s":
			row.rate = v
		case strings.HasSuffix(unit, "-req/s") && math.IsNaN(row.rate): // e.g. fill-req/s
			row.rate = v
			notes = append(notes, f[i]+" "+unit)
		case unit == "p50-ms":
			row.lat[1] = v
		case unit == "p99-ms":
			row.lat[3] = v
		case unit == "ns/op":
			nsPerOp = v
			notes = append(notes, f[i]+" "+unit)
		default:
			notes = append(notes, f[i]+" "+unit)
		}
	}
	if math.IsNaN(row.rate) && nsPerOp > 0 {
		row.rate = 1e9 / nsPerOp
	}
	row.notes = strings.Join(notes, ", ")
	return row, true
}

// WriteTable prints rows under the header, numbers right-aligned.
func WriteTable(w io.Writer, rows []Row) {
	cells := [][]string{benchTableHeader}
	for _, r := range rows {
		line := []string{r.name, r.c, r.requests, r.errors, fmtNum(r.rate, fmtRate)}
		for _, v := range r.lat {
			line = append(line, fmtNum(v, fmtMS))
		}
		cells = append(cells, append(line, r.notes))
	}
	width := make([]int, len(benchTableHeader))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len(c))
		}
	}
	last := len(benchTableHeader) - 1
	for n, line := range cells {
		var b strings.Builder
		for i, c := range line {
			switch {
			case i == 0:
				fmt.Fprintf(&b, "%-*s", width[i], c)
			case i == last:
				if c != "" {
					b.WriteString("  " + c)
				}
			default:
				fmt.Fprintf(&b, "  %*s", width[i], c)
			}
		}
		fmt.Fprintln(w, b.String())
		if n == 0 {
			fmt.Fprintln(w, strings.Repeat("-", len(strings.TrimRight(b.String(), " "))))
		}
	}
	fmt.Fprintln(w, "latencies in ms; for go test rows, requests are iterations and req/s is their req/s or ops/s metric, else 1e9/(ns/op)")
}

func fmtNum(v float64, f func(float64) string) string {
	if math.IsNaN(v) {
		return "-"
	}
	return f(v)
}

func fmtRate(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
