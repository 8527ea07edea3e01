package mrf

import (
	"net/http"
	"sort"
)

// noLeader is the status of a zone link that has no href.
const noLeader = "no leader: the zone has no leader right now, or its address is not known yet; query again"

// zoneInfo is one zone as this node sees it.
type zoneInfo struct {
	name       string
	leaderID   string
	leaderHTTP string
	members    []memberInfo // live members, by id
}

type memberInfo struct{ id, http string }

// zones gathers every zone of the domain from gossip. For this node's own
// zone the leader comes from Raft, which knows it first.
func (a *api) zoneInfos() map[string]*zoneInfo {
	out := map[string]*zoneInfo{}
	get := func(name string) *zoneInfo {
		z := out[name]
		if z == nil {
			z = &zoneInfo{name: name}
			out[name] = z
		}
		return z
	}
	self := get(a.Node.Zone())
	if a.Membership == nil {
		self.members = []memberInfo{{a.Node.ID(), a.Node.HTTPURL()}}
	} else {
		httpOf := map[string]string{}
		for _, m := range a.Membership.Members() {
			if m.Zone == "" {
				continue
			}
			z := get(m.Zone)
			if live(m) {
				z.members = append(z.members, memberInfo{m.ID, m.HTTP})
				httpOf[m.ID] = m.HTTP
			}
		}
		for zone, id := range a.Membership.ZoneLeaders() {
			if z, ok := out[zone]; ok && id != "" && httpOf[id] != "" {
				z.leaderID, z.leaderHTTP = id, httpOf[id]
			}
		}
	}
	self.leaderID, self.leaderHTTP = a.Node.Leader()
	if self.leaderHTTP == "" {
		self.leaderID = ""
	}
	return out
}

// zones lists every zone with a link to its leader's /management/zone.
func (a *api) zones(w http.ResponseWriter, r *http.Request) {
	base, err := a.controllerURL()
	if err != nil {
		fail(w, err)
		return
	}
	infos := a.zoneInfos()
	names := make([]string, 0, len(infos))
	for n := range infos {
		names = append(names, n)
	}
	sort.Strings(names)
	links := make([]Link, 0, len(names))
	for _, n := range names {
		z := infos[n]
		l := Link{Name: n, Rel: relEdit}
		if z.leaderHTTP != "" {
			l.Href = z.leaderHTTP + "/management/zone"
		} else {
			l.Status = noLeader
		}
		links = append(links, l)
	}
	writeResource(w, http.StatusOK, wrap(base, "/management/domain/zones", links))
}

// zone describes this node's zone: its leader, this runtime's name (as
// Fabric3's ZoneResourceService does), the zone runtime resource, and a
// link to each live member's own runtime resource.
func (a *api) zone(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	z := a.zoneInfos()[a.Node.Zone()]
	res := newResource(base, "/management/zone")
	res["name"] = a.Node.ID()
	res["zone"] = z.name
	res["leader"] = z.leaderID
	res["runtime"] = editLink("runtime", base+"/management/zone/runtime")
	res["deployments"] = editLink("deployments", base+"/management/zone/deployments")
	runtimes := make([]Link, 0, len(z.members))
	sort.Slice(z.members, func(i, j int) bool { return z.members[i].id < z.members[j].id })
	for _, m := range z.members {
		if m.http != "" {
			runtimes = append(runtimes, Link{Name: m.id, Rel: relRelated, Href: m.http + "/management/runtime"})
		}
	}
	res["runtimes"] = runtimes
	writeResource(w, http.StatusOK, res)
}

// runtimeLink is one runtime of the domain in GET /management/domain/runtimes:
// Fabric3's link (name = runtime name, href = its /management/runtime,
// which `follow -r <runtime>` of Fabric3's CLI pushes as a management
// address), with its zone, whether it leads the zone, whether it is a
// controller and, for one gossip no longer counts live, its status and no
// href.
type runtimeLink struct {
	Link
	Zone       string `json:"zone"`
	Leader     bool   `json:"leader"`
	Controller bool   `json:"controller"`
}

// runtimes lists every runtime (node) of the domain gossip knows, by id.
func (a *api) runtimes(w http.ResponseWriter, r *http.Request) {
	base, err := a.controllerURL()
	if err != nil {
		fail(w, err)
		return
	}
	infos := a.zoneInfos()
	leads := func(zone, id string) bool { z := infos[zone]; return z != nil && z.leaderID == id }
	var links []runtimeLink
	if a.Membership == nil {
		links = append(links, runtimeLink{Link: Link{Name: a.Node.ID(), Rel: relEdit, Href: a.Node.HTTPURL() + "/management/runtime"},
			Zone: a.Node.Zone(), Leader: leads(a.Node.Zone(), a.Node.ID()), Controller: true})
	} else {
		for _, m := range a.Membership.Members() {
			l := runtimeLink{Link: Link{Name: m.ID, Rel: relEdit}, Zone: m.Zone, Controller: m.Controller}
			if live(m) && m.HTTP != "" {
				l.Href = m.HTTP + "/management/runtime"
				l.Leader = leads(m.Zone, m.ID)
			} else {
				l.Status = m.Status
			}
			links = append(links, l)
		}
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Name < links[j].Name })
	writeResource(w, http.StatusOK, wrap(base, "/management/domain/runtimes", links))
}
