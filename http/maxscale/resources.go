package maxscale

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"cairn/fsm"

	"github.com/gorilla/mux"
)

// kindWord is how messages name a kind ("server").
func kindWord(kind string) string { return strings.TrimPrefix(kind, "maxscale.") }

// objectName is the name of the object a request's path names: {name},
// or {listener} under /services/{name}/listeners/.
func objectName(r *http.Request, kind string) string {
	vars := mux.Vars(r)
	if l, ok := vars["listener"]; ok && kind == KindListener {
		return l
	}
	return vars["name"]
}

// list serves GET /v1/{type}.
func (a *API) list(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := a.node.View()
		t := newTxn(v)
		base := baseURL(r)
		items, _ := v.List(kind, "", "", 0)
		// In creation order, as MaxScale lists its objects (maxctrl's
		// tables show them in that order), not in the store's id order.
		slices.SortStableFunc(items, func(x, y *fsm.Resource) int { return cmp.Compare(x.CreateIndex, y.CreateIndex) })
		data := make([]*resourceObject, 0, len(items))
		var mod time.Time
		for _, it := range items {
			o, err := t.get(it.Kind, it.ID)
			if err == nil && o != nil {
				mod = lastModifiedOf(&object{updated: mod}, o)
				var ro *resourceObject
				if ro, err = render(t, base, o); err == nil {
					data = append(data, ro)
				}
			}
			if errors.Is(err, errCorrupt) {
				// One bad record must not take the whole collection down.
				a.logger().Warn("listing skips a corrupt record", "kind", it.Kind, "id", it.ID, "err", err)
				continue
			}
			if err != nil {
				fail(w, err)
				return
			}
		}
		a.writeCollection(w, r, base+"/"+typeOf[kind]+"/", data, mod)
	}
}

// renderAll renders the objects o relates to through rel.
func (a *API) renderAll(t *txn, r *http.Request, o *object, rel string) ([]*resourceObject, error) {
	objs, err := related(t, o, rel)
	if err != nil {
		return nil, err
	}
	out := make([]*resourceObject, 0, len(objs))
	for _, x := range objs {
		ro, err := render(t, baseURL(r), x)
		if err != nil {
			return nil, err
		}
		out = append(out, ro)
	}
	return out, nil
}

// writeCollection writes a collection document; mod is when its newest
// member last changed.
func (a *API) writeCollection(w http.ResponseWriter, r *http.Request, self string, data []*resourceObject, mod time.Time) {
	if mod.IsZero() {
		mod = a.started // an empty collection: unchanged since the node started
	}
	writeDoc(w, r, document{Links: links{Self: self}, Data: data}, mod)
}

// writeOne writes the document of one object.
func (a *API) writeOne(w http.ResponseWriter, r *http.Request, ro *resourceObject, o *object) {
	writeDoc(w, r, document{Links: links{Self: ro.Links.Self}, Data: ro}, lastModifiedOf(o))
}

// get serves GET /v1/{type}/:name.
func (a *API) get(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := newTxn(a.node.View())
		o, err := t.mustGet(kind, objectName(r, kind))
		var ro *resourceObject
		if err == nil {
			ro, err = render(t, baseURL(r), o)
		}
		if err != nil {
			fail(w, err)
			return
		}
		a.writeOne(w, r, ro, o)
	}
}

// create serves POST /v1/{type}: data.id names the object; its
// relationships may be given at once.
func (a *API) create(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		doc, err := readDoc(r)
		var name string
		var rels map[string][]string
		if err == nil {
			err = doc.checkType(typeOf[kind])
		}
		if err == nil {
			name, err = doc.dataID()
		}
		if err == nil {
			rels, err = parseRelationships(kind, doc.Data.Relationships, true)
		}
		if err != nil {
			fail(w, err)
			return
		}
		pathService := ""
		if kind == KindListener {
			pathService = mux.Vars(r)["name"] // POST /v1/services/{name}/listeners
			if pathService != "" && !a.exists(w, KindService, pathService) {
				return
			}
		}
		a.write(w, r, func(t *txn) error {
			id := canon(name)
			if err := checkNameFree(t, kind, id, name); err != nil {
				return err
			}
			rels := maps.Clone(rels)
			o := &object{kind: kind, id: id, Name: name, Parameters: map[string]any{}}
			var attrs inAttributes
			if doc.Data.Attributes != nil {
				attrs = *doc.Data.Attributes
			}
			switch kind {
			case KindServer:
				err = newServer(o, attrs)
			case KindService:
				err = newService(o, attrs)
			case KindMonitor:
				err = newMonitor(o, attrs)
			case KindFilter:
				err = newFilter(o, attrs)
			case KindListener:
				var svc string
				if svc, err = listenerService(t, name, pathService, rels["services"]); err == nil {
					delete(rels, "services")
					err = newListener(o, attrs, svc)
				}
				if err == nil {
					err = checkListenerClash(t, o)
				}
			}
			if err == nil && kind == KindServer {
				err = checkEndpoint(t, o, true)
			}
			if err != nil {
				return err
			}
			t.create(o)
			return applyRelationships(t, o, rels)
		})
	}
}

// patch serves PATCH /v1/{type}/:name: only the parts present change;
// parameters merge (null removes one); a present relationship replaces
// that relationship. Read-only members a client echoes back (links, id,
// type, listeners) are ignored.
func (a *API) patch(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := objectName(r, kind)
		if !a.exists(w, kind, name) {
			return
		}
		doc, err := readDoc(r)
		var rels map[string][]string
		if err == nil {
			rels, err = parseRelationships(kind, doc.Data.Relationships, false)
		}
		if err != nil {
			fail(w, err)
			return
		}
		a.write(w, r, func(t *txn) error {
			o, err := t.mustGet(kind, name)
			if err != nil {
				return err
			}
			if err := checkWrite(t, r, o); err != nil {
				return err
			}
			if attrs := doc.Data.Attributes; attrs != nil {
				if err := patchAttributes(o, *attrs); err != nil {
					return err
				}
				switch kind {
				case KindServer:
					err = checkEndpoint(t, o, false)
				case KindListener:
					err = checkListenerClash(t, o)
				}
				if err != nil {
					return err
				}
				t.touch(o)
			}
			return applyRelationships(t, o, rels)
		})
	}
}

// listenerService returns the id of the service a new listener is for:
// the one in the path, or the one its services relationship names (as
// maxctrl's create listener sends it), which must exist.
func listenerService(t *txn, name, pathService string, ids []string) (string, error) {
	id := canon(pathService)
	if pathService == "" {
		if len(ids) != 1 {
			return "", refuse(fmt.Sprintf("Listener '%s' needs exactly one service: name it in 'relationships.services.data'", name))
		}
		id = ids[0]
	}
	svc, err := t.get(KindService, id)
	if err != nil {
		return "", err
	}
	if svc == nil {
		return "", refuse(fmt.Sprintf("'%s' is not a valid service in MaxScale", id))
	}
	return id, nil
}

// namedKinds are the kinds whose objects share one namespace: MaxScale
// refuses a server named as an existing service, filter or listener.
var namedKinds = []string{KindServer, KindService, KindMonitor, KindFilter, KindListener}

// checkNameFree refuses a new object of kind named as any existing object
// (get_object_type in MaxScale's config_runtime.cc). Each absence becomes
// a precondition of the command.
func checkNameFree(t *txn, kind, id, name string) error {
	for _, k := range namedKinds {
		cur, err := t.get(k, id)
		if err != nil {
			return err
		}
		if cur != nil {
			return refuse(fmt.Sprintf("Can't create %s '%s', a %s with that name already exists", kindWord(kind), name, kindWord(k)))
		}
	}
	return nil
}

// patchAttributes merges a PATCH's attributes into o: a null parameter
// returns to its default (it is removed); the others are checked as a
// create checks them, and one that cannot change at run time is refused.
func patchAttributes(o *object, attrs inAttributes) error {
	var keys []string
	changed := map[string]any{}
	for k, v := range attrs.Parameters {
		if (o.kind == KindService && k == "router") || ((o.kind == KindMonitor || o.kind == KindFilter) && k == "module") {
			continue
		}
		keys = append(keys, k)
		changed[k] = v
	}
	old := maps.Clone(o.Parameters)
	for k, v := range changed {
		if v == nil {
			delete(o.Parameters, k)
		} else {
			o.Parameters[k] = v
		}
	}
	switch o.kind {
	case KindServer:
		if _, ok := o.Parameters["address"]; ok {
			if _, ok := o.Parameters["port"]; !ok {
				o.Parameters["port"] = jsonInt(3306) // null resets the port to its default
			}
		}
		if err := checkStatic(fmt.Sprintf("Server '%s'", o.Name), old, changed, serverParams); err != nil {
			return err
		}
		return checkServerParameters(o, keys)
	case KindService:
		router := attrs.Router
		if router == nil {
			router = attrs.Parameters["router"]
		}
		if s, ok := router.(string); router != nil && (!ok || s != o.Router) {
			return refuse(fmt.Sprintf("The router of service '%s' cannot be changed", o.Name))
		}
		return checkServiceParameters(o, keys)
	case KindMonitor:
		module := attrs.Module
		if module == nil {
			module = attrs.Parameters["module"]
		}
		if s, ok := module.(string); module != nil && (!ok || s != o.Module) {
			return refuse(fmt.Sprintf("The module of monitor '%s' cannot be changed", o.Name))
		}
		return checkMonitorParameters(o, keys)
	case KindFilter:
		module := attrs.Module
		if module == nil {
			module = attrs.Parameters["module"]
		}
		if s, ok := module.(string); module != nil && (!ok || s != o.Module) {
			return refuse(fmt.Sprintf("The module of filter '%s' cannot be changed", o.Name))
		}
		return checkFilterParameters(o, keys)
	case KindListener:
		if err := checkStatic(fmt.Sprintf("Listener '%s'", o.Name), old, changed, listenerParams); err != nil {
			return err
		}
		return checkListenerParameters(o, keys)
	}
	return nil
}

// destroy serves DELETE /v1/{type}/:name: refused while the object is in
// use, unless ?force=yes, which unlinks it first.
func (a *API) destroy(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := objectName(r, kind)
		if !a.exists(w, kind, name) {
			return
		}
		force := strings.EqualFold(r.URL.Query().Get("force"), "yes")
		a.write(w, r, func(t *txn) error {
			o, err := t.mustGet(kind, name)
			if errors.Is(err, errCorrupt) {
				// Nothing can be known of its links: remove the record as
				// it stands, so the API that owns it can always clean up.
				if cur := t.view.Get(kind, canon(name)); cur != nil {
					t.extra = append(t.extra, fsm.Op{Type: fsm.OpDelete, Kind: kind, ID: cur.ID, Require: fsm.RequireVersion, Version: cur.Version})
					return nil
				}
			}
			if err != nil {
				return err
			}
			if err := checkWrite(t, r, o); err != nil {
				return err
			}
			inUse, err := users(t, o)
			if err != nil {
				return err
			}
			// A service that still has targets (servers, services or a
			// cluster), and a monitor that still monitors servers, cannot
			// be destroyed either: MaxScale destroys only an unlinked one.
			var uses []string
			var targetRels []string
			switch kind {
			case KindService:
				targetRels = []string{"servers", "services", "monitors", "filters", "listeners"}
			case KindMonitor:
				targetRels = []string{"servers"}
			}
			for _, rel := range targetRels {
				rs, err := related(t, o, rel)
				if err != nil {
					return err
				}
				for _, x := range rs {
					uses = append(uses, x.Name)
				}
			}
			if !force {
				switch {
				case kind == KindFilter && len(inUse) > 0:
					return refuse(fmt.Sprintf("Filter '%s' cannot be destroyed: Remove it from all services first", o.Name))
				case len(inUse) > 0:
					return refuse(fmt.Sprintf("Cannot destroy %s '%s' as it is used by: %s", kindWord(kind), o.Name, strings.Join(inUse, ", ")))
				case len(uses) > 0:
					return refuse(fmt.Sprintf("Cannot destroy %s '%s' as it still uses: %s (unlink them first, or destroy with force)", kindWord(kind), o.Name, strings.Join(uses, ", ")))
				}
			}
			if err := unlinkAll(t, o); err != nil {
				return err
			}
			t.remove(o)
			return nil
		})
	}
}

// exists writes 404 and returns false when the path's object is unknown:
// MaxScale matches routes against existing objects, so an unknown name is
// 404 before the body is looked at.
func (a *API) exists(w http.ResponseWriter, kind, name string) bool {
	if a.node.View().Get(kind, canon(name)) == nil {
		fail(w, errNotFound)
		return false
	}
	return true
}

// getRelationship serves GET /v1/{type}/:name/relationships/:rel.
func (a *API) getRelationship(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		t := newTxn(a.node.View())
		o, err := t.mustGet(kind, vars["name"])
		if err == nil && !hasRel(kind, vars["rel"]) {
			err = errNotFound
		}
		var doc map[string]any
		if err == nil {
			doc, err = relationshipDoc(t, baseURL(r), o, vars["rel"])
		}
		if err != nil {
			fail(w, err)
			return
		}
		writeDoc(w, r, doc, lastModifiedOf(o))
	}
}

// relationshipDoc is the document of relationship rel of o: its links
// and its members.
func relationshipDoc(t *txn, base string, o *object, rel string) (map[string]any, error) {
	objs, err := related(t, o, rel)
	if err != nil {
		return nil, err
	}
	data := []ref{}
	for _, x := range objs {
		data = append(data, ref{ID: x.Name, Type: rel})
	}
	self := base + "/" + typeOf[o.kind] + "/" + pathName(o.Name)
	return map[string]any{"links": relLinks(base, self, rel), "data": data}, nil
}

// patchRelationship serves PATCH /v1/{type}/:name/relationships/:rel:
// {"data":[...]} replaces the relationship; [] or null removes all.
func (a *API) patchRelationship(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		name, rel := vars["name"], vars["rel"]
		if !a.exists(w, kind, name) {
			return
		}
		if !hasRel(kind, rel) {
			fail(w, errNotFound)
			return
		}
		if readOnlyRels[kind][rel] {
			fail(w, refuse(fmt.Sprintf("The '%s' relationship of a %s cannot be changed here", rel, kindWord(kind))))
			return
		}
		ids, err := readRelDoc(r, rel)
		if err != nil {
			fail(w, err)
			return
		}
		a.write(w, r, func(t *txn) error {
			o, err := t.mustGet(kind, name)
			if err != nil {
				return err
			}
			if err := checkWrite(t, r, o); err != nil {
				return err
			}
			return setRel(t, o, rel, ids)
		})
	}
}

// startStop serves PUT /v1/{services,monitors}/:name/{start,stop}.
func (a *API) startStop(kind string, stop bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := objectName(r, kind)
		if !a.exists(w, kind, name) {
			return
		}
		a.write(w, r, func(t *txn) error {
			o, err := t.mustGet(kind, name)
			if err != nil {
				return err
			}
			if err := checkWrite(t, r, o); err != nil {
				return err
			}
			o.Stopped = stop
			t.touch(o)
			return nil
		})
	}
}
