package mrf

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"cairn/cluster/deploy"
	"cairn/fsm"

	"github.com/gorilla/mux"
)

const (
	componentsPath = "/management/domain/components"
	// domainURI is the domain composite's URI; a component's URI is under
	// it, as Fabric3's logical component hierarchy has them.
	domainURI = "fabric3://domain"
)

// component is one component deployed in one zone.
type component struct {
	name, zone, contribution string
	// run is how its contribution runs in the zone; nil when it runs
	// nothing (its components are declared, not run).
	run *deploy.RunStatus
}

// runningComponents returns every component of every deployment in v, once
// per zone that reports the deployment deployed, sorted by name and zone;
// a runnable contribution's components carry how it runs in each zone
// (runStatuses: RUNNING only while every instance runs).
func (a *api) runningComponents(ctx context.Context, v *fsm.View) ([]component, error) {
	items, _ := v.List(KindDeployment, "", "", 0)
	var deps []deploy.Deployment
	for _, it := range items {
		d, err := deploy.DeploymentOf(it)
		if err != nil {
			skipCorrupt(it, err)
			continue
		}
		deps = append(deps, d)
	}
	runs := a.runStatuses(ctx, deps)
	var out []component
	for _, d := range deps {
		for _, z := range d.DeployedZones() {
			var run *deploy.RunStatus
			if st, ok := runs[runKey{d.URI, z}]; ok {
				run = &st
			}
			for _, c := range d.Components {
				out = append(out, component{name: c, zone: z, contribution: d.URI, run: run})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].zone < out[j].zone
	})
	return out, nil
}

// components lists the components of deployed contributions in Fabric3's
// CompositeResource shape: the domain composite {selfLink, uri, zone,
// components}, each component a leaf {selfLink, uri, zone} (Cairn adds the
// contribution that provides it, and, for a contribution that runs, its
// "state" there: RUNNING only while every instance of its workload in
// that zone runs, else STARTING, FAILED, STOPPED or UNKNOWN, with "run"
// saying why). A component deployed to several zones is listed once per
// zone.
func (a *api) components(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	v := a.Node.View()
	running, err := a.runningComponents(r.Context(), v)
	if err != nil {
		fail(w, err)
		return
	}
	list := make([]resource, 0, len(running))
	for _, c := range running {
		list = append(list, a.componentLeaf(base, c))
	}
	res := newResource(base, componentsPath)
	res["uri"] = domainURI
	res["zone"] = a.Node.Zone()
	res["components"] = list
	writeRead(w, v, res)
}

// componentByName shows one component: Fabric3's {selfLink, uri, zone}
// (zone: the first it runs in), with Cairn's contribution and zones (every
// zone it runs in), and, as Fabric3's CLI `list <component>` prints a
// composite's children one line each, "components": one leaf {selfLink,
// uri, zone} per zone that runs it. Names match case-insensitively, as
// every MRF path does, and are answered in their own case.
func (a *api) componentByName(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	v := a.Node.View()
	running, err := a.runningComponents(r.Context(), v)
	if err != nil {
		fail(w, err)
		return
	}
	base := a.Node.HTTPURL()
	var found *component
	zones := []string{}
	leaves := []resource{}
	for i, c := range running {
		if strings.ToLower(c.name) != name {
			continue
		}
		if found == nil {
			found = &running[i]
		}
		zones = append(zones, c.zone)
		leaves = append(leaves, a.componentLeaf(base, c))
	}
	if found == nil {
		fail(w, fabric(errNotFound, "Component not found: %s", nameVar(r, "name")))
		return
	}
	res := newResource(base, componentsPath+"/"+seg(found.name))
	res["uri"] = domainURI + "/" + found.name
	res["zone"] = found.zone
	res["zones"] = zones
	res["contribution"] = found.contribution
	res["components"] = leaves
	if found.run != nil {
		// RUNNING only while it runs in every zone it is deployed to.
		state := deploy.RunRunning
		for _, c := range running {
			if strings.ToLower(c.name) == name && c.run != nil && c.run.State != deploy.RunRunning {
				state = c.run.State
				break
			}
		}
		res["state"] = state
	}
	writeRead(w, v, res)
}

// componentLeaf is Fabric3's ComponentResource of c in its zone, with the
// contribution that provides it.
func (a *api) componentLeaf(base string, c component) resource {
	leaf := newResource(base, componentsPath+"/"+seg(c.name))
	leaf["uri"] = domainURI + "/" + c.name
	leaf["zone"] = c.zone
	leaf["contribution"] = c.contribution
	if c.run != nil {
		leaf["state"] = c.run.State
		leaf["run"] = c.run
	}
	return leaf
}

// zoneDeployments lists the deployments this node's zone has applied, from
// this member's own replica of the zone's store: every member of a zone
// answers the same once it has caught up.
func (a *api) zoneDeployments(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	v := a.Node.View()
	items, _ := v.List(KindZoneDeployment, "", "", 0)
	uris := make([]string, 0, len(items))
	list := make([]map[string]any, 0, len(items))
	for _, it := range items {
		var zd deploy.ZoneDeployment
		if err := decode(it, &zd); err != nil {
			skipCorrupt(it, err)
			continue
		}
		uris = append(uris, zd.URI)
		list = append(list, map[string]any{
			"uri": zd.URI, "state": deploy.StateDeployed, "sha1": zd.SHA1, "length": zd.Length,
			"generation": zd.Generation, "components": zd.Components, "applied": zd.Applied, "node": zd.Node,
			"archive": v.Get(KindZoneArchive, zd.SHA1) != nil,
		})
	}
	res := newResource(base, "/management/zone/deployments")
	res["zone"] = a.Node.Zone()
	res["contributions"] = uris
	res["deployments"] = list
	writeRead(w, v, res)
}
