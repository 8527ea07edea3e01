package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// grafanaDashboard is the example dashboard (README, Metrics).
var grafanaDashboard = filepath.Join("..", "..", "testdata", "grafana", "cairn.json")

// dashboard is the part of a Grafana dashboard's JSON the tests read.
type dashboard struct {
	UID        string           `json:"uid"`
	Title      string           `json:"title"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

func mustDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("parse %s: %v", grafanaDashboard, err)
	}
	return d
}

// queries returns every query of the dashboard, named by where it is:
// each panel target's expr, and each query variable's metric.
func (d dashboard) queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out["panel "+p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil { // a plain string, in older dashboards
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query %s is neither a string nor {query}", v.Name, v.Query)
			}
		}
		// label_values(metric{...}, label): the metric is the query.
		m := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(strings.TrimSpace(q.Query))
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
		}
		out["variable "+v.Name] = m[1]
	}
	return out
}

var (
	promStringRE   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promMatchersRE = regexp.MustCompile(`\{[^}]*\}`)
	promRangeRE    = regexp.MustCompile(`\[[^\]]*\]`)
	promGroupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promVarRE      = regexp.MustCompile(`\$\{?\w+\}?`)
	promIdentRE    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true,
		"without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// promQLMetricNames returns the metric names a PromQL expression selects:
// the identifiers left once strings, label matchers, ranges, grouping
// clauses and Grafana variables are taken out, other than function and
// aggregation names (followed by a parenthesis), keywords and the
// letters of numbers and durations.
func promQLMetricNames(expr string) []string {
	s := promStringRE.ReplaceAllString(expr, `""`)
	s = promMatchersRE.ReplaceAllString(s, " ")
	s = promRangeRE.ReplaceAllString(s, " ")
	s = promGroupingRE.ReplaceAllString(s, " ")
	s = promVarRE.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdentRE.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if promKeywords[strings.ToLower(name)] {
			continue
		}
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.") {
			continue // 1e3, 5m
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue // a function or an aggregation
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func Test_PromQLMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`cairn_raft_term`: {"cairn_raft_term"},
		`sum by (zone) (cairn_raft_is_leader{zone=~"$zone"})`:                                                  {"cairn_raft_is_leader"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b", c=~"d|e"}[$__rate_interval])))`:            {"x_bucket"},
		`max by (zone) (a{zone=~"$zone"}) - on (zone) group_right b{zone="z"} offset 5m`:                       {"a", "b"},
		`rate(cairn_http_requests_total{code=~"5.."}[5m]) > 1e3 and ignoring (code) up == bool 0 or vector(1)`: {"cairn_http_requests_total", "up"},
		`count(cairn_build_info{version="v1 (by x)"})`:                                                         {"cairn_build_info"},
	} {
		if got := promQLMetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("promQLMetricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// Test_GrafanaDashboard_EveryQueryNamesAServedMetric reads the example
// Grafana dashboard and checks it against a real node: it parses, its
// panels have unique ids and use the dashboard's data source variable,
// every query names at least one metric, and every metric it names is in
// the node's /metrics.
func Test_GrafanaDashboard_EveryQueryNamesAServedMetric(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	d := mustDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("%s: want a uid and a title", grafanaDashboard)
	}
	ids := map[int]string{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0) {
				t.Errorf("panel %q: want targets and the data source ${datasource}", p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	a := mustStartAgent(t, agentOpts{})
	// One write, so that every series the node has exists.
	a.mustDo(http.MethodPut, resPath("widget", "w1"), []byte(`{}`), http.StatusCreated)
	served := a.mustScrape().seriesNames()
	named := map[string][]string{}
	for where, expr := range d.queries(t) {
		names := promQLMetricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range names {
			named[n] = append(named[n], where)
		}
	}
	var all []string
	for n, where := range named {
		all = append(all, n)
		if !served[n] {
			sort.Strings(where)
			t.Errorf("%s names %s, which the node does not serve", strings.Join(where, ", "), n)
		}
	}
	sort.Strings(all)
	t.Logf("%d queries name %d metrics, all served: %s", len(d.queries(t)), len(all), strings.Join(all, ", "))
}
