package api

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node"
	"cairn/node/nodetest"
)

// serveRaw serves s on a real listener (deadlines need a real connection)
// and returns a function sending one raw request (half-closed after the
// body if closeWrite), returning the status
// answered (0: closed without an answer) and how long it took.
func serveRaw(t *testing.T, s *Server) func(head, body string, closeWrite bool) (int, time.Duration) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	return func(head, body string, closeWrite bool) (int, time.Duration) {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		start := time.Now()
		io.WriteString(conn, head+"\r\nHost: x\r\n\r\n"+body)
		if closeWrite {
			conn.(*net.TCPConn).CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return 0, time.Since(start)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
}

func mustLeader(t *testing.T) *node.Node {
	t.Helper()
	return nodetest.MustLeader(t, node.Config{Zone: "z1", CommitTimeout: 5 * time.Millisecond, ApplyTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, fsm.Schema{})
}

// Test_Body_StalledOrBroken_408_400_413: a body that stops arriving gets
// 408 once bodyIdleTimeout passes without a byte (#13 item 3); a body
// shorter than its Content-Length or with a bad chunk is 400, one past the
// limit 413 (#13 item 7).
func Test_Body_StalledOrBroken_408_400_413(t *testing.T) {
	old := bodyIdleTimeout
	bodyIdleTimeout = 300 * time.Millisecond
	t.Cleanup(func() { bodyIdleTimeout = old })
	n := mustLeader(t)
	send := serveRaw(t, NewServer(n, NewLimits(4096, 10*time.Second), slog.New(slog.NewTextHandler(io.Discard, nil))))

	// Stalled: the connection stays open, the body never comes.
	got, took := send("PUT /cairn/v1/resources/t.item/a HTTP/1.1\r\nContent-Length: 100", "", false)
	if got != http.StatusRequestTimeout || took > 5*time.Second {
		t.Errorf("stalled body: %d after %s, want 408 after about %s", got, took, bodyIdleTimeout)
	}
	// Stalled, at a route that does not exist: a write's body of known
	// length is read before anything routes it (on the leader to admit
	// it, on a follower to forward it), so this too is 408 once the body
	// idles, never a wait for ever.
	got, took = send("PUT /nowhere HTTP/1.1\r\nContent-Length: 100", "", false)
	if got != http.StatusRequestTimeout || took > 5*time.Second {
		t.Errorf("stalled body of an unknown route: %d after %s, want 408 after about %s", got, took, bodyIdleTimeout)
	}
	// A read's body is not read first: an unknown route is 404 at once.
	got, took = send("GET /nowhere HTTP/1.1\r\nContent-Length: 100", "", false)
	if got != http.StatusNotFound || took > 5*time.Second {
		t.Errorf("stalled body of a read of an unknown route: %d after %s, want 404 at once", got, took)
	}
	if got, _ := send("PUT /cairn/v1/resources/t.item/a HTTP/1.1\r\nContent-Length: 100", `{"a":`, true); got != http.StatusBadRequest {
		t.Errorf("truncated body: %d, want 400", got)
	}
	for _, c := range []struct {
		what, head, body string
		want             int
	}{
		{"bad chunk", "PUT /cairn/v1/resources/t.item/a HTTP/1.1\r\nTransfer-Encoding: chunked", "zz\r\n{}\r\n0\r\n\r\n", http.StatusBadRequest},
		{"chunked past the limit", "PUT /cairn/v1/resources/t.item/a HTTP/1.1\r\nTransfer-Encoding: chunked",
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 8192, strings.Repeat("x", 8192)), http.StatusRequestEntityTooLarge},
	} {
		if got, _ := send(c.head, c.body, false); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
}
