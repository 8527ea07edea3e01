package apcera

import (
	"net/http"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
)

// egressService is the one service Cairn binds a job to: the outside
// network. Cairn does not filter instances' traffic, so the binding is a
// record (its parameters are kept and shown), not a firewall rule.
const egressService = "service::/apcera::outside"

func (a *API) listBindings(w http.ResponseWriter, r *http.Request) {
	out, err := filterList(a.Node.View(), KindBinding, r.URL.Query())
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// createBinding binds a job to a service (egress) or links it to another
// job (target_job_fqn, target_job_port, name: the source's instances get
// the variable <NAME> holding host:port of a running instance of the
// target on that port, and are restarted when it changes). The binding,
// the job's bindings map (its version_id moves on) and the job's
// workload are written in one command.
func (a *API) createBinding(w http.ResponseWriter, r *http.Request) {
	var in object
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	id := newUUID()
	by := user(r)
	var out object
	_, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		jf, err := parseFQN(in.str("job_fqn"), "job")
		if err != nil {
			return nil, err
		}
		jobRes := byFQN(v, KindJob, jf.String())
		if jobRes == nil {
			return nil, badRequest("job %s does not exist", jf)
		}
		b := object{}
		for k, val := range in {
			b[k] = val
		}
		b["uuid"] = id
		if b.str("fqn") == "" {
			b["fqn"] = "binding::" + jf.Namespace + "::" + id
		}
		bf, err := parseFQN(b.str("fqn"), "binding")
		if err != nil {
			return nil, err
		}
		if b.str("name") == "" {
			b["name"] = bf.Name
		}
		ops := []fsm.Op{}
		switch {
		case b.str("target_job_fqn") != "":
			tf, err := parseFQN(b.str("target_job_fqn"), "job")
			if err != nil {
				return nil, err
			}
			target := byFQN(v, KindJob, tf.String())
			if target == nil {
				return nil, badRequest("target job %s does not exist", tf)
			}
			port := b.int64Of("target_job_port")
			has := false
			for _, p := range decodeObject(target).list("ports") {
				if pm, _ := p.(map[string]any); pm != nil && object(pm).int64Of("number") == port {
					has = true
				}
			}
			if !has {
				return nil, badRequest("target job %s exposes no port %d (add it to the job's ports first)", tf, port)
			}
			b["target_job_uuid"] = target.ID
			b["env_var"] = []any{envName(bf.Name) + "_URI", envName(b.str("name")) + "_URI"}
			// The link holds while the target keeps its port: the target
			// must not change meanwhile.
			ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindJob, ID: target.ID, Require: fsm.RequireVersion, Version: target.Version})
		case b.str("service_fqn") == egressService:
			if b.obj("parameters") == nil {
				b["parameters"] = map[string]any{"ipnet": "any", "portrange": "all", "protocol": "all"}
			}
			b["env_var"] = []any{envName(b.str("name")) + "_URI", "NETWORK_URI"}
		default:
			return nil, badRequest("a binding names a target_job_fqn (a job link) or service_fqn %s; Cairn has no service %q", egressService, b.str("service_fqn"))
		}
		b["job_fqn"] = jf.String()
		b["created_at"], b["created_by"] = stampTime(now), by
		job := decodeObject(jobRes)
		bindings := job.obj("bindings")
		if bindings == nil {
			bindings = object{}
		}
		bindings[b.str("fqn")] = map[string]any(b)
		job["bindings"] = map[string]any(bindings)
		job["version_id"] = job.int64Of("version_id") + 1
		job["updated_at"], job["updated_by"] = stampTime(now), by
		wops, err := workloadOps(v, jobRes.ID, job, nil)
		if err != nil {
			return nil, err
		}
		out = b
		ops = append(ops,
			fsm.Op{Type: fsm.OpPut, Kind: KindBinding, ID: id, Body: mustJSON(b), Require: fsm.RequireAbsent},
			fsm.Op{Type: fsm.OpPut, Kind: KindJob, ID: jobRes.ID, Body: mustJSON(job), Require: fsm.RequireVersion, Version: jobRes.Version})
		return append(ops, wops...), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
