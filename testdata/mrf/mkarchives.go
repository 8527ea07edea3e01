//go:build ignore

// mkarchives writes the sample contribution archives of this directory:
//
//	go run testdata/mrf/mkarchives.go
//
// Each is a zip whose META-INF/cairn-contribution.json names what the
// contribution provides (http/mrf.ManifestPath). The zips are
// byte-for-byte reproducible (fixed timestamps), so tests may pin their
// SHA-1.
package main

import (
	"archive/zip"
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type entry struct{ name, body string }

var archives = map[string][]entry{
	// Two components, one deployable composite.
	"calculator.zip": {
		{"META-INF/cairn-contribution.json", `{"deployables": ["{urn:example}CalculatorComposite"], "components": ["CalculatorComponent", "AddComponent"]}` + "\n"},
		{"calculator.composite", `<composite xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912" name="CalculatorComposite" targetNamespace="urn:example"/>` + "\n"},
	},
	// Another contribution of one component.
	"greeting.zip": {
		{"META-INF/cairn-contribution.json", `{"components": ["GreetingComponent"]}` + "\n"},
		{"greeting.txt", "hello\n"},
	},
	// Provides CalculatorComponent too: deployed to a zone that runs
	// calculator.zip, it fails there.
	"calculator-clash.zip": {
		{"META-INF/cairn-contribution.json", `{"components": ["CalculatorComponent"]}` + "\n"},
	},
	// No manifest: installs, provides no components.
	"plain.zip": {
		{"readme.txt", "a contribution without a manifest\n"},
	},
	// A contribution built for Fabric3: no Cairn manifest; its
	// sca-contribution.xml names the deployable composite, whose
	// components (two of them through an included composite) are what a
	// deployment runs. The nested component of MathComponent's
	// implementation.composite and the composite that is not deployable
	// are not components of the domain.
	"fabric3-calculator.zip": {
		{"META-INF/sca-contribution.xml", `<?xml version="1.0" encoding="UTF-8"?>
<contribution xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912"
              xmlns:f3="urn:fabric3.org"
              xmlns:calc="urn:fabric3.org:samples:calculator">
    <deployable composite="calc:CalculatorComposite"/>
    <import.java package="org.fabric3.samples.calculator.api"/>
</contribution>
`},
		{"calculator.composite", `<?xml version="1.0" encoding="UTF-8"?>
<composite xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912"
           xmlns:f3="urn:fabric3.org"
           xmlns:calc="urn:fabric3.org:samples:calculator"
           targetNamespace="urn:fabric3.org:samples:calculator"
           name="CalculatorComposite" autowire="true">
    <include name="calc:OperationsComposite"/>
    <component name="CalculatorService">
        <implementation.java class="org.fabric3.samples.calculator.CalculatorServiceImpl"/>
        <reference name="addService" target="AddService"/>
        <reference name="subtractService" target="SubtractService"/>
    </component>
    <component name="MathComponent">
        <implementation.composite name="calc:MathInternals"/>
    </component>
</composite>
`},
		{"operations/operations.composite", `<?xml version="1.0" encoding="UTF-8"?>
<composite xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912"
           targetNamespace="urn:fabric3.org:samples:calculator"
           name="OperationsComposite">
    <component name="AddService">
        <implementation.java class="org.fabric3.samples.calculator.AddServiceImpl"/>
    </component>
    <component name="SubtractService">
        <implementation.java class="org.fabric3.samples.calculator.SubtractServiceImpl"/>
    </component>
</composite>
`},
		{"internals.composite", `<?xml version="1.0" encoding="UTF-8"?>
<composite xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912"
           targetNamespace="urn:fabric3.org:samples:calculator"
           name="MathInternals">
    <component name="InternalHelper">
        <implementation.java class="org.fabric3.samples.calculator.Helper"/>
    </component>
</composite>
`},
		{"org/fabric3/samples/calculator/CalculatorServiceImpl.class", "not really a class file\n"},
	},
	// A Fabric3 contribution whose deployable is not in the archive and
	// whose other composite is not well-formed: 420 naming both.
	"fabric3-broken.zip": {
		{"META-INF/sca-contribution.xml", `<contribution xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912" xmlns:x="urn:example">
    <deployable composite="x:Missing"/>
</contribution>
`},
		{"broken.composite", `<composite xmlns="http://docs.oasis-open.org/ns/opencsa/sca/200912" name="Broken" targetNamespace="urn:example"><component name="A"></composite>
`},
	},
	// A manifest that is not the manifest's JSON: 420 on install.
	"bad-manifest.zip": {
		{"META-INF/cairn-contribution.json", `{"components": "CalculatorComponent"}` + "\n"},
	},
}

// profiles are Fabric3 profiles: archives whose extensions/ folder holds
// contributions, each an archive above (by name) or literal bytes.
var profiles = map[string][]entry{
	// Installs hello.zip (greeting.zip's bytes) and readme.zip (plain.zip's).
	"profile-tools.zip": {
		{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"},
		{"extensions/hello.zip", "@greeting.zip"},
		{"extensions/readme.zip", "@plain.zip"},
	},
	// One good contribution, one with a bad manifest, one not a zip: 420
	// naming the two, and nothing installed.
	"profile-bad.zip": {
		{"extensions/good.zip", "@plain.zip"},
		{"extensions/bad.zip", "@bad-manifest.zip"},
		{"extensions/notes.jar", "not a zip\n"},
	},
}

func main() {
	dir := filepath.Join("testdata", "mrf")
	stamp := time.Date(2014, 11, 1, 0, 0, 0, 0, time.UTC)
	made := map[string][]byte{}
	write := func(name string, entries []entry) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, e := range entries {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: stamp})
			if err != nil {
				log.Fatal(err)
			}
			body := []byte(e.body)
			if strings.HasPrefix(e.body, "@") {
				body = made[e.body[1:]]
			}
			if _, err := w.Write(body); err != nil {
				log.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			log.Fatal(err)
		}
		made[name] = buf.Bytes()
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	for name, entries := range archives {
		write(name, entries)
	}
	for name, entries := range profiles {
		write(name, entries)
	}
}
