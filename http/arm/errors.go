package arm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
)

// errBadRequest means the request is refused for what it asks (bad data,
// a server already in a group, an unknown target): 400.
var errBadRequest = errors.New("bad request")

// errUnauthorized means credentials (a login's, a registration token) are
// wrong or missing: 401.
var errUnauthorized = errors.New("unauthorized")

// errForbidden means the caller may not do this: 403.
var errForbidden = errors.New("forbidden")

// errNotFound means the resource the path names does not exist: 404.
var errNotFound = errors.New("not found")

// errMethod means the resource exists but not for this method: 405.
var errMethod = errors.New("method not allowed")

// errDuplicate means a name or label is taken (an application of that
// name on that target, a node registered twice): 409.
var errDuplicate = errors.New("duplicate")

// errTooLarge means an uploaded file is over the artifact limit: 413.
var errTooLarge = errors.New("too large")

// errUnavailable means the zone cannot take the write now (an election,
// a write that lost every retry to concurrent ones): 503, retry.
var errUnavailable = errors.New("unavailable")

// apiError is an error whose message is the sentence the client reads,
// while it maps, through kind, to its status code.
type apiError struct {
	kind error
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func (e *apiError) Unwrap() error { return e.kind }

func newError(kind error, format string, args ...any) error {
	return &apiError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error { return newError(errBadRequest, format, args...) }

func notFound(format string, args ...any) error { return newError(errNotFound, format, args...) }

// statusOf maps an error to its status code: the one place that knows it.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, httpx.ErrBadJSON), errors.Is(err, httpx.ErrBrokenBody):
		return http.StatusBadRequest
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errDuplicate):
		return http.StatusConflict
	case errors.Is(err, httpx.ErrBodyTooLarge), errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, httpx.ErrBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, errUnavailable), errors.Is(err, fsm.ErrConflict), errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrDiskFault),
		errors.Is(err, node.ErrTimeout), errors.Is(err, node.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes err as the API's error body, {"message": "..."}, which is
// what Runtime Manager's CLI prints.
func fail(w http.ResponseWriter, err error) {
	httpx.MarkNotApplied(w, err)
	status := statusOf(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	WriteError(w, status, err.Error())
}

// WriteError answers status with msg in the API's error body: also for
// refusals made before a request reaches it (authentication).
func WriteError(w http.ResponseWriter, status int, msg string) {
	httpx.WriteJSON(w, status, map[string]string{"message": msg})
}

// Owns reports whether path is served by this API (the hybrid API or the
// accounts calls), whose errors take its body.
func Owns(path string) bool {
	return path == Prefix || strings.HasPrefix(path, Prefix+"/") || strings.HasPrefix(path, accountsBase+"/")
}

// NotFound answers a path of the API no route matches.
func NotFound(w http.ResponseWriter, r *http.Request) {
	fail(w, notFound("no resource at %s", r.URL.Path))
}

// MethodNotAllowed answers a path that exists, with a method it does not
// take.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	fail(w, newError(errMethod, "method %s is not allowed on %s", r.Method, r.URL.Path))
}

// CloseAfterPatch ends the connection after the answer to a PATCH of
// this API, on whichever node the client reached (before forwarding: a
// proxied answer loses hop-by-hop headers). Runtime Manager's CLI
// (anypoint-cli-v4: axios through follow-redirects) never ends a request
// whose answer arrives before it has ended its body stream, and its
// process then never exits: a restart's tiny form, answered at once by a
// nearby node, does that. A closed connection frees it; a PATCH is rare
// enough that the new connection costs nothing.
func CloseAfterPatch(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && Owns(r.URL.Path) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
