package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"cairn/fsm"
	"cairn/node/workload"
)

// An application runs as one workload per server it is deployed on,
// "arm-<application>-<server>": one instance, placed on the node the
// server's muleLabel names, from the application's file (a staged
// artifact: node/workload runs what it finds in it). The instances learn
// who they are from their environment:
//
//	ARM_APPLICATION_ID, ARM_APPLICATION_NAME, ARM_SERVER_ID, ARM_TARGET_ID,
//	ARM_TARGET_TYPE, ARM_DEPLOYMENT (changes at each deployment: a
//	redeploy of the same file restarts the instances),
//	ARM_APPLICATION_PROPERTIES (the configuration's properties, JSON),
//
// and in a cluster, where instances are aware of one another,
// ARM_CLUSTER_ID, ARM_CLUSTER_MULTICAST and ARM_CLUSTER_PEERS: the other
// servers' addresses, comma-separated (a unicast cluster's serverIp, else
// the node's advertised host). In a server group they are isolated: no
// peers.

// Target types.
const (
	targetServer  = "SERVER"
	targetGroup   = "SERVER_GROUP"
	targetCluster = "CLUSTER"
)

// Application statuses.
const (
	desiredStarted   = "STARTED"
	desiredStopped   = "STOPPED"
	reportedStarting = "STARTING"
	reportedStarted  = "STARTED"
	reportedStopping = "STOPPING"
	reportedStopped  = "STOPPED"
	reportedFailed   = "DEPLOYMENT_FAILED"
	reportedNoServer = "DISCONNECTED"
)

// target is a deployment target as read from the store.
type target struct {
	ID      int64
	Name    string
	Type    string
	Servers []int64
	res     *fsm.Resource
	cluster *clusterBody
}

// kind is the store kind of t.
func (t *target) kind() string {
	switch t.Type {
	case targetGroup:
		return KindGroup
	case targetCluster:
		return KindCluster
	}
	return KindServer
}

// targetOf reads target id: a server, a server group or a cluster.
func targetOf(v *fsm.View, id int64) (*target, error) {
	if s, res, err := get[server](v, KindServer, id); err != nil || s != nil {
		if err != nil {
			return nil, err
		}
		return &target{ID: id, Name: s.Name, Type: targetServer, Servers: []int64{id}, res: res}, nil
	}
	if g, res, err := get[group](v, KindGroup, id); err != nil || g != nil {
		if err != nil {
			return nil, err
		}
		return &target{ID: id, Name: g.Name, Type: targetGroup, Servers: g.ServerIDs, res: res}, nil
	}
	if c, res, err := get[clusterBody](v, KindCluster, id); err != nil || c != nil {
		if err != nil {
			return nil, err
		}
		return &target{ID: id, Name: c.Name, Type: targetCluster, Servers: c.serverIDs(), res: res, cluster: c}, nil
	}
	return nil, nil
}

// workloadID is the workload of application app on server srv.
func workloadID(app, srv int64) string { return fmt.Sprintf("arm-%d-%d", app, srv) }

func parseKey(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// peers are the addresses of cluster c's servers other than self.
func peers(v *fsm.View, c *clusterBody, self int64, alive members) []string {
	var out []string
	for _, m := range c.Servers {
		if m.ServerID == self {
			continue
		}
		addr := m.ServerIP
		if addr == "" {
			if s, _, _ := get[server](v, KindServer, m.ServerID); s != nil {
				addr = s.MuleLabel
				if h := hostOf(alive[s.MuleLabel]); h != "" {
					addr = h
				}
			}
		}
		if addr != "" {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// deployOps writes the workloads of app on every server of app.Servers,
// as app says now, and a touch of the artifact's manifest (so that the
// artifact's garbage collection cannot race them). The caller's command
// carries the application's write, preconditioned on its version, and
// those of the servers, group or cluster it changes. fresh drops the instances' last states: the
// instances restart (a new file, a redeploy, a start), and no state of
// their last run is read as this one's.
//
// t is the application's target as the command leaves it; nil: as the
// view has it.
func deployOps(v *fsm.View, app *application, t *target, alive members, fresh bool) ([]fsm.Op, error) {
	if t == nil {
		var err error
		if t, err = targetOf(v, app.TargetID); err != nil {
			return nil, err
		}
	}
	touch, err := workload.TouchArtifact(v, app.SHA1)
	if errors.Is(err, workload.ErrNoArtifact) {
		// Held while the application exists (holdOp): only an
		// application written before holds were kept loses it.
		return nil, badRequest("the file of application %d (%s) is no longer stored; PATCH the application with its file", app.ID, app.Name)
	}
	if err != nil {
		return nil, err
	}
	ops := []fsm.Op{touch}
	for _, sid := range app.Servers {
		s, _, err := get[server](v, KindServer, sid)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		env := map[string]string{
			"ARM_APPLICATION_ID":   key(app.ID),
			"ARM_APPLICATION_NAME": app.Name,
			"ARM_SERVER_ID":        key(sid),
			"ARM_DEPLOYMENT":       strconv.Itoa(app.Deployment),
		}
		if t != nil {
			env["ARM_TARGET_ID"], env["ARM_TARGET_TYPE"] = key(t.ID), t.Type
			if t.cluster != nil && inCluster(t.cluster, sid) {
				env["ARM_CLUSTER_ID"] = key(t.ID)
				env["ARM_CLUSTER_MULTICAST"] = strconv.FormatBool(t.cluster.Multicast)
				env["ARM_CLUSTER_PEERS"] = strings.Join(peers(v, t.cluster, sid, alive), ",")
			}
		}
		if props := properties(app.Configuration); props != "" {
			env["ARM_APPLICATION_PROPERTIES"] = props
		}
		state := workload.StateStarted
		if app.Desired == desiredStopped {
			state = workload.StateStopped
		}
		raw := mustJSON(map[string]any{"artifact": app.SHA1, "instances": 1, "state": state, "env": env,
			"placement": map[string]any{"nodes": []string{s.MuleLabel}}})
		spec, err := workload.ParseSpec(raw)
		if err != nil {
			return nil, badRequest("application %d on server %d: %v", app.ID, sid, err)
		}
		wid := workloadID(app.ID, sid)
		op := fsm.Op{Type: fsm.OpPut, Kind: workload.KindWorkload, ID: wid, Body: mustJSON(spec), Require: fsm.RequireAbsent}
		if res := v.Get(workload.KindWorkload, wid); res != nil {
			op.Require, op.Version = fsm.RequireVersion, res.Version
		}
		ops = append(ops, op)
		if fresh {
			ops = append(ops, workload.InstanceDeletes(v, wid)...)
		}
	}
	return ops, nil
}

// holdOp holds app's file (workload.KindArtifactRef) for as long as the
// application exists, whether or not a workload runs it: a target with no
// server keeps it too.
func holdOp(app *application) fsm.Op {
	return fsm.Op{Type: fsm.OpPut, Kind: workload.KindArtifactRef, ID: holdID(app.ID), Body: mustJSON(map[string]string{"artifact": app.SHA1})}
}

// holdID is the id of application id's hold on its file.
func holdID(id int64) string { return "arm.application." + key(id) }

// undeployOps removes application app's workload on server srv: its
// process stops.
func undeployOps(v *fsm.View, app, srv int64) []fsm.Op {
	return workload.DeleteOps(v, workloadID(app, srv))
}

func inCluster(c *clusterBody, sid int64) bool {
	for _, m := range c.Servers {
		if m.ServerID == sid {
			return true
		}
	}
	return false
}

// properties are the application properties of a deployment's
// configuration ({"mule.agent.application.properties.service":
// {"applicationName", "properties": {...}}}), as JSON; "" for none.
func properties(conf json.RawMessage) string {
	if len(conf) == 0 {
		return ""
	}
	var c map[string]struct {
		Properties json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(conf, &c) != nil {
		return ""
	}
	p := c["mule.agent.application.properties.service"].Properties
	if len(p) == 0 || string(p) == "null" {
		return ""
	}
	return string(p)
}

// artifactStatus is the status of app's workload on server sid and, when
// it failed, why.
func artifactStatus(v *fsm.View, app *application, s *server, alive members) (string, string) {
	wid := workloadID(app.ID, s.ID)
	var st *workload.Status
	if r := v.Get(workload.KindInstance, workload.InstanceID(wid, 0)); r != nil {
		var x workload.Status
		if json.Unmarshal(r.Body, &x) == nil {
			st = &x
		}
	}
	if app.Desired == desiredStopped {
		if st == nil {
			return reportedStopped, ""
		}
		switch st.State {
		case workload.InstanceRunning, workload.InstanceStarting, workload.InstanceSetup, workload.InstanceStopping:
			return reportedStopping, ""
		}
		return reportedStopped, ""
	}
	if !alive.up(s.MuleLabel) {
		return reportedNoServer, fmt.Sprintf("server %d (%s) is %s", s.ID, s.Name, serverStatus(s, alive))
	}
	switch {
	case st == nil:
		return reportedStarting, ""
	case st.State == workload.InstanceRunning:
		return reportedStarted, ""
	case st.State == workload.InstanceCrashed && st.Failed:
		return reportedFailed, st.Reason
	}
	return reportedStarting, ""
}

// aggregate is an application's lastReportedStatus from its server
// artifacts': a failure anywhere is the application's; all alike is that
// status; servers that are not running count only if none is.
func aggregate(desired string, statuses []string, messages []string) (string, string) {
	var live []string
	for i, s := range statuses {
		if s == reportedFailed {
			return reportedFailed, messages[i]
		}
		if s != reportedNoServer {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		if len(statuses) > 0 {
			return reportedNoServer, messages[0]
		}
		if desired == desiredStopped {
			return reportedStopped, ""
		}
		return reportedStarting, ""
	}
	for _, s := range live[1:] {
		if s != live[0] {
			if desired == desiredStopped {
				return reportedStopping, ""
			}
			return reportedStarting, ""
		}
	}
	return live[0], ""
}

// dedupeTouches keeps the first touch of each artifact: several
// applications of one file deployed in one command touch it once (a
// second touch would find the version the first one wrote).
func dedupeTouches(ops []fsm.Op) []fsm.Op {
	seen := map[string]bool{}
	out := ops[:0]
	for _, op := range ops {
		if op.Kind == workload.KindArtifact && op.Type == fsm.OpPut {
			if seen[op.ID] {
				continue
			}
			seen[op.ID] = true
		}
		out = append(out, op)
	}
	return out
}
