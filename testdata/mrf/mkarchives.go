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
	// A manifest that is not the manifest's JSON: 420 on install.
	"bad-manifest.zip": {
		{"META-INF/cairn-contribution.json", `{"components": "CalculatorComponent"}` + "\n"},
	},
}

func main() {
	dir := filepath.Join("testdata", "mrf")
	stamp := time.Date(2014, 11, 1, 0, 0, 0, 0, time.UTC)
	for name, entries := range archives {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, e := range entries {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: stamp})
			if err != nil {
				log.Fatal(err)
			}
			if _, err := w.Write([]byte(e.body)); err != nil {
				log.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
