package mrf_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"cairn/cluster/deploy"
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

// Test_Names_EncodedInHrefs_DotsRefused: a contribution named "a?b é" is
// addressed by its whole name, percent-encoded, in Location and every
// href; "." and ".." are refused (#13 item 9).
func Test_Names_EncodedInHrefs_DotsRefused(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/a%3Fb%C3%A9", mustArchive(t, "calculator.zip"), 0)
	if w.Code != http.StatusCreated {
		t.Fatalf("install: %d %s", w.Code, w.Body)
	}
	want := "http://localhost:8180/management/domain/contributions/contribution/a%3Fb%C3%A9"
	if got := w.Header().Get("Location"); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions", nil, 0))
	list := doc["contributions"].([]any)
	if href := list[0].(map[string]any)["link"].(map[string]any)["href"]; href != want {
		t.Errorf("list href %v, want %q", href, want)
	}
	self := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/contribution/a%3Fb%C3%A9", nil, 0))["selfLink"].(map[string]any)["href"]
	if self != want {
		t.Errorf("selfLink %v, want %q", self, want)
	}
	// The router cleans "." and ".." out of a path (301) before MRF sees
	// it; nothing is installed under either (checkName refuses them too,
	// for names that do not come from a path: Test_CheckName_Dots).
	for _, name := range []string{"%2E", "%2E%2E"} {
		if w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/"+name, mustArchive(t, "calculator.zip"), 0); w.Code == http.StatusCreated {
			t.Errorf("install %s: %d, want it refused", name, w.Code)
		}
	}
	if n := f.node.store.View().Count(mrf.KindContribution); n != 1 {
		t.Errorf("%d contributions stored, want 1", n)
	}
}

// Test_Report_FieldsNamed_ReasonBounded_UTF8Checked: a report's error
// names the field at fault, its reason is bounded, and a body with
// invalid UTF-8 is 400 (#13 items 6, 11).
func Test_Report_FieldsNamed_ReasonBounded_UTF8Checked(t *testing.T) {
	f := newDomain(t)
	mustInstall(t, f, "calculator.zip", "calculator.zip")
	f.send(t, http.MethodPost, calcDeployment+"?zone=zone1", nil, 0)
	gen := docOf(t, f.send(t, http.MethodGet, calcDeployment, nil, 0))["generation"].(float64)
	report := calcDeployment + "/report"
	for body, want := range map[string]string{
		fmt.Sprintf(`{"generation":%v,"state":"deployed"}`, gen):                                                                        "needs a zone",
		`{"zone":"zone1","state":"deployed"}`:                                                                                           "needs a generation",
		fmt.Sprintf(`{"zone":"zone1","generation":%v,"state":"up"}`, gen):                                                               `got "up"`,
		fmt.Sprintf(`{"zone":"zone1","generation":%v,"state":"failed","reason":%q}`, gen, strings.Repeat("x", deploy.MaxReasonBytes+1)): "reason",
		"{\"zone\":\"zone1\",\"generation\":1,\"state\":\"failed\",\"reason\":\"\xff\"}":                                                "UTF-8",
	} {
		w := f.send(t, http.MethodPost, report, []byte(body), 0)
		if w.Code != http.StatusBadRequest || !strings.Contains(message(t, w), want) {
			t.Errorf("report %.60s: %d %s, want 400 saying %q", body, w.Code, w.Body, want)
		}
	}
	if got := deploy.TruncateReason(strings.Repeat("é", deploy.MaxReasonBytes)); len(got) > deploy.MaxReasonBytes || !utf8.ValidString(got) {
		t.Errorf("TruncateReason: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}
