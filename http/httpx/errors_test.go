package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Test_WriteDialectError_FoundThroughLaterWrappers: a writer wrapped
// around the marked one since (the audit's recorder) neither hides the
// dialect's format nor misses the answer.
func Test_WriteDialectError_FoundThroughLaterWrappers(t *testing.T) {
	rec := httptest.NewRecorder()
	var got int
	marked := WithErrors(rec, func(w http.ResponseWriter, status int, msg string) {
		got = status
		w.WriteHeader(status)
	})
	outer := wrapper{marked}
	if !WriteDialectError(outer, http.StatusRequestEntityTooLarge, "too big") || got != http.StatusRequestEntityTooLarge || rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("through a wrapper: written %v, status %d, recorded %d", got != 0, got, rec.Code)
	}
	if WriteDialectError(wrapper{httptest.NewRecorder()}, 413, "x") {
		t.Fatal("an unmarked writer claimed a format")
	}
}
