// Package httpx is the request and response plumbing the API dialects
// share: reading a bounded body, checking it is JSON, writing JSON. Each
// dialect keeps its own error body and status mapping; this package only
// reports what went wrong.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrBodyTooLarge means the request body passed the server's size limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ErrBadJSON means the request body is not valid JSON; the wrapped message
// names the byte offset of the fault.
var ErrBadJSON = errors.New("request body is not valid JSON")

// ReadBody reads the whole request body. The server's middleware has
// already wrapped it in http.MaxBytesReader; passing the limit is reported
// as ErrBodyTooLarge.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("%w: the limit is %d bytes", ErrBodyTooLarge, tooLarge.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return b, nil
}

// ReadJSON reads the request body and checks that it is one JSON value,
// returning it compacted.
func ReadJSON(r *http.Request) (json.RawMessage, error) {
	b, err := ReadBody(r)
	if err != nil {
		return nil, err
	}
	return CheckJSON(b)
}

// CheckJSON checks that b is one JSON value and returns it compacted; a
// syntax error is reported with its byte offset.
func CheckJSON(b []byte) (json.RawMessage, error) {
	// Unmarshal, unlike Compact, reports the offset of a syntax error.
	var raw json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		var syn *json.SyntaxError
		switch {
		case len(b) == 0:
			return nil, fmt.Errorf("%w: the body is empty", ErrBadJSON)
		case errors.As(err, &syn):
			return nil, fmt.Errorf("%w: %v at offset %d", ErrBadJSON, syn, syn.Offset)
		default:
			return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	return buf.Bytes(), nil
}

// WriteJSON writes v as the JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Marshalled, not concatenated: the message may hold quotes.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"error": "encode response: " + err.Error(), "code": status})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
