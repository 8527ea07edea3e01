package apcera

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// Job states: a job is created ready (or started, if asked), and a PUT
// moves it between started and stopped. Only a started job's workload
// runs instances.
const (
	jobReady   = "ready"
	jobStarted = "started"
	jobStopped = "stopped"
)

// stampTime is how the API writes times (RFC 3339 with nanoseconds).
func stampTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	out, err := filterList(a.Node.View(), KindJob, r.URL.Query())
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// jobRes returns the job the path names.
func (a *API) jobRes(v *fsm.View, r *http.Request) (*fsm.Resource, error) {
	id := mux.Vars(r)["uuid"]
	if !validUUID(id) {
		return nil, notFound("job %q does not exist", id)
	}
	res := v.Get(KindJob, id)
	if res == nil {
		return nil, notFound("job %s does not exist", id)
	}
	return res, nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	res, err := a.jobRes(a.Node.View(), r)
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res))
}

// checkJobState validates a requested job state; "" means ready.
func checkJobState(s string) (string, error) {
	switch s {
	case "", jobReady:
		return jobReady, nil
	case jobStarted, jobStopped:
		return s, nil
	}
	return "", badRequest("state %q must be %q, %q or %q", s, jobReady, jobStarted, jobStopped)
}

// defaultLogs is the logs member of a job created without one (the seed's).
func defaultLogs() []any {
	return []any{
		map[string]any{"channel": "job.$JOB_UUID.stdout", "file": "/logs/stdout.*.log"},
		map[string]any{"channel": "job.$JOB_UUID.stderr", "file": "/logs/stderr.*.log"},
	}
}

// newJob fills the members the server owns in a job to create.
func newJob(in object, id, by string, now time.Time) (object, FQN, error) {
	f, err := parseFQN(in.str("fqn"), "job")
	if err != nil {
		return nil, f, err
	}
	st, err := checkJobState(in.str("state"))
	if err != nil {
		return nil, f, err
	}
	in["uuid"], in["fqn"], in["state"], in["version_id"] = id, f.String(), st, 1
	if in.str("name") == "" {
		in["name"] = f.Name
	}
	in["created_at"], in["updated_at"] = stampTime(now), stampTime(now)
	in["created_by"], in["updated_by"] = by, ""
	if in["logs"] == nil {
		in["logs"] = defaultLogs()
	}
	if _, ok := in["num_instances"]; !ok {
		in["num_instances"] = 1
	}
	in["bindings"] = map[string]any{}
	return in, f, nil
}

func (a *API) createJob(w http.ResponseWriter, r *http.Request) {
	var in object
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	id := newUUID()
	by := user(r)
	var job object
	res, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		j := object{}
		for k, val := range in {
			j[k] = val
		}
		var err error
		if job, _, err = newJob(j, id, by, now); err != nil {
			return nil, err
		}
		ops := []fsm.Op{{Type: fsm.OpPut, Kind: KindJob, ID: id, Body: mustJSON(job), Require: fsm.RequireAbsent}}
		wops, err := workloadOps(v, id, job, nil)
		if err != nil {
			return nil, err
		}
		return append(ops, wops...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", baseURL(r)+"/jobs/"+id)
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res.Resources[0]))
}

// putJob replaces a job with the whole object given, as APC does
// (read, change, write back). The version_id it carries is what it was
// read at: one lower than the job's is stale, refused with 409 instead
// of overwriting the newer change. The check is a precondition of the
// write (the job's Raft version), so it holds against concurrent writes
// through any node. The new version_id is one more than the larger of
// the job's and the request's (the seed's requests carry versions that
// changes not shown in it moved on).
func (a *API) putJob(w http.ResponseWriter, r *http.Request) {
	var in object
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	by := user(r)
	res, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		cur, err := a.jobRes(v, r)
		if err != nil {
			return nil, err
		}
		old := decodeObject(cur)
		have, given := old.int64Of("version_id"), in.int64Of("version_id")
		if _, ok := in["version_id"]; ok && given < have {
			return nil, conflict("job %s is at version_id %d; this update is for version_id %d: read the job again and reapply the change", cur.ID, have, given)
		}
		job := object{}
		for k, val := range in {
			job[k] = val
		}
		if _, err := parseFQN(job.str("fqn"), "job"); err != nil {
			return nil, err
		}
		st, err := checkJobState(job.str("state"))
		if err != nil {
			return nil, err
		}
		job["state"] = st
		for _, k := range []string{"uuid", "created_at", "created_by", "bindings", "docker_origin"} {
			if val, ok := old[k]; ok {
				job[k] = val
			} else {
				delete(job, k)
			}
		}
		if job.str("name") == "" {
			job["name"] = old["name"]
		}
		job["version_id"] = max(have, given) + 1
		job["updated_at"], job["updated_by"] = stampTime(now), by
		ops := []fsm.Op{{Type: fsm.OpPut, Kind: KindJob, ID: cur.ID, Body: mustJSON(job), Require: fsm.RequireVersion, Version: cur.Version}}
		wops, err := workloadOps(v, cur.ID, job, nil)
		if err != nil {
			return nil, err
		}
		return append(ops, wops...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, decodeObject(res.Resources[0]))
}

// deleteJob removes a job, its workload (every node stops its
// instances) and its bindings, in one command.
func (a *API) deleteJob(w http.ResponseWriter, r *http.Request) {
	_, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		cur, err := a.jobRes(v, r)
		if err != nil {
			return nil, err
		}
		ops := []fsm.Op{{Type: fsm.OpDelete, Kind: KindJob, ID: cur.ID, Require: fsm.RequireVersion, Version: cur.Version}}
		ops = append(ops, deleteWorkloadOps(v, cur.ID)...)
		bs, _ := v.Lookup(KindBinding, "job", decodeObject(cur).str("fqn"))
		for _, b := range bs {
			ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindBinding, ID: b.ID})
		}
		return ops, nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeNull(w)
}

// deleteWorkloadOps removes workload id, its placement and its
// instances' states (what the native workload delete does).
func deleteWorkloadOps(v *fsm.View, id string) []fsm.Op {
	if v.Get(workload.KindWorkload, id) == nil {
		return nil
	}
	ops := []fsm.Op{{Type: fsm.OpDelete, Kind: workload.KindWorkload, ID: id}, {Type: fsm.OpDelete, Kind: workload.KindPlacement, ID: id}}
	insts, _ := v.Lookup(workload.KindInstance, "workload", id)
	for _, res := range insts {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: workload.KindInstance, ID: res.ID})
	}
	return ops
}

// portName is the workload port name of an Apcera port number.
func portName(n int64) string { return "p" + strconv.FormatInt(n, 10) }

// appPath matches /app as a path at the start of a word of a start
// command: Apcera's application root, which is START_PATH here.
var appPath = regexp.MustCompile(`(^|[\s;&|=:'"(])/app(/|$|[\s;&|'")])`)

// startCommand translates a job's start command: /app becomes the
// staged application's directory.
func startCommand(cmd string) string {
	return appPath.ReplaceAllString(cmd, `${1}$$START_PATH${2}`)
}

// workloadOps translates a job into its workload: the ops that write it
// (or remove it when the job has nothing to run). extraLinks are links
// of bindings being written in the same command.
func workloadOps(v *fsm.View, id string, job object, extraLinks []workload.Link) ([]fsm.Op, error) {
	spec := workload.Spec{Env: map[string]string{}}
	started := job.str("state") == jobStarted
	n := job.int64Of("num_instances")
	if n < 0 || n > workload.MaxInstances {
		return nil, badRequest("num_instances must be 0 to %d, got %d", workload.MaxInstances, n)
	}
	spec.Instances = int(n)
	spec.State = workload.StateStopped
	if started {
		spec.State = workload.StateStarted
	}
	// The user package: the first of the job's packages that this API
	// holds (the seed's "system" packages are not Cairn's, and ignored).
	var pkgEnv object
	for _, p := range job.list("packages") {
		pm, _ := p.(map[string]any)
		pid, _ := pm["uuid"].(string)
		if pid == "" {
			continue
		}
		res := v.Get(KindPackage, pid)
		if res == nil {
			continue
		}
		pkg := decodeObject(res)
		if pkg.str("state") != pkgReady {
			if started {
				return nil, badRequest("package %s is %s, not ready: a job starts once its package is staged", pid, pkg.str("state"))
			}
			continue
		}
		spec.Artifact = pkg.obj("resource").str("sha1")
		spec.Runtime = pkgRuntime(pkg)
		pkgEnv = pkg.obj("environment")
		break
	}
	if do := job.obj("docker_origin"); do != nil {
		spec.Image = do.str("image")
	}
	procs := job.obj("processes")
	names := make([]string, 0, len(procs))
	for k := range procs {
		names = append(names, k)
	}
	sort.Strings(names)
	cmd := ""
	for _, pn := range names {
		p := procs.obj(pn)
		for k, val := range p.obj("environment") {
			spec.Env[k] = fmt.Sprint(val)
		}
		if c := p.str("start_command"); c != "" && cmd == "" {
			cmd = c
		}
		if t := p.int64Of("stop_timeout"); t > 0 {
			spec.StopTimeout = workload.Duration(time.Duration(t) * time.Second)
		}
	}
	if cmd == "" && pkgEnv != nil {
		cmd = pkgEnv.str("START_COMMAND")
	}
	if cmd != "" {
		spec.Command = []string{"/bin/sh", "-c", startCommand(cmd)}
	}
	for _, p := range job.list("ports") {
		pm := object{}
		if m, ok := p.(map[string]any); ok {
			pm = m
		}
		num := pm.int64Of("number")
		if num <= 0 || num > 65535 {
			return nil, badRequest("ports: %v is not a port number", pm["number"])
		}
		spec.Ports = append(spec.Ports, portName(num))
	}
	switch job.obj("restart").str("restart_mode") {
	case "always":
		spec.Restart.Mode = workload.RestartAlways
	case "no", "never":
		spec.Restart.Mode = workload.RestartNever
	default:
		spec.Restart.Mode = workload.RestartOnFailure
	}
	if m := job.obj("restart").int64Of("maximum_attempts"); m > 0 && m <= 1000 {
		spec.Restart.Attempts = int(m)
	}
	// Job links: from the job's bindings with a target job, and those
	// being written now. A link's variable wins over an environment
	// variable of the same name.
	links := append([]workload.Link{}, extraLinks...)
	for _, b := range job.obj("bindings") {
		bm := object{}
		if m, ok := b.(map[string]any); ok {
			bm = m
		}
		if l, ok := linkOf(bm); ok {
			links = append(links, l)
		}
	}
	for _, l := range links {
		delete(spec.Env, l.Env)
		spec.Links = append(spec.Links, l)
	}
	if spec.Artifact == "" && spec.Image == "" && len(spec.Command) == 0 {
		if started {
			return nil, badRequest("job has nothing to run: give it a ready package, a start_command or a Docker image")
		}
		return deleteWorkloadOps(v, id), nil
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if _, err := workload.ParseSpec(body); err != nil {
		return nil, badRequest("the job cannot run as given: %v", err)
	}
	ops := []fsm.Op{{Type: fsm.OpPut, Kind: workload.KindWorkload, ID: id, Body: body}}
	if spec.Artifact != "" {
		art := v.Get(workload.KindArtifact, spec.Artifact)
		if art == nil {
			return nil, badRequest("the package's resource %s is not stored (was the package deleted?)", spec.Artifact)
		}
		// Touch the artifact at the version read, so a collection that
		// found it unreferenced cannot delete it under this job.
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: workload.KindArtifact, ID: spec.Artifact, Body: art.Body, Require: fsm.RequireVersion, Version: art.Version})
	}
	return ops, nil
}

// linkOf is the workload link of a job-link binding.
func linkOf(b object) (workload.Link, bool) {
	target := b.str("target_job_uuid")
	if target == "" {
		return workload.Link{}, false
	}
	l := workload.Link{Workload: target, Env: envName(b.str("name"))}
	if p := b.int64Of("target_job_port"); p > 0 {
		l.Port = portName(p)
	}
	return l, true
}

// envName makes a variable name of s: upper case, other bytes as '_'.
func envName(s string) string {
	var sb strings.Builder
	for _, c := range strings.ToUpper(s) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			sb.WriteRune(c)
		} else {
			sb.WriteByte('_')
		}
	}
	out := sb.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}
