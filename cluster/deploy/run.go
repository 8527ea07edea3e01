package deploy

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"cairn/fsm"
	"cairn/node/workload"
)

// Run is what a runnable contribution runs, as its manifest's "run" names
// it: a command, or files a runtime recognises (Runtime set, or detected
// from the archive's top-level files when the contribution is installed).
// A deployed runnable contribution runs as a workload (node/workload) on
// every live member of each target zone, its artifact the contribution's
// archive, staged on each node.
type Run struct {
	// Command is run as is in the unpacked archive; empty: the runtime's
	// start command.
	Command []string `json:"command,omitempty"`
	// Runtime is the staging runtime (bash, python, ...).
	Runtime string `json:"runtime,omitempty"`
	// Env adds to the instances' environment.
	Env map[string]string `json:"env,omitempty"`
	// Ports names the ports each instance gets ($PORT, $PORT_<NAME>).
	Ports []string `json:"ports,omitempty"`
}

// Spec is the workload that runs r from the archive whose SHA-1 is
// artifact, one instance on each of nodes, validated and with its
// defaults filled in (workload.ParseSpec).
func (r Run) Spec(artifact string, nodes []string) (workload.Spec, error) {
	if nodes == nil {
		nodes = []string{}
	}
	body, err := json.Marshal(map[string]any{
		"command": r.Command, "runtime": r.Runtime, "env": r.Env, "ports": r.Ports,
		"artifact": artifact, "instances": len(nodes), "placement": map[string]any{"nodes": nodes},
	})
	if err != nil {
		return workload.Spec{}, err
	}
	return workload.ParseSpec(body)
}

// WorkloadID is the id of the workload that runs the contribution uri in
// a zone: "mrf-", its key made a workload id (lower-case letters, digits
// and '-'), and 8 hex digits of the key's SHA-1, so two URIs that read
// alike stay apart. At most 63 characters.
func WorkloadID(uri string) string {
	k := Key(uri)
	var b strings.Builder
	for _, r := range k {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= 50 {
			break
		}
	}
	sum := sha1.Sum([]byte(k))
	return "mrf-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}

// Run states of a runnable deployment in a zone: what its components
// report.
const (
	// RunRunning: every instance runs.
	RunRunning = "RUNNING"
	// RunStarting: instances are placed, staged or started, or restarting,
	// but not all run.
	RunStarting = "STARTING"
	// RunFailed: an instance failed past its restart policy, or cannot
	// run at all (the executor is off on its node): the reason says.
	RunFailed = "FAILED"
	// RunStopped: the zone runs no instance of it (no workload, or no
	// member to place one on).
	RunStopped = "STOPPED"
	// RunUnknown: the zone did not say (its leader did not answer).
	RunUnknown = "UNKNOWN"
)

// RunStatus is how a runnable deployment runs in one zone, derived from
// its workload's instances as their nodes reported them.
type RunStatus struct {
	State     string `json:"state"`
	Instances int    `json:"instances"`
	Running   int    `json:"running"`
	Reason    string `json:"reason,omitempty"`
	// Workload is the workload's id in the zone.
	Workload string `json:"workload,omitempty"`
}

// Summarise derives the run status of a workload of instances instances
// from their reported states: RUNNING only while every one of them runs.
func Summarise(id string, instances int, states []workload.Status) RunStatus {
	s := RunStatus{Instances: instances, Workload: id}
	sort.Slice(states, func(i, j int) bool { return states[i].Index < states[j].Index })
	var failed []string
	for _, st := range states {
		if st.Index >= instances {
			continue
		}
		switch {
		case st.State == workload.InstanceRunning:
			s.Running++
		case st.Failed:
			failed = append(failed, st.Reason)
		}
	}
	switch {
	case instances == 0:
		s.State, s.Reason = RunStopped, "no live member of the zone to run it on"
	case len(failed) > 0:
		s.State = RunFailed
		s.Reason = fmt.Sprintf("%d of %d instances running; %d failed: %s", s.Running, instances, len(failed), failed[0])
	case s.Running == instances:
		s.State = RunRunning
	default:
		s.State = RunStarting
		s.Reason = fmt.Sprintf("%d of %d instances running", s.Running, instances)
	}
	return s
}

// RunStatusIn is the run status of contribution uri's workload in the
// zone whose store v is.
func RunStatusIn(v *fsm.View, uri string) RunStatus {
	id := WorkloadID(uri)
	r := v.Get(workload.KindWorkload, id)
	if r == nil {
		return RunStatus{State: RunStopped, Workload: id, Reason: "no workload runs it in this zone"}
	}
	spec, err := workload.ParseSpec(r.Body)
	if err != nil {
		return RunStatus{State: RunUnknown, Workload: id, Reason: err.Error()}
	}
	insts, _ := v.Lookup(workload.KindInstance, "workload", id)
	var states []workload.Status
	for _, ir := range insts {
		var st workload.Status
		if json.Unmarshal(ir.Body, &st) == nil {
			states = append(states, st)
		}
	}
	return Summarise(id, spec.Instances, states)
}
