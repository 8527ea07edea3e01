package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"cairn/node"
)

// catchingUpFollower is a follower that has applied up to applied and
// forwarded what fw records; waitedFor is the last index a read waited for.
type catchingUpFollower struct {
	followerOf
	applied   uint64
	fw        *node.Forwarded
	waitedFor uint64
}

func (c *catchingUpFollower) AppliedIndex() uint64       { return c.applied }
func (c *catchingUpFollower) Forwarded() *node.Forwarded { return c.fw }
func (c *catchingUpFollower) WaitIndex(_ context.Context, index uint64) error {
	c.waitedFor = index
	return nil
}

// leaderOf is a catchingUpFollower that leads.
type leaderOf struct{ catchingUpFollower }

func (l *leaderOf) IsLeader() bool { return true }

// Test_Forwarder_PlainResourceRead_BehindItsOwnWrites_ServedByTheLeader: a
// follower that has not applied a write it forwarded, with none in flight,
// sends a plain resource read to the leader instead of waiting for the
// leader's next append; with a write in flight it waits; other reads stay
// local; and what it serves afterwards waits for the index the leader
// served at (no going back in time).
func Test_Forwarder_PlainResourceRead_BehindItsOwnWrites_ServedByTheLeader(t *testing.T) {
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cairn-Index", "42")
		io.WriteString(w, "leader")
	}))
	defer leader.Close()
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "local") })
	read := func(c *catchingUpFollower, path string, header http.Header) (int, string) {
		f := newForwarder(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for k, vs := range header {
			req.Header[k] = vs
		}
		rec := httptest.NewRecorder()
		f.wrap(local).ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	behind := func() *catchingUpFollower {
		c := &catchingUpFollower{followerOf: followerOf{"n2", leader.URL}, applied: 5, fw: &node.Forwarded{}}
		c.fw.NoteWrite(10)
		return c
	}
	const res = "/cairn/v1/resources/widget/w1"

	c := behind()
	if _, body := read(c, res, nil); body != "leader" {
		t.Errorf("a read behind the follower's own write, none in flight: served by %q, want the leader", body)
	}
	if got := c.fw.Floor(); got != 42 {
		t.Errorf("after the leader served a read at index 42, the follower's floor is %d", got)
	}
	c.applied = 10 // caught up with its write, not with the leader's read
	if _, body := read(c, res, nil); body != "local" || c.waitedFor != 42 {
		t.Errorf("caught up with its writes: served by %q after waiting for index %d; want local, after 42", body, c.waitedFor)
	}

	c = behind()
	done := c.fw.StartWrite()
	if _, body := read(c, res, nil); body != "local" || c.waitedFor != 10 {
		t.Errorf("a write in flight: served by %q after waiting for index %d; want local, after 10 (its append is due)", body, c.waitedFor)
	}
	done()

	for _, path := range []string{res + "?stale", res + "?index=3", "/cairn/v1/status", "/metrics", "/management/domain"} {
		if _, body := read(behind(), path, nil); body != "local" {
			t.Errorf("GET %s behind the follower's own write: served by %q, want local", path, body)
		}
	}

	// The leader is not known, refuses the connection, or is this node
	// (stepping down): served here, as before the forward was tried.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()
	for _, who := range []followerOf{{"n2", ""}, {"n2", closedURL}, {"n1", leader.URL}} {
		c := behind()
		c.followerOf = who
		if code, body := read(c, res, nil); body != "local" || c.waitedFor != 10 {
			t.Errorf("leader %v: %d %q after waiting for index %d; want local, after 10", who, code, body, c.waitedFor)
		}
	}

	// The leader (new, say) serves a read a member forwarded once it has
	// applied the index the member names; a client's header is ignored.
	var named string
	sawLeader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		named = r.Header.Get(ReadAfterHeader)
	}))
	defer sawLeader.Close()
	c = behind()
	c.leaderURL = sawLeader.URL
	read(c, res, nil)
	if named != "10" {
		t.Errorf("a read forwarded while behind the follower's write at 10 names %s: %q", ReadAfterHeader, named)
	}
	l2 := &leaderOf{catchingUpFollower{applied: 70, fw: &node.Forwarded{}}}
	for _, h := range []struct {
		header http.Header
		want   uint64
	}{
		{http.Header{HopHeader: {"n3"}, ReadAfterHeader: {"77"}}, 77},
		{http.Header{ReadAfterHeader: {"77"}}, 0},
		{http.Header{HopHeader: {"client"}, ReadAfterHeader: {"77"}}, 0},
	} {
		l2.waitedFor = 0
		f := newForwarder(l2, slog.New(slog.NewTextHandler(io.Discard, nil)))
		req := httptest.NewRequest(http.MethodGet, res, nil)
		for k, vs := range h.header {
			req.Header[k] = vs
		}
		f.wrap(local).ServeHTTP(httptest.NewRecorder(), req)
		if l2.waitedFor != h.want {
			t.Errorf("leader, headers %v: waited for index %d, want %d", h.header, l2.waitedFor, h.want)
		}
	}

	// Another member forwarded it: this node, no longer the leader, may
	// lack that member's writes, so it answers 503 rather than serve it.
	c = &catchingUpFollower{followerOf: followerOf{"n2", leader.URL}, applied: 10, fw: &node.Forwarded{}}
	if code, body := read(c, res, http.Header{HopHeader: {"n3"}}); code != http.StatusServiceUnavailable {
		t.Errorf("a read another member forwarded, at a follower: %d %q, want 503", code, body)
	}
}
