package topology

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

// errBadRequest means the request is refused as the seed lists it (bad
// data, a name or port already taken, an unknown host or group on a
// create): 400.
var errBadRequest = errors.New("bad request")

// errNotFound means the host, group or service the path names does not
// exist: 404.
var errNotFound = errors.New("not found")

// errPropagation means the topology change could not be carried out on
// the node it concerns (an instance's files could not be written there):
// 500, as the seed says, and the topology is unchanged.
var errPropagation = errors.New("propagation failed")

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

// newError returns an error of kind whose message is exactly the sentence.
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
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, httpx.ErrBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, errUnavailable), errors.Is(err, fsm.ErrConflict), errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrDiskFault),
		errors.Is(err, node.ErrTimeout), errors.Is(err, node.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError // errPropagation and the unforeseen
}

// errorItem is one entry of the error body.
type errorItem struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// fail writes err as the Topology API's error body,
// {"errors":[{"code":<status>,"message":"..."}]}.
func fail(w http.ResponseWriter, err error) {
	httpx.MarkNotApplied(w, err)
	status := statusOf(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, status, map[string]any{"errors": []errorItem{{Code: status, Message: err.Error()}}})
}

// Owns reports whether path is under the Topology API, whose errors take
// its own body.
func Owns(path string) bool { return path == Prefix || strings.HasPrefix(path, Prefix+"/") }

// NotFound answers a /api/topology path no route matches.
func NotFound(w http.ResponseWriter, r *http.Request) {
	fail(w, notFound("no resource at %s", r.URL.Path))
}

// MethodNotAllowed answers a /api/topology path that exists, with a method
// it does not take.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	fail(w, newError(errMethod, "method %s is not allowed on %s", r.Method, r.URL.Path))
}

// errMethod means the resource exists but not for this method: 405.
var errMethod = errors.New("method not allowed")

// notApplied reports whether a failed write certainly changed nothing:
// refused by a check or a precondition, or never appended to the log.
func notApplied(err error) bool {
	return errors.Is(err, errBadRequest) || errors.Is(err, errNotFound) || errors.Is(err, errUnavailable) ||
		errors.Is(err, fsm.ErrConflict) || errors.Is(err, fsm.ErrInvalid) || node.NotApplied(err)
}

// WriteError answers status with msg in the Topology API's error body: for
// refusals made before a request reaches this API (authentication).
func WriteError(w http.ResponseWriter, status int, msg string) {
	httpx.WriteJSON(w, status, map[string]any{"errors": []errorItem{{Code: status, Message: msg}}})
}
