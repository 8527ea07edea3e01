package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/http/native"
	"cairn/node"
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

// leaderWithSlots is a Leadership that leads and admits writes into a
// fixed number of slots, as node.Node.AdmitWrite does.
type leaderWithSlots struct {
	followerOf
	slots chan struct{}
}

func (l leaderWithSlots) IsLeader() bool { return true }

func (l leaderWithSlots) AdmitWrite(ctx context.Context) (context.Context, func(), error) {
	select {
	case l.slots <- struct{}{}:
		return ctx, func() { <-l.slots }, nil
	default:
		return ctx, nil, node.ErrOverloaded
	}
}

// On the leader, a write takes a slot once its body is in, for its whole
// handling: with the slots taken another write is refused (503, not
// applied) without reaching its handler, a read still passes, and a
// client still sending its body holds no slot meanwhile.
func Test_Forwarder_Leader_AdmitsWritesIntoItsSlots(t *testing.T) {
	l := leaderWithSlots{slots: make(chan struct{}, 1)}
	f := newForwarder(l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hold := make(chan struct{})
	var reached atomic.Int32
	h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.URL.Path == "/cairn/v1/resources/k/held" {
			<-hold
		}
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	serve := func(method, target string, body io.Reader) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, target, body)
		if r.ContentLength < 0 {
			r.ContentLength = int64(len(`{"a":1}`)) // the slow body's, declared
		}
		h.ServeHTTP(w, r)
		return w
	}

	// A body still being sent holds no slot: another write is served.
	slowBody, sendRest := io.Pipe()
	slow := make(chan int)
	go func() { slow <- serve(http.MethodPut, "/cairn/v1/resources/k/slow", slowBody).Code }()
	sendRest.Write([]byte(`{"a":`))
	if w := serve(http.MethodPut, "/cairn/v1/resources/k/other", strings.NewReader(`{}`)); w.Code != http.StatusOK {
		t.Fatalf("a write while another's body is still coming: %d %s", w.Code, w.Body)
	}
	sendRest.Write([]byte(`1}`))
	sendRest.Close()
	if code := <-slow; code != http.StatusOK {
		t.Fatalf("the slow write: %d", code)
	}

	held := make(chan int)
	go func() { held <- serve(http.MethodPut, "/cairn/v1/resources/k/held", strings.NewReader(`{}`)).Code }()
	for len(l.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	before := reached.Load()
	w := serve(http.MethodPost, "/cairn/v1/resources/k/refused", strings.NewReader(`{}`))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(native.AppliedHeader) != "false" || !strings.Contains(w.Body.String(), "overloaded") {
		t.Errorf("a write with every slot taken: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if reached.Load() != before {
		t.Error("the refused write reached its handler")
	}
	if w := serve(http.MethodGet, "/cairn/v1/resources/k/x", nil); w.Code != http.StatusOK {
		t.Errorf("a read with every slot taken: %d", w.Code)
	}
	close(hold)
	if code := <-held; code != http.StatusOK {
		t.Errorf("the held write: %d", code)
	}
	if len(l.slots) != 0 {
		t.Error("a slot is still taken after every write ended")
	}
}
