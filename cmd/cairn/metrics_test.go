package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// scrape is one GET /metrics answer of an agent, parsed.
type scrape struct {
	raw  string
	fams map[string]*dto.MetricFamily
}

// scrapeMetrics fetches and parses an agent's /metrics.
func (a *agent) scrapeMetrics() (scrape, error) {
	r, err := a.doWant(http.MethodGet, "/metrics", nil, http.StatusOK)
	if err != nil {
		return scrape{}, err
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return scrape{}, fmt.Errorf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(promodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		return scrape{}, fmt.Errorf("parse /metrics of %s: %w", a.line.nodeID, err)
	}
	return scrape{raw: string(r.body), fams: fams}, nil
}

func (a *agent) mustScrape() scrape {
	a.t.Helper()
	s, err := a.scrapeMetrics()
	if err != nil {
		a.t.Fatal(err)
	}
	return s
}

// value returns the sample of name whose labels include the label/value
// pairs given: a gauge's or counter's value, a histogram's count.
func (s scrape) value(name string, labelPairs ...string) (float64, bool) {
	mf, ok := s.fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labelPairs); i += 2 {
			if have[labelPairs[i]] != labelPairs[i+1] {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		default:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// mustValue is value that fails the test if the sample is missing.
func (s scrape) mustValue(t testing.TB, who, name string, labelPairs ...string) float64 {
	t.Helper()
	v, ok := s.value(name, labelPairs...)
	if !ok {
		t.Fatalf("%s's /metrics has no sample %s%v", who, name, labelPairs)
	}
	return v
}

// seriesNames returns the names of every sample line in the exposition,
// histograms' _bucket, _sum and _count among them: the names a PromQL
// expression can select.
func (s scrape) seriesNames() map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(s.raw, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// mustLintClean fails the test for every promlint problem in s.
func (s scrape) mustLintClean(t testing.TB, who string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(s.raw)).Lint()
	if err != nil {
		t.Fatalf("lint %s's /metrics: %v", who, err)
	}
	for _, p := range problems {
		t.Errorf("lint %s's /metrics: %s: %s", who, p.Metric, p.Text)
	}
}

// metricsLeader waits until exactly one of nodes reports
// cairn_raft_is_leader 1 and the others 0, and returns it.
func metricsLeader(t testing.TB, nodes []*agent) *agent {
	t.Helper()
	var leader *agent
	var last string
	waitFor(t, "one node to report cairn_raft_is_leader 1 and the others 0", 20*time.Second, func() bool {
		leader, last = nil, ""
		for _, a := range nodes {
			s, err := a.scrapeMetrics()
			if err != nil {
				last = err.Error()
				return false
			}
			v, _ := s.value("cairn_raft_is_leader")
			last += fmt.Sprintf("%s:%v ", a.line.nodeID, v)
			if v == 1 {
				if leader != nil {
					return false
				}
				leader = a
			}
		}
		return leader != nil
	}, func() string { return "last: " + last })
	return leader
}

// Test_ThreeNodes_Metrics_IndexesForwardsAndLeaderChange runs a real zone
// of three agents through writes, a forwarded write and the leader's
// death, and reads it all back from /metrics.
func Test_ThreeNodes_Metrics_IndexesForwardsAndLeaderChange(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, agentOpts{})
	leader := metricsLeader(t, nodes)
	var followers []*agent
	for _, a := range nodes {
		if a != leader {
			followers = append(followers, a)
		}
	}

	// Every node serves /metrics, in both formats.
	before := map[*agent]scrape{}
	for _, a := range nodes {
		before[a] = a.mustScrape()
		if v, ok := before[a].value("cairn_build_info", "version", testVersion); !ok || v != 1 {
			t.Errorf("%s: no cairn_build_info{version=%q} 1", a.line.nodeID, testVersion)
		}
	}
	om, err := leader.do(http.MethodGet, "/metrics", nil, http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}})
	if err != nil || om.status != http.StatusOK || !strings.HasPrefix(om.header.Get("Content-Type"), "application/openmetrics-text") {
		t.Fatalf("GET /metrics as OpenMetrics: %v, %d, Content-Type %q", err, om.status, om.header.Get("Content-Type"))
	}

	// Writes through the leader advance the commit and applied indexes of
	// all three.
	body := mustJSON(t, map[string]string{"metric": "yes"})
	var last uint64
	const writes = 20
	for i := range writes {
		last = leader.mustPut("widget", fmt.Sprintf("w%02d", i), body, http.StatusCreated)
	}
	for _, a := range nodes {
		var detail string
		waitFor(t, a.line.nodeID+"'s index metrics to reach "+fmt.Sprint(last), 10*time.Second, func() bool {
			s, err := a.scrapeMetrics()
			if err != nil {
				detail = err.Error()
				return false
			}
			detail = ""
			ok := true
			for _, name := range []string{"cairn_raft_commit_index", "cairn_raft_applied_index", "cairn_store_applied_index", "cairn_raft_last_index"} {
				v, _ := s.value(name)
				detail += fmt.Sprintf("%s=%v ", name, v)
				ok = ok && v >= float64(last)
			}
			n, _ := s.value("cairn_store_resources", "kind", "widget")
			detail += fmt.Sprintf("widgets=%v", n)
			return ok && n == writes
		}, func() string { return detail })
		after := a.mustScrape()
		for _, name := range []string{"cairn_raft_commit_index", "cairn_store_applied_index"} {
			if b, x := before[a].mustValue(t, a.line.nodeID, name), after.mustValue(t, a.line.nodeID, name); x <= b {
				t.Errorf("%s: %s did not advance: %v before the writes, %v after", a.line.nodeID, name, b, x)
			}
		}
	}
	ls := leader.mustScrape()
	if v := ls.mustValue(t, leader.line.nodeID, "cairn_node_apply_duration_seconds", "result", "ok"); v < writes {
		t.Errorf("leader's cairn_node_apply_duration_seconds_count{result=ok} = %v, want at least %d", v, writes)
	}
	if v := ls.mustValue(t, leader.line.nodeID, "raft_commit_time_seconds"); v < writes {
		t.Errorf("leader's bridged raft_commit_time_seconds_count = %v, want at least %d", v, writes)
	}
	if v := ls.mustValue(t, leader.line.nodeID, "cairn_raft_peers", "suffrage", "voter"); v != 3 {
		t.Errorf("leader's cairn_raft_peers{suffrage=voter} = %v, want 3", v)
	}

	// A write sent to a follower is forwarded, and counted there as a
	// forward and as a request on its route; the leader, sent the
	// follower's command rather than the request, counts an apply and no
	// request. An election in between (a loaded machine can cost the
	// leader its lease) spoils the count: then it is tried again.
	const route = "/cairn/v1/resources/{kind}/{id}"
	put201 := []string{"dialect", "native", "route", route, "method", "PUT", "code", "201"}
	forwarded := false
	for attempt := 1; attempt <= 3 && !forwarded; attempt++ {
		leader = metricsLeader(t, nodes)
		followers = followers[:0]
		for _, a := range nodes {
			if a != leader {
				followers = append(followers, a)
			}
		}
		f := followers[0]
		fBefore, lBefore := f.mustScrape(), leader.mustScrape()
		if _, err := f.put("widget", fmt.Sprintf("forwarded-%d", attempt), body, http.StatusCreated); err != nil {
			t.Logf("attempt %d: write through follower %s: %v; again", attempt, f.line.nodeID, err)
			continue
		}
		fAfter, lAfter := f.mustScrape(), leader.mustScrape()
		if fBefore.mustValue(t, f.line.nodeID, "cairn_raft_term") != fAfter.mustValue(t, f.line.nodeID, "cairn_raft_term") ||
			lAfter.mustValue(t, leader.line.nodeID, "cairn_raft_is_leader") != 1 {
			t.Logf("attempt %d: leadership changed during the forwarded write; again", attempt)
			continue
		}
		forwarded = true
		fwdB, _ := fBefore.value("cairn_http_forwarded_requests_total")
		if fwdA := fAfter.mustValue(t, f.line.nodeID, "cairn_http_forwarded_requests_total"); fwdA != fwdB+1 {
			t.Errorf("follower %s: cairn_http_forwarded_requests_total went %v -> %v, want +1", f.line.nodeID, fwdB, fwdA)
		}
		reqB, _ := fBefore.value("cairn_http_requests_total", put201...)
		if reqA := fAfter.mustValue(t, f.line.nodeID, "cairn_http_requests_total", put201...); reqA != reqB+1 {
			t.Errorf("follower %s: PUT 201 on %s went %v -> %v, want +1", f.line.nodeID, route, reqB, reqA)
		}
		cmdB, _ := fBefore.value("cairn_node_forwarded_commands_total", "result", "ok")
		if cmdA := fAfter.mustValue(t, f.line.nodeID, "cairn_node_forwarded_commands_total", "result", "ok"); cmdA != cmdB+1 {
			t.Errorf("follower %s: cairn_node_forwarded_commands_total{result=ok} went %v -> %v, want +1", f.line.nodeID, cmdB, cmdA)
		}
		lReqB, _ := lBefore.value("cairn_http_requests_total", put201...)
		if lReqA := lAfter.mustValue(t, leader.line.nodeID, "cairn_http_requests_total", put201...); lReqA != lReqB {
			t.Errorf("leader %s: PUT 201 on %s went %v -> %v, want no change (it got the command, not the request)", leader.line.nodeID, route, lReqB, lReqA)
		}
		lApplyB, _ := lBefore.value("cairn_node_apply_duration_seconds", "result", "ok")
		if lApplyA := lAfter.mustValue(t, leader.line.nodeID, "cairn_node_apply_duration_seconds", "result", "ok"); lApplyA < lApplyB+1 {
			t.Errorf("leader %s: applies went %v -> %v, want at least +1", leader.line.nodeID, lApplyB, lApplyA)
		}
		lFwdB, _ := lBefore.value("cairn_http_forwarded_requests_total")
		if lFwdA, _ := lAfter.value("cairn_http_forwarded_requests_total"); lFwdA != lFwdB {
			t.Errorf("leader %s forwarded a request itself: %v -> %v", leader.line.nodeID, lFwdB, lFwdA)
		}
	}
	if !forwarded {
		t.Fatal("no write through a follower was forwarded to a leader that kept leading, in 3 attempts")
	}

	// A consistent read through a follower that has applied the leader's
	// read index is served there: it forwards nothing, and the leader
	// counts no request. (Right after a write the follower is behind, and
	// forwards the read instead: it is asked again.)
	get200 := []string{"dialect", "native", "route", route, "method", "GET", "code", "200"}
	if _, err := leader.put("widget", "read-here", body, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	servedHere := false
	for attempt := 1; attempt <= 50 && !servedHere; attempt++ {
		leader = metricsLeader(t, nodes)
		f := others(nodes, leader)[0]
		fBefore, lBefore := f.mustScrape(), leader.mustScrape()
		if r, err := f.do(http.MethodGet, resPath("widget", "read-here")+"?consistent", nil, nil); err != nil || r.status != http.StatusOK {
			t.Fatalf("GET ?consistent through follower %s: %v %d %s", f.line.nodeID, err, r.status, r.body)
		}
		fAfter, lAfter := f.mustScrape(), leader.mustScrape()
		fwdB, _ := fBefore.value("cairn_http_forwarded_requests_total")
		if fwdA, _ := fAfter.value("cairn_http_forwarded_requests_total"); fwdA != fwdB {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		servedHere = true
		lGetB, _ := lBefore.value("cairn_http_requests_total", get200...)
		if lGetA, _ := lAfter.value("cairn_http_requests_total", get200...); lGetA != lGetB {
			t.Errorf("leader %s: GET 200 on %s went %v -> %v while follower %s served a consistent read itself", leader.line.nodeID, route, lGetB, lGetA, f.line.nodeID)
		}
	}
	if !servedHere {
		t.Error("no consistent read through a follower was served there in 50 attempts")
	}

	// After all that, every node's whole exposition is lint-clean, and
	// every metric the example alerts name is served.
	served := map[string]bool{}
	for _, a := range nodes {
		s := a.mustScrape()
		s.mustLintClean(t, a.line.nodeID)
		for name := range s.seriesNames() {
			served[name] = true
		}
	}
	alertNames := alertMetricNames(t)
	t.Logf("metrics the alerts name: %s", strings.Join(alertNames, ", "))
	for _, name := range alertNames {
		if !served[name] {
			t.Errorf("alerts.yml names %s, which no node serves", name)
		}
	}

	// Killing the leader: both survivors count the election of a new
	// leader, which reports itself as leader.
	changesBefore := map[*agent]float64{}
	for _, a := range followers {
		changesBefore[a] = a.mustScrape().mustValue(t, a.line.nodeID, "cairn_raft_leader_changes_total")
	}
	leader.mustKill()
	newLeader := metricsLeader(t, followers)
	for _, a := range followers {
		var got float64
		waitFor(t, a.line.nodeID+" to count the new leader's election", 10*time.Second, func() bool {
			s, err := a.scrapeMetrics()
			if err != nil {
				return false
			}
			got, _ = s.value("cairn_raft_leader_changes_total")
			return got > changesBefore[a]
		}, func() string {
			return fmt.Sprintf("cairn_raft_leader_changes_total %v, %v before the kill", got, changesBefore[a])
		})
	}
	s := newLeader.mustScrape()
	if v := s.mustValue(t, newLeader.line.nodeID, "cairn_raft_state", "state", "leader"); v != 1 {
		t.Errorf("new leader %s: cairn_raft_state{state=leader} = %v, want 1", newLeader.line.nodeID, v)
	}
	if b, a := before[newLeader].mustValue(t, newLeader.line.nodeID, "cairn_raft_term"), s.mustValue(t, newLeader.line.nodeID, "cairn_raft_term"); a <= b {
		t.Errorf("new leader %s: cairn_raft_term %v, not past %v", newLeader.line.nodeID, a, b)
	}
	for _, a := range followers {
		if a == newLeader {
			continue
		}
		if v := a.mustScrape().mustValue(t, a.line.nodeID, "cairn_raft_is_leader"); v != 0 {
			t.Errorf("surviving follower %s: cairn_raft_is_leader = %v, want 0", a.line.nodeID, v)
		}
	}
}

// promConfig is the part of prometheus.yml the test reads.
type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// alertRules is the shape of a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var promExamplesDir = filepath.Join("..", "..", "testdata", "prometheus")

func mustYAML(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(promExamplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}

// cairnMetricRE matches the metric names Cairn serves: its own (cairn_)
// and raft's, bridged (raft_).
var cairnMetricRE = regexp.MustCompile(`\b(?:cairn|raft)_[a-z0-9_]*[a-z0-9]\b`)

// alertMetricNames parses alerts.yml and returns every Cairn or raft metric
// its expressions name, sorted.
func alertMetricNames(t testing.TB) []string {
	t.Helper()
	var rules alertRules
	mustYAML(t, "alerts.yml", &rules)
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range cairnMetricRE.FindAllString(r.Expr, -1) {
				seen[m] = true
			}
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Test_PrometheusExamples_Parse checks the example scrape configuration
// and alert rules without a running node: they parse, the scrape targets
// are the ones `make cluster` starts, and every rule is complete. The
// cluster test above checks that the metrics they name exist.
func Test_PrometheusExamples_Parse(t *testing.T) {
	t.Parallel()
	var cfg promConfig
	mustYAML(t, "prometheus.yml", &cfg)
	if !slices.Contains(cfg.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml rule_files = %q, want alerts.yml among them", cfg.RuleFiles)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].JobName != "cairn" || cfg.ScrapeConfigs[0].MetricsPath != "/metrics" {
		t.Fatalf("prometheus.yml: want one scrape config, job cairn, path /metrics; got %+v", cfg.ScrapeConfigs)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs[0].StaticConfigs {
		if sc.Labels["zone"] == "" {
			t.Errorf("target group %q has no zone label; the alerts aggregate by zone", sc.Targets)
		}
		targets = append(targets, sc.Targets...)
	}
	if want := []string{"127.0.0.1:11180", "127.0.0.1:12180", "127.0.0.1:13180"}; !slices.Equal(targets, want) {
		t.Errorf("scrape targets %q, want %q (make cluster's HTTP addresses)", targets, want)
	}

	var rules alertRules
	mustYAML(t, "alerts.yml", &rules)
	names := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q in group %s lacks an alert name, expr, severity label or summary", r.Alert, g.Name)
			}
			if names[r.Alert] {
				t.Errorf("alert %s is declared twice", r.Alert)
			}
			names[r.Alert] = true
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("alert %s: unbalanced parentheses in %q", r.Alert, r.Expr)
			}
			if r.For != "" {
				if _, err := promodel.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
		}
	}
	for _, want := range []string{"CairnZoneNoLeader", "CairnLeaderFlapping", "CairnNodeLagging", "CairnApplyLatencyHigh", "CairnForwardFailures"} {
		if !names[want] {
			t.Errorf("alerts.yml has no %s", want)
		}
	}
	if got := alertMetricNames(t); len(got) < 5 {
		t.Errorf("alerts name only %q", got)
	}
}
