package native_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
)

// Test_Native_OwnedKinds_WrittenOnlyByTheirDialect_SecretsNeverServed:
// the generic API refuses to write a kind a dialect owns, or any kind in
// its namespace, and never serves a secret kind (#13 item 2).
func Test_Native_OwnedKinds_WrittenOnlyByTheirDialect_SecretsNeverServed(t *testing.T) {
	f := mustServe(t, nil)
	for _, kind := range []string{kindOwned, kindSecret, "d.not-declared-yet"} {
		r := f.do(http.MethodPut, resPath(kind, "x"), strings.NewReader(`{}`))
		mustStatus(t, r, http.StatusForbidden)
		if !strings.Contains(string(r.body), "dialect API") {
			t.Errorf("PUT %s: %s, want the owner named", kind, r.body)
		}
		mustStatus(t, f.do(http.MethodDelete, resPath(kind, "x"), nil), http.StatusForbidden)
	}
	// The dialect itself writes through the node; its records read back
	// through the generic API, except the secret ones.
	cmd := fsm.Command{Time: time.Now(), Ops: []fsm.Op{
		{Type: fsm.OpPut, Kind: kindOwned, ID: "a", Body: []byte(`{"v":1}`)},
		{Type: fsm.OpPut, Kind: kindSecret, ID: "u", Body: []byte(`{"hash":"h","salt":"s"}`)},
	}}
	if _, res, err := f.n.Apply(context.Background(), cmd); err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res)
	}
	mustStatus(t, f.do(http.MethodGet, resPath(kindOwned, "a"), nil), http.StatusOK)
	mustStatus(t, f.do(http.MethodGet, "/cairn/v1/resources/"+kindOwned, nil), http.StatusOK)
	for _, path := range []string{resPath(kindSecret, "u"), "/cairn/v1/resources/" + kindSecret, "/cairn/v1/resources/" + kindSecret + "?by=x&value=y"} {
		r := f.do(http.MethodGet, path, nil)
		mustStatus(t, r, http.StatusForbidden)
		if strings.Contains(string(r.body), "salt") {
			t.Errorf("GET %s served the secret: %s", path, r.body)
		}
	}
	// Other kinds, "d" itself among them, stay open.
	mustStatus(t, f.do(http.MethodPut, resPath("dx.other", "x"), strings.NewReader(`{}`)), http.StatusCreated)
}

// Test_IfMatch_MalformedOrRepeated_400: a malformed entity tag is the
// client's mistake (400), not a miss (412), and a second If-Match header
// is not ignored (#13 item 11).
func Test_IfMatch_MalformedOrRepeated_400(t *testing.T) {
	f := mustServe(t, nil)
	v := mustResource(t, f.mustPut(kindItem, "a", `{"v":1}`, http.StatusCreated)).Version
	for _, tag := range []string{"abc", "-1", `"ab"c"`, `"1`, "W/abc"} {
		f.mustPut(kindItem, "a", `{}`, http.StatusBadRequest, "If-Match", tag)
	}
	// Well-formed tags this API did not issue are a miss.
	for _, tag := range []string{`"abc"`, `"-1"`, `W/"1"`} {
		f.mustPut(kindItem, "a", `{}`, http.StatusPreconditionFailed, "If-Match", tag)
	}
	req, _ := http.NewRequest(http.MethodPut, f.base+resPath(kindItem, "a"), strings.NewReader(`{}`))
	req.Header.Add("If-Match", etagOf(v))
	req.Header.Add("If-Match", `"999999"`)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("two If-Match headers: %d, want 400", resp.StatusCode)
	}
	// Bare numbers stay accepted.
	f.mustPut(kindItem, "a", `{"v":2}`, http.StatusOK, "If-Match", strconv.FormatUint(v, 10))
}

// Test_Head_OnEveryGetRoute: HEAD answers where GET does (#13 item 11).
func Test_Head_OnEveryGetRoute(t *testing.T) {
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{}`, http.StatusCreated)
	for _, path := range []string{"/cairn/v1/status", "/cairn/v1/members", "/cairn/v1/resources/" + kindItem, resPath(kindItem, "a"), "/health", "/ready"} {
		r := f.do(http.MethodHead, path, nil)
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("HEAD %s: %d with %d body bytes, want 200 and none", path, r.status, len(r.body))
		}
	}
}

// Test_List_ByIndex_Paged: ?by= look-ups honour ?limit and ?continue
// (#13 item 10).
func Test_List_ByIndex_Paged(t *testing.T) {
	f := mustServe(t, nil)
	for i := 0; i < 5; i++ {
		f.mustPut(kindHost, "h"+strconv.Itoa(i), `{"tags":["eu"]}`, http.StatusCreated)
	}
	var got []string
	q := "?by=tags&value=eu&limit=2"
	for pages := 0; pages < 5; pages++ {
		l := mustList(t, f.do(http.MethodGet, "/cairn/v1/resources/"+kindHost+q, nil))
		if len(l.Items) > 2 {
			t.Fatalf("page of %d items, limit 2", len(l.Items))
		}
		for _, it := range l.Items {
			got = append(got, it.ID)
		}
		if l.Next == "" {
			break
		}
		q = "?by=tags&value=eu&limit=2&continue=" + l.Next
	}
	if strings.Join(got, ",") != "h0,h1,h2,h3,h4" {
		t.Errorf("paged look-up gave %v", got)
	}
}
