package apcera

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"

	"github.com/gorilla/mux"
)

// A policy document is stored as written (Cairn does not evaluate
// Apcera's policy language): {name, text, version, updated_at}, version
// counting from 1.

func (a *API) listPolicy(w http.ResponseWriter, r *http.Request) {
	out := []object{}
	for _, res := range listAll(a.Node.View(), KindPolicy) {
		out = append(out, decodeObject(res))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].str("name") < out[j].str("name") })
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	res := a.Node.View().Get(KindPolicy, name)
	if res == nil {
		fail(w, notFound("policy document %q does not exist", name))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res))
}

// putPolicy creates and updates documents, all or none: a document whose
// for_version is absent or 0 is created (it must not exist), one with a
// for_version is updated only while it is at that version; otherwise
// 409 with the seed's message. Each document read is a precondition of
// the one command that writes them all.
func (a *API) putPolicy(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Docs []struct {
			Name       string `json:"name"`
			Text       string `json:"text"`
			ForVersion int64  `json:"for_version"`
		} `json:"docs"`
	}
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	if len(in.Docs) == 0 {
		fail(w, badRequest("the body is {\"docs\": [{\"name\", \"text\", \"for_version\"}, ...]}"))
		return
	}
	seen := map[string]bool{}
	for _, d := range in.Docs {
		if d.Name == "" || len(d.Name) > 255 || strings.ContainsAny(d.Name, "/\x00\n") {
			fail(w, badRequest("policy document name %q: 1 to 255 bytes, no '/' or newline", d.Name))
			return
		}
		if seen[d.Name] {
			fail(w, badRequest("policy document %q is given twice", d.Name))
			return
		}
		seen[d.Name] = true
	}
	res, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		var ops []fsm.Op
		for _, d := range in.Docs {
			cur := v.Get(KindPolicy, d.Name)
			have := int64(0)
			op := fsm.Op{Type: fsm.OpPut, Kind: KindPolicy, ID: d.Name, Require: fsm.RequireAbsent}
			if cur != nil {
				have = decodeObject(cur).int64Of("version")
				op.Require, op.Version = fsm.RequireVersion, cur.Version
			}
			if d.ForVersion != have {
				return nil, conflict("Error updating policy: policy version mismatch while updating '%s': update is for version %d, current version is %d", d.Name, d.ForVersion, have)
			}
			op.Body = mustJSON(object{"name": d.Name, "text": d.Text, "version": have + 1, "updated_at": stampTime(now)})
			ops = append(ops, op)
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	out := []object{}
	for _, r := range res.Resources {
		out = append(out, decodeObject(r))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
