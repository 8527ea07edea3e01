package maxscale

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"cairn/fsm"
	"cairn/http/httpx"
)

// typeOf is the JSON:API type of a kind, and kindOf its inverse.
var typeOf = map[string]string{KindServer: "servers", KindService: "services", KindMonitor: "monitors",
	KindFilter: "filters", KindListener: "listeners"}

var kindOf = map[string]string{"servers": KindServer, "services": KindService, "monitors": KindMonitor,
	"filters": KindFilter, "listeners": KindListener}

// relNames are the relationships of each kind, in the order documents
// show them and PATCH applies them.
var relNames = map[string][]string{
	KindServer:   {"services", "monitors"},
	KindService:  {"servers", "services", "monitors", "filters", "listeners"},
	KindMonitor:  {"servers", "services"},
	KindFilter:   {"services"},
	KindListener: {"services"},
}

// readOnlyRels are relationships a PATCH of that side cannot change: a
// service's listeners (a listener names its service when created, for
// good), a listener's service, and a filter's services (set by the
// services' filter chains). A request that echoes them back (maxctrl's
// link) is not refused for it; a PATCH of the relationship itself is.
var readOnlyRels = map[string]map[string]bool{
	KindService:  {"listeners": true},
	KindListener: {"services": true},
	KindFilter:   {"services": true},
}

func hasRel(kind, rel string) bool {
	for _, r := range relNames[kind] {
		if r == rel {
			return true
		}
	}
	return false
}

// related returns the objects o relates to through rel, in the order the
// relationship holds them.
func related(t *txn, o *object, rel string) ([]*object, error) {
	var ids []string
	switch {
	case o.kind == KindServer && rel == "services":
		return t.lookup(KindService, "servers", o.id)
	case o.kind == KindServer && rel == "monitors":
		if o.Monitor != "" {
			ids = []string{o.Monitor}
		}
	case o.kind == KindService && rel == "servers":
		ids = o.Servers
	case o.kind == KindService && rel == "services":
		ids = o.Services
	case o.kind == KindService && rel == "monitors":
		ids = o.Monitors
	case o.kind == KindMonitor && rel == "servers":
		return t.lookup(KindServer, "monitor", o.id)
	case o.kind == KindMonitor && rel == "services":
		return t.lookup(KindService, "monitors", o.id)
	case o.kind == KindService && rel == "filters":
		ids = o.Filters
	case o.kind == KindService && rel == "listeners":
		return t.lookup(KindListener, "service", o.id)
	case o.kind == KindFilter && rel == "services":
		return t.lookup(KindService, "filters", o.id)
	case o.kind == KindListener && rel == "services":
		if o.Service != "" {
			ids = []string{o.Service}
		}
	}
	out := make([]*object, 0, len(ids))
	for _, id := range ids {
		r, err := t.get(kindOf[rel], id)
		if errors.Is(err, errCorrupt) {
			continue // a corrupt record relates to nothing: lists skip it
		}
		if err != nil {
			return nil, err
		}
		if r != nil && !t.deleted[key(r.kind, r.id)] {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseRelData reads the data member of relationship rel: an array of
// {id, type} objects, or null for none. A member whose type names another
// kind (a monitor given as a server) is refused, as MaxScale looks each
// one up by its type; a member without a type is taken as rel's. Ids are
// returned canonical and deduplicated; with strict (a create), a member
// named twice is refused, as MaxScale refuses linking an object twice to
// a new one (a PATCH computes set differences, so there it collapses).
func parseRelData(rel string, raw json.RawMessage, strict bool) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, refuse("The relationship's 'data' field is not an array")
	}
	var ids []string
	seen := map[string]bool{}
	for _, it := range items {
		var ref struct {
			ID   any `json:"id"`
			Type any `json:"type"`
		}
		if err := json.Unmarshal(it, &ref); err != nil {
			return nil, refuse("A relationship's member is not an object")
		}
		name, ok := ref.ID.(string)
		if !ok || name == "" {
			return nil, refuse("A relationship's member has no string 'id'")
		}
		if typ, ok := ref.Type.(string); ref.Type != nil && (!ok || typ != rel) {
			return nil, refuse(fmt.Sprintf("The '%s' relationship holds '%s' of type %s; its members must be of type '%s'", rel, name, str(ref.Type), rel))
		}
		id := canon(name)
		if seen[id] && strict {
			return nil, refuse(fmt.Sprintf("The '%s' relationship names '%s' more than once", rel, name))
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// parseRelationships reads a document's relationships member: for each
// relationship of kind that is present, the ids it names. Relationships
// the kind does not have (a service's listeners, say) are ignored, as
// maxctrl echoes them back.
func parseRelationships(kind string, raw json.RawMessage, strict bool) (map[string][]string, error) {
	out := map[string][]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var rels map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rels); err != nil {
		return nil, refuse("The 'relationships' field is not an object")
	}
	for _, name := range relNames[kind] {
		v, ok := rels[name]
		if !ok || (readOnlyRels[kind][name] && !(kind == KindListener && strict)) {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil || obj == nil {
			return nil, refuse(fmt.Sprintf("The '%s' relationship is not an object", name))
		}
		ids, err := parseRelData(name, obj["data"], strict)
		if err != nil {
			return nil, err
		}
		out[name] = ids
	}
	return out, nil
}

// applyRelationships sets each relationship in rels, in a fixed order.
func applyRelationships(t *txn, o *object, rels map[string][]string) error {
	for _, name := range relNames[o.kind] {
		if ids, ok := rels[name]; ok {
			if err := setRel(t, o, name, ids); err != nil {
				return err
			}
		}
	}
	return nil
}

// setRel makes rel of o hold exactly ids. It changes whichever side stores
// the relationship and touches both sides, so that the change is one
// command with a precondition on every object involved. An unknown id
// fails the whole request.
func setRel(t *txn, o *object, rel string, ids []string) error {
	targetKind := kindOf[rel]
	targets := map[string]*object{}
	for _, id := range ids {
		var tgt *object
		var err error
		if targetKind != "" {
			tgt, err = t.get(targetKind, id)
		}
		if err != nil {
			return err
		}
		if tgt == nil || t.deleted[key(tgt.kind, tgt.id)] {
			return refuse(fmt.Sprintf("Could not find all %s that '%s' relates to", rel, o.Name))
		}
		if tgt == o {
			return refuse(fmt.Sprintf("'%s' cannot relate to itself", o.Name))
		}
		targets[id] = tgt
	}
	cur, err := related(t, o, rel)
	if err != nil {
		return err
	}
	curIDs := make([]string, len(cur))
	for i, c := range cur {
		curIDs[i] = c.id
		targets[c.id] = c
	}
	list, added, removed := setList(curIDs, ids)
	if rel == "filters" {
		// A filter chain is ordered: replaced as given.
		list = ids
		if slices.Equal(curIDs, ids) {
			return nil
		}
	} else if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	t.touch(o)
	for _, id := range append(append([]string{}, added...), removed...) {
		t.touch(targets[id])
	}
	switch {
	case o.kind == KindService:
		switch rel {
		case "servers":
			o.Servers = list
		case "services":
			o.Services = list
		case "monitors":
			o.Monitors = list
		case "filters":
			o.Filters = list
		}
	case o.kind == KindServer && rel == "monitors":
		if len(ids) > 1 {
			return refuse(fmt.Sprintf("Server '%s' can be monitored by one monitor only", o.Name))
		}
		o.Monitor = ""
		if len(ids) == 1 {
			o.Monitor = ids[0]
		}
	case o.kind == KindServer && rel == "services":
		for _, id := range added {
			targets[id].Servers = with(targets[id].Servers, o.id)
		}
		for _, id := range removed {
			targets[id].Servers = without(targets[id].Servers, o.id)
		}
	case o.kind == KindMonitor && rel == "servers":
		for _, id := range added {
			if m := targets[id].Monitor; m != "" && m != o.id {
				return refuse(fmt.Sprintf("Server '%s' is already monitored by '%s'; a server can be monitored by one monitor only", targets[id].Name, monitorName(t, m)))
			}
			targets[id].Monitor = o.id
		}
		for _, id := range removed {
			targets[id].Monitor = ""
		}
	case o.kind == KindMonitor && rel == "services":
		for _, id := range added {
			targets[id].Monitors = with(targets[id].Monitors, o.id)
		}
		for _, id := range removed {
			targets[id].Monitors = without(targets[id].Monitors, o.id)
		}
	}
	return nil
}

func monitorName(t *txn, id string) string {
	if m, err := t.get(KindMonitor, id); err == nil && m != nil {
		return m.Name
	}
	return id
}

// users returns the names of the services and monitors that use o, for
// the "in use" check of DELETE.
func users(t *txn, o *object) ([]string, error) {
	var names []string
	add := func(rel string) error {
		rs, err := related(t, o, rel)
		for _, r := range rs {
			names = append(names, r.Name)
		}
		return err
	}
	var err error
	switch o.kind {
	case KindServer:
		if err = add("services"); err == nil {
			err = add("monitors")
		}
	case KindService:
		var using []*object
		using, err = t.lookup(KindService, "services", o.id)
		for _, u := range using {
			names = append(names, u.Name)
		}
	case KindMonitor:
		var using []*object
		using, err = t.lookup(KindService, "monitors", o.id)
		for _, u := range using {
			names = append(names, u.Name)
		}
	case KindFilter:
		err = add("services")
	}
	sort.Strings(names)
	return names, err
}

// unlinkAll removes every relationship of o, both ways, before a forced
// delete.
func unlinkAll(t *txn, o *object) error {
	switch o.kind {
	case KindFilter:
		using, err := t.lookup(KindService, "filters", o.id)
		if err != nil {
			return err
		}
		for _, u := range using {
			u.Filters = without(u.Filters, o.id)
			t.touch(u)
		}
		return nil
	case KindListener:
		return nil
	}
	for _, rel := range relNames[o.kind] {
		if rel == "listeners" {
			// A service's listeners go with it.
			ls, err := related(t, o, rel)
			if err != nil {
				return err
			}
			for _, l := range ls {
				t.remove(l)
			}
			continue
		}
		if err := setRel(t, o, rel, nil); err != nil {
			return err
		}
	}
	if o.kind == KindService {
		using, err := t.lookup(KindService, "services", o.id)
		if err != nil {
			return err
		}
		for _, u := range using {
			u.Services = without(u.Services, o.id)
			t.touch(u)
		}
	}
	return nil
}

// readRelDoc reads the body of PATCH .../relationships/:rel: a top-level
// data member that is an array or null.
func readRelDoc(r *http.Request, rel string) ([]string, error) {
	b, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, refuse("Missing request body")
	}
	if err := fsm.CheckBody(b); err != nil { // as readDoc: UTF-8, nesting
		return nil, refuse("Invalid JSON in request: " + err.Error())
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, refuse("Invalid JSON in request: " + err.Error())
	}
	data, ok := doc["data"]
	if !ok {
		return nil, refuse("The request body has no 'data' field: send {\"data\": [...]} or {\"data\": null}")
	}
	return parseRelData(rel, data, false)
}

// str is v as compact JSON, for messages.
func str(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
