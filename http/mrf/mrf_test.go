package mrf_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"cairn/http/mrf"

	"github.com/gorilla/mux"
)

func Test_Domain_SelfLinkFromBaseURL_NotHost(t *testing.T) {
	r := mux.NewRouter()
	mrf.Register(r, "http://controller.test:8180")
	req := httptest.NewRequest(http.MethodGet, "http://other.example:9999/management/domain", nil)
	req.Host = "other.example:9999"
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var doc map[string]mrf.Link
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	want := mrf.Link{Name: "self", Rel: "self", Href: "http://controller.test:8180/management/domain"}
	if doc["selfLink"] != want {
		t.Errorf("selfLink = %+v, want %+v", doc["selfLink"], want)
	}
}

func Test_Domain_WrongMethod_405(t *testing.T) {
	r := mux.NewRouter()
	mrf.Register(r, "http://controller.test:8180")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/management/domain", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", w.Code)
	}
}
