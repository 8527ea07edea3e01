package mrf_test

import (
	"archive/zip"
	"bytes"
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

func Test_Contributions_Fabric3Archive_UnprefixedDeployable_MatchesByLocalName(t *testing.T) {
	f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
	zip := makeZip(t, map[string]string{
		"META-INF/sca-contribution.xml": `<contribution xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912"><deployable composite="Shop"/></contribution>`,
		"shop.composite":                `<composite xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912" name="Shop" targetNamespace="urn:shop"><component name="Cart"/></composite>`,
	})
	if w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/shop.jar", zip, 0); w.Code != http.StatusCreated {
		t.Fatalf("install: %d %s", w.Code, w.Body)
	}
	doc := docOf(t, f.send(t, http.MethodGet, "/management/domain/contributions/contribution/shop.jar", nil, 0))
	if fmt.Sprint(doc["components"]) != "[Cart]" || fmt.Sprint(doc["deployables"]) != "[{urn:shop}Shop]" {
		t.Errorf("shop.jar: %v", doc)
	}
}

// makeZip is a zip of the named entries.
func makeZip(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func Test_Contributions_Fabric3Archive_BadSCA_420NamingTheFile(t *testing.T) {
	const sca = `xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912"`
	manifest := func(deployables ...string) string {
		s := `<contribution ` + sca + ` xmlns:x="urn:x">`
		for _, d := range deployables {
			s += `<deployable composite="` + d + `"/>`
		}
		return s + `</contribution>`
	}
	for name, c := range map[string]struct {
		entries  map[string]string
		artifact string
		want     string
	}{
		"not XML":                      {map[string]string{"META-INF/sca-contribution.xml": "<contribution"}, "META-INF/sca-contribution.xml", "XML"},
		"wrong root":                   {map[string]string{"META-INF/sca-contribution.xml": `<composite ` + sca + `/>`}, "META-INF/sca-contribution.xml", "<contribution>"},
		"undeclared prefix":            {map[string]string{"META-INF/sca-contribution.xml": manifest("y:A")}, "META-INF/sca-contribution.xml", "prefix"},
		"deployable without composite": {map[string]string{"META-INF/sca-contribution.xml": `<contribution ` + sca + `><deployable/></contribution>`}, "META-INF/sca-contribution.xml", "composite attribute"},
		"component without name": {map[string]string{"META-INF/sca-contribution.xml": manifest("x:A"),
			"a.composite": `<composite ` + sca + ` name="A" targetNamespace="urn:x"><component/></composite>`}, "a.composite", "no name"},
		"component name with a slash": {map[string]string{"META-INF/sca-contribution.xml": manifest("x:A"),
			"a.composite": `<composite ` + sca + ` name="A" targetNamespace="urn:x"><component name="a/b"/></composite>`}, "a.composite", "'/'"},
		"component in two deployables": {map[string]string{"META-INF/sca-contribution.xml": manifest("x:A", "x:B"),
			"a.composite": `<composite ` + sca + ` name="A" targetNamespace="urn:x"><component name="C"/></composite>`,
			"b.composite": `<composite ` + sca + ` name="B" targetNamespace="urn:x"><component name="c"/></composite>`}, "b.composite", "declared in"},
		"include cycle": {map[string]string{"META-INF/sca-contribution.xml": manifest("x:A"),
			"a.composite": `<composite ` + sca + ` xmlns:x="urn:x" name="A" targetNamespace="urn:x"><include name="x:B"/></composite>`,
			"b.composite": `<composite ` + sca + ` xmlns:x="urn:x" name="B" targetNamespace="urn:x"><include name="x:A"/></composite>`}, "a.composite", "includes itself"},
		"missing include": {map[string]string{"META-INF/sca-contribution.xml": manifest("x:A"),
			"a.composite": `<composite ` + sca + ` xmlns:x="urn:x" name="A" targetNamespace="urn:x"><include name="x:Z"/></composite>`}, "a.composite", "{urn:x}Z"},
		"entity expansion": {map[string]string{"META-INF/sca-contribution.xml": `<!DOCTYPE c [<!ENTITY e "x">]><contribution ` + sca + `><deployable composite="&e;"/></contribution>`}, "META-INF/sca-contribution.xml", "XML"},
	} {
		f := newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), nil)
		w := f.send(t, http.MethodPut, "/management/domain/contributions/contribution/x.jar", makeZip(t, c.entries), 0)
		var entity map[string][]string
		if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil || !strings.Contains(strings.Join(entity[c.artifact], " "), c.want) {
			t.Errorf("%s: %d %s, want 420 with %s naming %q", name, w.Code, w.Body, c.artifact, c.want)
		}
		if f.node.store.View().Index() != 0 {
			t.Errorf("%s: stored", name)
		}
	}
}
