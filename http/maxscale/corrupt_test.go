package maxscale_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/http/maxscale"
	"cairn/node/auth"
)

// Test_CorruptRecord_ListSkipsIt_DeleteRemovesIt: a stored record that
// does not decode (written around the API before kinds had owners) is
// left out of its list, not a 500 for the whole collection, and DELETE
// through the MaxScale API removes it (#13 item 2).
func Test_CorruptRecord_ListSkipsIt_DeleteRemovesIt(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	cmd := fsm.Command{Time: time.Now(), Ops: []fsm.Op{
		{Type: fsm.OpPut, Kind: maxscale.KindServer, ID: "bad", Body: []byte(`{"name":1,"parameters":"x"}`)},
	}}
	if _, res, err := f.n.Apply(context.Background(), cmd); err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res)
	}
	got := ids(t, f.must("GET", "/v1/servers", nil, 200).body)
	if len(got) != 2 || got[0] != "server1" || got[1] != "server2" {
		t.Errorf("GET /v1/servers lists %v, want server1 and server2 only", got)
	}
	f.must("DELETE", "/v1/servers/bad", nil, 204)
	if f.n.View().Get(maxscale.KindServer, "bad") != nil {
		t.Error("the corrupt server is still stored after DELETE")
	}
	// A corrupt record that others relate to: they still list, without it.
	cmd = fsm.Command{Time: time.Now(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: maxscale.KindServer, ID: "server2", Body: []byte(`{"status":"x"}`)}}}
	if _, res, err := f.n.Apply(context.Background(), cmd); err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res)
	}
	if got := ids(t, f.must("GET", "/v1/services", nil, 200).body); len(got) != 2 {
		t.Errorf("GET /v1/services lists %v, want both services", got)
	}
	f.must("GET", "/v1/monitors", nil, 200)
	if got := ids(t, f.must("GET", "/v1/servers", nil, 200).body); len(got) != 1 || got[0] != "server1" {
		t.Errorf("GET /v1/servers lists %v, want server1 only", got)
	}
}

// Test_Users_ColonRefused_OnlyUsableAdminsCount: a user name with a ':'
// is refused (Basic splits at the first colon, so it could never log in),
// and one stored before that does not count as an admin for the
// last-admin rule (#13 item 5).
func Test_Users_ColonRefused_OnlyUsableAdminsCount(t *testing.T) {
	f := mustServe(t)
	mustErrors(t, f.must("POST", "/v1/users/inet", []byte(`{"data":{"id":"a:b","type":"inet","attributes":{"password":"pw","account":"admin"}}}`), 403), "':'")
	// One stored before names were checked, beside the default admin.
	f.must("POST", "/v1/users/inet", []byte(`{"data":{"id":"reader","type":"inet","attributes":{"password":"pw","account":"basic"}}}`), 204)
	admin := f.n.View().Get(auth.UserKind, "admin")
	cmd := fsm.Command{Time: time.Now(), Ops: []fsm.Op{{Type: fsm.OpPut, Kind: auth.UserKind, ID: "a:b", Body: admin.Body}}}
	if _, res, err := f.n.Apply(context.Background(), cmd); err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res)
	}
	mustErrors(t, f.must("DELETE", "/v1/users/inet/admin", nil, 403), "last admin")
	// The unusable one can go.
	f.must("DELETE", "/v1/users/inet/a:b", nil, 204)
}

// Test_Create_BadTypeDotNamesAndInvalidUTF8_Refused: a POST whose
// data.type is another collection's, whose id is "." or "..", or whose
// body is not valid UTF-8 creates nothing (#13 items 6, 9, 11).
func Test_Create_BadTypeDotNamesAndInvalidUTF8_Refused(t *testing.T) {
	f := mustServe(t)
	for what, body := range map[string]string{
		"wrong type":   `{"data":{"id":"s1","type":"services","attributes":{"parameters":{"address":"127.0.0.1","port":3000}}}}`,
		"dot":          `{"data":{"id":".","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3000}}}}`,
		"dot dot":      `{"data":{"id":"..","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3000}}}}`,
		"invalid UTF8": "{\"data\":{\"id\":\"s\xff\",\"type\":\"servers\",\"attributes\":{\"parameters\":{\"address\":\"127.0.0.1\",\"port\":3000}}}}",
	} {
		if r := f.do("POST", "/v1/servers", []byte(body)); r.status != 403 {
			t.Errorf("%s: %d %s, want 403", what, r.status, r.body)
		}
	}
	if n := f.n.View().Count(maxscale.KindServer); n != 0 {
		t.Errorf("%d servers stored, want none", n)
	}
}

// Test_PatchRelationships_InvalidUTF8_Refused: the relationships body is
// checked like every other (#13 item 6).
func Test_PatchRelationships_InvalidUTF8_Refused(t *testing.T) {
	f := mustServe(t)
	mustSeedTopology(f)
	f.must("PATCH", "/v1/services/RW-Split-Router/relationships/servers", []byte("{\"data\":[{\"id\":\"server1\xff\",\"type\":\"servers\"}]}"), 403)
}

// Test_Links_PercentEncoded: a name holding '?' or non-ASCII links to
// itself (#13 item 9).
func Test_Links_PercentEncoded(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"a?b é","type":"servers","attributes":{"parameters":{"address":"127.0.0.1","port":3000}}}}`), 204)
	r := f.must("GET", "/v1/servers/a%3Fb-%C3%A9", nil, 200)
	if !strings.Contains(string(r.body), `"self":"http://localhost:8989/v1/servers/a%3Fb-%C3%A9"`) {
		t.Errorf("self link not encoded: %s", r.body)
	}
}
