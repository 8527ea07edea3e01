package maxscale_test

import (
	"context"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/http/maxscale"
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
}
