package mrf_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func Test_Contributions_Fabric3Archive_ComponentsFromComposites(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	mustInstall(t, f, "Fabric3-Calculator.zip", "fabric3-calculator.zip")
	doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/contribution/fabric3-calculator.zip", nil, 0))
	// The deployable composite's components and those of the composite it
	// includes; not the nested or undeployable composites' components.
	if got := fmt.Sprint(doc["components"]); got != "[CalculatorService MathComponent AddService SubtractService]" {
		t.Errorf("components %s", got)
	}
	if got := fmt.Sprint(doc["deployables"]); got != "[{urn:fabric3.org:samples:calculator}CalculatorComposite]" {
		t.Errorf("deployables %s", got)
	}
	if doc["uri"] != "Fabric3-Calculator.zip" {
		t.Errorf("uri %v: the name's case is lost", doc["uri"])
	}
}

func Test_Contributions_Fabric3Archive_Broken_420PerArtifact_NothingStored(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/broken.zip", mustArchive(t, "fabric3-broken.zip"), 0)
	var entity map[string][]string
	if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil {
		t.Fatalf("install: %d %s, want 420 and a map of artifacts", w.Code, w.Body)
	}
	if m := strings.Join(entity["META-INF/sca-contribution.xml"], " "); !strings.Contains(m, "{urn:example}Missing") {
		t.Errorf("sca-contribution.xml: %q, want the missing deployable named", m)
	}
	if m := strings.Join(entity["broken.composite"], " "); !strings.Contains(m, "XML") {
		t.Errorf("broken.composite: %q, want its XML error", m)
	}
	if f.node.store.View().Index() != 0 {
		t.Error("a refused archive was stored")
	}
}
