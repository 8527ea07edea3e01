package maxscale_test

import (
	"net/http"
	"strings"
	"testing"
)

func (f *fixture) token(user, password, query string) reply {
	f.t.Helper()
	return f.doURL(f.listener, "GET", "/v1/auth"+query, nil, user, password)
}

// Test_Auth_JWT_IssuedForBasicCredentials_AcceptedEverywhere: GET /v1/auth
// answers a token that is Cairn's own: accepted as a Bearer token by this
// API and by Cairn's native API on the main listener; a basic account's
// token may read only; without valid credentials no token.
func Test_Auth_JWT_IssuedForBasicCredentials_AcceptedEverywhere(t *testing.T) {
	f := mustServe(t)
	r := f.token("admin", "mariadb", "")
	if r.status != 200 {
		t.Fatalf("GET /v1/auth: %d %s", r.status, r.body)
	}
	tok, _ := decode(t, r.body).(map[string]any)["meta"].(map[string]any)["token"].(string)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("not a JWT: %q", tok)
	}
	bearer := func(base, method, path, token string, body []byte) int {
		t.Helper()
		var rd *strings.Reader
		if body != nil {
			rd = strings.NewReader(string(body))
		} else {
			rd = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := bearer(f.listener, "GET", "/v1/servers", tok, nil); s != 200 {
		t.Errorf("GET /v1/servers with the token: %d", s)
	}
	if s := bearer(f.listener, "POST", "/v1/servers", tok, []byte(`{"data":{"id":"s1","attributes":{"parameters":{"address":"127.0.0.1","port":4001}}}}`)); s != 204 {
		t.Errorf("POST /v1/servers with an admin's token: %d", s)
	}
	if s := bearer(f.main, "GET", "/cairn/v1/whoami", tok, nil); s != 200 {
		t.Errorf("the native API refuses the token: %d", s)
	}
	if s := bearer(f.listener, "GET", "/v1/servers", tok+"x", nil); s != 401 {
		t.Errorf("a forged token: %d, want 401", s)
	}
	// A basic account: its token reads, and may not write.
	f.must("POST", "/v1/users/inet", []byte(`{"data":{"id":"reader","type":"inet","attributes":{"password":"pw","account":"basic"}}}`), 204)
	r = f.token("reader", "pw", "")
	if r.status != 200 {
		t.Fatalf("GET /v1/auth as reader: %d", r.status)
	}
	rt := decode(t, r.body).(map[string]any)["meta"].(map[string]any)["token"].(string)
	if s := bearer(f.listener, "GET", "/v1/servers", rt, nil); s != 200 {
		t.Errorf("reader's token, GET: %d", s)
	}
	if s := bearer(f.listener, "DELETE", "/v1/servers/s1", rt, nil); s != 403 {
		t.Errorf("reader's token, DELETE: %d, want 403", s)
	}
	if r := f.token("admin", "wrong", ""); r.status != 401 {
		t.Errorf("GET /v1/auth with a wrong password: %d", r.status)
	}
	if r := f.token("", "", ""); r.status != 401 {
		t.Errorf("GET /v1/auth without credentials: %d", r.status)
	}
	f.must("GET", "/v1/auth?max-age=abc", nil, 403)
}

// Test_Auth_JWT_PersistSetsMaxScalesCookies: ?persist=yes sets the token
// as MaxScale does, token_body (header.payload) and token_sig (the
// signature, HttpOnly), with max-age honoured; the cookies alone then
// authenticate.
func Test_Auth_JWT_PersistSetsMaxScalesCookies(t *testing.T) {
	f := mustServe(t)
	r := f.token("admin", "mariadb", "?persist=yes&max-age=60")
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("GET /v1/auth?persist=yes: %d %s", r.status, r.body)
	}
	resp := &http.Response{Header: r.header}
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	body, sig := cookies["token_body"], cookies["token_sig"]
	if body == nil || sig == nil {
		t.Fatalf("cookies %v", r.header["Set-Cookie"])
	}
	if body.MaxAge != 60 || sig.MaxAge != 60 || body.Path != "/" || !sig.HttpOnly || body.HttpOnly ||
		body.SameSite != http.SameSiteLaxMode || sig.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie attributes: %v", r.header["Set-Cookie"])
	}
	if strings.Count(body.Value, ".") != 1 || !strings.HasPrefix(sig.Value, ".") {
		t.Errorf("token split as %q + %q", body.Value, sig.Value)
	}
	with := func(method, path string, cs ...*http.Cookie) int {
		t.Helper()
		req, _ := http.NewRequest(method, f.listener+path, strings.NewReader(`{"data":{"id":"s9","attributes":{"parameters":{"address":"127.0.0.1","port":4009}}}}`))
		for _, c := range cs {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := with("GET", "/v1/servers", body, sig); s != 200 {
		t.Errorf("GET with the cookies: %d", s)
	}
	if s := with("POST", "/v1/servers", body, sig); s != 204 {
		t.Errorf("POST with an admin's cookies: %d", s)
	}
	if s := with("GET", "/v1/servers", body); s != 401 {
		t.Errorf("GET with token_body alone: %d, want 401", s)
	}
	if s := with("GET", "/v1/servers", body, &http.Cookie{Name: "token_sig", Value: ".AAAA"}); s != 401 {
		t.Errorf("GET with a wrong signature: %d, want 401", s)
	}
}
