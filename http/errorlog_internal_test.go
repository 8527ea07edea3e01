package api

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestServerErrorLog_HandshakeFailuresAtDebug(t *testing.T) {
	var buf bytes.Buffer
	l := serverErrorLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Print("http: TLS handshake error from 127.0.0.1:5000: EOF")
	l.Print("http: Accept error: too many open files; retrying in 5ms")
	out := buf.String()
	if !strings.Contains(out, `level=DEBUG msg="http: TLS handshake error from 127.0.0.1:5000: EOF"`) ||
		!strings.Contains(out, `level=WARN msg="http: Accept error: too many open files; retrying in 5ms"`) {
		t.Fatalf("log:\n%s", out)
	}
}
