package mrf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/cluster"
	"cairn/http/mrf"
)

// calculatorSHA1 is the SHA-1 of testdata/mrf/calculator.zip, which
// mkarchives.go writes byte-for-byte the same every time.
const calculatorSHA1 = "0bd08c48808e951436bf3a829e0614e57aa34068"

// mustArchive reads a sample archive of testdata/mrf.
func mustArchive(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mrf", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send serves one request with a binary body; limit > 0 bounds the body
// the way the server's middleware does.
func (f *fixture) send(t *testing.T, method, path string, body []byte, limit int64) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://other.example:9999"+path, bytes.NewReader(body))
	w := httptest.NewRecorder()
	if limit > 0 {
		req.Body = http.MaxBytesReader(w, req.Body, limit)
	}
	f.handler.ServeHTTP(w, req)
	return w
}

// message decodes a Fabric3 error body: a JSON string.
func message(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatalf("error body %q is not a JSON string", w.Body.String())
	}
	return s
}

func docOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return doc
}

const calcPath = "/management/domain/contributions/contribution/calculator.zip"

func mustInstall(t *testing.T, f *fixture, uri, archive string) {
	t.Helper()
	w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/"+uri, mustArchive(t, archive), 0)
	if w.Code != http.StatusCreated {
		t.Fatalf("install %s: %d %s", uri, w.Code, w.Body)
	}
}

func Test_Contributions_InstallListGetUninstall_FabricShapes(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	w := f.send(t, http.MethodPut, calcPath, mustArchive(t, "calculator.zip"), 0)
	if w.Code != http.StatusCreated || w.Body.Len() != 0 {
		t.Fatalf("PUT: %d %q, want 201 and no body", w.Code, w.Body)
	}
	if loc := w.Header().Get("Location"); loc != "http://localhost:8180"+calcPath {
		t.Errorf("Location %q", loc)
	}
	if w.Header().Get("X-Cairn-Index") == "" {
		t.Error("no X-Cairn-Index on the write")
	}
	w = f.send(t, http.MethodGet, "/management/domain/contributions", nil, 0)
	mustMatchFixture(t, "contributions.json", docOf(t, w))

	// Paths are case-insensitive: the contribution answers at any case.
	w = f.send(t, http.MethodGet, "/Management/Domain/Contributions/Contribution/Calculator.ZIP/", nil, 0)
	doc := docOf(t, w)
	mustMatchFixture(t, "contribution.json", doc, "sha1", "length", "installed", "components", "zones")
	if doc["sha1"] != calculatorSHA1 || doc["length"] != float64(len(mustArchive(t, "calculator.zip"))) {
		t.Errorf("sha1 %v length %v", doc["sha1"], doc["length"])
	}
	if c := doc["components"].([]any); len(c) != 2 || c[0] != "CalculatorComponent" {
		t.Errorf("components %v", c)
	}
	if z := doc["zones"].([]any); len(z) != 0 {
		t.Errorf("zones %v, want none before a deployment", z)
	}
	// Stored content-addressed, in the store the zone's Raft replicates.
	if f.node.store.View().Get(mrf.KindArchive, calculatorSHA1) == nil {
		t.Error("no archive stored under its SHA-1")
	}

	w = f.send(t, http.MethodPut, calcPath, mustArchive(t, "greeting.zip"), 0)
	if w.Code != http.StatusConflict || message(t, w) != "Contribution already exists: calculator.zip" {
		t.Errorf("second PUT: %d %s", w.Code, w.Body)
	}

	w = f.send(t, http.MethodDelete, calcPath, nil, 0)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %q, want 200 and no body", w.Code, w.Body)
	}
	w = f.send(t, http.MethodGet, calcPath, nil, 0)
	if w.Code != http.StatusNotFound || message(t, w) != "Contribution not found: calculator.zip" {
		t.Errorf("GET after DELETE: %d %s", w.Code, w.Body)
	}
	if w = f.send(t, http.MethodDelete, calcPath, nil, 0); w.Code != http.StatusNotFound {
		t.Errorf("second DELETE: %d %s", w.Code, w.Body)
	}
	if v := f.node.store.View(); v.Count(mrf.KindArchive) != 0 || v.Count(mrf.KindContribution) != 0 {
		t.Errorf("after DELETE the store holds %d archives, %d contributions", v.Count(mrf.KindArchive), v.Count(mrf.KindContribution))
	}
}

func Test_Contributions_BadInput_4xx_NothingApplied(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	before := f.node.store.View().Digest()
	cases := []struct {
		name  string
		path  string
		body  []byte
		limit int64
		want  int
		says  string
	}{
		{"not a zip", calcPath, []byte("just text"), 0, http.StatusBadRequest, "not a zip"},
		{"empty", calcPath, nil, 0, http.StatusBadRequest, "empty"},
		{"over the body limit", calcPath, mustArchive(t, "calculator.zip"), 100, http.StatusRequestEntityTooLarge, "too large"},
		{"bad uri", "/management/domain/contributions/contribution/a%20b.zip", mustArchive(t, "calculator.zip"), 0, http.StatusBadRequest, "Invalid contribution URI"},
	}
	for _, c := range cases {
		w := f.send(t, http.MethodPut, c.path, c.body, c.limit)
		if w.Code != c.want || !strings.Contains(message(t, w), c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, w.Code, w.Body, c.want, c.says)
		}
	}
	// A manifest that is refused: Fabric3's 420, its body naming the
	// artifact at fault.
	w := f.send(t, http.MethodPut, calcPath, mustArchive(t, "bad-manifest.zip"), 0)
	var entity map[string][]string
	if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil || len(entity[mrf.ManifestPath]) != 1 {
		t.Errorf("bad manifest: %d %s, want 420 {%q: [...]}", w.Code, w.Body, mrf.ManifestPath)
	}
	// Deploying, undeploying or uninstalling what does not exist.
	for _, req := range []struct{ method, path string }{
		{http.MethodPost, "/management/domain/deployments/contribution/calculator.zip"},
		{http.MethodDelete, "/management/domain/deployments/contribution/calculator.zip"},
		{http.MethodDelete, calcPath},
	} {
		if w := f.send(t, req.method, req.path, nil, 0); w.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", req.method, req.path, w.Code, w.Body)
		}
	}
	if after := f.node.store.View().Digest(); after != before {
		t.Error("a refused request changed the store")
	}
}

func Test_Contributions_SameBytesTwice_OneArchiveKeptUntilTheLastGoes(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	mustInstall(t, f, "a.zip", "calculator.zip")
	mustInstall(t, f, "b.zip", "calculator.zip")
	if n := f.node.store.View().Count(mrf.KindArchive); n != 1 {
		t.Fatalf("%d archives for one content", n)
	}
	f.send(t, http.MethodDelete, "/management/domain/contributions/contribution/a.zip", nil, 0)
	if f.node.store.View().Get(mrf.KindArchive, calculatorSHA1) == nil {
		t.Fatal("the archive went with the first of its two contributions")
	}
	f.send(t, http.MethodDelete, "/management/domain/contributions/contribution/b.zip", nil, 0)
	if n := f.node.store.View().Count(mrf.KindArchive); n != 0 {
		t.Errorf("%d archives left after both contributions went", n)
	}
}

func Test_Contributions_NoManifest_NoComponents(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	mustInstall(t, f, "plain.zip", "plain.zip")
	doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/contribution/plain.zip", nil, 0))
	if len(doc["components"].([]any)) != 0 || len(doc["deployables"].([]any)) != 0 {
		t.Errorf("plain.zip: %v", doc)
	}
}

func Test_DomainResources_OnParticipant_ForwardedToController_NameCaseKept(t *testing.T) {
	// The controller, served for real: the participant forwards to it.
	ctlNode := newFakeNode("c1", "default", "")
	ctlFix := newFixture(t, ctlNode, nil)
	var seen []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" by "+r.Header.Get(mrf.ControllerHopHeader))
		mu.Unlock()
		ctlFix.handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctlNode.url = srv.URL

	n := newFakeNode("z1", "zone1", "http://10.0.1.8:8182")
	ms := &fakeMembership{members: []cluster.Member{
		member("c1", "default", srv.URL, true, cluster.StatusAlive),
		member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"default": "c1", "zone1": "z1"}}
	f := newFixture(t, n, ms)
	// Streamed, as Fabric3's CLI sends it: chunked, no length.
	req := httptest.NewRequest(http.MethodPut, "/management/domain/contributions/contribution/MyCalc.zip",
		io.MultiReader(bytes.NewReader(mustArchive(t, "calculator.zip"))))
	req.ContentLength = -1
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	if w.Code != http.StatusCreated || w.Header().Get("Location") != srv.URL+"/management/domain/contributions/contribution/MyCalc.zip" {
		t.Fatalf("PUT through a participant: %d %s Location %q", w.Code, w.Body, w.Header().Get("Location"))
	}
	if w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/mycalc.ZIP", mustArchive(t, "calculator.zip"), 0); w.Code != http.StatusConflict ||
		message(t, w) != "Contribution already exists: MyCalc.zip" {
		t.Errorf("second PUT in another case: %d %s", w.Code, w.Body)
	}
	doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions", nil, 0))
	list := doc["contributions"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["uri"] != "MyCalc.zip" {
		t.Errorf("contributions through the participant: %v", doc)
	}
	if n.store.View().Index() != 0 {
		t.Error("a participant wrote domain resources")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != "PUT /management/domain/contributions/contribution/MyCalc.zip by z1" {
		t.Errorf("the controller saw %q", seen)
	}
}

// A request a participant already forwarded as to a controller, reaching
// another participant (gossip was stale), is refused, not forwarded again.
func Test_DomainResources_ForwardedToANonController_503_NoLoop(t *testing.T) {
	n := newFakeNode("z1", "zone1", "http://10.0.1.8:8182")
	ms := &fakeMembership{members: []cluster.Member{
		member("c1", "default", "http://127.0.0.1:1", true, cluster.StatusAlive),
		member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"default": "c1", "zone1": "z1"}}
	f := newFixture(t, n, ms)
	req := httptest.NewRequest(http.MethodGet, "/management/domain/contributions", nil)
	req.Header.Set(mrf.ControllerHopHeader, "z9")
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(message(t, w), "z9") {
		t.Errorf("a second controller hop: %d %s, want 503 naming the node that forwarded it", w.Code, w.Body)
	}
	// No controller reachable: 503, not a 500.
	if w := f.send(t, http.MethodGet, "/management/domain/contributions", nil, 0); w.Code != http.StatusServiceUnavailable {
		t.Errorf("controller unreachable: %d %s", w.Code, w.Body)
	}
}

// A participant passes an archive on as it arrives: the controller has
// the first chunk before the client sends the rest.
func Test_DomainResources_ForwardedToController_Streamed(t *testing.T) {
	ctlNode := newFakeNode("c1", "default", "")
	ctlFix := newFixture(t, ctlNode, nil)
	firstChunk := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		head := make([]byte, 4)
		if _, err := io.ReadFull(r.Body, head); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		close(firstChunk)
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(head), r.Body))
		ctlFix.handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctlNode.url = srv.URL
	n := newFakeNode("z1", "zone1", "http://10.0.1.8:8182")
	ms := &fakeMembership{members: []cluster.Member{
		member("c1", "default", srv.URL, true, cluster.StatusAlive),
		member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"default": "c1", "zone1": "z1"}}
	f := newFixture(t, n, ms)
	// The participant serves on a real listener, so the body is a stream.
	part := httptest.NewServer(f.handler)
	defer part.Close()

	archive := mustArchive(t, "calculator.zip")
	pr, pw := io.Pipe()
	go func() {
		pw.Write(archive[:100])
		select {
		case <-firstChunk:
			pw.Write(archive[100:])
			pw.Close()
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("the controller did not get the first chunk while the rest was held back"))
		}
	}()
	req, _ := http.NewRequest(http.MethodPut, part.URL+"/management/domain/contributions/contribution/calculator.zip", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("streamed PUT through a participant: %d %s", resp.StatusCode, body)
	}
	if ctlNode.store.View().Get(mrf.KindArchive, calculatorSHA1) == nil {
		t.Error("the controller does not hold the archive")
	}
}

// Test_Contributions_RunManifest_CheckedAtInstall installs runnable
// contributions (a command; a start file a runtime recognises, at the top
// or in the one top-level directory) and refuses those that could not run,
// with 420 naming the manifest and nothing installed.
func Test_Contributions_RunManifest_CheckedAtInstall(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	manifest := func(run string) string { return `{"components":["C"],"run":` + run + `}` }
	ok := map[string]map[string]string{
		"cmd.zip":    {mrf.ManifestPath: manifest(`{"command":["sleep","60"],"env":{"K":"v"}}`)},
		"script.zip": {mrf.ManifestPath: manifest(`{}`), "bash_start.sh": "sleep 60"},
		"nested.zip": {"app/" + mrf.ManifestPath: manifest(`{}`), "app/app.py": "print(1)", mrf.ManifestPath: manifest(`{"runtime":"python"}`)},
	}
	for name, entries := range ok {
		w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/"+name, makeZip(t, entries), 0)
		if w.Code != http.StatusCreated {
			t.Errorf("%s: %d %s, want 201", name, w.Code, w.Body)
			continue
		}
		doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/contribution/"+name, nil, 0))
		if doc["run"] == nil {
			t.Errorf("%s: no run in %v", name, doc)
		}
	}
	before := f.node.store.View().Digest()
	bad := map[string]struct{ run, says string }{
		"nostart.zip":   {`{}`, "no runtime recognises a file"},
		"runtime.zip":   {`{"runtime":"cobol"}`, "runtime"},
		"env.zip":       {`{"command":["x"],"env":{"CAIRN_X":"1"}}`, "CAIRN_"},
		"unknown.zip":   {`{"command":["x"],"image":"busybox"}`, "unknown field"},
		"notlist.zip":   {`{"command":"sleep 60"}`, "command"},
		"notobject.zip": {`true`, "run"},
	}
	for name, c := range bad {
		w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/"+name, makeZip(t, map[string]string{mrf.ManifestPath: manifest(c.run)}), 0)
		var entity map[string][]string
		if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil || !strings.Contains(fmt.Sprint(entity[mrf.ManifestPath]), c.says) {
			t.Errorf("%s: %d %s, want 420 {%q: [... %q ...]}", name, w.Code, w.Body, mrf.ManifestPath, c.says)
		}
	}
	if f.node.store.View().Digest() != before {
		t.Error("a refused install changed the store")
	}
}
