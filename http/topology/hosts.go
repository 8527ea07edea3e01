package topology

import (
	"net/http"

	"cairn/fsm"

	"github.com/gorilla/mux"
)

// localhost is the host id that means the host of the node answering.
const localhost = "localhost"

func (a *api) listHosts(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	hosts, err := all[host](v, KindHost)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]Host, len(hosts))
	for i, h := range hosts {
		out[i] = h.Host
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, out)
}

func (a *api) getHost(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	id := mux.Vars(r)["hostID"]
	var h *host
	var err error
	if id == localhost {
		// A host is a Cairn node, named by the node's id.
		if res := byName(v, KindHost, a.Node.ID()); res != nil {
			h, _, err = hostOf(v, res.ID)
		}
	} else {
		h, _, err = hostOf(v, id)
	}
	if err == nil && h == nil {
		err = notFound("Host %s does not exist", id)
	}
	if err != nil {
		fail(w, err)
		return
	}
	viewIndex(w, v)
	writeResult(w, http.StatusOK, h.Host)
}

// hostBody is what POST and PUT take.
type hostBody struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (a *api) createHost(w http.ResponseWriter, r *http.Request) {
	var in hostBody
	if err := readJSON(r, "host", &in); err != nil {
		fail(w, err)
		return
	}
	check := func(v *fsm.View) error {
		if err := checkName("host", in.Name); err != nil {
			return err
		}
		if byName(v, KindHost, in.Name) != nil {
			return badRequest("Host %s already exists", in.Name)
		}
		return nil
	}
	if err := check(a.Node.View()); err != nil {
		fail(w, err)
		return
	}
	id, err := a.allocate(r.Context(), "host")
	if err != nil {
		fail(w, err)
		return
	}
	h := host{Host: Host{ID: id, Name: in.Name}, Services: []string{}}
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		if err := check(v); err != nil {
			return fsm.Command{}, err
		}
		return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: KindHost, ID: id, Body: mustJSON(h), Require: fsm.RequireAbsent}}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setIndex(w, index)
	writeResult(w, http.StatusCreated, h.Host)
}

func (a *api) updateHost(w http.ResponseWriter, r *http.Request) {
	var in hostBody
	if err := readJSON(r, "host", &in); err != nil {
		fail(w, err)
		return
	}
	if in.ID == "" {
		fail(w, badRequest("Invalid host: the id is required"))
		return
	}
	var out Host
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		h, res, err := hostOf(v, in.ID)
		if err != nil {
			return fsm.Command{}, err
		}
		if h == nil {
			return fsm.Command{}, notFound("Host %s does not exist", in.ID)
		}
		if err := checkName("host", in.Name); err != nil {
			return fsm.Command{}, err
		}
		if other := byName(v, KindHost, in.Name); other != nil && other.ID != in.ID {
			return fsm.Command{}, badRequest("Host %s already exists", in.Name)
		}
		h.Name = in.Name
		out = h.Host
		return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: KindHost, ID: in.ID, Body: mustJSON(h), Require: fsm.RequireVersion, Version: res.Version}}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setIndex(w, index)
	writeResult(w, http.StatusOK, out)
}

func (a *api) deleteHost(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["hostID"]
	index, _, err := a.write(r.Context(), func(v *fsm.View) (fsm.Command, error) {
		h, res, err := hostOf(v, id)
		if err != nil {
			return fsm.Command{}, err
		}
		if h == nil {
			return fsm.Command{}, notFound("Host %s does not exist", id)
		}
		if len(h.Services) > 0 {
			return fsm.Command{}, badRequest("Host %s still has %d services (%v): delete them first", id, len(h.Services), h.Services)
		}
		// At this version the host has no services: a service added
		// meanwhile rewrote it, and this delete is then built again.
		return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpDelete, Kind: KindHost, ID: id, Require: fsm.RequireVersion, Version: res.Version}}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setIndex(w, index)
	w.WriteHeader(http.StatusNoContent)
}
