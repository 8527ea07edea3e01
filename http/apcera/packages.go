package apcera

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// Package states (reference dialects.md, section D): a package waits
// uploading until its resource arrives whole and as declared, is staged,
// and ends ready (or failed, with error_message).
const (
	pkgUploading = "uploading"
	pkgStaging   = "staging"
	pkgReady     = "ready"
	pkgFailed    = "failed"
)

// startPath is the START_PATH a ready package shows: the application's
// root, as Apcera has it. On a node it is the staged directory, which
// the job's start command reaches as $START_PATH (jobs.go).
const startPath = "/app"

func (a *API) listPackages(w http.ResponseWriter, r *http.Request) {
	out, err := filterList(a.Node.View(), KindPackage, r.URL.Query())
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (a *API) pkgRes(v *fsm.View, id string) (*fsm.Resource, error) {
	if !validUUID(id) {
		return nil, notFound("package %q does not exist", id)
	}
	res := v.Get(KindPackage, id)
	if res == nil {
		return nil, notFound("package %s does not exist", id)
	}
	return res, nil
}

func (a *API) getPackage(w http.ResponseWriter, r *http.Request) {
	res, err := a.pkgRes(a.Node.View(), mux.Vars(r)["uuid"])
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res))
}

// declaredResource reads what a new package says its resource is: the
// seed's resource {length, sha1}, or the newer resources [{length,
// digest: "sha1:<hex>"}] (the first).
func declaredResource(in object) (length int64, sum string, err error) {
	res := in.obj("resource")
	if res == nil {
		if l := in.list("resources"); len(l) > 0 {
			res, _ = l[0].(map[string]any)
		}
	}
	if res == nil {
		return 0, "", badRequest("a package declares its resource: \"resource\": {\"length\": <bytes>, \"sha1\": <hex>}")
	}
	sum = strings.ToLower(res.str("sha1"))
	if sum == "" {
		sum = strings.ToLower(strings.TrimPrefix(res.str("digest"), "sha1:"))
	}
	length = res.int64Of("length")
	if workload.ValidSHA1(sum) != nil || length <= 0 {
		return 0, "", badRequest("the package's resource must declare its length (bytes, above 0) and its sha1 (40 hex digits); got length %v, sha1 %q", res["length"], sum)
	}
	return length, sum, nil
}

func (a *API) createPackage(w http.ResponseWriter, r *http.Request) {
	var in object
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	f, err := parseFQN(in.str("fqn"), "package")
	if err != nil {
		fail(w, err)
		return
	}
	length, sum, err := declaredResource(in)
	if err != nil {
		fail(w, err)
		return
	}
	id, by := newUUID(), user(r)
	res, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		p := object{}
		for k, val := range in {
			p[k] = val
		}
		delete(p, "resources")
		var ops []fsm.Op
		if sp := in.obj("staging_pipeline"); sp.str("uuid") != "" || in.str("staging_pipeline_fqn") != "" {
			pl, plRes, err := findPipeline(v, sp.str("uuid"), in.str("staging_pipeline_fqn"))
			if err != nil {
				return nil, err
			}
			if plRes != nil { // a stored pipeline: it must still exist when this applies
				ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindPipeline, ID: plRes.ID, Require: fsm.RequireVersion, Version: plRes.Version})
			}
			p["staging_pipeline"] = map[string]any{"uuid": pl.str("uuid")}
			p["staging_pipeline_fqn"] = pl.str("fqn")
			p["stager_job_fqns"] = []any{"job::/apcera/stagers::" + pl.str("name")}
		}
		if p.str("name") == "" {
			p["name"] = f.Name
		}
		p["uuid"], p["fqn"], p["state"], p["version_id"] = id, f.String(), pkgUploading, 1
		p["resource"] = map[string]any{"length": length, "sha1": sum, "uuid": newUUID()}
		p["created_at"], p["updated_at"] = stampTime(now), stampTime(now)
		p["created_by"], p["updated_by"] = by, ""
		return append([]fsm.Op{{Type: fsm.OpPut, Kind: KindPackage, ID: id, Body: mustJSON(p), Require: fsm.RequireAbsent}}, ops...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", baseURL(r)+"/packages/"+id)
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res.Resources[0]))
}

// putPackage replaces a package's client-owned members (name, tags, and
// the rest of what it sends); the resource, state, staging results and
// identity stay the server's. version_id as for jobs.
func (a *API) putPackage(w http.ResponseWriter, r *http.Request) {
	var in object
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	by := user(r)
	res, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		cur, err := a.pkgRes(v, mux.Vars(r)["uuid"])
		if err != nil {
			return nil, err
		}
		old := decodeObject(cur)
		have, given := old.int64Of("version_id"), in.int64Of("version_id")
		if _, ok := in["version_id"]; ok && given < have {
			return nil, conflict("package %s is at version_id %d; this update is for version_id %d: read the package again and reapply the change", cur.ID, have, given)
		}
		p := object{}
		for k, val := range in {
			p[k] = val
		}
		if _, err := parseFQN(p.str("fqn"), "package"); err != nil {
			return nil, err
		}
		for _, k := range []string{"uuid", "created_at", "created_by", "resource", "state", "environment", "dependencies",
			"staging_pipeline", "staging_pipeline_fqn", "stager_job_fqns", "error_message"} {
			if val, ok := old[k]; ok {
				p[k] = val
			} else {
				delete(p, k)
			}
		}
		p["version_id"] = max(have, given) + 1
		p["updated_at"], p["updated_by"] = stampTime(now), by
		return []fsm.Op{{Type: fsm.OpPut, Kind: KindPackage, ID: cur.ID, Body: mustJSON(p), Require: fsm.RequireVersion, Version: cur.Version}}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res.Resources[0]))
}

// deletePackage removes a package and its hold on its resource (the
// artifact goes once no workload uses it either). A package a job still
// runs from is refused (409).
func (a *API) deletePackage(w http.ResponseWriter, r *http.Request) {
	_, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		cur, err := a.pkgRes(v, mux.Vars(r)["uuid"])
		if err != nil {
			return nil, err
		}
		ops := []fsm.Op{{Type: fsm.OpDelete, Kind: KindPackage, ID: cur.ID, Require: fsm.RequireVersion, Version: cur.Version},
			{Type: fsm.OpDelete, Kind: workload.KindArtifactRef, ID: refID(cur.ID)}}
		for _, j := range listAll(v, KindJob) {
			for _, p := range decodeObject(j).list("packages") {
				if pm, _ := p.(map[string]any); pm != nil && pm["uuid"] == cur.ID {
					return nil, conflict("package %s is used by job %s (%s); delete the job first", cur.ID, j.ID, decodeObject(j).str("fqn"))
				}
			}
			// The job must not take the package on meanwhile.
			ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindJob, ID: j.ID, Require: fsm.RequireVersion, Version: j.Version})
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeNull(w)
}

// stagingTimeout is how long a package may stay staging: staging runs
// in the upload request, so a package still staging after it was cut
// short (its leader died) takes the same upload again, which stages it
// afresh.
const stagingTimeout = time.Minute

// staleStaging reports whether p has been staging for longer than
// stagingTimeout at now.
func staleStaging(p object, now time.Time) bool {
	t, err := time.Parse(time.RFC3339Nano, p.str("updated_at"))
	return p.str("state") == pkgStaging && err == nil && now.Sub(t) > stagingTimeout
}

// refID is the id of a package's hold on its artifact.
func refID(pkg string) string { return KindPackage + "." + pkg }

// uploadResource takes a package's resource: the bytes must be exactly
// the length and SHA-1 the package declared, else 400 naming both and
// the package stays uploading. The bytes are stored as an artifact
// (content-addressed, replicated through Raft in chunks), held by the
// package; then the package is staged: its runtime is its staging
// pipeline's (or detected from its files), and a ready package carries
// its start command and path (or it is failed, with error_message).
func (a *API) uploadResource(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	v := a.Node.View()
	cur, err := a.uploadTarget(v, vars["uuid"], vars["resource"])
	if err != nil {
		fail(w, err)
		return
	}
	pkg := decodeObject(cur)
	decl := pkg.obj("resource")
	wantLen, wantSum := decl.int64Of("length"), decl.str("sha1")
	if st := pkg.str("state"); st != pkgUploading && !staleStaging(pkg, a.now()) {
		fail(w, conflict("package %s is %s: its resource was uploaded already", cur.ID, st))
		return
	}
	if wantLen > a.MaxArtifactBytes {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the package declares %d bytes; the limit is %d", wantLen, a.MaxArtifactBytes))
		return
	}
	spool, err := os.CreateTemp("", "cairn-apcera-*")
	if err != nil {
		fail(w, err)
		return
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	h := sha1.New()
	n, err := io.Copy(io.MultiWriter(spool, h), io.LimitReader(r.Body, wantLen+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		WriteError(w, http.StatusRequestEntityTooLarge, "the resource is over the request body limit (-max-body-bytes)")
		return
	case err != nil:
		fail(w, badRequest("reading the resource: %v", err))
		return
	}
	got := hex.EncodeToString(h.Sum(nil))
	if n > wantLen {
		fail(w, badRequest("the uploaded resource is longer than the %d bytes the package declares (sha1 %s); nothing was stored, the package is still uploading", wantLen, wantSum))
		return
	}
	if n != wantLen || got != wantSum {
		fail(w, badRequest("the uploaded resource is %d bytes with sha1 %s; the package declares %d bytes with sha1 %s; nothing was stored, the package is still uploading", n, got, wantLen, wantSum))
		return
	}
	if err := a.storeArtifact(w, r, spool, wantSum, n); err != nil {
		fail(w, err)
		return
	}
	// Hold the artifact and move the package to staging, in one command.
	staging, err := a.setPackage(w, r, cur.ID, func(v *fsm.View, p object) ([]fsm.Op, error) {
		if p.str("state") != pkgUploading && !staleStaging(p, a.now()) {
			return nil, conflict("package %s is %s: its resource was uploaded already", cur.ID, p.str("state"))
		}
		art := v.Get(workload.KindArtifact, wantSum)
		if art == nil {
			return nil, newError(errUnavailable, "the resource was stored, then collected; upload it again")
		}
		p["state"] = pkgStaging
		p["version_id"] = p.int64Of("version_id") + 2 // uploaded, then staging
		return []fsm.Op{
			{Type: fsm.OpPut, Kind: workload.KindArtifact, ID: wantSum, Body: art.Body, Require: fsm.RequireVersion, Version: art.Version},
			{Type: fsm.OpPut, Kind: workload.KindArtifactRef, ID: refID(cur.ID), Body: mustJSON(map[string]string{"artifact": wantSum})},
		}, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	// Staging: what the package's pipeline (its runtime) makes of it.
	runtime := ""
	if pl, _, err := findPipeline(a.Node.View(), staging.obj("staging_pipeline").str("uuid"), staging.str("staging_pipeline_fqn")); err == nil {
		runtime = pipelineRuntime(pl)
	}
	st, serr := workload.Inspect(spool.Name(), runtime)
	_, err = a.setPackage(w, r, cur.ID, func(v *fsm.View, p object) ([]fsm.Op, error) {
		if p.str("state") != pkgStaging {
			return nil, conflict("package %s is %s, no longer staging", cur.ID, p.str("state"))
		}
		p["version_id"] = p.int64Of("version_id") + 1
		if serr != nil {
			p["state"], p["error_message"] = pkgFailed, "staging failed: "+serr.Error()
			return nil, nil
		}
		p["state"] = pkgReady
		env := p.obj("environment")
		if env == nil {
			env = object{}
		}
		if st.Runtime == "java" {
			st.StartCommand += " $JAVA_FLAGS" // as Apcera's java stager has it
		}
		env["START_COMMAND"], env["START_PATH"] = st.StartCommand, startPath
		p["environment"] = env
		p["dependencies"] = []any{map[string]any{"name": st.Runtime, "type": "runtime"}}
		p["updated_by"] = "staging_coordinator@apcera.me"
		return nil, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeNull(w)
}

// uploadTarget finds the package an upload names: by package UUID (the
// seed's /packages/resources/{package uuid}, and /packages/{uuid}/
// resources/{resource uuid}), or by resource UUID.
func (a *API) uploadTarget(v *fsm.View, id, resource string) (*fsm.Resource, error) {
	if res := v.Get(KindPackage, id); res != nil && validUUID(id) {
		if resource != "" && decodeObject(res).obj("resource").str("uuid") != resource {
			return nil, notFound("package %s has no resource %s", id, resource)
		}
		return res, nil
	}
	if resource == "" {
		if rs, err := v.Lookup(KindPackage, "resource", id); err == nil && len(rs) == 1 {
			return rs[0], nil
		}
	}
	return nil, notFound("package %s does not exist", id)
}

// setPackage rewrites package id with change (which may add ops), at the
// version read.
func (a *API) setPackage(w http.ResponseWriter, r *http.Request, id string, change func(v *fsm.View, p object) ([]fsm.Op, error)) (object, error) {
	var out object
	_, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		cur := v.Get(KindPackage, id)
		if cur == nil {
			return nil, notFound("package %s was deleted", id)
		}
		p := decodeObject(cur)
		extra, err := change(v, p)
		if err != nil {
			return nil, err
		}
		p["updated_at"] = stampTime(now)
		out = p
		return append([]fsm.Op{{Type: fsm.OpPut, Kind: KindPackage, ID: id, Body: mustJSON(p), Require: fsm.RequireVersion, Version: cur.Version}}, extra...), nil
	})
	return out, err
}

// storeArtifact writes the spooled, checked bytes through Raft as
// artifact sum, chunk by chunk, the manifest last (workload.Uploader).
// An artifact already stored is not written again.
func (a *API) storeArtifact(w http.ResponseWriter, r *http.Request, spool *os.File, sum string, n int64) error {
	if a.Node.View().Get(workload.KindArtifact, sum) != nil {
		return nil
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	apply := func(ops ...fsm.Op) error {
		_, _, err := a.Node.Apply(r.Context(), fsm.Command{Ops: ops, Time: a.now().UTC()})
		return err
	}
	up := workload.NewUploader()
	for {
		op, err := up.Next(spool, sum)
		if err == io.EOF {
			break
		}
		if err == nil {
			err = apply(op)
		}
		if err != nil {
			_ = apply(up.ChunkDeletes(sum)...)
			return err
		}
	}
	manifest, err := up.Finish(sum, n)
	if err != nil {
		_ = apply(up.ChunkDeletes(sum)...)
		return badRequest("%v", err)
	}
	if err := apply(manifest); err != nil && !errors.Is(err, fsm.ErrConflict) {
		return err
	}
	return nil
}

// pkgRuntime is the runtime a ready package was staged for.
func pkgRuntime(p object) string {
	for _, d := range p.list("dependencies") {
		if dm, _ := d.(map[string]any); dm != nil && dm["type"] == "runtime" {
			s, _ := dm["name"].(string)
			return s
		}
	}
	return ""
}
