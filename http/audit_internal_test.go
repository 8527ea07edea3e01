package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cairn/http/httpx"
	"cairn/node/auth"
)

// Every write gets one audit line at info level naming the user an inner
// middleware authenticated ("anonymous" when none did), the method, the
// path and the status; reads get none.
func TestAudit_OneLinePerWrite(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{auditLog: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "audit")}
	h := s.audit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			// As an authentication middleware further in would.
			r = r.WithContext(httpx.WithPrincipal(r.Context(), auth.Principal{Name: u, Role: auth.RoleAdmin}))
		}
		if httpx.UserFrom(r.Context()) == "panic" {
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	do := func(method, path, user string) {
		r := httptest.NewRequest(method, path+"?secret=x", nil)
		if user != "" {
			r.Header.Set("X-Test-User", user)
		}
		func() {
			defer func() { recover() }()
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
	}
	do(http.MethodGet, "/cairn/v1/resources/w/a", "")
	do(http.MethodPut, "/cairn/v1/resources/w/a", "")
	do(http.MethodDelete, "/cairn/v1/resources/w/b", "alice")
	do(http.MethodPost, "/v1/servers", "panic")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d audit lines, want 3 (writes only):\n%s", len(lines), buf.String())
	}
	for i, want := range []string{
		`level=INFO msg="PUT /cairn/v1/resources/w/a by anonymous answered 201" component=audit user=anonymous method=PUT path=/cairn/v1/resources/w/a status=201`,
		`user=alice method=DELETE path=/cairn/v1/resources/w/b status=201`,
		`user=panic method=POST path=/v1/servers status=0`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s\nwant it to contain %s", i, lines[i], want)
		}
	}
	if strings.Contains(buf.String(), "secret") {
		t.Error("the audit line carries the query string")
	}
}
