package topology

import (
	"context"
	"net/http"
	"time"

	"cairn/fsm"

	"github.com/gorilla/mux"
)

func (a *api) listGroups(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	groups, err := all[group](v, KindGroup)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]Group, 0, len(groups))
	for i := range groups {
		g, err := showGroup(v, &groups[i])
		if err != nil {
			fail(w, err)
			return
		}
		out = append(out, g)
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, out)
}

func (a *api) getGroup(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	id := mux.Vars(r)["groupID"]
	g, _, err := groupOf(v, id)
	if err == nil && g == nil {
		err = notFound("Group %s does not exist", id)
	}
	if err != nil {
		fail(w, err)
		return
	}
	out, err := showGroup(v, g)
	if err != nil {
		fail(w, err)
		return
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, out)
}

// groupIDByName answers GET /groups/id?groupName=: {"result":"group-N"}.
func (a *api) groupIDByName(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("groupName")
	if name == "" {
		fail(w, badRequest("Invalid request: the groupName parameter is required"))
		return
	}
	v := a.Node.View()
	res := byName(v, KindGroup, name)
	if res == nil {
		fail(w, notFound("Group %s does not exist", name))
		return
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, res.ID)
}

// groupBody is what POST and PUT take. Services are refused on POST and
// ignored on PUT: a service is added one at a time.
type groupBody struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Tags     map[string]string `json:"tags"`
	Services []any             `json:"services"`
}

func (a *api) createGroup(w http.ResponseWriter, r *http.Request) {
	var in groupBody
	if err := readJSON(r, "group", &in); err != nil {
		fail(w, err)
		return
	}
	check := func(v *fsm.View) error {
		if err := checkName("group", in.Name); err != nil {
			return err
		}
		if len(in.Services) > 0 {
			return badRequest("Invalid group: each service must be created one at a time via POST /api/topology/services/{groupID}")
		}
		if byName(v, KindGroup, in.Name) != nil {
			return badRequest("Group %s already exists", in.Name)
		}
		return nil
	}
	if err := check(a.Node.View()); err != nil {
		fail(w, err)
		return
	}
	id, err := a.allocate(r.Context(), "group")
	if err != nil {
		fail(w, err)
		return
	}
	tags := in.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	g := group{ID: id, Name: in.Name, Tags: tags, Services: []string{}}
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		if err := check(v); err != nil {
			return fsm.Command{}, err
		}
		return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: KindGroup, ID: id, Body: mustJSON(g), Require: fsm.RequireAbsent}}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setIndex(w, index)
	writeResult(w, http.StatusCreated, Group{ID: id, Name: g.Name, Tags: tags, Services: []Service{}})
}

func (a *api) updateGroup(w http.ResponseWriter, r *http.Request) {
	var in groupBody
	if err := readJSON(r, "group", &in); err != nil {
		fail(w, err)
		return
	}
	if in.ID == "" {
		fail(w, badRequest("Invalid group: the id is required"))
		return
	}
	var out Group
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		g, res, err := groupOf(v, in.ID)
		if err != nil {
			return fsm.Command{}, err
		}
		if g == nil {
			return fsm.Command{}, notFound("Group %s does not exist", in.ID)
		}
		if err := checkName("group", in.Name); err != nil {
			return fsm.Command{}, err
		}
		if other := byName(v, KindGroup, in.Name); other != nil && other.ID != in.ID {
			return fsm.Command{}, badRequest("Group %s already exists", in.Name)
		}
		g.Name = in.Name
		g.Tags = in.Tags
		if g.Tags == nil {
			g.Tags = map[string]string{}
		}
		if out, err = showGroup(v, g); err != nil {
			return fsm.Command{}, err
		}
		return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: KindGroup, ID: in.ID, Body: mustJSON(g), Require: fsm.RequireVersion, Version: res.Version}}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setIndex(w, index)
	writeResult(w, http.StatusOK, out)
}

// deleteGroup deletes a group and the API Gateway instances in it (their
// files too, once the topology no longer has them); a group that holds a
// Node Manager is refused.
func (a *api) deleteGroup(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["groupID"]
	var gone []service
	var goneHost []string // the name of each one's host
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		gone, goneHost = nil, nil
		g, res, err := groupOf(v, id)
		if err != nil {
			return fsm.Command{}, err
		}
		if g == nil {
			return fsm.Command{}, notFound("Group %s does not exist", id)
		}
		// The group's version guards its list of services; each host's
		// version guards that host's.
		ops := []fsm.Op{{Type: fsm.OpDelete, Kind: KindGroup, ID: id, Require: fsm.RequireVersion, Version: res.Version}}
		hosts := map[string]*host{}
		hostVersions := map[string]uint64{}
		for _, sid := range g.Services {
			s, sres, err := serviceOf(v, sid)
			if err != nil {
				return fsm.Command{}, err
			}
			if s == nil {
				continue
			}
			if s.Type == TypeNodeManager {
				return fsm.Command{}, badRequest("Group %s contains the Node Manager %s: a group that holds Node Managers cannot be deleted", id, sid)
			}
			ops = append(ops,
				fsm.Op{Type: fsm.OpDelete, Kind: KindService, ID: sid, Require: fsm.RequireVersion, Version: sres.Version},
				fsm.Op{Type: fsm.OpDelete, Kind: KindPort, ID: portID(s.HostID, s.ManagementPort)})
			h := hosts[s.HostID]
			if h == nil {
				var hres *fsm.Resource
				if h, hres, err = hostOf(v, s.HostID); err != nil {
					return fsm.Command{}, err
				}
				if h == nil {
					continue
				}
				hosts[s.HostID], hostVersions[s.HostID] = h, hres.Version
			}
			gone, goneHost = append(gone, *s), append(goneHost, h.Name)
			h.Services = without(h.Services, sid)
		}
		for hid, h := range hosts {
			ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: KindHost, ID: hid, Body: mustJSON(h), Require: fsm.RequireVersion, Version: hostVersions[hid]})
		}
		return fsm.Command{Ops: ops}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	if r.URL.Query().Get("deleteDiskGroup") != "false" {
		for i, s := range gone {
			a.removeFiles(r.Context(), s, goneHost[i])
		}
	}
	setIndex(w, index)
	w.WriteHeader(http.StatusNoContent)
}

// removeFiles deletes an API Gateway instance's files from the node
// named hostName (its host's name when they were written, or when the
// topology dropped it). A failure leaves files behind but changes no
// answer: it is logged.
func (a *api) removeFiles(ctx context.Context, s service, hostName string) {
	if s.Type != TypeGateway {
		return
	}
	// The topology has changed already: a client that went away does
	// not stop the clean-up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.dropInstance(ctx, s, hostName); err != nil {
		a.log.Warn("the files of a deleted API Gateway instance were left on disk", "instance", s.ID, "group", s.GroupID, "host", s.HostID, "err", err)
	}
}

// without returns ids less id.
func without(ids []string, id string) []string {
	out := make([]string, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
