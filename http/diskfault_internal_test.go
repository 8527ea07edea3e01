package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"cairn/node"
)

// faultyFollower is a follower whose disk failed.
type faultyFollower struct{ followerOf }

func (faultyFollower) DiskFault() error {
	return &node.DiskFault{Op: "append entries to the raft log", Kind: "no space left on device (ENOSPC)", Err: syscall.ENOSPC}
}

// Test_Forwarder_DiskFault_RefusesWritesNotReads: a node with a disk fault
// answers a write itself, 503, certainly not applied, naming the fault,
// rather than forward it (it could not apply it); reads are served.
func Test_Forwarder_DiskFault_RefusesWritesNotReads(t *testing.T) {
	f := newForwarder(faultyFollower{followerOf{"n2", "http://192.0.2.2:1"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	served := 0
	h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/cairn/v1/resources/widget/w1", strings.NewReader(`{}`)))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("X-Cairn-Applied") != "false" ||
		!strings.Contains(rec.Body.String(), "disk fault") || !strings.Contains(rec.Body.String(), "ENOSPC") {
		t.Fatalf("a write on a node with a disk fault: %d (X-Cairn-Applied %q) %s", rec.Code, rec.Header().Get("X-Cairn-Applied"), rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cairn/v1/resources/widget/w1", nil))
	if served != 1 {
		t.Fatalf("a read on a node with a disk fault was not served here (%d %s)", rec.Code, rec.Body)
	}
}
