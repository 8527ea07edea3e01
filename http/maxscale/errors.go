package maxscale

import (
	"context"
	"errors"
	"net/http"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
)

// errNotFound means the server, service or monitor named in the path does
// not exist; MaxScale answers 404 with no body.
var errNotFound = errors.New("not found")

// errRefused means a write was refused: a validation failure, a duplicate,
// an object in use, an unknown related object. MaxScale answers 403.
var errRefused = errors.New("refused")

// errCorrupt means a stored record does not decode (written around this
// API before kinds had owners). Lists skip it and DELETE removes it; only a
// read of that one record answers 500, the server's fault, not the
// client's.
var errCorrupt = errors.New("corrupt record")

// errUnavailable means the node cannot answer now (no signing key yet):
// 503, retry.
var errUnavailable = errors.New("service unavailable")

// errUnauthorized means the request carried no valid admin credentials.
var errUnauthorized = errors.New("Access denied")

// errorsBody is MaxScale's error document: {"errors":[{"detail":"..."}]}.
type errorsBody struct {
	Errors []errorDetail `json:"errors"`
}

type errorDetail struct {
	Detail string `json:"detail"`
}

// refuse builds an errRefused whose detail is msg.
func refuse(msg string) error { return &detailError{msg: msg, kind: errRefused} }

// detailError carries the sentence a client sees as the error's detail.
type detailError struct {
	msg  string
	kind error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.kind }

// statusOf maps an error to MaxScale's status code: the one place that
// knows the mapping. Every failed write a client caused is 403, as MaxScale
// answers (an invalid JSON body included, as the seed says).
func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, httpx.ErrBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, httpx.ErrBrokenBody):
		return http.StatusBadRequest
	case errors.Is(err, errRefused), errors.Is(err, httpx.ErrBadJSON), errors.Is(err, fsm.ErrConflict),
		errors.Is(err, fsm.ErrInvalid):
		return http.StatusForbidden
	case errors.Is(err, errUnavailable), errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrDiskFault), errors.Is(err, node.ErrTimeout),
		errors.Is(err, node.ErrShutdown), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes err as MaxScale would: 404 without a body, everything else
// with the errors document.
func fail(w http.ResponseWriter, err error) {
	httpx.MarkNotApplied(w, err) // a write the zone never took: safe to retry
	status := statusOf(err)
	switch status {
	case http.StatusNotFound:
		w.WriteHeader(status)
		return
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="maxscale"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	msg := err.Error()
	if errors.Is(err, httpx.ErrBadJSON) {
		msg = "Invalid JSON in request: " + msg
	}
	httpx.WriteJSON(w, status, errorsBody{Errors: []errorDetail{{Detail: msg}}})
}

// WriteError writes status and msg as MaxScale answers an error: its
// errors document (404 without a body, as MaxScale's). The shared
// middleware uses it for requests to this API (api.DialectErrors).
func WriteError(w http.ResponseWriter, status int, msg string) {
	switch status {
	case http.StatusNotFound:
		w.WriteHeader(status)
		return
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="maxscale"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, status, errorsBody{Errors: []errorDetail{{Detail: msg}}})
}
