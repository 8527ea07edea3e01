package mrf

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
)

const (
	profilesPath = contributionsPath + "/profiles"
	profilePath  = profilesPath + "/profile/"
	// profileExtensions is the folder of a profile archive whose entries
	// are the contributions it installs.
	profileExtensions = "extensions/"
	// generalArtifact is the key of Fabric3's 420 map for an error that
	// is about no one artifact.
	generalArtifact = "General"
)

// KindProfile is an installed profile (Fabric3's bundle of
// contributions); id = its name's key, the body keeps the name.
const KindProfile = "mrf.profile"

// profile is the stored body of an installed profile.
type profile struct {
	URI           string    `json:"uri"`
	Contributions []string  `json:"contributions"`
	Installed     time.Time `json:"installed"`
}

// profileOf reads the installed profile uri from v, with its resource.
func profileOf(v *fsm.View, uri string) (profile, *fsm.Resource, error) {
	var p profile
	pr := v.Get(KindProfile, key(uri))
	if pr == nil {
		return p, nil, fabric(errNotFound, "Profile not found: %s", uri)
	}
	return p, pr, decode(pr, &p)
}

// profileURI reads and checks the {uri} of a profile path.
func profileURI(r *http.Request) (string, error) { return pathURI(r, "profile") }

// profiles lists the installed profiles: Fabric3's {"profiles": [uri,
// ...]}, and Cairn's "details" with each one's contributions and link.
func (a *api) profiles(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	v := a.Node.View()
	items, _ := v.List(KindProfile, "", "", 0)
	uris := make([]string, 0, len(items))
	details := make([]map[string]any, 0, len(items))
	for _, it := range items {
		var p profile
		if err := decode(it, &p); err != nil {
			fail(w, err)
			return
		}
		uris = append(uris, p.URI)
		details = append(details, map[string]any{"uri": p.URI, "contributions": p.Contributions,
			"link": editLink(p.URI, base+profilePath+seg(p.URI))})
	}
	res := newResource(base, profilesPath)
	res["profiles"] = uris
	res["details"] = details
	writeRead(w, v, res)
}

// getProfile shows one profile and links the contributions it installed.
func (a *api) getProfile(w http.ResponseWriter, r *http.Request) {
	uri, err := profileURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	p, _, err := profileOf(v, uri)
	if err != nil {
		fail(w, err)
		return
	}
	base := a.Node.HTTPURL()
	res := newResource(base, profilePath+seg(p.URI))
	res["uri"] = p.URI
	res["installed"] = p.Installed
	res["contributions"] = p.Contributions
	links := make([]Link, 0, len(p.Contributions))
	for _, c := range p.Contributions {
		links = append(links, editLink(c, base+contributionPath+seg(c)))
	}
	res["links"] = links
	writeRead(w, v, res)
}

// profileEntry is one contribution of a profile archive.
type profileEntry struct {
	file string // its path in the profile archive
	uri  string
	data []byte
	info archiveInfo
}

// readProfile reads the contributions of a profile archive: every file
// directly in its extensions/ folder, named by its file name. Whatever is
// wrong, with the archive or any contribution in it, is gathered per
// artifact in the validation error, so one answer lists it all.
// limit bounds the contributions' total size uncompressed (what one Raft
// command of the profile will carry), as the body limit bounds one
// uploaded contribution.
func readProfile(v *fsm.View, data []byte, limit int64) ([]profileEntry, error) {
	if len(data) == 0 {
		return nil, fabric(errBadRequest, "The profile is empty: send its archive (a zip or jar whose extensions/ folder holds contributions) as the body")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fabric(errBadRequest, "The profile is not a zip archive (%v): send its zip or jar as the body", err)
	}
	ve := &validationError{}
	var out []profileEntry
	seen := map[string]string{}
	var total uint64
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, profileExtensions) || strings.HasSuffix(f.Name, "/") {
			continue
		}
		uri := strings.TrimPrefix(f.Name, profileExtensions)
		if strings.Contains(uri, "/") {
			continue // in a subfolder: not one of the profile's contributions
		}
		if err := checkName(uri); err != nil {
			ve.add(f.Name, fmt.Sprintf("Invalid contribution URI %q: %v", uri, err))
			continue
		}
		if other, dup := seen[key(uri)]; dup {
			ve.add(f.Name, fmt.Sprintf("the profile holds %s twice (also as %s)", uri, other))
			continue
		}
		seen[key(uri)] = f.Name
		if total += f.UncompressedSize64; total > uint64(limit) {
			ve.add(generalArtifact, fmt.Sprintf("The profile's contributions come to over %d bytes uncompressed, the limit of a request body (maxBodyBytes)", limit))
			return nil, ve
		}
		rc, err := f.Open()
		if err != nil {
			ve.add(f.Name, fmt.Sprintf("cannot open it: %v", err))
			continue
		}
		b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		rc.Close()
		if err != nil {
			ve.add(f.Name, fmt.Sprintf("cannot read it: %v", err))
			continue
		}
		info, err := readArchive(b)
		var cve *validationError
		switch {
		case errors.As(err, &cve):
			for artifact, msgs := range cve.errs {
				ve.add(f.Name, prefixAll(artifact+": ", msgs)...)
			}
			continue
		case err != nil:
			ve.add(f.Name, err.Error())
			continue
		}
		if err := contributionExists(v, uri); err != nil {
			ve.add(f.Name, err.Error())
			continue
		}
		out = append(out, profileEntry{file: f.Name, uri: uri, data: b, info: info})
	}
	if len(out) == 0 && len(ve.errs) == 0 {
		ve.add(generalArtifact, "The profile holds no contributions: put them in its extensions/ folder")
	}
	if err := ve.orNil(); err != nil {
		return nil, err
	}
	return out, nil
}

func prefixAll(prefix string, msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = prefix + m
	}
	return out
}

// installProfile installs every contribution in the profile archive of
// the body, and the profile naming them, in one Raft command: all or
// none. 201 with Location, as Fabric3 answers; 409 if the profile exists;
// 420 {artifact: [messages]} listing every contribution that cannot be
// installed and why.
func (a *api) installProfile(w http.ResponseWriter, r *http.Request) {
	uri, err := profileURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := a.profileExists(a.Node.View(), uri); err != nil {
		fail(w, err)
		return
	}
	entries, err := readProfile(a.Node.View(), body, a.bodyLimit())
	if err != nil {
		fail(w, err)
		return
	}
	now := a.now().UTC()
	p := profile{URI: uri, Installed: now}
	ops := []fsm.Op{{}} // the profile's op, below
	archives := map[string]bool{}
	for _, e := range entries {
		p.Contributions = append(p.Contributions, e.uri)
		for _, op := range installOps(e.uri, e.data, e.info, now, uri) {
			if op.Kind == KindArchive {
				if archives[op.ID] {
					continue // two contributions of the same bytes: one write
				}
				archives[op.ID] = true
			}
			ops = append(ops, op)
		}
	}
	sort.Strings(p.Contributions)
	ops[0] = fsm.Op{Type: fsm.OpPut, Kind: KindProfile, ID: key(uri), Body: mustJSON(p), Require: fsm.RequireAbsent}
	index, _, err := a.Node.Apply(r.Context(), fsm.Command{Time: now, Ops: ops})
	if index > 0 {
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	if errors.Is(err, fsm.ErrConflict) {
		// The profile or one of its contributions was installed meanwhile.
		if err = a.profileExists(a.Node.View(), uri); err == nil {
			_, err = readProfile(a.Node.View(), body, a.bodyLimit())
		}
		if err == nil {
			err = fmt.Errorf("%w: the domain changed while the profile was installed; retry", errUnavailable)
		}
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", a.Node.HTTPURL()+profilePath+uri)
	w.WriteHeader(http.StatusCreated)
}

// bodyLimit is this runtime's live maxBodyBytes (http runtime resource),
// or 8 MiB, the agent's default, without one.
func (a *api) bodyLimit() int64 {
	vals, ok := a.live("http")
	if ok {
		switch n := vals["maxBodyBytes"].(type) {
		case int64:
			return n
		case int:
			return int64(n)
		case float64:
			return int64(n)
		}
	}
	return 8 << 20
}

// profileExists is Fabric3's 409 if a profile of uri's name is installed.
func (a *api) profileExists(v *fsm.View, uri string) error {
	pr := v.Get(KindProfile, key(uri))
	if pr == nil {
		return nil
	}
	var p profile
	if decode(pr, &p) != nil || p.URI == "" {
		p.URI = uri
	}
	return fabric(errConflict, "Profile already exists: %s", p.URI)
}

// uninstallProfile uninstalls every contribution of a profile, and the
// profile, in one Raft command; 400 while one of them is deployed (none
// is uninstalled then), 404 for an unknown profile. 200 with no body.
func (a *api) uninstallProfile(w http.ResponseWriter, r *http.Request) {
	uri, err := profileURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	for attempt := 1; ; attempt++ {
		v := a.Node.View()
		p, pr, err := profileOf(v, uri)
		if err != nil {
			fail(w, err)
			return
		}
		var deployed []string
		going := &uninstalling{ids: map[string]bool{}, archives: map[string]bool{}}
		for _, c := range p.Contributions {
			going.ids[key(c)] = true
			if v.Get(KindDeployment, key(c)) != nil {
				deployed = append(deployed, c)
			}
		}
		if len(deployed) > 0 {
			fail(w, fabric(errBadRequest, "Contributions of profile %s must be undeployed before it is uninstalled: %s", p.URI, strings.Join(deployed, ", ")))
			return
		}
		ops := []fsm.Op{{Type: fsm.OpDelete, Kind: KindProfile, ID: key(uri), Require: fsm.RequireVersion, Version: pr.Version}}
		for _, name := range p.Contributions {
			c, ok, err := getContribution(v, name)
			if !ok {
				if errors.Is(err, errNotFound) {
					continue // gone already (an older Cairn let it be uninstalled alone)
				}
				fail(w, err)
				return
			}
			more, err := uninstallOps(v, c, going)
			if err != nil {
				fail(w, err)
				return
			}
			ops = append(ops, more...)
		}
		index, _, err := a.Node.Apply(r.Context(), fsm.Command{Time: a.now().UTC(), Ops: ops})
		if errors.Is(err, fsm.ErrConflict) && attempt < maxWriteAttempts {
			continue // deployed, or an archive shared, meanwhile: look again
		}
		if index > 0 {
			w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
		}
		if err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
}
