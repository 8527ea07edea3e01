package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/http/native"
)

// While the node is at its bound of writes in flight, a write is refused
// with 503, Retry-After and "not applied" before anything reads its body;
// reads (consistent ones included) still pass, and so does a write once
// the bound frees.
func Test_Limits_Overloaded_ShedsWritesBeforeReadingThem(t *testing.T) {
	var overloaded atomic.Bool
	reached := 0
	s := &Server{limits: NewLimits(1<<20, time.Second), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		overloaded: overloaded.Load}
	h := s.applyLimits(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	do := func(method, target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(`{"a":1}`)))
		return w
	}
	overloaded.Store(true)
	for _, m := range []string{http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch} {
		w := do(m, "/cairn/v1/resources/k/i")
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || w.Header().Get(native.AppliedHeader) != "false" ||
			!strings.Contains(w.Body.String(), "overloaded") {
			t.Errorf("%s while overloaded: %d %v %s", m, w.Code, w.Header(), w.Body)
		}
	}
	if reached != 0 {
		t.Fatalf("%d shed writes reached the handler", reached)
	}
	for _, target := range []string{"/cairn/v1/resources/k/i", "/cairn/v1/resources/k/i?consistent"} {
		if w := do(http.MethodGet, target); w.Code != http.StatusOK {
			t.Errorf("GET %s while overloaded: %d", target, w.Code)
		}
	}
	overloaded.Store(false)
	if w := do(http.MethodPut, "/cairn/v1/resources/k/i"); w.Code != http.StatusOK || reached != 3 {
		t.Errorf("PUT once the bound freed: %d, handler reached %d times", w.Code, reached)
	}
}

// A follower forwarding its limit of requests refuses one more at once,
// not applied, and counts it; the next is forwarded once a slot frees.
func Test_Forwarder_Saturated_RefusesAtOnce(t *testing.T) {
	release := make(chan struct{})
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	defer leader.Close()
	f := newForwarder(followerOf{leaderID: "n2", leaderURL: leader.URL}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.forwarding = make(chan struct{}, 1)
	h := f.wrap(http.NotFoundHandler())
	first := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/cairn/v1/resources/k/1", strings.NewReader(`{}`)))
		first <- w.Code
	}()
	for !f.saturated() {
		time.Sleep(time.Millisecond)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/cairn/v1/resources/k/2", strings.NewReader(`{}`)))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(native.AppliedHeader) != "false" || !strings.Contains(w.Body.String(), "limit of 1") {
		t.Errorf("a forward beyond the bound: %d %v %s", w.Code, w.Header(), w.Body)
	}
	close(release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("the forward within the bound: %d", code)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/cairn/v1/resources/k/3", strings.NewReader(`{}`)))
	if w.Code != http.StatusOK {
		t.Errorf("a forward once the slot freed: %d", w.Code)
	}
}
