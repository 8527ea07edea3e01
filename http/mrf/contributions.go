package mrf

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"cairn/cluster/deploy"
	"cairn/fsm"
	"cairn/http/httpx"
)

// maxWriteAttempts bounds the retries of a domain write whose
// preconditions lost to a concurrent one.
const maxWriteAttempts = 3

const (
	contributionsPath = "/management/domain/contributions"
	contributionPath  = contributionsPath + "/contribution/"
)

// contributionURI reads and checks the {uri} of the path.
func contributionURI(r *http.Request) (string, error) { return pathURI(r, "contribution") }

// pathURI reads and checks the {uri} of a path naming a what (contribution,
// profile).
func pathURI(r *http.Request, what string) (string, error) {
	uri := nameVar(r, "uri")
	if err := checkName(uri); err != nil {
		return "", fabric(errBadRequest, "Invalid %s URI %q: %v", what, uri, err)
	}
	return uri, nil
}

// contributions lists the installed contributions, as Fabric3's
// ContributionsResourceService does: {"contributions": [{uri, state, link}]}
// (what fabric3-admin's status prints). A deployed contribution that runs
// adds "running": its run state in each zone it is deployed in (RUNNING
// only while every instance there runs).
func (a *api) contributions(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	v := a.Node.View()
	items, _ := v.List(KindContribution, "", "", 0)
	var deps []deploy.Deployment
	for _, it := range items {
		if dr := v.Get(KindDeployment, it.ID); dr != nil {
			if d, err := deploy.DeploymentOf(dr); err == nil && d.Run != nil {
				deps = append(deps, d)
			}
		}
	}
	runs := a.runStatuses(r.Context(), deps)
	list := make([]map[string]any, 0, len(items))
	for _, it := range items {
		var c contribution
		if err := decode(it, &c); err != nil {
			fail(w, err)
			return
		}
		entry := map[string]any{
			"uri": c.URI, "state": contributionState,
			"link": editLink(c.URI, base+contributionPath+seg(c.URI)),
		}
		running := map[string]string{}
		for k, st := range runs {
			if key(k.uri) == it.ID {
				running[k.zone] = st.State
			}
		}
		if len(running) > 0 {
			entry["running"] = running
		}
		list = append(list, entry)
	}
	res := newResource(base, contributionsPath)
	res["contributions"] = list
	writeRead(w, v, res)
}

// writeRead answers a read with the index it was served at.
func writeRead(w http.ResponseWriter, v *fsm.View, res resource) {
	w.Header().Set("X-Cairn-Index", strconv.FormatUint(v.Index(), 10))
	writeResource(w, http.StatusOK, res)
}

// contribution describes one installed contribution: Fabric3's uri, state
// and deployables, and Cairn's sha1, length, installed time, components
// and the zones it is deployed in.
func (a *api) contribution(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	c, ok, err := getContribution(v, uri)
	if err != nil || !ok {
		fail(w, err)
		return
	}
	base := a.Node.HTTPURL()
	res := newResource(base, contributionPath+seg(c.URI))
	res["uri"] = c.URI
	res["state"] = contributionState
	res["sha1"] = c.SHA1
	res["length"] = c.Length
	res["installed"] = c.Installed
	res["deployables"] = c.Deployables
	res["components"] = c.Components
	if c.Run != nil {
		res["run"] = c.Run
	}
	res["zones"] = []string{}
	if dr := v.Get(KindDeployment, key(uri)); dr != nil {
		d, err := deploy.DeploymentOf(dr)
		if err != nil {
			fail(w, err)
			return
		}
		res["zones"] = d.DeployedZones()
		res["deployment"] = editLink("deployment", base+deploymentPath+seg(c.URI))
	}
	writeRead(w, v, res)
}

// getContribution reads uri's contribution (in any case); absent is
// Fabric3's 404.
func getContribution(v *fsm.View, uri string) (contribution, bool, error) {
	var c contribution
	cr := v.Get(KindContribution, key(uri))
	if cr == nil {
		return c, false, fabric(errNotFound, "Contribution not found: %s", uri)
	}
	if err := decode(cr, &c); err != nil {
		return c, false, err
	}
	return c, true, nil
}

// installContribution stores the archive in the body and installs it
// under uri, in one Raft command: the contribution (which must not exist
// yet) and its archive, content-addressed. 201 with Location and no body,
// as Fabric3 answers.
func (a *api) installContribution(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		fail(w, err)
		return
	}
	info, err := readArchive(body)
	if err != nil {
		fail(w, err)
		return
	}
	if err := contributionExists(a.Node.View(), uri); err != nil {
		fail(w, err)
		return
	}
	now := a.now().UTC()
	cmd := fsm.Command{Time: now, Ops: installOps(uri, body, info, now, "")}
	index, _, err := a.Node.Apply(r.Context(), cmd)
	if index > 0 {
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	if errors.Is(err, fsm.ErrConflict) {
		err = contributionExists(a.Node.View(), uri)
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", a.Node.HTTPURL()+contributionPath+seg(uri))
	w.WriteHeader(http.StatusCreated)
}

// contributionExists is Fabric3's 409 if a contribution of uri's name (in
// any case) is installed, naming it as it was installed; else nil.
func contributionExists(v *fsm.View, uri string) error {
	cr := v.Get(KindContribution, key(uri))
	if cr == nil {
		return nil
	}
	var c contribution
	if decode(cr, &c) != nil || c.URI == "" {
		c.URI = uri
	}
	return fabric(errConflict, "Contribution already exists: %s", c.URI)
}

// installOps stores archive data (summarised in info) and installs it as
// contribution uri, which must not exist yet; profile names the profile
// that installed it, if any.
func installOps(uri string, data []byte, info archiveInfo, now time.Time, profile string) []fsm.Op {
	c := contribution{URI: uri, SHA1: info.sha1, Length: info.length, Installed: now,
		Deployables: info.manifest.Deployables, Components: info.manifest.Components, Profile: profile, Run: info.manifest.Run}
	// The archive is written even when another contribution already holds
	// the same bytes: the new version tells a concurrent uninstall of that
	// contribution (whose command checks the archive's version) to keep it.
	return []fsm.Op{
		{Type: fsm.OpPut, Kind: KindContribution, ID: key(uri), Body: mustJSON(c), Require: fsm.RequireAbsent},
		{Type: fsm.OpPut, Kind: KindArchive, ID: info.sha1, Body: mustJSON(deploy.Archive{SHA1: info.sha1, Length: info.length, Data: data})},
	}
}

// uninstallContribution removes a contribution that is not deployed (400
// while it is, as Fabric3's "must be undeployed before it is
// uninstalled"), and its archive when no other contribution holds the
// same bytes. 200 with no body.
func (a *api) uninstallContribution(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	for attempt := 1; ; attempt++ {
		v := a.Node.View()
		c, ok, err := getContribution(v, uri)
		if err != nil || !ok {
			fail(w, err)
			return
		}
		if v.Get(KindDeployment, key(uri)) != nil {
			fail(w, fabric(errBadRequest, "Contribution must be undeployed before it is uninstalled: %s", c.URI))
			return
		}
		if c.Profile != "" {
			fail(w, fabric(errBadRequest, "Contribution %s was installed by profile %s: uninstall the profile instead", c.URI, c.Profile))
			return
		}
		ops, err := uninstallOps(v, c, nil)
		if err != nil {
			fail(w, err)
			return
		}
		cmd := fsm.Command{Ops: ops, Time: a.now().UTC()}
		index, _, err := a.Node.Apply(r.Context(), cmd)
		if errors.Is(err, fsm.ErrConflict) && attempt < maxWriteAttempts {
			continue // deployed, uninstalled or shared meanwhile: look again
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

// uninstallOps deletes contribution c as v shows it. Every resource the
// decision read is a precondition, so that the command cannot apply over
// a concurrent change: the contribution's version, the deployment's
// absence, and either the other holders of the archive (kept) or the
// archive's version (deleted; an install of the same bytes meanwhile
// rewrote it and so fails the check). going, when one command uninstalls
// several contributions (a profile's), has their ids, which do not keep an
// archive, and the archives already deleted, each deleted once.
func uninstallOps(v *fsm.View, c contribution, going *uninstalling) ([]fsm.Op, error) {
	id := key(c.URI)
	cr := v.Get(KindContribution, id)
	if cr == nil {
		return nil, fabric(errNotFound, "Contribution not found: %s", c.URI)
	}
	ops := []fsm.Op{
		{Type: fsm.OpDelete, Kind: KindContribution, ID: id, Require: fsm.RequireVersion, Version: cr.Version},
		{Type: fsm.OpCheck, Kind: KindDeployment, ID: id, Require: fsm.RequireAbsent},
	}
	holders, err := v.Lookup(KindContribution, "sha1", c.SHA1)
	if err != nil {
		return nil, err
	}
	shared := false
	for _, h := range holders {
		if h.ID != id && !going.has(h.ID) {
			shared = true
			ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindContribution, ID: h.ID, Require: fsm.RequireExists})
		}
	}
	if ar := v.Get(KindArchive, c.SHA1); !shared && ar != nil && going.deleteArchive(c.SHA1) {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindArchive, ID: c.SHA1, Require: fsm.RequireVersion, Version: ar.Version})
	}
	return ops, nil
}

// uninstalling is what one command uninstalling several contributions
// removes: their ids, and the archives it deletes already.
type uninstalling struct {
	ids      map[string]bool
	archives map[string]bool
}

func (u *uninstalling) has(id string) bool { return u != nil && u.ids[id] }

// deleteArchive reports whether the command still has to delete archive
// sum, and notes that it does.
func (u *uninstalling) deleteArchive(sum string) bool {
	if u == nil {
		return true
	}
	if u.archives[sum] {
		return false
	}
	u.archives[sum] = true
	return true
}
