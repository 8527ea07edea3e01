package httpx

import "net/http"

// ErrorFunc writes an error answer in one API's own error format.
type ErrorFunc func(w http.ResponseWriter, status int, msg string)

// dialectWriter carries the error format of the API a request is for
// down through the shared middleware (limits, forwarding, panics), whose
// errors would otherwise be in the native format.
type dialectWriter struct {
	http.ResponseWriter
	write ErrorFunc
}

// Unwrap lets http.ResponseController reach the connection.
func (d *dialectWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// WithErrors returns w marked so that WriteDialectError answers in
// write's format.
func WithErrors(w http.ResponseWriter, write ErrorFunc) http.ResponseWriter {
	return &dialectWriter{ResponseWriter: w, write: write}
}

// WriteDialectError writes status and msg in the format WithErrors marked
// w with, and reports whether it did (false: w carries no format; the
// caller writes its own).
//
// The mark is found through writers wrapped around it since (those that
// Unwrap, as the audit's recorder does), and the answer goes through w,
// so that they see it too.
func WriteDialectError(w http.ResponseWriter, status int, msg string) bool {
	for inner := w; ; {
		if d, ok := inner.(*dialectWriter); ok {
			d.write(w, status, msg)
			return true
		}
		u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		inner = u.Unwrap()
	}
}
