package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"cairn/http/ui"

	"github.com/gorilla/mux"
)

func mustServe(t *testing.T) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	ui.Register(r)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return ts
}

func mustGet(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Transport{}).RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func Test_Root_RedirectsToConsole(t *testing.T) {
	ts := mustServe(t)
	for _, p := range []string{"/", "/ui"} {
		resp, _ := mustGet(t, ts.URL+p)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
			t.Errorf("GET %s: %d Location %q; want 302 to /ui/", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func Test_Files_ServedWithTypesAndETags(t *testing.T) {
	ts := mustServe(t)
	for path, ct := range map[string]string{"/ui/": "text/html", "/ui/index.html": "text/html", "/ui/app.js": "javascript", "/ui/app.css": "text/css"} {
		resp, body := mustGet(t, ts.URL+path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), ct) || body == "" {
			t.Fatalf("GET %s: %d %q, %d bytes; want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ct)
		}
		tag := resp.Header.Get("ETag")
		if again, _ := mustGet(t, ts.URL+path, "If-None-Match", tag); tag == "" || again.StatusCode != http.StatusNotModified {
			t.Fatalf("GET %s with If-None-Match %q: %d; want 304", path, tag, again.StatusCode)
		}
	}
	if resp, _ := mustGet(t, ts.URL+"/ui/nope.js"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /ui/nope.js: %d, want 404", resp.StatusCode)
	}
}

// The console works offline: no file names anything on another host, and
// the page loads only its own files.
func Test_Files_FetchNothingFromTheNetwork(t *testing.T) {
	ts := mustServe(t)
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"']`)
	for _, p := range []string{"/ui/", "/ui/app.js", "/ui/app.css"} {
		_, body := mustGet(t, ts.URL+p)
		if m := remote.FindString(body); m != "" {
			t.Errorf("%s names a remote URL: %s", p, m)
		}
	}
	_, index := mustGet(t, ts.URL+"/ui/")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(index, -1) {
		if strings.HasPrefix(m[1], "data:") {
			continue
		}
		if resp, _ := mustGet(t, ts.URL+"/ui/"+m[1]); resp.StatusCode != http.StatusOK {
			t.Errorf("index.html loads %s: %d", m[1], resp.StatusCode)
		}
	}
}

func Test_Exempt_OnlyConsoleReads(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/", true}, {"GET", "/ui", true}, {"GET", "/ui/app.js", true}, {"HEAD", "/ui/", true},
		{"POST", "/ui/", false}, {"GET", "/cairn/v1/members", false}, {"GET", "/uix", false},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if got := ui.Exempt(r); got != c.want {
			t.Errorf("Exempt(%s %s) = %v, want %v", c.method, c.path, got, c.want)
		}
	}
}
