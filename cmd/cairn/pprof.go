package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"cairn/node/tlsconfig"
)

// pprofMaxConcurrent bounds the profiles served at once: each costs CPU,
// and an operator takes one or two at a time.
const pprofMaxConcurrent = 4

// servePprof serves Go's runtime profiles (net/http/pprof) on addr, on a
// listener and mux of their own: the profiles expose the process's
// internals and can cost CPU, so they are never reachable through the API
// listener, and only when -pprof-addr asks for them. Like every listener
// it is HTTPS when TLS is on and has timeouts, a body limit and a
// concurrency cap. The returned function stops the listener.
func servePprof(addr string, tc *tlsconfig.Config, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on -pprof-addr %s: %w", addr, err)
	}
	if tc.Enabled() {
		ln = tls.NewListener(ln, tc.HTTPServer())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	slots := make(chan struct{}, pprofMaxConcurrent)
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("serving the limit of %d profiles at once; retry", pprofMaxConcurrent), http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(limited, 64<<10), // symbol lookups are small
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       20 * time.Second,
		// Above the longest profile or trace an operator asks for
		// (?seconds=, which pprof refuses beyond WriteTimeout).
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log = log.With("component", "pprof")
	log.Info("serving pprof profiles on " + tc.Scheme() + "://" + ln.Addr().String() + " under /debug/pprof/")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}
