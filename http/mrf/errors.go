package mrf

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
)

// errNotFound means no management resource has the path asked for; its
// text is Fabric3's.
var errNotFound = errors.New("Management resource not found")

// errBadRequest means the request's body or parameters were refused.
var errBadRequest = errors.New("bad request")

// errNotBuilt means the resource is in the seed but Cairn does not serve it
// yet.
var errNotBuilt = errors.New("not built yet")

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
	case errors.Is(err, errBadRequest), errors.Is(err, httpx.ErrBadJSON):
		return http.StatusBadRequest
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errNotBuilt):
		return http.StatusNotImplemented
	case errors.Is(err, fsm.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errUnavailable), errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrNoLeader),
		errors.Is(err, node.ErrTimeout), errors.Is(err, node.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes err the way Fabric3 writes a ResourceException without an
// entity: the status, and the message as a JSON string.
func fail(w http.ResponseWriter, err error) {
	status := statusOf(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
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
