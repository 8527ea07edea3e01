package native_test

import (
	"context"
	"net/http"
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
