package apcera

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
)

// errBadRequest means the request is malformed or asks for what cannot
// be: 400 (request_invalid).
var errBadRequest = errors.New("bad request")

// errNotFound means the job, package, task or document named does not
// exist: 404 (resource_missing).
var errNotFound = errors.New("not found")

// errConflict means the write lost to the current state: a stale
// version_id, a policy document at another version, a package not in the
// state the call needs: 409.
var errConflict = errors.New("conflict")

// errMethod means the resource exists but not for this method: 405.
var errMethod = errors.New("method not allowed")

// errUnavailable means the zone cannot take the write now (an election,
// a write that lost every retry): 503, retry.
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

func conflict(format string, args ...any) error { return newError(errConflict, format, args...) }

// APIError is Apcera's error object (reference dialects.md, section D).
type APIError struct {
	Code            int    `json:"code"`
	Message         string `json:"message"`
	ClientSide      bool   `json:"client_side"`
	DuplicateKey    bool   `json:"duplicate_key"`
	RequestInvalid  bool   `json:"request_invalid"`
	ResourceMissing bool   `json:"resource_missing"`
	Retry           bool   `json:"retry"`
	TokenInvalid    bool   `json:"token_invalid"`
	TryAgainInMS    int    `json:"try_again_in_ms,omitempty"`
}

// statusOf maps an error to its status code: the one place that knows it.
func statusOf(err error) int {
	var c *fsm.Conflict
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, httpx.ErrBadJSON), errors.Is(err, httpx.ErrBrokenBody), errors.Is(err, fsm.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errConflict), errors.As(err, &c) && c.Index != "":
		return http.StatusConflict
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
	return http.StatusInternalServerError
}

// fail writes err as an APIError.
func fail(w http.ResponseWriter, err error) {
	httpx.MarkNotApplied(w, err)
	status := statusOf(err)
	msg := err.Error()
	var c *fsm.Conflict
	if errors.As(err, &c) && c.Index == "fqn" {
		msg = fmt.Sprintf("an object with FQN %s already exists", c.Value)
	}
	e := errorBody(status, msg)
	e.DuplicateKey = c != nil && c.Index != ""
	WriteAPIError(w, e)
}

func errorBody(status int, msg string) APIError {
	e := APIError{Code: status, Message: msg, ClientSide: status >= 400 && status < 500,
		RequestInvalid: status == http.StatusConflict, ResourceMissing: status == http.StatusNotFound,
		TokenInvalid: status == http.StatusUnauthorized}
	if status == http.StatusServiceUnavailable {
		e.Retry, e.TryAgainInMS = true, 1000
	}
	return e
}

// WriteAPIError writes e with its code as the status.
func WriteAPIError(w http.ResponseWriter, e APIError) {
	if e.Code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, e.Code, e)
}

// WriteError answers status with msg as an APIError: for refusals made
// before a request reaches this API (authentication).
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteAPIError(w, errorBody(status, msg))
}
