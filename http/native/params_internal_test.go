package native

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node"
)

func Test_ParseParams_Valid(t *testing.T) {
	for _, c := range []struct {
		query string
		want  params
	}{
		{"", params{limit: defaultListLimit}},
		{"consistent", params{limit: defaultListLimit, consistency: Consistent}},
		{"consistent=true", params{limit: defaultListLimit, consistency: Consistent}},
		{"stale", params{limit: defaultListLimit, consistency: Stale}},
		{"index=7", params{limit: defaultListLimit, index: 7, wait: defaultWait}},
		{"index=7&wait=2s", params{limit: defaultListLimit, index: 7, wait: 2 * time.Second}},
		{"index=7&wait=1h", params{limit: defaultListLimit, index: 7, wait: maxWait}},
		{"limit=1", params{limit: 1}},
		{"limit=1000", params{limit: 1000}},
		{"prefix=ab", params{limit: defaultListLimit, prefix: "ab"}},
		{"continue=" + continueToken("id-07"), params{limit: defaultListLimit, after: "id-07"}},
		{"by=name&value=x", params{limit: defaultListLimit, by: "name", value: "x"}},
		{"by=name&value=", params{limit: defaultListLimit, by: "name"}},
	} {
		p, err := parseParams(httptest.NewRequest(http.MethodGet, "/x?"+c.query, nil))
		if err != nil {
			t.Errorf("?%s: %v", c.query, err)
			continue
		}
		if p != c.want {
			t.Errorf("?%s = %+v, want %+v", c.query, p, c.want)
		}
	}
}

func Test_ParseParams_Invalid_ErrBadRequest(t *testing.T) {
	for _, q := range []string{
		"consistent&stale", "index=-1", "index=x", "wait=x", "wait=-1s",
		"limit=0", "limit=1001", "limit=abc", "continue=%21%21", "continue=",
		"by=name", "value=x",
	} {
		_, err := parseParams(httptest.NewRequest(http.MethodGet, "/x?"+q, nil))
		if q == "continue=" {
			// An empty token is the same as none.
			if err != nil {
				t.Errorf("?%s: %v", q, err)
			}
			continue
		}
		if !errors.Is(err, errBadRequest) {
			t.Errorf("?%s: err = %v, want errBadRequest", q, err)
		}
	}
}

func Test_ParamsAccessors(t *testing.T) {
	p, err := parseParams(httptest.NewRequest(http.MethodGet, "/x?consistent&index=3&wait=10s", nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Consistency() != Consistent {
		t.Errorf("Consistency() = %v", p.Consistency())
	}
	if i, w := p.Wait(); i != 3 || w != 10*time.Second {
		t.Errorf("Wait() = %d, %s", i, w)
	}
	p, _ = parseParams(httptest.NewRequest(http.MethodGet, "/x", nil))
	if i, w := p.Wait(); i != 0 || w != 0 || p.Consistency() != Default {
		t.Errorf("no query: Wait() = %d, %s; Consistency() = %v", i, w, p.Consistency())
	}
}

func Test_ContinueToken_RoundTrips(t *testing.T) {
	for _, id := range []string{"a", "id-07", "with space/and+plus", "ünïcödé", strings.Repeat("z", fsm.MaxIDBytes)} {
		p, err := parseParams(httptest.NewRequest(http.MethodGet, "/x?continue="+continueToken(id), nil))
		if err != nil || p.after != id {
			t.Errorf("token for %q: after = %q, %v", id, p.after, err)
		}
	}
}

func Test_ParseETag(t *testing.T) {
	for in, want := range map[string]struct {
		v  uint64
		ok bool
	}{
		`"5"`: {5, true}, `5`: {5, true}, ` "12" `: {12, true},
		`"0"`: {0, false}, `W/"5"`: {0, false}, `"abc"`: {0, false}, `""`: {0, false}, `"-1"`: {0, false},
	} {
		v, ok := parseETag(in)
		if v != want.v || ok != want.ok {
			t.Errorf("parseETag(%q) = %d, %v; want %d, %v", in, v, ok, want.v, want.ok)
		}
	}
}

func Test_ETagListMatches(t *testing.T) {
	for _, c := range []struct {
		list    string
		version uint64
		want    bool
	}{
		{`"5"`, 5, true},
		{`W/"5"`, 5, true},
		{`"4", "5"`, 5, true},
		{`*`, 5, true},
		{`"4"`, 5, false},
		{`"abc"`, 5, false},
		{``, 5, false},
	} {
		if got := etagListMatches(c.list, c.version); got != c.want {
			t.Errorf("etagListMatches(%q, %d) = %v", c.list, c.version, got)
		}
	}
}

func Test_WritePrecondition(t *testing.T) {
	for _, c := range []struct {
		im, inm string
		require fsm.Require
		version uint64
		bad     bool
	}{
		{"", "", fsm.RequireNothing, 0, false},
		{"*", "", fsm.RequireExists, 0, false},
		{`"9"`, "", fsm.RequireVersion, 9, false},
		{`W/"9"`, "", fsm.RequireVersion, 0, false}, // never matches: 412
		{"", "*", fsm.RequireAbsent, 0, false},
		{"*", "*", "", 0, true},
		{`"1", "2"`, "", "", 0, true},
		{"", `"3"`, "", 0, true},
	} {
		r := httptest.NewRequest(http.MethodPut, "/x", nil)
		if c.im != "" {
			r.Header.Set("If-Match", c.im)
		}
		if c.inm != "" {
			r.Header.Set("If-None-Match", c.inm)
		}
		req, v, err := writePrecondition(r)
		if c.bad {
			if !errors.Is(err, errBadRequest) {
				t.Errorf("If-Match %q If-None-Match %q: err = %v, want errBadRequest", c.im, c.inm, err)
			}
			continue
		}
		if err != nil || req != c.require || v != c.version {
			t.Errorf("If-Match %q If-None-Match %q = %q, %d, %v; want %q, %d", c.im, c.inm, req, v, err, c.require, c.version)
		}
	}
}

func Test_StatusOf_Mapping(t *testing.T) {
	conflict := &fsm.Result{Conflict: &fsm.Conflict{Kind: "k", ID: "a", Version: 3, Require: fsm.RequireVersion}}
	clash := &fsm.Result{Conflict: &fsm.Conflict{Kind: "k", ID: "a", Index: "name", Value: "x", HolderID: "b"}}
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: k a", errNotFound), http.StatusNotFound},
		{errPrecondition, http.StatusPreconditionFailed},
		{conflict.Err(), http.StatusPreconditionFailed},
		{clash.Err(), http.StatusConflict},
		{fmt.Errorf("%w: x", errBadRequest), http.StatusBadRequest},
		{fmt.Errorf("%w: x", fsm.ErrInvalid), http.StatusBadRequest},
		{fmt.Errorf("%w: x", httpx.ErrBadJSON), http.StatusBadRequest},
		{fmt.Errorf("%w: x", fsm.ErrNoIndex), http.StatusBadRequest},
		{fmt.Errorf("%w: x", httpx.ErrBodyTooLarge), http.StatusRequestEntityTooLarge},
		{node.ErrNotLeader, http.StatusServiceUnavailable},
		{node.ErrNoLeader, http.StatusServiceUnavailable},
		{node.ErrTimeout, http.StatusServiceUnavailable},
		{node.ErrShutdown, http.StatusServiceUnavailable},
		{context.DeadlineExceeded, http.StatusServiceUnavailable},
		{context.Canceled, http.StatusServiceUnavailable},
		{errors.New("something else"), http.StatusInternalServerError},
	} {
		if got := statusOf(c.err); got != c.want {
			t.Errorf("statusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func Test_WriteError_503_RetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, http.StatusServiceUnavailable, "no leader")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("503: code %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if body := w.Body.String(); body != `{"error":"no leader","code":503}`+"\n" {
		t.Errorf("body %q", body)
	}
	w = httptest.NewRecorder()
	WriteError(w, http.StatusBadRequest, "bad")
	if w.Header().Get("Retry-After") != "" {
		t.Error("Retry-After on a 400")
	}
}
