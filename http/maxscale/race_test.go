package maxscale_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// Test_ConcurrentLinks_ServerGetsOneMonitor links one server to eight
// monitors at once from the monitors' side: the version preconditions make
// exactly one win, and the server ends up in that monitor only.
func Test_ConcurrentLinks_ServerGetsOneMonitor(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", mustFixture(t, "create-server3.request.json"), 204)
	const n = 8
	for i := range n {
		f.must("POST", "/v1/monitors", fmt.Appendf(nil, `{"data":{"id":"m%d","type":"monitors","attributes":{"module":"mariadbmon","parameters":{"user":"maxuser","password":"maxpwd"}}}}`, i), 204)
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			r := f.doURL(f.listener, "PATCH", fmt.Sprintf("/v1/monitors/m%d/relationships/servers", i),
				[]byte(`{"data":[{"id":"server3","type":"servers"}]}`), "admin", "mariadb")
			statuses[i] = r.status
		})
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusNoContent:
			won++
		case http.StatusForbidden:
		default:
			t.Fatalf("unexpected status %d (all: %v)", s, statuses)
		}
	}
	if won != 1 {
		t.Fatalf("%d links won, want 1 (statuses %v)", won, statuses)
	}
	linked := 0
	for i := range n {
		d := decode(t, f.must("GET", fmt.Sprintf("/v1/monitors/m%d", i), nil, 200).body)
		if _, ok := d.(map[string]any)["data"].(map[string]any)["relationships"].(map[string]any)["servers"]; ok {
			linked++
		}
	}
	if linked != 1 {
		t.Fatalf("server3 is in %d monitors", linked)
	}
}
