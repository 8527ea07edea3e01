package mrf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"cairn/cluster/deploy"
	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
)

// errNotFound means no management resource has the path asked for; its
// text is Fabric3's.
var errNotFound = errors.New("Management resource not found")

// errBadRequest means the request's body or parameters were refused.
var errBadRequest = errors.New("bad request")

// errConflict means the request clashes with the domain's state: the
// contribution already exists, is already deployed, or a zone's report is
// for an older deployment.
var errConflict = errors.New("conflict")

// errValidation means an archive was read but its contents are refused;
// the error is a *validationError carrying Fabric3's entity.
var errValidation = errors.New("validation error")

// statusValidation is Fabric3's HttpStatus.VALIDATION_ERROR.
const statusValidation = 420

// validationError is Fabric3's answer to a contribution it cannot
// validate: 420 with a body mapping each artifact at fault to its
// messages.
type validationError struct {
	errs map[string][]string
}

func (e *validationError) Error() string {
	names := make([]string, 0, len(e.errs))
	for n := range e.errs {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + strings.Join(e.errs[n], "; ")
	}
	return strings.Join(parts, "; ")
}

func (e *validationError) Unwrap() error { return errValidation }

// add records messages about artifact.
func (e *validationError) add(artifact string, messages ...string) {
	if e.errs == nil {
		e.errs = map[string][]string{}
	}
	e.errs[artifact] = append(e.errs[artifact], messages...)
}

// orNil is e as an error if it holds a message, else nil.
func (e *validationError) orNil() error {
	if len(e.errs) == 0 {
		return nil
	}
	return e
}

// fabricError is an error whose message is Fabric3's sentence as it
// stands ("Contribution not found: foo.jar") while it still maps, through
// kind, to its status code.
type fabricError struct {
	kind error
	msg  string
}

func (e *fabricError) Error() string { return e.msg }

func (e *fabricError) Unwrap() error { return e.kind }

// fabric returns an error of kind whose message is exactly the sentence
// formatted.
func fabric(kind error, format string, args ...any) error {
	return &fabricError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func validation(artifact string, messages ...string) error {
	ve := &validationError{}
	ve.add(artifact, messages...)
	return ve
}

// errUnavailable means the domain cannot answer right now (no controller
// known, no zone leader, an election); the client should retry.
var errUnavailable = errors.New("unavailable")

// errMethod means the resource exists but not for this method.
var errMethod = errors.New("method not allowed")

// statusOf maps an error to MRF's status code: the one place that knows it.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errBadRequest), errors.Is(err, httpx.ErrBadJSON), errors.Is(err, httpx.ErrBrokenBody):
		return http.StatusBadRequest
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errPending):
		return http.StatusGatewayTimeout
	case errors.Is(err, httpx.ErrBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, errValidation):
		return statusValidation
	case errors.Is(err, errConflict), errors.Is(err, fsm.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errUnavailable), errors.Is(err, deploy.ErrNoController), errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrDiskFault),
		errors.Is(err, node.ErrTimeout), errors.Is(err, node.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes err the way Fabric3 writes a ResourceException: the status,
// and the message as a JSON string (a validation error's entity instead:
// {"<artifact>": ["message", ...]}).
func fail(w http.ResponseWriter, err error) {
	httpx.MarkNotApplied(w, err) // a write the zone never took: safe to retry
	status := statusOf(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	var ve *validationError
	if errors.As(err, &ve) {
		httpx.WriteJSON(w, status, ve.errs)
		return
	}
	httpx.WriteJSON(w, status, err.Error())
}

// NotFound answers a /management path no route matches.
func NotFound(w http.ResponseWriter, r *http.Request) { fail(w, errNotFound) }

// MethodNotAllowed answers a /management path that exists, with a method it
// does not take.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	fail(w, fmt.Errorf("%w: %s %s", errMethod, r.Method, r.URL.Path))
}

// WriteError answers status with msg the way Fabric3 writes a
// ResourceException (the message as a JSON string): for refusals made
// before a request reaches this API (authentication).
func WriteError(w http.ResponseWriter, status int, msg string) {
	httpx.WriteJSON(w, status, msg)
}
