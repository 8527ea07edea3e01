package api

import (
	"fmt"
	"net/http"

	"cairn/http/httpx"
)

// isWrite reports whether a request may change state: anything but GET,
// HEAD and OPTIONS.
func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// audit logs one line at info level for every write this listener
// answers, whatever the answer (a refusal, a forward, a 503 of the
// limits): who (httpx.UserFrom: the principal that authentication
// further in, or the MaxScale API's own, put in the slot made here;
// "anonymous" when none), what (method and path, never the query
// or the body, which may hold secrets), the status, and where from. A
// forwarded write is logged by the node that received it and by the
// leader that served it (forwarded_by names the first); a native resource
// write whose command a follower sent the leader (node.ForwardCommand) is
// logged by the follower alone: the leader gets no request.
func (s *Server) audit(next http.Handler) http.Handler {
	log := s.auditLog
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isWrite(r) {
			next.ServeHTTP(w, r)
			return
		}
		r = r.WithContext(httpx.WithPrincipalSlot(r.Context()))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// Deferred: an aborted answer (http.ErrAbortHandler, which
			// recoverPanics further in passes on) is still logged, as
			// status 0 when nothing had been written.
			v := recover()
			user := httpx.UserFrom(r.Context())
			status := rec.status
			if status == 0 && v == nil {
				status = http.StatusOK // nothing written: net/http answers 200
			}
			attrs := []any{"user", user, "method", r.Method, "path", r.URL.Path, "status", status, "remote", r.RemoteAddr}
			if by := r.Header.Get(HopHeader); by != "" {
				attrs = append(attrs, "forwarded_by", by)
			}
			log.Info(fmt.Sprintf("%s %s by %s answered %d", r.Method, r.URL.Path, user, status), attrs...)
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
