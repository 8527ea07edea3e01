package api

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// serverErrorLog is net/http's error log for a listener: its lines at
// warn level, except failed TLS handshakes, which go to debug: a load
// balancer's TCP health check or a port scan makes one every few seconds,
// and none is the server's fault.
func serverErrorLog(l *slog.Logger) *log.Logger {
	return log.New(errorLogWriter{l}, "", 0)
}

type errorLogWriter struct{ l *slog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	level := slog.LevelWarn
	if bytes.HasPrefix(p, []byte("http: TLS handshake error")) {
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
