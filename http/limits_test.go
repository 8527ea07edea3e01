package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"cairn/http"
	"cairn/node/nodetest"
)

func Test_Server_MaxConcurrentRequests_Over503RetryAfter(t *testing.T) {
	n := mustLeaderNode(t)
	limits := api.NewLimits(1<<20, 5*time.Second)
	base, _ := mustServe(t, api.NewServer(n, limits, discard))
	limits.SetMaxConcurrentRequests(1)
	if limits.MaxConcurrentRequests() != 1 {
		t.Fatalf("MaxConcurrentRequests = %d", limits.MaxConcurrentRequests())
	}
	// A blocking read holds the one slot until ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() {
		defer close(held)
		// Retried while refused: a probe below may hold the slot at the
		// moment this request arrives.
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/cairn/v1/resources/t.item/x?index=1000000&wait=30s", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return
			}
		}
	}()
	var resp *http.Response
	nodetest.WaitFor(t, func() bool {
		r, err := http.Get(base + "/cairn/v1/status")
		if err != nil {
			return false
		}
		if r.StatusCode == http.StatusServiceUnavailable {
			resp = r
			return true
		}
		r.Body.Close()
		return false
	}, 5*time.Second, "a request over the limit to get 503")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %s", b)
	}
	cancel()
	<-held
	limits.SetMaxConcurrentRequests(0) // unlimited again
	nodetest.WaitFor(t, func() bool {
		r, err := http.Get(base + "/cairn/v1/status")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, 5*time.Second, "requests to pass again")
}

func Test_Server_ManagementPaths_MRFErrors(t *testing.T) {
	n := mustLeaderNode(t)
	base, _ := mustServe(t, api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard))
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/management/nope", http.StatusNotFound},
		{http.MethodGet, "/Management/Domain/", http.StatusOK},
		{http.MethodDelete, "/management/domain", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, b, c.want)
			continue
		}
		var msg string
		if c.want != http.StatusOK && json.Unmarshal(b, &msg) != nil {
			t.Errorf("%s %s: body %s is not MRF's error (a JSON string)", c.method, c.path, b)
		}
	}
}
