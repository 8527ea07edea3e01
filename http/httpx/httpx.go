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
	"net"
	"net/http"
	"os"

	"cairn/fsm"
)

// ErrBodyTooLarge means the request body passed the server's size limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ErrBodyTimeout means the client stopped sending the request body before
// it was complete (the read deadline passed): 408 in every dialect.
var ErrBodyTimeout = errors.New("request body timed out")

// ErrBrokenBody means the request body's framing is broken: shorter than
// its Content-Length, or a malformed chunk. A client's fault: 400 in every
// dialect, never a server or leader failure.
var ErrBrokenBody = errors.New("request body is broken")

// ErrBadJSON means the request body is not valid JSON; the wrapped message
// names the byte offset of the fault.
var ErrBadJSON = errors.New("request body is not valid JSON")

// preallocBodyBytes bounds the buffer ReadBody sizes from Content-Length
// before reading: a larger body still grows as it arrives, so a claimed
// length alone cannot make the node allocate much.
const preallocBodyBytes = 1 << 20

// ReadBody reads the whole request body. The server's middleware has
// already wrapped it in http.MaxBytesReader; passing the limit is reported
// as ErrBodyTooLarge. A MemoryBody none of which was read is taken as it
// is, without a copy.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if m, ok := r.Body.(*MemoryBody); ok && m.Unread() {
		m.read = true
		m.r.Reset(nil) // read to its end, as by a Read
		return m.b, nil
	}
	var b []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= preallocBodyBytes {
		// The size is known: read into one buffer of it (plus the byte
		// that sees EOF) rather than grow one from 512 bytes.
		b, err = readAllInto(make([]byte, 0, n+1), r.Body)
	} else {
		b, err = io.ReadAll(r.Body)
	}
	if err != nil {
		return nil, BodyError(err)
	}
	return b, nil
}

// MemoryBody is a request body held whole in memory, which a middleware
// read first (a write admitted, or forwarded, only once its body is in):
// it can be sent again while none of it has been read, and ReadBody
// takes it without a copy. Close does nothing: the server closes the
// request's own body when the request ends.
type MemoryBody struct {
	b    []byte
	r    bytes.Reader
	read bool
}

// NewMemoryBody returns a body of b.
func NewMemoryBody(b []byte) *MemoryBody {
	m := &MemoryBody{b: b}
	m.r.Reset(b)
	return m
}

func (m *MemoryBody) Read(p []byte) (int, error) {
	m.read = true
	return m.r.Read(p)
}

func (m *MemoryBody) Close() error { return nil }

// Unread reports whether none of the body has been read.
func (m *MemoryBody) Unread() bool { return !m.read }

// BodyError classifies an error reading a request body: ErrBodyTooLarge,
// ErrBodyTimeout or ErrBrokenBody, each with a sentence for the client.
func BodyError(err error) error {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.Is(err, ErrBodyTooLarge), errors.Is(err, ErrBodyTimeout), errors.Is(err, ErrBrokenBody):
		return err
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: the limit is %d bytes", ErrBodyTooLarge, tooLarge.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: the client sent no more of it in time", ErrBodyTimeout)
	}
	return fmt.Errorf("%w: %w", ErrBrokenBody, err)
}

// readAllInto is io.ReadAll appending to b.
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
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

// CheckJSON checks that b is one JSON value within the store's limits
// (fsm.CheckBody: valid UTF-8, nesting) and returns it compacted; a syntax
// error is reported with its byte offset.
func CheckJSON(b []byte) (json.RawMessage, error) {
	if fsm.Canonical(b) {
		// Already compact (the common case for a client's generated
		// body): validated by the faster reader, returned as it is.
		if err := fsm.CheckValidBody(b); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
		return b, nil
	}
	// Compact validates as it goes, so a valid body costs one pass; only a
	// body it refuses is parsed again, by Unmarshal, which unlike Compact
	// reports the offset of a syntax error.
	buf := bytes.NewBuffer(make([]byte, 0, len(b)))
	if err := json.Compact(buf, b); err == nil {
		// The store's own limits (UTF-8, nesting), checked here too so a
		// client hears of them before anything is proposed.
		if err := fsm.CheckValidBody(buf.Bytes()); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
		return buf.Bytes(), nil
	}
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	var syn *json.SyntaxError
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%w: the body is empty", ErrBadJSON)
	case errors.As(err, &syn):
		return nil, fmt.Errorf("%w: %v at offset %d", ErrBadJSON, syn, syn.Offset)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
	default:
		return nil, fmt.Errorf("%w: the body is not one JSON value", ErrBadJSON)
	}
}

// JSONAppender is a value that writes its own JSON (what json.Marshal
// would give), faster than reflection: fsm.Resource.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// WriteJSON writes v as the JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	if a, ok := v.(JSONAppender); ok {
		b = a.AppendJSON(nil) // it sizes its buffer
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		// Marshalled, not concatenated: the message may hold quotes.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"error": "encode response: " + err.Error(), "code": status})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
