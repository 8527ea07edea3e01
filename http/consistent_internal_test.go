package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"cairn/http/httpx"
	"cairn/node"
)

// deposedLeader believes it leads, but a quorum no longer confirms it.
type deposedLeader struct{ barriers int }

func (d *deposedLeader) ID() string                                    { return "n1" }
func (d *deposedLeader) IsLeader() bool                                { return true }
func (d *deposedLeader) Leader() (string, string)                      { return "n1", "http://n1" }
func (d *deposedLeader) WaitIndex(ctx context.Context, _ uint64) error { return nil }
func (d *deposedLeader) AppliedIndex() uint64                          { return 0 }
func (d *deposedLeader) Forwarded() *node.Forwarded                    { return &node.Forwarded{} }
func (d *deposedLeader) Servers() ([]node.Server, error)               { return nil, nil }
func (d *deposedLeader) ReadBarrier(ctx context.Context) error {
	d.barriers++
	return node.ErrNotLeader
}

// Every dialect's ?consistent read passes the read barrier in the
// forwarding layer: a deposed leader answers 503, never its local view;
// plain reads are served locally as before.
func Test_Forwarder_ConsistentReadOfEveryDialect_PassesTheBarrier(t *testing.T) {
	for _, path := range []string{
		"/cairn/v1/resources/widget/w1",
		"/management/domain/contributions",
		"/maxscale/v1/servers",
		"/v1/servers", // MaxScale's own listener
	} {
		d := &deposedLeader{}
		f := newForwarder(d, slog.New(slog.NewTextHandler(io.Discard, nil)))
		served := false
		h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served = true
			if r.URL.Query().Has("consistent") && !httpx.ReadBarrierDone(r.Context()) {
				t.Errorf("%s: served a consistent read without the barrier mark", path)
			}
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?consistent", nil))
		if rec.Code != http.StatusServiceUnavailable || served || d.barriers != 1 {
			t.Errorf("%s?consistent on a deposed leader: %d, served %v, barriers %d; want 503, not served, 1 barrier", path, rec.Code, served, d.barriers)
		}
		served = false
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if !served || d.barriers != 1 {
			t.Errorf("%s (default read): served %v, barriers %d; want served locally without a barrier", path, served, d.barriers)
		}
	}
}
