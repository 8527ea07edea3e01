package native

import (
	"context"
	"errors"
	"net/http"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
	"cairn/node/auth"
)

// errNotFound means the resource asked for does not exist.
var errNotFound = errors.New("not found")

// errPrecondition means an If-Match or If-None-Match header did not hold.
var errPrecondition = errors.New("precondition failed")

// errForbidden means the kind is not this API's to write or read: a
// dialect owns it (and checks what it stores), or it holds secrets.
var errForbidden = errors.New("forbidden")

// errBadRequest means the request's parameters or headers are malformed.
var errBadRequest = errors.New("bad request")

// ErrorBody is the native API's error document.
type ErrorBody struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// AppliedHeader is the header that says a failed write was certainly not
// applied (httpx.AppliedHeader).
const AppliedHeader = httpx.AppliedHeader

// WriteNotApplied writes the native error document with status for a write
// that was certainly not applied.
func WriteNotApplied(w http.ResponseWriter, status int, msg string) {
	w.Header().Set(AppliedHeader, "false")
	WriteError(w, status, msg)
}

// WriteError writes the native error document with status, or, on a
// request marked with another API's format (httpx.WithErrors: the
// middleware answering for that API), that API's.
func WriteError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if httpx.WriteDialectError(w, status, msg) {
		return
	}
	httpx.WriteJSON(w, status, ErrorBody{Error: msg, Code: status})
}

// statusOf maps an error to the native API's status code: the one place that
// knows the mapping.
func statusOf(err error) int {
	var conflict *fsm.Conflict
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errPrecondition):
		return http.StatusPreconditionFailed
	case errors.As(err, &conflict) && conflict.Index != "":
		return http.StatusConflict // a unique index is held by another resource
	case errors.Is(err, fsm.ErrConflict):
		return http.StatusPreconditionFailed
	case errors.Is(err, auth.ErrLastAdmin):
		return http.StatusConflict
	case errors.Is(err, auth.ErrNoKey):
		return http.StatusServiceUnavailable
	case errors.Is(err, errBadRequest), errors.Is(err, fsm.ErrInvalid), errors.Is(err, httpx.ErrBadJSON), errors.Is(err, auth.ErrInvalid),
		errors.Is(err, fsm.ErrNoIndex), errors.Is(err, node.ErrBadBackup):
		return http.StatusBadRequest
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, httpx.ErrBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, httpx.ErrBrokenBody):
		return http.StatusBadRequest
	case errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrDiskFault), errors.Is(err, node.ErrTimeout),
		errors.Is(err, node.ErrShutdown), errors.Is(err, node.ErrCredentialsChanged), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes err as the native error document.
func fail(w http.ResponseWriter, err error) {
	WriteError(w, statusOf(err), err.Error())
}
