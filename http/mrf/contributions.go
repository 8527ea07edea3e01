package mrf

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"

	"github.com/gorilla/mux"
)

// maxWriteAttempts bounds the retries of a domain write whose
// preconditions lost to a concurrent one.
const maxWriteAttempts = 3

const (
	contributionsPath = "/management/domain/contributions"
	contributionPath  = contributionsPath + "/contribution/"
)

// contributionURI reads and checks the {uri} of the path.
func contributionURI(r *http.Request) (string, error) {
	uri := mux.Vars(r)["uri"]
	if err := checkName(uri); err != nil {
		return "", fabric(errBadRequest, "Invalid contribution URI %q: %v", uri, err)
	}
	return uri, nil
}

// contributions lists the installed contributions, as Fabric3's
// ContributionsResourceService does: {"contributions": [{uri, state, link}]}.
func (a *api) contributions(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	v := a.Node.View()
	items, _ := v.List(KindContribution, "", "", 0)
	list := make([]map[string]any, 0, len(items))
	for _, it := range items {
		list = append(list, map[string]any{
			"uri": it.ID, "state": contributionState,
			"link": editLink(it.ID, base+contributionPath+seg(it.ID)),
		})
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
	res := newResource(base, contributionPath+seg(uri))
	res["uri"] = c.URI
	res["state"] = contributionState
	res["sha1"] = c.SHA1
	res["length"] = c.Length
	res["installed"] = c.Installed
	res["deployables"] = c.Deployables
	res["components"] = c.Components
	res["zones"] = []string{}
	if dr := v.Get(KindDeployment, uri); dr != nil {
		d, err := deploymentOf(dr)
		if err != nil {
			fail(w, err)
			return
		}
		res["zones"] = d.deployedZones()
		res["deployment"] = editLink("deployment", base+deploymentPath+seg(uri))
	}
	writeRead(w, v, res)
}

// getContribution reads uri's contribution; absent is Fabric3's 404.
func getContribution(v *fsm.View, uri string) (contribution, bool, error) {
	var c contribution
	cr := v.Get(KindContribution, uri)
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
	exists := fabric(errConflict, "Contribution already exists: %s", uri)
	if a.Node.View().Get(KindContribution, uri) != nil {
		fail(w, exists)
		return
	}
	now := a.now().UTC()
	c := contribution{URI: uri, SHA1: info.sha1, Length: info.length, Installed: now,
		Deployables: info.manifest.Deployables, Components: info.manifest.Components}
	// The archive is written even when another contribution already holds
	// the same bytes: the new version tells a concurrent uninstall of that
	// contribution (whose command checks the archive's version) to keep it.
	cmd := fsm.Command{Time: now, Ops: []fsm.Op{
		{Type: fsm.OpPut, Kind: KindContribution, ID: uri, Body: mustJSON(c), Require: fsm.RequireAbsent},
		{Type: fsm.OpPut, Kind: KindArchive, ID: info.sha1, Body: mustJSON(archive{SHA1: info.sha1, Length: info.length, Data: body})},
	}}
	index, _, err := a.Node.Apply(r.Context(), cmd)
	if index > 0 {
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	if errors.Is(err, fsm.ErrConflict) {
		err = exists
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", a.Node.HTTPURL()+contributionPath+seg(uri))
	w.WriteHeader(http.StatusCreated)
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
		if v.Get(KindDeployment, uri) != nil {
			fail(w, fabric(errBadRequest, "Contribution must be undeployed before it is uninstalled: %s", uri))
			return
		}
		cmd, err := uninstallCommand(v, uri, c, a.now().UTC())
		if err != nil {
			fail(w, err)
			return
		}
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

// uninstallCommand deletes contribution c as v shows it. Every resource
// the decision read is a precondition, so that the command cannot apply
// over a concurrent change: the contribution's version, the deployment's
// absence, and either the other holders of the archive (kept) or the
// archive's version (deleted; an install of the same bytes meanwhile
// rewrote it and so fails the check).
func uninstallCommand(v *fsm.View, uri string, c contribution, now time.Time) (fsm.Command, error) {
	cr := v.Get(KindContribution, uri)
	ops := []fsm.Op{
		{Type: fsm.OpDelete, Kind: KindContribution, ID: uri, Require: fsm.RequireVersion, Version: cr.Version},
		{Type: fsm.OpCheck, Kind: KindDeployment, ID: uri, Require: fsm.RequireAbsent},
	}
	holders, err := v.Lookup(KindContribution, "sha1", c.SHA1)
	if err != nil {
		return fsm.Command{}, err
	}
	shared := false
	for _, h := range holders {
		if h.ID != uri {
			shared = true
			ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindContribution, ID: h.ID, Require: fsm.RequireExists})
		}
	}
	if ar := v.Get(KindArchive, c.SHA1); !shared && ar != nil {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindArchive, ID: c.SHA1, Require: fsm.RequireVersion, Version: ar.Version})
	}
	return fsm.Command{Ops: ops, Time: now}, nil
}
