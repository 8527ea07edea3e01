package api

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends a request and never reads the answer (a slow read)
// holds its connection only until the request's deadline and writeGrace:
// the handler's writes then fail and it ends.
func Test_Limits_SlowReader_WriteDeadline(t *testing.T) {
	old := writeGrace
	writeGrace = 200 * time.Millisecond
	t.Cleanup(func() { writeGrace = old })
	ended := make(chan error, 1)
	s := &Server{limits: NewLimits(1<<20, time.Second), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.handler = s.applyLimits(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				ended <- err
				return
			}
		}
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-ended:
		if took := time.Since(start); took < time.Second {
			t.Fatalf("the write failed after %s, before the request's deadline: %v", took, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that reads nothing held the handler past its deadline and writeGrace")
	}
}
