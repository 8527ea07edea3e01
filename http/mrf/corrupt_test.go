package mrf_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/http/mrf"
)

// Test_CorruptRecords_ListsSkipThem: a stored deployment or zone
// deployment that does not decode is left out of every list that holds
// it (deployments, components, the zone's deployments) rather than
// failing the collection with a 500 (#13 item 2).
func Test_CorruptRecords_ListsSkipThem(t *testing.T) {
	f := newDomain(t)
	cmd := fsm.Command{Time: time.Now(), Ops: []fsm.Op{
		{Type: fsm.OpPut, Kind: mrf.KindDeployment, ID: "bad.zip", Body: []byte(`{"zones":"not a map"}`)},
		{Type: fsm.OpPut, Kind: mrf.KindZoneDeployment, ID: "bad.zip", Body: []byte(`[1]`)},
	}}
	if _, _, err := f.node.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/management/domain/deployments", "/management/domain/components", "/management/zone/deployments"} {
		if w := f.send(t, http.MethodGet, path, nil, 0); w.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", path, w.Code, w.Body)
		}
	}
}
