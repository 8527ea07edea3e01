package apcera

import (
	"net/http"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// GET /runtimes: the seed's list, which is Cairn's staging runtimes.
func (a *API) listRuntimes(w http.ResponseWriter, r *http.Request) {
	type runtime struct {
		Patterns []string `json:"patterns"`
		Runtime  string   `json:"runtime"`
	}
	out := make([]runtime, 0, len(workload.Runtimes))
	for _, rt := range workload.Runtimes {
		out = append(out, runtime{Patterns: rt.Patterns, Runtime: rt.Name})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// builtinTime is the created_at of the built-in pipelines (the seed's).
const builtinTime = "2015-09-10T15:16:19.080812815Z"

// builtinUUIDs keeps the seed's UUIDs for its java pipeline and stager,
// so its recipe's requests work as written; the others are derived from
// their names.
var builtinUUIDs = map[string][2]string{
	"java": {"e29eaa10-2f87-40b9-82c2-70cc50822bb9", "de4024e4-33c3-4a0c-88d1-04b4d637eded"},
}

// builtinPipelines are stagpipe::/apcera::<runtime>, one per runtime.
func builtinPipelines() []object {
	out := make([]object, 0, len(workload.Runtimes))
	for _, rt := range workload.Runtimes {
		ids, ok := builtinUUIDs[rt.Name]
		if !ok {
			ids = [2]string{nameUUID("stagpipe:" + rt.Name), nameUUID("stager:" + rt.Name)}
		}
		out = append(out, object{"auto_id": 0, "created_at": builtinTime, "created_by": "stagehand@apcera.me",
			"fqn": "stagpipe::/apcera::" + rt.Name, "name": rt.Name, "stagers": []any{map[string]any{"uuid": ids[1]}},
			"updated_at": builtinTime, "updated_by": "", "uuid": ids[0], "version_id": 1})
	}
	return out
}

// findPipeline finds a pipeline by UUID or FQN: a built-in one (res nil)
// or a stored one.
func findPipeline(v *fsm.View, id, fqn string) (object, *fsm.Resource, error) {
	for _, p := range builtinPipelines() {
		if (id != "" && p.str("uuid") == id) || (id == "" && p.str("fqn") == fqn) {
			return p, nil, nil
		}
	}
	if id != "" {
		if res := v.Get(KindPipeline, id); res != nil {
			return decodeObject(res), res, nil
		}
	} else if res := byFQN(v, KindPipeline, fqn); res != nil {
		return decodeObject(res), res, nil
	}
	if id != "" {
		return nil, nil, badRequest("staging pipeline %s does not exist", id)
	}
	return nil, nil, badRequest("staging pipeline %s does not exist", fqn)
}

// pipelineRuntime is the runtime a pipeline stages for: its name when
// that is a runtime's ("" detects it from the package's files).
func pipelineRuntime(p object) string {
	for _, rt := range workload.Runtimes {
		if rt.Name == p.str("name") {
			return rt.Name
		}
	}
	return ""
}

func (a *API) listPipelines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := []object{}
	for _, p := range builtinPipelines() {
		if f := q.Get("fqn"); f == "" || p.str("fqn") == f {
			out = append(out, p)
		}
	}
	stored, err := filterList(a.Node.View(), KindPipeline, q)
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, append(out, stored...))
}

func (a *API) getPipeline(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["uuid"]
	p, _, err := findPipeline(a.Node.View(), id, "")
	if err != nil || !validUUID(id) {
		fail(w, notFound("staging pipeline %s does not exist", id))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

// createPipeline stores a pipeline {fqn, name, stagers}. Cairn runs no
// stager jobs: a pipeline named after a runtime stages for it, any other
// detects the runtime from the package's files.
func (a *API) createPipeline(w http.ResponseWriter, r *http.Request) {
	var in object
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	f, err := parseFQN(in.str("fqn"), "stagpipe")
	if err != nil {
		fail(w, err)
		return
	}
	for _, p := range builtinPipelines() {
		if p.str("fqn") == f.String() {
			fail(w, conflict("staging pipeline %s is built in", f))
			return
		}
	}
	id, by := newUUID(), user(r)
	res, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		p := object{}
		for k, val := range in {
			p[k] = val
		}
		if p.str("name") == "" {
			p["name"] = f.Name
		}
		if p["stagers"] == nil {
			p["stagers"] = []any{}
		}
		p["uuid"], p["fqn"], p["version_id"], p["auto_id"] = id, f.String(), 1, 0
		p["created_at"], p["updated_at"], p["created_by"], p["updated_by"] = stampTime(now), stampTime(now), by, ""
		return []fsm.Op{{Type: fsm.OpPut, Kind: KindPipeline, ID: id, Body: mustJSON(p), Require: fsm.RequireAbsent}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res.Resources[0]))
}
