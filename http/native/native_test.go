package native_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/fsm"
	api "cairn/http"
	"cairn/http/native"
	"cairn/node"
	"cairn/node/nodetest"
)

// kindHost declares a unique index on "name" and a list index on "tags";
// other kinds used here are not declared.
const (
	kindHost = "t.host"
	kindItem = "t.item"
	// kindOwned and kindSecret belong to a dialect (and with them every
	// kind "d.*"); kindSecret holds credentials.
	kindOwned  = "d.owned"
	kindSecret = "d.secret"
)

// advertisedURL is the HTTP URL the test node advertises: deliberately not
// the address the test server listens on, so tests can tell which one a
// link was built from.
const advertisedURL = "http://cairn-n1.test:8180"

// fixture is one real single-node zone served by the real router over a
// real socket.
type fixture struct {
	t      *testing.T
	n      *node.Node
	base   string
	client *http.Client
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func mustSchema(t *testing.T) fsm.Schema {
	t.Helper()
	s, err := fsm.NewSchema(fsm.KindSchema{Kind: kindHost, Indexes: []fsm.Index{
		fsm.FieldIndex("name", "name", true),
		fsm.ListIndex("tags", "tags"),
	}}, fsm.KindSchema{Kind: kindOwned, Owner: "dialect"}, fsm.KindSchema{Kind: kindSecret, Owner: "dialect", Secret: true})
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	return s
}

// mustServe opens a bootstrapping node in a temp dir, waits until it leads,
// and serves the real router for it with limits (nil: 64 KiB, 10s).
func mustServe(t *testing.T, limits *api.Limits) *fixture {
	t.Helper()
	f := mustServeNode(t, limits, true)
	nodetest.WaitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return f.n.ReadBarrier(ctx) == nil
	}, 10*time.Second, "the node to lead")
	return f
}

// mustServeNode opens a node in a temp dir, bootstrapping a zone of its own
// or not, and serves the real router for it without waiting for a leader.
func mustServeNode(t *testing.T, limits *api.Limits, bootstrap bool) *fixture {
	t.Helper()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Open(node.Config{
		NodeID:             "n1",
		Zone:               "z1",
		DataDir:            t.TempDir(),
		RaftAddr:           nodetest.FreeAddr(t),
		HTTPURL:            advertisedURL,
		Bootstrap:          bootstrap,
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       5 * time.Second,
		Logger:             discard,
	}, mustSchema(t))
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	if limits == nil {
		limits = api.NewLimits(64<<10, 10*time.Second)
	}
	ts := httptest.NewServer(api.NewServer(n, limits, discard).Handler())
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.Timeout = 30 * time.Second
	return &fixture{t: t, n: n, base: ts.URL, client: client}
}

// send makes a request; hdr holds header name and value pairs. It is safe
// to call from any goroutine.
func (f *fixture) send(method, path string, body io.Reader, hdr ...string) (reply, error) {
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// do is send that fails the test on a transport error; test goroutine only.
func (f *fixture) do(method, path string, body io.Reader, hdr ...string) reply {
	f.t.Helper()
	r, err := f.send(method, path, body, hdr...)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// mustStatus checks r's status and, for errors, that the body is the native
// error document with the same code.
func mustStatus(t *testing.T, r reply, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	if want >= 400 {
		e := mustError(t, r)
		if e.Code != want || e.Error == "" {
			t.Fatalf("error body %s: want code %d and a message", r.body, want)
		}
	}
}

// mustError decodes the native error document.
func mustError(t *testing.T, r reply) native.ErrorBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json; body %s", ct, r.body)
	}
	var e native.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not the native error document: %v", r.body, err)
	}
	return e
}

func mustResource(t *testing.T, r reply) fsm.Resource {
	t.Helper()
	var res fsm.Resource
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("body %q is not a resource: %v", r.body, err)
	}
	return res
}

func mustList(t *testing.T, r reply) native.ListBody {
	t.Helper()
	mustStatus(t, r, http.StatusOK)
	var l native.ListBody
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("body %q is not a list: %v", r.body, err)
	}
	return l
}

func resPath(kind, id string) string {
	return "/cairn/v1/resources/" + kind + "/" + url.PathEscape(id)
}

// mustPut PUTs body and checks the status.
func (f *fixture) mustPut(kind, id, body string, want int, hdr ...string) reply {
	f.t.Helper()
	r := f.do(http.MethodPut, resPath(kind, id), strings.NewReader(body), hdr...)
	mustStatus(f.t, r, want)
	return r
}

func etagOf(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

func mustIndexHeader(t *testing.T, r reply) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(r.header.Get("X-Cairn-Index"), 10, 64)
	if err != nil {
		t.Fatalf("X-Cairn-Index %q: %v", r.header.Get("X-Cairn-Index"), err)
	}
	return v
}

func Test_Put_New_201LocationETagIndex(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	r := f.mustPut(kindItem, "a b", `{"x": 1}`, http.StatusCreated)
	res := mustResource(t, r)
	if res.Kind != kindItem || res.ID != "a b" || res.Version == 0 || string(res.Body) != `{"x":1}` {
		t.Errorf("created %+v", res)
	}
	if got := r.header.Get("Location"); got != "/cairn/v1/resources/t.item/a%20b" {
		t.Errorf("Location %q", got)
	}
	if got := r.header.Get("ETag"); got != etagOf(res.Version) {
		t.Errorf("ETag %q, want %q", got, etagOf(res.Version))
	}
	if got := mustIndexHeader(t, r); got != res.Version {
		t.Errorf("X-Cairn-Index %d, want %d", got, res.Version)
	}
}

func Test_Put_Existing_200NewETag(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	first := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated))
	r := f.mustPut(kindItem, "a", `{"v":2}`, http.StatusOK)
	second := mustResource(t, r)
	if second.Version <= first.Version || r.header.Get("ETag") != etagOf(second.Version) {
		t.Errorf("second version %d (ETag %s) not after %d", second.Version, r.header.Get("ETag"), first.Version)
	}
	if r.header.Get("Location") != "" {
		t.Errorf("Location %q on a replace", r.header.Get("Location"))
	}
	if second.CreateIndex != first.Version || !second.Created.Equal(first.Created) {
		t.Errorf("replace changed creation: %+v vs %+v", second, first)
	}
}

// Test_Put_PreferReturnMinimal_StatusAndHeadersOnly: a PUT with
// `Prefer: return=minimal` (in any of RFC 7240's spellings) is answered
// 201 or 200 with its ETag, Location and index but no body, and says it
// applied the preference; the write is made all the same. Without it, or
// with another preference, the document comes back.
func Test_Put_PreferReturnMinimal_StatusAndHeadersOnly(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	for i, prefer := range []string{"return=minimal", `respond-async, RETURN = "Minimal"; x=1`} {
		id := fmt.Sprintf("m%d", i)
		r := f.do(http.MethodPut, resPath(kindItem, id), strings.NewReader(`{"v":1}`), "Prefer", prefer)
		mustStatus(t, r, http.StatusCreated)
		if len(r.body) != 0 || r.header.Get("Preference-Applied") != "return=minimal" {
			t.Errorf("Prefer %q: body %q, Preference-Applied %q", prefer, r.body, r.header.Get("Preference-Applied"))
		}
		if r.header.Get("Location") == "" || r.header.Get("ETag") == "" || mustIndexHeader(t, r) == 0 {
			t.Errorf("Prefer %q: headers %v", prefer, r.header)
		}
		r = f.do(http.MethodPut, resPath(kindItem, id), strings.NewReader(`{"v":2}`), "Prefer", prefer)
		mustStatus(t, r, http.StatusOK)
		if len(r.body) != 0 {
			t.Errorf("Prefer %q: update body %q", prefer, r.body)
		}
		got := mustResource(t, f.do(http.MethodGet, resPath(kindItem, id), nil))
		if string(got.Body) != `{"v":2}` || r.header.Get("ETag") != etagOf(got.Version) {
			t.Errorf("Prefer %q: stored %s version %d, answered ETag %s", prefer, got.Body, got.Version, r.header.Get("ETag"))
		}
	}
	for _, prefer := range []string{"return=representation", "minimal", "return-minimal"} {
		r := f.do(http.MethodPut, resPath(kindItem, "full"), strings.NewReader(`{"v":1}`), "Prefer", prefer)
		if res := mustResource(t, r); string(res.Body) != `{"v":1}` || r.header.Get("Preference-Applied") != "" {
			t.Errorf("Prefer %q: answered %s, Preference-Applied %q", prefer, r.body, r.header.Get("Preference-Applied"))
		}
	}
}

func Test_Get_Existing_EnvelopeAndETag(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	put := mustResource(t, f.mustPut(kindItem, "a", `{"name": "alpha", "n": [1, 2]}`, http.StatusCreated))
	r := f.do(http.MethodGet, resPath(kindItem, "a"), nil)
	mustStatus(t, r, http.StatusOK)
	if got := r.header.Get("ETag"); got != etagOf(put.Version) {
		t.Errorf("ETag %q, want %q", got, etagOf(put.Version))
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	for _, k := range []string{"kind", "id", "version", "create_index", "created", "updated", "body"} {
		if _, ok := env[k]; !ok {
			t.Errorf("envelope lacks %q: %s", k, r.body)
		}
	}
	got := mustResource(t, r)
	if got.Kind != kindItem || got.ID != "a" || got.Version != put.Version || got.CreateIndex != put.Version ||
		string(got.Body) != `{"name":"alpha","n":[1,2]}` || got.Created.IsZero() || !got.Updated.Equal(got.Created) {
		t.Errorf("got %+v", got)
	}

	head := f.do(http.MethodHead, resPath(kindItem, "a"), nil)
	if head.status != http.StatusOK || head.header.Get("ETag") != etagOf(put.Version) || len(head.body) != 0 {
		t.Errorf("HEAD: %d, ETag %q, body %q", head.status, head.header.Get("ETag"), head.body)
	}
}

func Test_Get_IfNoneMatch(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	put := mustResource(t, f.mustPut(kindItem, "a", `{}`, http.StatusCreated))
	cur := etagOf(put.Version)
	for _, c := range []struct {
		inm  string
		want int
	}{
		{cur, http.StatusNotModified},
		{"W/" + cur, http.StatusNotModified},
		{`"999999", ` + cur, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{etagOf(put.Version + 1), http.StatusOK},
		{`"garbage"`, http.StatusOK},
	} {
		r := f.do(http.MethodGet, resPath(kindItem, "a"), nil, "If-None-Match", c.inm)
		if r.status != c.want {
			t.Errorf("If-None-Match %s: status %d, want %d", c.inm, r.status, c.want)
		}
		if r.header.Get("ETag") != cur {
			t.Errorf("If-None-Match %s: ETag %q, want %q", c.inm, r.header.Get("ETag"), cur)
		}
		if c.want == http.StatusNotModified && len(r.body) != 0 {
			t.Errorf("304 with a body: %q", r.body)
		}
	}
}

func Test_Put_IfMatchStale_412(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	v1 := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated)).Version
	v2 := mustResource(t, f.mustPut(kindItem, "a", `{"v":2}`, http.StatusOK)).Version
	r := f.mustPut(kindItem, "a", `{"v":3}`, http.StatusPreconditionFailed, "If-Match", etagOf(v1))
	if e := mustError(t, r); !strings.Contains(e.Error, "version "+strconv.FormatUint(v2, 10)) {
		t.Errorf("error %q does not name the current version %d", e.Error, v2)
	}
	if r.header.Get("X-Cairn-Index") == "" {
		t.Error("a refused write has no X-Cairn-Index")
	}
	got := mustResource(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil))
	if got.Version != v2 || string(got.Body) != `{"v":2}` {
		t.Errorf("after the refused write: %+v", got)
	}
}

func Test_Put_IfMatchCurrent_200(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	v1 := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated)).Version
	for _, tag := range []string{etagOf(v1)} {
		r := f.mustPut(kindItem, "a", `{"v":2}`, http.StatusOK, "If-Match", tag)
		if got := mustResource(t, r); got.Version <= v1 || string(got.Body) != `{"v":2}` {
			t.Errorf("If-Match %s: %+v", tag, got)
		}
	}
	// If-Match: * holds for any existing resource.
	f.mustPut(kindItem, "a", `{"v":3}`, http.StatusOK, "If-Match", "*")
}

func Test_Put_IfMatchStarOnMissing_412(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindItem, "nope", `{}`, http.StatusPreconditionFailed, "If-Match", "*")
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "nope"), nil), http.StatusNotFound)
	// An entity tag this API never issued never matches.
	f.mustPut(kindItem, "nope", `{}`, http.StatusPreconditionFailed, "If-Match", `"abc"`)
}

func Test_Put_IfNoneMatchStar(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	v1 := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated, "If-None-Match", "*")).Version
	r := f.mustPut(kindItem, "a", `{"v":2}`, http.StatusPreconditionFailed, "If-None-Match", "*")
	if e := mustError(t, r); !strings.Contains(e.Error, "already exists") {
		t.Errorf("error %q", e.Error)
	}
	if got := mustResource(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil)); got.Version != v1 {
		t.Errorf("resource changed to %+v", got)
	}
	// Only * is meaningful on a write.
	f.mustPut(kindItem, "a", `{}`, http.StatusBadRequest, "If-None-Match", etagOf(v1))
}

func Test_Put_BothPreconditions_400(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{}`, http.StatusBadRequest, "If-Match", "*", "If-None-Match", "*")
	f.mustPut(kindItem, "a", `{}`, http.StatusBadRequest, "If-Match", `"1", "2"`)
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil), http.StatusNotFound)
}

func Test_Delete_Existing_204Then404(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{}`, http.StatusCreated)
	r := f.do(http.MethodDelete, resPath(kindItem, "a"), nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("DELETE: %d %q", r.status, r.body)
	}
	if r.header.Get("X-Cairn-Index") == "" {
		t.Error("DELETE without X-Cairn-Index")
	}
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil), http.StatusNotFound)
	mustStatus(t, f.do(http.MethodDelete, resPath(kindItem, "a"), nil), http.StatusNotFound)
}

func Test_Delete_IfMatch(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	v1 := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated)).Version
	v2 := mustResource(t, f.mustPut(kindItem, "a", `{"v":2}`, http.StatusOK)).Version

	mustStatus(t, f.do(http.MethodDelete, resPath(kindItem, "a"), nil, "If-Match", etagOf(v1)), http.StatusPreconditionFailed)
	if got := mustResource(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil)); got.Version != v2 {
		t.Fatalf("after a refused DELETE: %+v", got)
	}
	mustStatus(t, f.do(http.MethodDelete, resPath(kindItem, "a"), nil, "If-None-Match", "*"), http.StatusBadRequest)
	mustStatus(t, f.do(http.MethodDelete, resPath(kindItem, "a"), nil, "If-Match", etagOf(v2)), http.StatusNoContent)
	mustStatus(t, f.do(http.MethodDelete, resPath(kindItem, "a"), nil, "If-Match", "*"), http.StatusPreconditionFailed)
}

func Test_Missing_404(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	r := f.do(http.MethodGet, resPath(kindItem, "nope"), nil)
	mustStatus(t, r, http.StatusNotFound)
	if e := mustError(t, r); !strings.Contains(e.Error, `"nope"`) {
		t.Errorf("error %q does not name the id", e.Error)
	}
	mustStatus(t, f.do(http.MethodDelete, resPath(kindItem, "nope"), nil), http.StatusNotFound)
	// A kind with nothing in it lists as empty, not 404.
	if l := mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.empty", nil)); len(l.Items) != 0 || l.Next != "" || l.Kind != "t.empty" {
		t.Errorf("empty list: %+v", l)
	}
}

func Test_List_Paging_AllIDsOnceInOrder(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	var want []string
	for i := range 23 {
		id := fmt.Sprintf("id-%02d", i)
		want = append(want, id)
		f.mustPut(kindItem, id, fmt.Sprintf(`{"i":%d}`, i), http.StatusCreated)
	}
	f.mustPut("t.other", "id-00", `{}`, http.StatusCreated) // another kind: never listed

	var got []string
	next, pages := "", 0
	for {
		path := "/cairn/v1/resources/" + kindItem + "?limit=5"
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		r := f.do(http.MethodGet, path, nil)
		l := mustList(t, r)
		pages++
		if l.Kind != kindItem {
			t.Errorf("list kind %q", l.Kind)
		}
		if len(l.Items) > 5 {
			t.Fatalf("page of %d items with limit=5", len(l.Items))
		}
		for _, it := range l.Items {
			got = append(got, it.ID)
		}
		if l.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		next = l.Next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("paged ids\n got %v\nwant %v", got, want)
	}
	if pages != 5 {
		t.Errorf("%d pages for 23 items by 5, want 5", pages)
	}

	// The default limit returns everything here in one page.
	if l := mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/"+kindItem, nil)); len(l.Items) != 23 || l.Next != "" {
		t.Errorf("default page: %d items, next %q", len(l.Items), l.Next)
	}
}

func Test_List_Prefix(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	for _, id := range []string{"a", "ab", "abc", "abd", "b", "ba"} {
		f.mustPut(kindItem, id, `{}`, http.StatusCreated)
	}
	ids := func(l native.ListBody) string {
		var s []string
		for _, it := range l.Items {
			s = append(s, it.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item?prefix=ab", nil))); got != "ab,abc,abd" {
		t.Errorf("prefix=ab: %s", got)
	}
	if got := ids(mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item?prefix=z", nil))); got != "" {
		t.Errorf("prefix=z: %s", got)
	}
	// Paging within a prefix.
	l := mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item?prefix=ab&limit=2", nil))
	if ids(l) != "ab,abc" || l.Next == "" {
		t.Fatalf("first prefix page: %s next %q", ids(l), l.Next)
	}
	l = mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item?prefix=ab&limit=2&continue="+url.QueryEscape(l.Next), nil))
	if ids(l) != "abd" || l.Next != "" {
		t.Errorf("second prefix page: %s next %q", ids(l), l.Next)
	}
}

func Test_List_BadParams_400(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	for _, q := range []string{
		"limit=0", "limit=abc", "limit=-1", "limit=1001",
		"continue=%21%21not-base64", "by=name",
		"index=abc", "wait=forever", "wait=-1s",
		"consistent&stale",
	} {
		r := f.do(http.MethodGet, "/cairn/v1/resources/t.item?"+q, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("?%s: status %d, want 400; body %s", q, r.status, r.body)
			continue
		}
		mustStatus(t, r, http.StatusBadRequest)
	}
}

func Test_Put_InvalidJSON_400NamesOffset(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	for _, body := range []string{`{"a": 1,}`, `{"a": 1} trailing`, `{"a": tru}`, `[1, 2`} {
		r := f.mustPut(kindItem, "a", body, http.StatusBadRequest)
		if e := mustError(t, r); !strings.Contains(e.Error, "offset") {
			t.Errorf("body %q: error %q does not mention the offset", body, e.Error)
		}
	}
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil), http.StatusNotFound)
}

func Test_Put_EmptyBody_400(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	r := f.mustPut(kindItem, "a", "", http.StatusBadRequest)
	if e := mustError(t, r); !strings.Contains(e.Error, "empty") {
		t.Errorf("error %q does not say the body is empty", e.Error)
	}
	mustStatus(t, f.do(http.MethodPut, resPath(kindItem, "a"), nil), http.StatusBadRequest)
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil), http.StatusNotFound)
}

// unsized hides a reader's length, so the client sends it chunked.
type unsized struct{ io.Reader }

func Test_Put_BodyOverLimit_413(t *testing.T) {
	t.Parallel()
	const limit = 256
	f := mustServe(t, api.NewLimits(limit, 10*time.Second))
	big := `{"pad":"` + strings.Repeat("x", 4*limit) + `"}`
	before := f.n.Status().LastIndex

	t.Run("Content-Length", func(t *testing.T) {
		r, err := f.send(http.MethodPut, resPath(kindItem, "big"), strings.NewReader(big))
		if err != nil {
			t.Fatalf("PUT: %v", err)
		}
		mustStatus(t, r, http.StatusRequestEntityTooLarge)
		if e := mustError(t, r); !strings.Contains(e.Error, strconv.Itoa(limit)) {
			t.Errorf("error %q does not name the limit", e.Error)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPut, f.base+resPath(kindItem, "big"), unsized{strings.NewReader(big)})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatalf("PUT: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r := reply{status: resp.StatusCode, header: resp.Header, body: b}
		mustStatus(t, r, http.StatusRequestEntityTooLarge)
		// The error comes from reading the body (http.MaxBytesReader),
		// not from the Content-Length check.
		if e := mustError(t, r); !strings.Contains(e.Error, "too large") || !strings.Contains(e.Error, strconv.Itoa(limit)) {
			t.Errorf("error %q", e.Error)
		}
	})
	t.Run("chunked-under-limit", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPut, f.base+resPath(kindItem, "small"), unsized{strings.NewReader(`{"ok":true}`)})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatalf("PUT: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("small chunked PUT: %d", resp.StatusCode)
		}
	})
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "big"), nil), http.StatusNotFound)
	if l := mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item", nil)); len(l.Items) != 1 || l.Items[0].ID != "small" {
		t.Errorf("items after the refused bodies: %+v", l.Items)
	}
	// Only the small body took a log entry.
	if got := f.n.Status().LastIndex; got != before+1 {
		t.Errorf("last log index %d, want %d: an oversized body reached the log", got, before+1)
	}
}

func Test_UnknownRoute_404JSON(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	// (/cairn/v1/resources/t.item/a/b is a resource path with an id that
	// breaks the id rule: 400, Test_ID_WithSlash_400.)
	for _, p := range []string{"/nope", "/cairn/v1/resources", "/cairn/v2/status"} {
		r := f.do(http.MethodGet, p, nil)
		mustStatus(t, r, http.StatusNotFound)
	}
}

func Test_WrongMethod_405JSON(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, resPath(kindItem, "a")},
		{http.MethodPatch, resPath(kindItem, "a")},
		{http.MethodPut, "/cairn/v1/resources/t.item"},
		{http.MethodDelete, "/cairn/v1/status"},
		{http.MethodPost, "/health"},
	} {
		r := f.do(c.method, c.path, strings.NewReader(`{}`))
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405; body %s", c.method, c.path, r.status, r.body)
			continue
		}
		mustStatus(t, r, http.StatusMethodNotAllowed)
	}
}

func Test_InvalidKindOrID_400(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	mustStatus(t, f.do(http.MethodPut, "/cairn/v1/resources/Bad%20Kind/a", strings.NewReader(`{}`)), http.StatusBadRequest)
	mustStatus(t, f.do(http.MethodGet, "/cairn/v1/resources/Bad%20Kind/a", nil), http.StatusBadRequest)
	mustStatus(t, f.do(http.MethodGet, "/cairn/v1/resources/Bad%20Kind", nil), http.StatusBadRequest)
	mustStatus(t, f.do(http.MethodDelete, "/cairn/v1/resources/Bad%20Kind/a", nil), http.StatusBadRequest)
	mustStatus(t, f.do(http.MethodPut, "/cairn/v1/resources/t.item/a%01b", strings.NewReader(`{}`)), http.StatusBadRequest)
}

func Test_Get_Consistent_Leader(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	put := mustResource(t, f.mustPut(kindItem, "a", `{}`, http.StatusCreated))
	r := f.do(http.MethodGet, resPath(kindItem, "a")+"?consistent", nil)
	mustStatus(t, r, http.StatusOK)
	if got := mustResource(t, r); got.Version != put.Version {
		t.Errorf("consistent read: %+v", got)
	}
	if mustIndexHeader(t, r) < put.Version {
		t.Errorf("X-Cairn-Index %s before the write at %d", r.header.Get("X-Cairn-Index"), put.Version)
	}
	mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item?consistent=true", nil))
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "a")+"?stale", nil), http.StatusOK)
	mustStatus(t, f.do(http.MethodGet, resPath(kindItem, "a")+"?consistent&stale", nil), http.StatusBadRequest)
}

func Test_Get_FreshnessHeaders(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	put := mustResource(t, f.mustPut(kindItem, "a", `{}`, http.StatusCreated))
	for _, p := range []string{resPath(kindItem, "a"), "/cairn/v1/resources/t.item", resPath(kindItem, "missing")} {
		r := f.do(http.MethodGet, p, nil)
		if got := r.header.Get("X-Cairn-Known-Leader"); got != "true" {
			t.Errorf("%s: X-Cairn-Known-Leader %q", p, got)
		}
		if got := r.header.Get("X-Cairn-Last-Contact"); got != "0" {
			t.Errorf("%s: X-Cairn-Last-Contact %q, want 0 on the leader", p, got)
		}
		if got := mustIndexHeader(t, r); got != put.Version {
			t.Errorf("%s: X-Cairn-Index %d, want %d", p, got, put.Version)
		}
	}
}

func Test_Get_BlockingRead_ReturnsAfterWrite(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	v1 := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated)).Version
	cur := mustIndexHeader(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil))

	type result struct {
		r   reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := f.send(http.MethodGet, resPath(kindItem, "a")+"?index="+strconv.FormatUint(cur, 10)+"&wait=5s", nil)
		done <- result{r, err}
	}()
	// The read blocks while nothing is written.
	select {
	case res := <-done:
		t.Fatalf("blocking read returned before any write: %v, %d %s", res.err, res.r.status, res.r.body)
	case <-time.After(200 * time.Millisecond):
	}
	v2 := mustResource(t, f.mustPut(kindItem, "a", `{"v":2}`, http.StatusOK)).Version

	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("blocking read: %v", res.err)
		}
		mustStatus(t, res.r, http.StatusOK)
		got := mustResource(t, res.r)
		if got.Version != v2 || got.Version <= v1 || string(got.Body) != `{"v":2}` {
			t.Errorf("blocking read returned %+v, want version %d", got, v2)
		}
		if idx := mustIndexHeader(t, res.r); idx < v2 {
			t.Errorf("X-Cairn-Index %d before the write at %d", idx, v2)
		}
		if res.r.header.Get("ETag") != etagOf(v2) {
			t.Errorf("ETag %q", res.r.header.Get("ETag"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking read did not return after the write")
	}
}

func Test_Get_BlockingRead_NoWrite_ReturnsUnchanged(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	v1 := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated)).Version
	cur := mustIndexHeader(t, f.do(http.MethodGet, resPath(kindItem, "a"), nil))
	for _, p := range []string{resPath(kindItem, "a"), "/cairn/v1/resources/t.item"} {
		r := f.do(http.MethodGet, p+"?index="+strconv.FormatUint(cur, 10)+"&wait=300ms", nil)
		mustStatus(t, r, http.StatusOK)
		if got := mustIndexHeader(t, r); got != cur {
			t.Errorf("%s: X-Cairn-Index %d after a wait with no writes, want %d", p, got, cur)
		}
	}
	if got := mustResource(t, f.do(http.MethodGet, resPath(kindItem, "a")+"?index=1&wait=5s", nil)); got.Version != v1 {
		t.Errorf("read of an index already passed: %+v", got)
	}
}

func Test_Status_Digest(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{"x":1}`, http.StatusCreated)
	var plain, withDigest node.Status
	mustUnmarshalBody(t, f.do(http.MethodGet, "/cairn/v1/status", nil).body, &plain)
	if plain.StoreDigest != "" {
		t.Errorf("status without ?digest carries a digest: %+v", plain)
	}
	mustUnmarshalBody(t, f.do(http.MethodGet, "/cairn/v1/status?digest", nil).body, &withDigest)
	v := f.n.View()
	if withDigest.StoreDigest != v.Digest() || withDigest.StoreDigestIndex != v.Index() {
		t.Errorf("digest %q at %d, want %q at %d", withDigest.StoreDigest, withDigest.StoreDigestIndex, v.Digest(), v.Index())
	}
	f.mustPut(kindItem, "a", `{"x":2}`, http.StatusOK)
	var after node.Status
	mustUnmarshalBody(t, f.do(http.MethodGet, "/cairn/v1/status?digest", nil).body, &after)
	if after.StoreDigest == withDigest.StoreDigest {
		t.Error("the digest did not change with the store")
	}
}

func mustUnmarshalBody(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func Test_Status_JSONFields(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{}`, http.StatusCreated)
	r := f.do(http.MethodGet, "/cairn/v1/status", nil)
	mustStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var st map[string]any
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("status %s: %v", r.body, err)
	}
	for _, k := range []string{"node_id", "zone", "state", "leader_id", "leader_http", "term", "last_index", "commit_index", "applied_index"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %q: %s", k, r.body)
		}
	}
	want := map[string]any{"node_id": "n1", "zone": "z1", "state": "Leader", "leader_id": "n1", "leader_http": advertisedURL}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("status %s = %v, want %v", k, st[k], v)
		}
	}
	for _, k := range []string{"term", "last_index", "commit_index", "applied_index"} {
		if n, _ := st[k].(float64); n < 1 {
			t.Errorf("status %s = %v, want > 0", k, st[k])
		}
	}
}

func Test_Probes_200(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	for _, p := range []string{"/health", "/ready"} {
		r := f.do(http.MethodGet, p, nil)
		mustStatus(t, r, http.StatusOK)
		var body map[string]string
		if err := json.Unmarshal(r.body, &body); err != nil || body["status"] == "" {
			t.Errorf("%s: %s (%v)", p, r.body, err)
		}
		if h := f.do(http.MethodHead, p, nil); h.status != http.StatusOK {
			t.Errorf("HEAD %s: %d", p, h.status)
		}
	}
}

func Test_ManagementDomain_SelfLinkFromHTTPURL(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	r := f.do(http.MethodGet, "/management/domain", nil, "Host", "attacker.example:1234")
	mustStatus(t, r, http.StatusOK)
	var doc map[string]struct{ Name, Rel, Href string }
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("domain %s: %v", r.body, err)
	}
	self, ok := doc["selfLink"]
	if !ok {
		t.Fatalf("no selfLink in %s", r.body)
	}
	if self.Href != advertisedURL+"/management/domain" || self.Rel != "self" {
		t.Errorf("selfLink = %+v, want href %s/management/domain", self, advertisedURL)
	}
	if strings.Contains(string(r.body), "attacker") || strings.Contains(string(r.body), strings.TrimPrefix(f.base, "http://")) {
		t.Errorf("domain document uses the request's host: %s", r.body)
	}
}

func Test_List_ByIndex(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindHost, "h1", `{"name":"alpha","tags":["db","eu"]}`, http.StatusCreated)
	f.mustPut(kindHost, "h2", `{"name":"beta","tags":["eu"]}`, http.StatusCreated)
	f.mustPut(kindHost, "h3", `{"tags":[]}`, http.StatusCreated)
	f.mustPut(kindItem, "i1", `{"name":"alpha"}`, http.StatusCreated)

	ids := func(q string) string {
		t.Helper()
		var s []string
		for _, it := range mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/"+q, nil)).Items {
			s = append(s, it.ID)
		}
		return strings.Join(s, ",")
	}
	for q, want := range map[string]string{
		"t.host?by=name&value=alpha": "h1",
		"t.host?by=tags&value=eu":    "h1,h2",
		"t.host?by=tags&value=us":    "",
		"t.host?by=name&value=":      "",
	} {
		if got := ids(q); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	for _, q := range []string{"t.item?by=name&value=alpha", "t.host?by=nope&value=x", "t.host?value=x"} {
		mustStatus(t, f.do(http.MethodGet, "/cairn/v1/resources/"+q, nil), http.StatusBadRequest)
	}
}

func Test_Put_UniqueIndexClash_409(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindHost, "h1", `{"name":"alpha"}`, http.StatusCreated)
	r := f.mustPut(kindHost, "h2", `{"name":"alpha"}`, http.StatusConflict)
	if e := mustError(t, r); !strings.Contains(e.Error, `"h1"`) {
		t.Errorf("error %q does not name the holder", e.Error)
	}
	mustStatus(t, f.do(http.MethodGet, resPath(kindHost, "h2"), nil), http.StatusNotFound)
	// A body whose index field is not a scalar is refused as invalid.
	f.mustPut(kindHost, "h3", `{"name":{"x":1}}`, http.StatusBadRequest)
}

func Test_Put_Concurrent32DistinctIDs_AllListed(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	const workers = 32
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.send(http.MethodPut, resPath(kindItem, fmt.Sprintf("id-%02d", i)), strings.NewReader(fmt.Sprintf(`{"i":%d}`, i)))
			if err != nil {
				t.Errorf("PUT id-%02d: %v", i, err)
				return
			}
			if r.status != http.StatusCreated {
				t.Errorf("PUT id-%02d: %d %s", i, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	l := mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/t.item?limit=1000", nil))
	if len(l.Items) != workers {
		t.Fatalf("listed %d items, want %d", len(l.Items), workers)
	}
	for i, it := range l.Items {
		if want := fmt.Sprintf("id-%02d", i); it.ID != want || string(it.Body) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Errorf("item %d = %s %s, want %s", i, it.ID, it.Body, want)
		}
	}
}

func Test_Put_ConcurrentIfMatchCAS_NoLostUpdate(t *testing.T) {
	t.Parallel()
	f := mustServe(t, nil)
	f.mustPut(kindItem, "counter", `{"n":0}`, http.StatusCreated)
	const workers, each = 8, 5

	var mu sync.Mutex
	oks, conflicts := 0, 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := 0
			for attempt := 0; mine < each; attempt++ {
				if attempt > 1000 {
					t.Errorf("worker %d: no progress after %d attempts", w, attempt)
					return
				}
				r, err := f.send(http.MethodGet, resPath(kindItem, "counter"), nil)
				if err != nil || r.status != http.StatusOK {
					t.Errorf("worker %d: GET: %v %d %s", w, err, r.status, r.body)
					return
				}
				var res struct {
					Body struct{ N int } `json:"body"`
				}
				if err := json.Unmarshal(r.body, &res); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				body := fmt.Sprintf(`{"n":%d}`, res.Body.N+1)
				p, err := f.send(http.MethodPut, resPath(kindItem, "counter"), strings.NewReader(body), "If-Match", r.header.Get("ETag"))
				if err != nil {
					t.Errorf("worker %d: PUT: %v", w, err)
					return
				}
				switch p.status {
				case http.StatusOK:
					mine++
					mu.Lock()
					oks++
					mu.Unlock()
				case http.StatusPreconditionFailed:
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					t.Errorf("worker %d: PUT: %d %s", w, p.status, p.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := f.do(http.MethodGet, resPath(kindItem, "counter"), nil)
	var res struct {
		Body struct{ N int } `json:"body"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Body.N != oks || oks != workers*each {
		t.Errorf("counter = %d after %d successful increments (want %d); %d conflicts", res.Body.N, oks, workers*each, conflicts)
	}
	t.Logf("%d increments, %d conflicts", oks, conflicts)
}

// Test_NoLeader_ReadsServed_WritesAndProbes503 runs a node that did not
// bootstrap and was never joined: it knows no leader.
func Test_NoLeader_ReadsServed_WritesAndProbes503(t *testing.T) {
	t.Parallel()
	f := mustServeNode(t, nil, false)

	// Default and stale reads are served from the local store, saying how
	// fresh they are.
	for _, q := range []string{"", "?stale"} {
		r := f.do(http.MethodGet, "/cairn/v1/resources/t.item"+q, nil)
		mustList(t, r)
		if got := r.header.Get("X-Cairn-Known-Leader"); got != "false" {
			t.Errorf("%q: X-Cairn-Known-Leader %q, want false", q, got)
		}
		if got := r.header.Get("X-Cairn-Last-Contact"); got != "-1" {
			t.Errorf("%q: X-Cairn-Last-Contact %q, want -1 (never)", q, got)
		}
	}
	mustStatus(t, f.do(http.MethodGet, "/health", nil), http.StatusOK)

	// Writes and consistent reads may wait a while for a leader to
	// appear before giving up: ask all at once.
	cases := []struct {
		method, path, body string
	}{
		{http.MethodGet, "/ready", ""},
		{http.MethodGet, resPath(kindItem, "a") + "?consistent", ""},
		{http.MethodPut, resPath(kindItem, "a"), `{}`},
		{http.MethodDelete, resPath(kindItem, "a"), ""},
	}
	replies := make([]reply, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = f.send(c.method, c.path, strings.NewReader(c.body))
		}()
	}
	wg.Wait()
	for i, c := range cases {
		r := replies[i]
		if errs[i] != nil {
			t.Errorf("%s %s: %v", c.method, c.path, errs[i])
			continue
		}
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d, want 503; body %s", c.method, c.path, r.status, r.body)
			continue
		}
		mustStatus(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", c.method, c.path)
		}
	}
	if f.n.View().Get(kindItem, "a") != nil {
		t.Error("a write was applied without a leader")
	}
	var st map[string]any
	if err := json.Unmarshal(f.do(http.MethodGet, "/cairn/v1/status", nil).body, &st); err != nil {
		t.Fatal(err)
	}
	if st["state"] != "Follower" || st["leader_id"] != "" {
		t.Errorf("status of an unjoined node: %v", st)
	}
}

// An id with a '/' is refused with the README's rule (400), whether sent
// encoded or as more path segments, never stored or answered "no route".
func Test_ID_WithSlash_400(t *testing.T) {
	f := mustServe(t, nil)
	for _, path := range []string{"/cairn/v1/resources/widget/a%2Fb", "/cairn/v1/resources/widget/a/b"} {
		for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
			r := f.do(method, path, strings.NewReader(`{}`))
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "'/'") {
				t.Errorf("%s %s: %d %s, want 400 naming '/'", method, path, r.status, r.body)
			}
		}
	}
}
