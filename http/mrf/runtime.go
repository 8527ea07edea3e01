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

	"cairn/fsm"
	"cairn/http/httpx"

	"github.com/gorilla/mux"
)

// maxSetAttempts bounds the retries of a zone runtime write whose
// compare-and-set lost to a concurrent one.
const maxSetAttempts = 3

// runtimeRoot is the path a runtime request came in under
// (/management/runtime or its /management/domain/runtime alias).
func runtimeRoot(path string) string {
	if strings.HasPrefix(path, "/management/domain/runtime") {
		return "/management/domain/runtime"
	}
	return "/management/runtime"
}

// mode is this runtime's role, in Fabric3's RuntimeMode names.
func (a *api) mode() string {
	if a.Membership == nil {
		return "CONTROLLER"
	}
	for _, m := range a.Membership.Members() {
		if m.ID == a.Node.ID() && m.Controller {
			return "CONTROLLER"
		}
	}
	return "PARTICIPANT"
}

// runtime links this process's runtime resources.
func (a *api) runtime(w http.ResponseWriter, r *http.Request) {
	base, root := a.Node.HTTPURL(), runtimeRoot(r.URL.Path)
	res := newResource(base, root)
	res["name"] = a.Node.ID()
	res["zone"] = a.Node.Zone()
	res["mode"] = a.mode()
	if a.Runtime != nil {
		for _, name := range a.Runtime.Resources() {
			res[name] = editLink(name, base+root+"/"+name)
		}
	}
	writeResource(w, http.StatusOK, res)
}

// runtimeResource shows this process's live values of one resource.
func (a *api) runtimeResource(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["resource"]
	vals, ok := a.live(name)
	if !ok {
		fail(w, errNotFound)
		return
	}
	res := newResource(a.Node.HTTPURL(), runtimeRoot(r.URL.Path)+"/"+name)
	for k, v := range vals {
		res[k] = v
	}
	writeResource(w, http.StatusOK, res)
}

func (a *api) live(name string) (map[string]any, bool) {
	if a.Runtime == nil {
		return nil, false
	}
	return a.Runtime.Live(name)
}

// zoneRuntime links the zone's runtime resources.
func (a *api) zoneRuntime(w http.ResponseWriter, r *http.Request) {
	base := a.Node.HTTPURL()
	res := newResource(base, "/management/zone/runtime")
	if a.Runtime != nil {
		for _, name := range a.Runtime.Resources() {
			res[name] = editLink(name, base+"/management/zone/runtime/"+name)
		}
	}
	writeResource(w, http.StatusOK, res)
}

// zoneResource shows the zone's values of one resource (as stored in this
// member's replica), with a link to each operation it offers.
func (a *api) zoneResource(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["resource"]
	v := a.Node.View()
	if a.Runtime == nil {
		fail(w, errNotFound)
		return
	}
	vals, ok := a.Runtime.Zone(v, name)
	if !ok {
		fail(w, errNotFound)
		return
	}
	a.writeZoneResource(w, http.StatusOK, name, vals, v.Index())
}

func (a *api) writeZoneResource(w http.ResponseWriter, status int, name string, vals map[string]any, index uint64) {
	base := a.Node.HTTPURL()
	path := "/management/zone/runtime/" + name
	res := newResource(base, path)
	for k, v := range vals {
		res[k] = v
	}
	for _, op := range a.Runtime.Operations(name) {
		res[op] = editLink(op, base+path+"/"+op)
	}
	w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	writeResource(w, status, res)
}

// setZoneResource changes attributes of a zone runtime resource (PUT or
// POST, both merge the attributes given into the zone's values) through the
// zone's Raft log; every member applies the change to itself when it
// commits. The answer is the zone's values after the write.
func (a *api) setZoneResource(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["resource"]
	if _, ok := a.live(name); !ok {
		fail(w, errNotFound)
		return
	}
	body, err := httpx.ReadJSON(r) // UTF-8 and nesting checked as every JSON body is
	if err != nil {
		fail(w, err)
		return
	}
	if body, err = a.unwrapString(name, body); err != nil {
		fail(w, err)
		return
	}
	for attempt := 1; ; attempt++ {
		v := a.Node.View()
		cmd, err := a.Runtime.SetCommand(v, name, body, a.now())
		if err != nil {
			fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
			return
		}
		index, _, err := a.Node.Apply(r.Context(), cmd)
		if errors.Is(err, fsm.ErrConflict) && attempt < maxSetAttempts {
			continue // a concurrent change won the compare-and-set: merge again
		}
		if err != nil {
			fail(w, err)
			return
		}
		vals, _ := a.Runtime.Zone(a.Node.View(), name)
		a.writeZoneResource(w, http.StatusOK, name, vals, index)
		return
	}
}

// unwrapString accepts the body Fabric3's CLI sends: its `post <path>
// <content>` serialises content as a JSON string, so {"level":"debug"}
// arrives as "{\"level\":\"debug\"}". A JSON string holding a JSON object
// is that object; any other string is the value of the resource's only
// attribute (logging's level: "debug"), and refused, naming the
// attributes, for a resource of several. Any other body passes as it is.
func (a *api) unwrapString(name string, body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '"' {
		return body, nil
	}
	var s string
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return nil, fmt.Errorf("%w: the body is not a JSON value: %v", errBadRequest, err)
	}
	if inner := strings.TrimSpace(s); strings.HasPrefix(inner, "{") {
		if !json.Valid([]byte(inner)) {
			return nil, fmt.Errorf("%w: the JSON string %q holds no valid JSON object", errBadRequest, s)
		}
		return []byte(inner), nil
	}
	vals, _ := a.live(name)
	attrs := make([]string, 0, len(vals))
	for k := range vals {
		attrs = append(attrs, k)
	}
	sort.Strings(attrs)
	if len(attrs) != 1 {
		return nil, fmt.Errorf("%w: %s has attributes %s: send a JSON object naming the one to set, e.g. {%q: ...}, not the bare string %q",
			errBadRequest, name, strings.Join(attrs, ", "), attrs[0], s)
	}
	return json.Marshal(map[string]string{attrs[0]: s})
}

// resetZoneResource deletes the zone's values of a runtime resource
// (DELETE /management/zone/runtime/http): every member returns to the
// values of its own flags when it applies the delete.
func (a *api) resetZoneResource(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["resource"]
	if _, ok := a.live(name); !ok {
		fail(w, errNotFound)
		return
	}
	for attempt := 1; ; attempt++ {
		cmd, ok, err := a.Runtime.ResetCommand(a.Node.View(), name, a.now())
		if err != nil {
			fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
			return
		}
		if !ok {
			w.WriteHeader(http.StatusNoContent) // nothing stored: already on the flags
			return
		}
		index, _, err := a.Node.Apply(r.Context(), cmd)
		if errors.Is(err, fsm.ErrConflict) && attempt < maxSetAttempts {
			continue
		}
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
		w.WriteHeader(http.StatusNoContent)
		return
	}
}

// invokeZoneOperation asks every member of the zone to run an operation of
// a runtime resource (POST /management/zone/runtime/raft/snapshot): a
// replicated request each member executes once when it applies it.
func (a *api) invokeZoneOperation(w http.ResponseWriter, r *http.Request) {
	name, op := mux.Vars(r)["resource"], mux.Vars(r)["operation"]
	if _, ok := a.live(name); !ok {
		fail(w, errNotFound)
		return
	}
	found := false
	for _, o := range a.Runtime.Operations(name) {
		found = found || o == op
	}
	if !found {
		fail(w, errNotFound)
		return
	}
	cmd, err := a.Runtime.InvokeCommand(name, op, a.Node.ID(), a.now())
	if err != nil {
		fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	index, _, err := a.Node.Apply(r.Context(), cmd)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	path := "/management/zone/runtime/" + name + "/" + op
	writeResource(w, http.StatusOK, wrap(a.Node.HTTPURL(), path, map[string]any{
		"operation": name + "." + op, "index": index, "members": "every member of the zone runs it once when it applies this index",
	}))
}
