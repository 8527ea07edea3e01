package maxscale_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"
)

// doH sends a request with extra headers to the MaxScale listener.
func (f *fixture) doH(method, path string, body []byte, h map[string]string) reply {
	f.t.Helper()
	req, err := http.NewRequest(method, f.listener+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req, _ = http.NewRequest(method, f.listener+path, bytesReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Host = "localhost:8989"
	req.SetBasicAuth(f.user[0], f.user[1])
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b := readAll(resp)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// Test_HTTP_LastModifiedAndConditionalRequests: every GET carries
// Last-Modified; If-Modified-Since answers 304 while nothing changed;
// If-Unmodified-Since and If-Match answer 412 when they do not hold, on
// GET and on writes, and a refused write changes nothing.
func Test_HTTP_LastModifiedAndConditionalRequests(t *testing.T) {
	f := mustServe(t)
	f.mustServer("s1", "127.0.0.1", 4001)
	for _, p := range []string{"/v1/servers/s1", "/v1/servers", "/v1/maxscale", "/v1/users/inet", "/v1/filters", "/v1/servers/s1/relationships/services"} {
		r := f.must("GET", p, nil, 200)
		if _, err := http.ParseTime(r.header.Get("Last-Modified")); err != nil {
			t.Errorf("GET %s: Last-Modified %q: %v", p, r.header.Get("Last-Modified"), err)
		}
	}
	r := f.must("GET", "/v1/servers/s1", nil, 200)
	lm, etag := r.header.Get("Last-Modified"), r.header.Get("ETag")
	if got := f.doH("GET", "/v1/servers/s1", nil, map[string]string{"If-Modified-Since": lm}); got.status != 304 {
		t.Errorf("If-Modified-Since the Last-Modified: %d, want 304", got.status)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	if got := f.doH("GET", "/v1/servers/s1", nil, map[string]string{"If-Modified-Since": past}); got.status != 200 {
		t.Errorf("If-Modified-Since an hour ago: %d, want 200", got.status)
	}
	if got := f.doH("GET", "/v1/servers/s1", nil, map[string]string{"If-Unmodified-Since": past}); got.status != 412 {
		t.Errorf("GET If-Unmodified-Since an hour ago: %d, want 412", got.status)
	}
	if got := f.doH("GET", "/v1/servers/s1", nil, map[string]string{"If-Match": `"nope"`}); got.status != 412 {
		t.Errorf("GET If-Match another ETag: %d, want 412", got.status)
	}
	patch := []byte(`{"data":{"attributes":{"parameters":{"priority":5}}}}`)
	for _, h := range []map[string]string{{"If-Match": `"nope"`}, {"If-Unmodified-Since": past}} {
		got := f.doH("PATCH", "/v1/servers/s1", patch, h)
		if got.status != 412 {
			t.Errorf("PATCH with %v: %d, want 412", h, got.status)
		}
		mustErrors(t, got, "precondition failed")
		if got := f.doH("DELETE", "/v1/servers/s1", nil, h); got.status != 412 {
			t.Errorf("DELETE with %v: %d, want 412", h, got.status)
		}
		if got := f.doH("PUT", "/v1/servers/s1/set?state=maintenance", nil, h); got.status != 412 {
			t.Errorf("PUT set with %v: %d, want 412", h, got.status)
		}
	}
	if got := f.must("GET", "/v1/servers/s1", nil, 200); got.header.Get("ETag") != etag {
		t.Fatal("a refused write changed the server")
	}
	// The ETag of the current document, and a date not before the last
	// change, let the write through.
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := f.doH("PATCH", "/v1/servers/s1", patch, map[string]string{"If-Match": etag, "If-Unmodified-Since": future}); got.status != 204 {
		t.Fatalf("PATCH If-Match the current ETag: %d %s", got.status, got.body)
	}
	// Now the old ETag is stale.
	if got := f.doH("PATCH", "/v1/servers/s1", patch, map[string]string{"If-Match": etag}); got.status != 412 {
		t.Errorf("PATCH If-Match a stale ETag: %d, want 412", got.status)
	}
	cur := f.must("GET", "/v1/servers/s1", nil, 200).header.Get("ETag")
	if got := f.doH("DELETE", "/v1/servers/s1", nil, map[string]string{"If-Match": cur}); got.status != 204 {
		t.Errorf("DELETE If-Match the current ETag: %d %s", got.status, got.body)
	}
}

// Test_HTTP_SparseFieldsets: fields[TYPE]=a/b,c keeps only those
// attributes (paths by '/') and relationships of objects of that type.
func Test_HTTP_SparseFieldsets(t *testing.T) {
	f := mustServe(t)
	f.mustService("Svc", "readconnroute")
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"s1","attributes":{"parameters":{"address":"127.0.0.1","port":4001}},"relationships":{"services":{"data":[{"id":"Svc"}]}}}}`), 204)
	d := decode(t, f.must("GET", "/v1/servers/s1?fields[servers]=state,parameters/port,services", nil, 200).body).(map[string]any)["data"].(map[string]any)
	attrs := d["attributes"].(map[string]any)
	if keys := sortedKeys(attrs); !slices.Equal(keys, []string{"parameters", "state"}) {
		t.Errorf("attributes %v, want parameters and state", keys)
	}
	if keys := sortedKeys(attrs["parameters"].(map[string]any)); !slices.Equal(keys, []string{"port"}) {
		t.Errorf("parameters %v, want port", keys)
	}
	if keys := sortedKeys(d["relationships"].(map[string]any)); !slices.Equal(keys, []string{"services"}) {
		t.Errorf("relationships %v, want services", keys)
	}
	if d["id"] != "s1" || d["type"] != "servers" || d["links"] == nil {
		t.Errorf("id, type and links must stay: %v", d)
	}
	// Collections too; another type's fields do not apply.
	for _, o := range decode(t, f.must("GET", "/v1/servers?fields[servers]=state", nil, 200).body).(map[string]any)["data"].([]any) {
		if keys := sortedKeys(o.(map[string]any)["attributes"].(map[string]any)); !slices.Equal(keys, []string{"state"}) {
			t.Errorf("collection attributes %v", keys)
		}
		if _, ok := o.(map[string]any)["relationships"]; ok {
			t.Error("relationships kept without being asked for")
		}
	}
	d = decode(t, f.must("GET", "/v1/servers/s1?fields[services]=state", nil, 200).body).(map[string]any)["data"].(map[string]any)
	if _, ok := d["attributes"].(map[string]any)["parameters"]; !ok {
		t.Error("fields of another type removed a server's attributes")
	}
}

// Test_HTTP_Pagination: page[size] and page[number] (from 0) return one
// page with links self, first, last, next and prev, and meta.total.
func Test_HTTP_Pagination(t *testing.T) {
	f := mustServe(t)
	for i := 0; i < 5; i++ {
		f.mustServer(string(rune('a'+i)), "127.0.0.1", 4001+i)
	}
	doc := decode(t, f.must("GET", "/v1/servers?page[size]=2&page[number]=1", nil, 200).body).(map[string]any)
	if got := idsOf(doc); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("page 1 of 2: %v", got)
	}
	l := doc["links"].(map[string]any)
	base := "http://localhost:8989/v1/servers/?page%5Bsize%5D=2&page%5Bnumber%5D="
	for k, want := range map[string]string{"self": base + "1", "first": base + "0", "last": base + "2", "next": base + "2", "prev": base + "0"} {
		if l[k] != want {
			t.Errorf("links.%s = %v, want %s", k, l[k], want)
		}
	}
	if doc["meta"].(map[string]any)["total"] != float64(5) {
		t.Errorf("meta.total = %v", doc["meta"])
	}
	doc = decode(t, f.must("GET", "/v1/servers?page[size]=2&page[number]=2", nil, 200).body).(map[string]any)
	if got := idsOf(doc); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("last page: %v", got)
	}
	if _, ok := doc["links"].(map[string]any)["next"]; ok {
		t.Error("the last page has a next link")
	}
	doc = decode(t, f.must("GET", "/v1/servers?page[size]=2&page[number]=0", nil, 200).body).(map[string]any)
	if _, ok := doc["links"].(map[string]any)["prev"]; ok {
		t.Error("the first page has a prev link")
	}
}

// Test_HTTP_RelationshipLinks: a relationship object links to itself
// (.../relationships/NAME/) and to the related collection, as MaxScale 6.4.
func Test_HTTP_RelationshipLinks(t *testing.T) {
	f := mustServe(t)
	f.mustService("Svc", "readconnroute")
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"s1","attributes":{"parameters":{"address":"127.0.0.1","port":4001}},"relationships":{"services":{"data":[{"id":"Svc"}]}}}}`), 204)
	rel := decode(t, f.must("GET", "/v1/servers/s1", nil, 200).body).(map[string]any)["data"].(map[string]any)["relationships"].(map[string]any)["services"].(map[string]any)["links"].(map[string]any)
	if rel["self"] != "http://localhost:8989/v1/servers/s1/relationships/services/" || rel["related"] != "http://localhost:8989/v1/services/" {
		t.Errorf("relationship links %v", rel)
	}
	l := decode(t, f.must("GET", "/v1/servers/s1/relationships/services", nil, 200).body).(map[string]any)["links"].(map[string]any)
	if l["self"] != "http://localhost:8989/v1/servers/s1/relationships/services/" || l["related"] != "http://localhost:8989/v1/services/" {
		t.Errorf("relationship document links %v", l)
	}
	// The self link is the relationship's own route.
	f.must("GET", "/v1/servers/s1/relationships/services/", nil, 200)
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func idsOf(doc map[string]any) []string {
	var out []string
	for _, o := range doc["data"].([]any) {
		out = append(out, o.(map[string]any)["id"].(string))
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func readAll(resp *http.Response) []byte { b, _ := io.ReadAll(resp.Body); return b }
