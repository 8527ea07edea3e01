package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cairn/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// mustRequest sends one request and returns its status and body.
func mustRequest(t *testing.T, method, url, body string, header http.Header) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func Test_Metrics_RequestsByRouteTemplate_AndServedOnMetrics(t *testing.T) {
	n := mustLeaderNode(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collector())
	base, _ := mustServe(t, api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard, api.WithMetrics(reg)))

	for _, id := range []string{"w1", "w2", "w3"} {
		if code, _, body := mustRequest(t, http.MethodPut, base+"/cairn/v1/resources/widget/"+id, `{}`, nil); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", id, code, body)
		}
	}
	mustRequest(t, http.MethodGet, base+"/cairn/v1/resources/widget/w1", "", nil)
	mustRequest(t, http.MethodGet, base+"/cairn/v1/resources/widget/nope", "", nil)
	mustRequest(t, http.MethodGet, base+"/no/such/path/123", "", nil)
	mustRequest(t, "BREW", base+"/health", "", nil)

	want := `
# HELP cairn_http_requests_total HTTP requests answered, by dialect, route template, method and status code.
# TYPE cairn_http_requests_total counter
cairn_http_requests_total{code="200",dialect="native",method="GET",route="/cairn/v1/resources/{kind}/{id}"} 1
cairn_http_requests_total{code="201",dialect="native",method="PUT",route="/cairn/v1/resources/{kind}/{id}"} 3
cairn_http_requests_total{code="404",dialect="native",method="GET",route="/cairn/v1/resources/{kind}/{id}"} 1
cairn_http_requests_total{code="404",dialect="other",method="GET",route="unmatched"} 1
cairn_http_requests_total{code="405",dialect="ops",method="other",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cairn_http_requests_total"); err != nil {
		t.Error(err)
	}
	// GET and PUT on the resource route, and two unmatched: never a raw path.
	if got := testutil.CollectAndCount(reg, "cairn_http_request_duration_seconds"); got != 4 {
		t.Errorf("cairn_http_request_duration_seconds has %d series, want 4", got)
	}

	// The text format by default, OpenMetrics when asked for; both lint
	// clean, with the node's own metrics in them.
	code, hdr, text := mustRequest(t, http.MethodGet, base+"/metrics", "", nil)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d, Content-Type %q", code, hdr.Get("Content-Type"))
	}
	for _, name := range []string{"cairn_store_resources{kind=\"widget\"} 3", "cairn_raft_is_leader 1", "cairn_http_requests_in_flight 1"} {
		if !strings.Contains(text, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	code, hdr, om := mustRequest(t, http.MethodGet, base+"/metrics", "", http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}})
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/openmetrics-text") || !strings.HasSuffix(om, "# EOF\n") {
		t.Fatalf("GET /metrics as OpenMetrics: %d, Content-Type %q, ends %q", code, hdr.Get("Content-Type"), om[max(0, len(om)-20):])
	}
}

func Test_Metrics_WithoutOption_NoMetricsRoute(t *testing.T) {
	n := mustLeaderNode(t)
	base, _ := mustServe(t, api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard))
	if code, _, _ := mustRequest(t, http.MethodGet, base+"/metrics", "", nil); code != http.StatusNotFound {
		t.Errorf("GET /metrics without WithMetrics: %d, want 404", code)
	}
}
