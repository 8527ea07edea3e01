package mrf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"cairn/cluster/deploy"
	"cairn/fsm"
	"cairn/http/httpx"
)

const (
	deploymentsPath = "/management/domain/deployments"
	deploymentPath  = deploymentsPath + "/contribution/"
)

// deployments lists the deployed contributions: Fabric3's
// {"contributions": [uri, ...]}, and Cairn's "deployments" with each
// one's per-zone status.
func (a *api) deployments(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	v := a.Node.View()
	items, _ := v.List(KindDeployment, "", "", 0)
	uris := make([]string, 0, len(items))
	list := make([]map[string]any, 0, len(items))
	for _, it := range items {
		d, err := deploy.DeploymentOf(it)
		if err != nil {
			skipCorrupt(it, err)
			continue
		}
		uris = append(uris, d.URI)
		list = append(list, map[string]any{
			"uri": d.URI, "link": editLink(d.URI, base+deploymentPath+seg(d.URI)), "zones": d.Zones,
		})
	}
	res := newResource(base, deploymentsPath)
	res["contributions"] = uris
	res["deployments"] = list
	writeRead(w, v, res)
}

// deployment shows one deployment and each target zone's status.
func (a *api) deployment(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	v := a.Node.View()
	dr := v.Get(KindDeployment, key(uri))
	if dr == nil {
		fail(w, fabric(errNotFound, "Contribution not deployed: %s", uri))
		return
	}
	d, err := deploy.DeploymentOf(dr)
	if err != nil {
		fail(w, err)
		return
	}
	writeRead(w, v, a.deploymentResource(d, a.runStatuses(r.Context(), []deploy.Deployment{d})))
}

// deploymentResource shows d; for a contribution that runs, each zone it
// is deployed in says how it runs there ("run", from runs).
func (a *api) deploymentResource(d deploy.Deployment, runs map[runKey]deploy.RunStatus) resource {
	base := a.Node.HTTPURL()
	res := newResource(base, deploymentPath+seg(d.URI))
	res["uri"] = d.URI
	res["contribution"] = editLink(d.URI, base+contributionPath+seg(d.URI))
	res["deployed"] = d.Deployed
	res["generation"] = d.Generation
	res["components"] = d.Components
	res["zones"] = d.Zones
	if d.Run != nil {
		zones := map[string]any{}
		for z, st := range d.Zones {
			zs := map[string]any{"state": st.State, "reason": st.Reason, "node": st.Node, "updated": st.Updated}
			if st.Reason == "" {
				delete(zs, "reason")
			}
			if st.Node == "" {
				delete(zs, "node")
			}
			if run, ok := runs[runKey{d.URI, z}]; ok {
				zs["run"] = run
			}
			zones[z] = zs
		}
		res["zones"] = zones
		res["run"] = d.Run
	}
	return res
}

// targetZones reads ?zone= (repeatable, or a comma-separated list) and
// checks every name against the zones of the domain gossip knows; none
// given means all of them.
func (a *api) targetZones(r *http.Request) ([]string, error) {
	known := a.zoneInfos()
	var names []string
	for _, z := range known {
		names = append(names, z.name)
	}
	sort.Strings(names)
	var asked []string
	seen := map[string]bool{}
	for _, v := range r.URL.Query()["zone"] {
		for _, z := range strings.Split(v, ",") {
			if z = strings.TrimSpace(z); z == "" || seen[z] {
				continue
			}
			if known[z] == nil {
				return nil, fabric(errBadRequest, "Unknown zone: %s (the domain's zones are %s)", z, strings.Join(names, ", "))
			}
			seen[z] = true
			asked = append(asked, z)
		}
	}
	if len(asked) == 0 {
		return names, nil
	}
	sort.Strings(asked)
	return asked, nil
}

// deploy records the deployment of a contribution to its target zones,
// each pending until its zone's leader reports it deployed or failed (the
// zones' leaders follow the controller's deployments and apply them into
// their own zone: cluster/deploy), and answers as Fabric3 does, once the
// deployment is done: 201 with Location and no body when every target zone
// reports it deployed; 420 {"selfLink", "value": ["<zone>: <reason>",
// ...]} when a zone failed, after taking the deployment back (so it can be
// fixed and deployed again); 504 naming the zones still pending when they
// have not reported within the deploy timeout (the deployment stays
// recorded and converges). ?async answers 201 as soon as the deployment
// is recorded. PUT (the seed's verb) does the same as POST.
func (a *api) deploy(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	zones, err := a.targetZones(r)
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
			fail(w, fabric(errConflict, "Contribution already deployed: %s", c.URI))
			return
		}
		now := a.now().UTC()
		d := deploy.Deployment{URI: c.URI, SHA1: c.SHA1, Length: c.Length, Deployables: c.Deployables, Components: c.Components,
			Deployed: now, Zones: map[string]deploy.ZoneStatus{}, Run: c.Run}
		for _, z := range zones {
			d.Zones[z] = deploy.ZoneStatus{State: deploy.StatePending, Updated: now}
		}
		cr := v.Get(KindContribution, key(uri))
		cmd := fsm.Command{Time: now, Ops: []fsm.Op{
			{Type: fsm.OpPut, Kind: KindDeployment, ID: key(uri), Body: mustJSON(d), Require: fsm.RequireAbsent},
			{Type: fsm.OpCheck, Kind: KindContribution, ID: key(uri), Require: fsm.RequireVersion, Version: cr.Version},
		}}
		index, _, err := a.Node.Apply(r.Context(), cmd)
		if errors.Is(err, fsm.ErrConflict) && attempt < maxWriteAttempts {
			continue // deployed or uninstalled meanwhile: look again
		}
		if index > 0 {
			w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
		}
		if err != nil {
			fail(w, err)
			return
		}
		location := a.Node.HTTPURL() + deploymentPath + seg(c.URI)
		if !r.URL.Query().Has("async") {
			if err := a.awaitDeployed(r.Context(), c.URI, index); err != nil {
				a.failDeploy(w, c.URI, err)
				return
			}
		}
		w.Header().Set("Location", location)
		w.WriteHeader(http.StatusCreated)
		return
	}
}

// failDeploy answers a deployment that failed in a zone the way Fabric3's
// CLI reads it: 420 with {"selfLink": ..., "value": [messages]}.
func (a *api) failDeploy(w http.ResponseWriter, uri string, err error) {
	var zf *zonesFailed
	if !errors.As(err, &zf) {
		fail(w, err)
		return
	}
	writeResource(w, statusValidation, wrap(a.Node.HTTPURL(), deploymentPath+uri, zf.messages))
}

// undeploy removes a deployment from the domain and answers 200 with no
// body, as Fabric3 does, once the leader of every target zone has removed
// it from its zone; 504 naming the zones that have not when the deploy
// timeout runs out first (the zones still remove it). ?async answers as
// soon as the controller has removed it.
func (a *api) undeploy(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	var d deploy.Deployment
	for attempt := 1; ; attempt++ {
		dr := a.Node.View().Get(KindDeployment, key(uri))
		if dr == nil {
			fail(w, fabric(errNotFound, "Contribution not deployed: %s", uri))
			return
		}
		if d, err = deploy.DeploymentOf(dr); err != nil {
			fail(w, err)
			return
		}
		// At the version read, so the generation waited for below is the
		// one deleted.
		cmd := fsm.Command{Time: a.now().UTC(), Ops: []fsm.Op{
			{Type: fsm.OpDelete, Kind: KindDeployment, ID: key(uri), Require: fsm.RequireVersion, Version: dr.Version},
		}}
		index, _, err := a.Node.Apply(r.Context(), cmd)
		if errors.Is(err, fsm.ErrConflict) && attempt < maxReportAttempts {
			continue // a zone reported, or it was undeployed, meanwhile: look again
		}
		if index > 0 {
			w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
		}
		if err != nil {
			fail(w, err)
			return
		}
		break
	}
	if !r.URL.Query().Has("async") {
		if err := a.awaitRemoved(r.Context(), d); err != nil {
			fail(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// maxReportAttempts bounds the compare-and-set retries of a zone's report:
// every target zone reports on the same deployment at about the same time.
const maxReportAttempts = 10

// report records a zone leader's report of a deployment's state in its
// zone, by compare-and-set on the deployment. The zone is named in the
// body, not the path: paths are lower-cased, zone names are not.
func (a *api) report(w http.ResponseWriter, r *http.Request) {
	uri, err := contributionURI(r)
	if err != nil {
		fail(w, err)
		return
	}
	body, err := httpx.ReadJSON(r)
	if err != nil {
		fail(w, err)
		return
	}
	var rep deploy.ZoneReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		fail(w, fmt.Errorf(`%w: a zone report is {"zone": "...", "generation": N, "state": "deployed"|"failed", "reason": "...", "node": "..."}: %v`, errBadRequest, err))
		return
	}
	// Each field is checked on its own, so the message names the one at
	// fault.
	switch {
	case rep.Zone == "":
		err = fmt.Errorf("%w: a zone report needs a zone", errBadRequest)
	case rep.Generation == 0:
		err = fmt.Errorf("%w: a zone report needs a generation (a positive integer)", errBadRequest)
	case rep.State != deploy.StateDeployed && rep.State != deploy.StateFailed:
		err = fmt.Errorf("%w: a zone report needs a state of %q or %q, got %q", errBadRequest, deploy.StateDeployed, deploy.StateFailed, rep.State)
	case len(rep.Reason) > deploy.MaxReasonBytes:
		err = fmt.Errorf("%w: a zone report's reason is %d bytes; the limit is %d", errBadRequest, len(rep.Reason), deploy.MaxReasonBytes)
	}
	if err != nil {
		fail(w, err)
		return
	}
	for attempt := 1; ; attempt++ {
		v := a.Node.View()
		dr := v.Get(KindDeployment, key(uri))
		if dr == nil {
			fail(w, fabric(errNotFound, "Contribution not deployed: %s", uri))
			return
		}
		d, err := deploy.DeploymentOf(dr)
		if err != nil {
			fail(w, err)
			return
		}
		if d.Generation != rep.Generation {
			fail(w, fabric(errConflict, "Deployment %s is generation %d, not %d", uri, d.Generation, rep.Generation))
			return
		}
		if _, ok := d.Zones[rep.Zone]; !ok {
			fail(w, fabric(errBadRequest, "Deployment %s does not target zone %s", uri, rep.Zone))
			return
		}
		now := a.now().UTC()
		d.Zones[rep.Zone] = deploy.ZoneStatus{State: rep.State, Reason: rep.Reason, Node: rep.Node, Updated: now}
		cmd := fsm.Command{Time: now, Ops: []fsm.Op{
			{Type: fsm.OpPut, Kind: KindDeployment, ID: key(uri), Body: mustJSON(d), Require: fsm.RequireVersion, Version: dr.Version},
		}}
		index, res, err := a.Node.Apply(r.Context(), cmd)
		if errors.Is(err, fsm.ErrConflict) {
			if attempt < maxReportAttempts {
				continue // another zone reported meanwhile
			}
			err = fmt.Errorf("%w: other zones kept reporting on %s meanwhile; retry", errUnavailable, uri)
		}
		if index > 0 {
			w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
		}
		if err != nil {
			fail(w, err)
			return
		}
		d, _ = deploy.DeploymentOf(res.Resources[0])
		writeResource(w, http.StatusOK, a.deploymentResource(d, nil))
		return
	}
}
