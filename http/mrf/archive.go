package mrf

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"

	"cairn/cluster/deploy"
	"cairn/node/workload"
)

// ManifestPath is where a contribution archive may name what it provides
// directly: a JSON document inside the zip, beside (or instead of)
// Fabric3's META-INF/sca-contribution.xml, which names deployable
// composites whose components are declared in .composite files
// (SCAContributionPath). A contribution provides the union of both.
//
//	{"deployables": ["{urn:example}CalculatorComposite"],
//	 "components": ["CalculatorComponent", "AddComponent"]}
//
// Both keys are optional, and so is the manifest: a zip without one is a
// contribution that provides no components. A third, "run", makes the
// contribution runnable (deploy.Run): once deployed it runs as a workload
// on every live member of each target zone, from the unpacked archive:
//
//	{"components": ["Ticker"],
//	 "run": {"command": ["sh", "-c", "..."], "runtime": "bash", "env": {"K": "v"}, "ports": ["http"]}}
//
// "run": {} (or a runtime without a command) runs the start file a
// runtime recognises among the archive's top-level files (bash_start.sh,
// app.py, ...); none → 420.
const ManifestPath = "META-INF/cairn-contribution.json"

// maxManifestBytes bounds the manifest read out of an archive, so a
// compressed manifest cannot expand into much memory.
const maxManifestBytes = 64 << 10

// maxNameBytes bounds a component name, a deployable and a contribution
// URI.
const maxNameBytes = 255

// manifest is what a contribution provides, as its archive's manifest
// names it.
type manifest struct {
	Deployables []string    `json:"deployables"`
	Components  []string    `json:"components"`
	Run         *deploy.Run `json:"run,omitempty"`
}

// archiveInfo is an uploaded archive, checked and summarised.
type archiveInfo struct {
	sha1     string
	length   int64
	manifest manifest
}

// readArchive checks that data is a zip archive and reads its manifest.
// Not a zip: errBadRequest (Fabric3 answers an unknown content type with
// 400). A zip whose manifest is refused: a validation error naming the
// manifest (Fabric3's 420).
func readArchive(data []byte) (archiveInfo, error) {
	sum := sha1.Sum(data)
	info := archiveInfo{sha1: hex.EncodeToString(sum[:]), length: int64(len(data))}
	if len(data) == 0 {
		return info, fabric(errBadRequest, "The contribution is empty: send its zip archive as the body")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return info, fabric(errBadRequest, "The contribution is not a zip archive (%v): send its zip or jar as the body", err)
	}
	var mf *zip.File
	for _, f := range zr.File {
		if f.Name == ManifestPath {
			mf = f
			break
		}
	}
	ve := &validationError{}
	m := manifest{Deployables: []string{}, Components: []string{}}
	if mf != nil {
		if m, err = readManifest(mf); err != nil {
			ve.add(ManifestPath, err.Error())
		}
	}
	// A contribution built for Fabric3 declares its components in SCA
	// composites; Cairn's manifest, if there is one too, adds to them.
	if deployables, components, ok := readSCA(zr, ve); ok {
		for _, c := range components {
			for _, mc := range m.Components {
				if strings.EqualFold(c, mc) && c != mc {
					ve.add(ManifestPath, fmt.Sprintf("component %q is named %q in a composite", mc, c))
				}
			}
		}
		m.Deployables = mergeNames(m.Deployables, deployables)
		m.Components = mergeNames(m.Components, components)
	}
	if m.Run != nil {
		if msg := checkRun(zr, *m.Run, info.sha1); msg != "" {
			ve.add(ManifestPath, msg)
		}
	}
	if err := ve.orNil(); err != nil {
		return info, err
	}
	info.manifest = m
	return info, nil
}

// checkComponentName checks a component's name: a name (checkName) that
// is one segment of a URL path.
func checkComponentName(c string) error {
	if err := checkName(c); err != nil {
		return err
	}
	if strings.Contains(c, "/") {
		return errors.New("a component name has no '/'")
	}
	return nil
}

func readManifest(f *zip.File) (manifest, error) {
	rc, err := f.Open()
	if err != nil {
		return manifest{}, fmt.Errorf("cannot open it: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return manifest{}, fmt.Errorf("cannot read it: %v", err)
	}
	if len(b) > maxManifestBytes {
		return manifest{}, fmt.Errorf("it is over %d bytes", maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m manifest
	if err := dec.Decode(&m); err != nil {
		return manifest{}, fmt.Errorf(`it is not a JSON object {"deployables": [...], "components": [...], "run": {...}}: %v`, err)
	}
	if dec.More() {
		return manifest{}, errors.New("it holds more than one JSON value")
	}
	if m.Deployables == nil {
		m.Deployables = []string{}
	}
	if m.Components == nil {
		m.Components = []string{}
	}
	for _, d := range m.Deployables {
		if err := checkName(d); err != nil {
			return manifest{}, fmt.Errorf("deployable %q: %v", d, err)
		}
	}
	seen := map[string]bool{}
	for _, c := range m.Components {
		if err := checkComponentName(c); err != nil {
			return manifest{}, fmt.Errorf("component %q: %v", c, err)
		}
		// Paths are case-insensitive, so names that differ only in case
		// would share one URL.
		lc := strings.ToLower(c)
		if seen[lc] {
			return manifest{}, fmt.Errorf("component %q is named twice", c)
		}
		seen[lc] = true
	}
	return m, nil
}

// checkName checks a manifest name or a contribution URI: 1 to
// maxNameBytes bytes without control characters or spaces.
func checkName(s string) error {
	if s == "" || len(s) > maxNameBytes {
		return fmt.Errorf("must be 1 to %d bytes", maxNameBytes)
	}
	if s == "." || s == ".." {
		// A path segment of its own: every path holding it is cleaned
		// (and redirected) before routing, so it could never be read or
		// deleted.
		return errors.New(`"." and ".." cannot name anything`)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return errors.New("has a space, a control character or invalid UTF-8")
		}
	}
	return nil
}

// checkRun says what is wrong with a manifest's run, "" if nothing: it
// must make a valid workload, and without a command a runtime must
// recognise a file at the top of the archive (as staging will look for
// it: inside the archive's one top-level directory, if it has only one).
func checkRun(zr *zip.Reader, run deploy.Run, sum string) string {
	if _, err := run.Spec(sum, []string{"n1"}); err != nil {
		return "run: " + strings.TrimPrefix(err.Error(), "invalid workload: ")
	}
	if len(run.Command) > 0 {
		return ""
	}
	top := topLevel(zr)
	if run.Runtime == "" {
		if _, ok := workload.DetectRuntime(top); !ok {
			return fmt.Sprintf("run names no command, and no runtime recognises a file at the top of the archive (%s): add a start file (bash_start.sh, app.py, server.js, ...) or a command",
				strings.Join(top, ", "))
		}
	}
	return ""
}

// topLevel lists the names at the top of an archive as staging sees
// them: those inside its one top-level directory if it has only one.
func topLevel(zr *zip.Reader) []string {
	names := func(prefix string) []string {
		seen := map[string]bool{}
		var out []string
		for _, f := range zr.File {
			rest, ok := strings.CutPrefix(f.Name, prefix)
			if !ok || rest == "" {
				continue
			}
			first, _, _ := strings.Cut(rest, "/")
			if first != "" && !seen[first] {
				seen[first] = true
				out = append(out, first)
			}
		}
		sort.Strings(out)
		return out
	}
	top := names("")
	if len(top) == 1 {
		for _, f := range zr.File {
			if strings.HasPrefix(f.Name, top[0]+"/") {
				return names(top[0] + "/")
			}
		}
	}
	return top
}
