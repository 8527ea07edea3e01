package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Test_Agent_PprofAddr_ServesProfilesOnItsOwnListener checks that
// -pprof-addr serves the runtime profiles on that address, and that the API
// listener does not serve them.
func Test_Agent_PprofAddr_ServesProfilesOnItsOwnListener(t *testing.T) {
	t.Parallel()
	pprofAddr := hostPort(freePorts(t, 1)[0])
	a := mustStartAgent(t, agentOpts{args: []string{"-pprof-addr", pprofAddr}})
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("GET pprof goroutine profile: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof goroutine profile: status %d, body %.200q", resp.StatusCode, body)
	}
	a.mustDo(http.MethodGet, "/debug/pprof/", nil, http.StatusNotFound)
}
