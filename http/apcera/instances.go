package apcera

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"cairn/http/httpx"
	"cairn/node/workload"
)

// instance is an element of GET /jobs/{uuid}/instances (the seed's).
type instance struct {
	AnnouncedRoutes     bool   `json:"announced_routes"`
	CreatedTime         string `json:"created_time"`
	ExitCode            int    `json:"exit_code"`
	Exited              bool   `json:"exited"`
	Failed              bool   `json:"failed"`
	Host                string `json:"host"`
	InstanceManagerUUID string `json:"instance_manager_uuid"`
	JobVersionID        int64  `json:"job_version_id"`
	State               string `json:"state"`
	UUID                string `json:"uuid"`
	// Reason says why a failed instance is failed (Cairn's).
	Reason string `json:"reason,omitempty"`
}

// jobInstances answers the job's workload instances as their nodes
// report them: host is the node's id, instance_manager_uuid one per
// node, states Cairn's (Apcera's names: NEW, SETUP, STARTING, RUNNING,
// STOPPING, CRASHED, REMOVED).
func (a *API) jobInstances(w http.ResponseWriter, r *http.Request) {
	v := a.Node.View()
	res, err := a.jobRes(v, r)
	if err != nil {
		fail(w, err)
		return
	}
	job := decodeObject(res)
	routed := false
	for _, p := range job.list("ports") {
		if pm, _ := p.(map[string]any); pm != nil && len(object(pm).list("routes")) > 0 {
			routed = true
		}
	}
	insts, _ := v.Lookup(workload.KindInstance, "workload", res.ID)
	out := []instance{}
	for _, ir := range insts {
		var st workload.Status
		if json.Unmarshal(ir.Body, &st) != nil {
			continue
		}
		out = append(out, instance{AnnouncedRoutes: routed && st.State == workload.InstanceRunning, CreatedTime: stampTime(ir.Created),
			ExitCode: st.ExitCode, Exited: st.Exited, Failed: st.Failed, Host: st.Node,
			InstanceManagerUUID: nameUUID("instance-manager:" + st.Node), JobVersionID: job.int64Of("version_id"),
			State: st.State, UUID: nameUUID(fmt.Sprintf("instance:%s@%d", ir.ID, ir.CreateIndex)), Reason: st.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedTime < out[j].CreatedTime })
	httpx.WriteJSON(w, http.StatusOK, out)
}

// jobLogs answers the last ?lines=N (default 100) lines of the job's
// instances, gathered from every node of the zone by the native
// workload API (this node's, called with its own credentials), as
// "<unix-nanos>,job.<uuid>.<channel>,<line>".
func (a *API) jobLogs(w http.ResponseWriter, r *http.Request) {
	res, err := a.jobRes(a.Node.View(), r)
	if err != nil {
		fail(w, err)
		return
	}
	lines := 100
	if s := r.URL.Query().Get("lines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			fail(w, badRequest("lines %q must be an integer from 1 to 10000", s))
			return
		}
		lines = n
	}
	var got []workload.Line
	if a.Node.View().Get(workload.KindWorkload, res.ID) != nil {
		u := fmt.Sprintf("%s/cairn/v1/workloads/%s/logs?format=json&lines=%d", strings.TrimRight(a.Node.HTTPURL(), "/"), url.PathEscape(res.ID), lines)
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
		if err != nil {
			fail(w, err)
			return
		}
		resp, err := a.client.Do(req)
		if err != nil {
			fail(w, newError(errUnavailable, "gathering the job's logs: %v", err))
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fail(w, newError(errUnavailable, "gathering the job's logs: %s", resp.Status))
			return
		}
		if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<20)).Decode(&got); err != nil {
			fail(w, err)
			return
		}
		if m := resp.Header.Get("X-Cairn-Logs-Missing"); m != "" {
			w.Header().Set("X-Cairn-Logs-Missing", m)
		}
	}
	var sb strings.Builder
	for _, l := range got {
		fmt.Fprintf(&sb, "%d,job.%s.%s,%s\n", l.Time, res.ID, l.Channel, l.Text)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(sb.String()))
}
