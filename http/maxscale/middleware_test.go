package maxscale_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Test_Errors_MiddlewareAnswersInMaxScalesBody: a refusal of the shared
// middleware (here the body limit, 413) comes in MaxScale's errors
// document on its own listener and under /maxscale/v1 on the main one, as
// the API's own errors do; the native API keeps its own body.
func Test_Errors_MiddlewareAnswersInMaxScalesBody(t *testing.T) {
	f := mustServe(t)
	big := bytes.Repeat([]byte("x"), 100<<10) // over the fixture's 64 KiB
	for _, u := range []string{f.listener + "/v1/servers", f.main + "/maxscale/v1/servers"} {
		req, _ := http.NewRequest("POST", u, bytes.NewReader(big))
		req.SetBasicAuth("admin", "mariadb")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST %s with 100 KiB: %d", u, resp.StatusCode)
		}
		mustErrors(t, reply{status: resp.StatusCode, body: b}, "over the limit")
	}
	req, _ := http.NewRequest("PUT", f.main+"/cairn/v1/resources/widget/w1", bytes.NewReader(big))
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"error"`) || strings.Contains(string(b), `"errors"`) {
		t.Errorf("the native API's 413: %d %s", resp.StatusCode, b)
	}
}

// Test_Errors_ConcurrencyLimit_503InMaxScalesBody: a request over the
// node's concurrency limit is refused by the middleware with 503 and
// MaxScale's errors document.
func Test_Errors_ConcurrencyLimit_503InMaxScalesBody(t *testing.T) {
	f := mustServe(t)
	f.limits.SetMaxConcurrentRequests(1)
	// A request whose body stalls holds the one slot.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.listener, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/servers HTTP/1.1\r\nHost: localhost:8989\r\nAuthorization: Basic YWRtaW46bWFyaWFkYg==\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	mustWait(t, func() bool { return f.do("GET", "/v1/servers", nil).status == http.StatusServiceUnavailable })
	r := f.do("GET", "/v1/servers", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v", r.status, r.header)
	}
	mustErrors(t, r, "concurrent requests")
}

// Test_Metrics_CountTheMaxScaleListener: requests on MaxScale's own
// listener are counted in the node's HTTP metrics under dialect maxscale
// and their route.
func Test_Metrics_CountTheMaxScaleListener(t *testing.T) {
	f := mustServe(t)
	f.must("GET", "/v1/servers", nil, 200)
	f.must("GET", "/v1/servers/nope", nil, 404)
	resp, err := f.client.Get(f.main + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cairn_http_requests_total{code="200",dialect="maxscale",method="GET",route="/v1/servers"}`,
		`cairn_http_requests_total{code="404",dialect="maxscale",method="GET",route="/v1/servers/{name}"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
