package topology

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"cairn/fsm"
	"cairn/http/httpx"
)

// hostOf reads host id; nil when absent.
func hostOf(v *fsm.View, id string) (*host, *fsm.Resource, error) {
	r := v.Get(KindHost, id)
	if r == nil {
		return nil, nil, nil
	}
	var h host
	if err := decode(r, &h); err != nil {
		return nil, nil, fmt.Errorf("stored host %s: %w", id, err)
	}
	return &h, r, nil
}

// groupOf reads group id; nil when absent.
func groupOf(v *fsm.View, id string) (*group, *fsm.Resource, error) {
	r := v.Get(KindGroup, id)
	if r == nil {
		return nil, nil, nil
	}
	var g group
	if err := decode(r, &g); err != nil {
		return nil, nil, fmt.Errorf("stored group %s: %w", id, err)
	}
	return &g, r, nil
}

// serviceOf reads service id; nil when absent.
func serviceOf(v *fsm.View, id string) (*service, *fsm.Resource, error) {
	r := v.Get(KindService, id)
	if r == nil {
		return nil, nil, nil
	}
	var s service
	if err := decode(r, &s); err != nil {
		return nil, nil, fmt.Errorf("stored service %s: %w", id, err)
	}
	return &s, r, nil
}

// all decodes every resource of kind into a T, in id order (host-2
// before host-10).
func all[T any](v *fsm.View, kind string) ([]T, error) {
	var ids []string
	byID := map[string]*fsm.Resource{}
	v.ForEach(kind, func(r *fsm.Resource) {
		ids = append(ids, r.ID)
		byID[r.ID] = r
	})
	sortIDs(ids)
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		var t T
		if err := decode(byID[id], &t); err != nil {
			return nil, fmt.Errorf("stored %s %s: %w", kind, id, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// byName finds the resource of kind named name through its unique index.
func byName(v *fsm.View, kind, name string) *fsm.Resource {
	rs, err := v.Lookup(kind, "name", name)
	if err != nil || len(rs) == 0 {
		return nil
	}
	return rs[0]
}

// servicesOf shows a group's services, in id order.
func servicesOf(v *fsm.View, g *group) ([]Service, error) {
	ids := append([]string(nil), g.Services...)
	sortIDs(ids)
	out := make([]Service, 0, len(ids))
	for _, id := range ids {
		s, _, err := serviceOf(v, id)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s.Service)
		}
	}
	return out, nil
}

// showGroup is g as the API shows it.
func showGroup(v *fsm.View, g *group) (Group, error) {
	svcs, err := servicesOf(v, g)
	if err != nil {
		return Group{}, err
	}
	tags := g.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return Group{ID: g.ID, Name: g.Name, Tags: tags, Services: svcs}, nil
}

// readJSON decodes the request body into v, refusing unknown shapes as
// invalid data.
func readJSON(r *http.Request, what string, v any) error {
	body, err := httpx.ReadJSON(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("Invalid %s: %v", what, err)
	}
	return nil
}

// viewIndex sets the answer's X-Cairn-Index to v's.
func viewIndex(w http.ResponseWriter, v *fsm.View) {
	w.Header().Set("X-Cairn-Index", strconv.FormatUint(v.Index(), 10))
}
