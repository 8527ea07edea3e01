package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/auth"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// LogSource is what the workload API needs of this node's supervisor: the
// last lines of a workload's instances it holds.
type LogSource interface {
	Logs(workload string, n int, since int64) ([]workload.Line, error)
}

// workloadsAPI serves /cairn/v1/workloads: the workload resource, its
// instances' states, the supervisors' reports and the logs gathered from
// the nodes. Workload kinds are written here only, validated in full.
type workloadsAPI struct {
	*API
	logs        LogSource // nil: this node runs no supervisor
	client      *http.Client
	maxArtifact int64
}

// WorkloadOptions are the workload API's settings.
type WorkloadOptions struct {
	// Logs is this node's supervisor; nil when it runs none.
	Logs LogSource
	// MaxArtifactBytes bounds an artifact (0: DefaultMaxArtifactBytes).
	MaxArtifactBytes int64
	// Peers carries this node's own credentials to the members it gathers
	// logs from (auth.NodeCredentials, over TLS when it
	// is on: node/tlsconfig); nil: http.DefaultTransport.
	Peers http.RoundTripper
}

// Log lines a request may ask for.
const (
	defaultLogLines = 100
	maxLogLines     = 10000
	logGatherWait   = 3 * time.Second
)

// RegisterWorkloads mounts the workload and artifact API on r.
func RegisterWorkloads(r *mux.Router, n Node, membership Membership, o WorkloadOptions) {
	if o.MaxArtifactBytes <= 0 {
		o.MaxArtifactBytes = DefaultMaxArtifactBytes
	}
	a := &workloadsAPI{API: &API{node: n, membership: membership, now: time.Now}, logs: o.Logs,
		client: &http.Client{Timeout: logGatherWait, Transport: o.Peers}, maxArtifact: o.MaxArtifactBytes}
	a.registerArtifacts(r)
	r.HandleFunc("/cairn/v1/workloads", a.listWorkloads).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/workloads/{id}", a.getWorkload).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/workloads/{id}", a.putWorkload).Methods(http.MethodPut)
	r.HandleFunc("/cairn/v1/workloads/{id}", a.deleteWorkload).Methods(http.MethodDelete)
	r.HandleFunc("/cairn/v1/workloads/{id}/logs", a.workloadLogs).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/workloads/{id}/instances/{index}/status", a.reportInstance).Methods(http.MethodPut)
}

// WorkloadBody is a workload as the API shows it.
type WorkloadBody struct {
	ID        string            `json:"id"`
	Version   uint64            `json:"version"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	Spec      workload.Spec     `json:"spec"`
	Placement []workload.Placed `json:"placement"`
	Instances []workload.Status `json:"instances"`
	Counts    map[string]int    `json:"counts"`
}

func workloadID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if err := workload.ValidID(id); err != nil {
		return "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return id, nil
}

// workloadBody assembles a workload, its placement and its instances.
func workloadBody(v *fsm.View, res *fsm.Resource) WorkloadBody {
	b := WorkloadBody{ID: res.ID, Version: res.Version, Created: res.Created, Updated: res.Updated,
		Placement: []workload.Placed{}, Instances: []workload.Status{}, Counts: map[string]int{}}
	b.Spec, _ = workload.ParseSpec(res.Body)
	if p := v.Get(workload.KindPlacement, res.ID); p != nil {
		var pb workload.PlacementBody
		if json.Unmarshal(p.Body, &pb) == nil {
			b.Placement = pb.Instances
		}
	}
	insts, _ := v.Lookup(workload.KindInstance, "workload", res.ID)
	for _, r := range insts {
		var st workload.Status
		if json.Unmarshal(r.Body, &st) == nil {
			b.Instances = append(b.Instances, st)
			b.Counts[st.State]++
			if st.Failed {
				b.Counts["failed"]++
			}
		}
	}
	return b
}

func (a *workloadsAPI) listWorkloads(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r)
	if err != nil {
		fail(w, err)
		return
	}
	v, err := a.readView(w, r, p)
	if err != nil {
		fail(w, err)
		return
	}
	items, more := v.List(workload.KindWorkload, p.prefix, p.after, p.limit)
	out := struct {
		Items []WorkloadBody `json:"items"`
		Next  string         `json:"next,omitempty"`
	}{Items: []WorkloadBody{}}
	for _, res := range items {
		out.Items = append(out.Items, workloadBody(v, res))
	}
	if more {
		out.Next = continueToken(items[len(items)-1].ID)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (a *workloadsAPI) getWorkload(w http.ResponseWriter, r *http.Request) {
	id, err := workloadID(r)
	v, res, ok := a.readOne(w, r, workload.KindWorkload, id, err, func() error {
		return fmt.Errorf("%w: workload %q does not exist", errNotFound, id)
	})
	if !ok {
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	httpx.WriteJSON(w, http.StatusOK, workloadBody(v, res))
}

func (a *workloadsAPI) putWorkload(w http.ResponseWriter, r *http.Request) {
	id, err := workloadID(r)
	if err != nil {
		fail(w, err)
		return
	}
	op := fsm.Op{Type: fsm.OpPut, Kind: workload.KindWorkload, ID: id}
	if op.Require, op.Version, err = writePrecondition(r); err != nil {
		fail(w, err)
		return
	}
	raw, err := httpx.ReadJSON(r)
	if err != nil {
		fail(w, err)
		return
	}
	spec, err := workload.ParseSpec(raw)
	if err != nil {
		fail(w, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	if op.Body, err = json.Marshal(spec); err != nil {
		fail(w, err)
		return
	}
	ops := []fsm.Op{op}
	if spec.Artifact != "" {
		touch, err := artifactTouch(a.node.View(), spec.Artifact)
		if err != nil {
			fail(w, err)
			return
		}
		ops = append(ops, touch)
	}
	res, err := a.apply(w, r, ops...)
	if err != nil {
		fail(w, err)
		return
	}
	written := res.Resources[0]
	w.Header().Set("ETag", etag(written.Version))
	status := http.StatusOK
	if !res.Existed[0] {
		status = http.StatusCreated
		w.Header().Set("Location", "/cairn/v1/workloads/"+url.PathEscape(id))
	}
	writeWritten(w, r, status, func() any { return workloadBody(a.node.View(), written) })
}

// deleteWorkload removes the workload, its placement and its instances'
// states in one command: the supervisors stop its instances.
func (a *workloadsAPI) deleteWorkload(w http.ResponseWriter, r *http.Request) {
	id, err := workloadID(r)
	if err != nil {
		fail(w, err)
		return
	}
	op := fsm.Op{Type: fsm.OpDelete, Kind: workload.KindWorkload, ID: id}
	if op.Require, op.Version, err = writePrecondition(r); err != nil {
		fail(w, err)
		return
	}
	if op.Require == fsm.RequireAbsent {
		fail(w, fmt.Errorf("%w: If-None-Match: * makes no sense on DELETE", errBadRequest))
		return
	}
	ops := workload.DeleteOps(a.node.View(), id)
	ops[0] = op
	res, err := a.apply(w, r, ops...)
	if err != nil {
		fail(w, err)
		return
	}
	if !res.Existed[0] {
		fail(w, fmt.Errorf("%w: workload %q does not exist", errNotFound, id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// reportInstance records an instance's state as its node reports it, if
// the zone still assigns the instance to that node (checked in the same
// command); otherwise 409, and the node drops the report.
func (a *workloadsAPI) reportInstance(w http.ResponseWriter, r *http.Request) {
	id, err := workloadID(r)
	if err != nil {
		fail(w, err)
		return
	}
	index, err := strconv.Atoi(mux.Vars(r)["index"])
	if err != nil || index < 0 || index >= workload.MaxInstances {
		fail(w, fmt.Errorf("%w: instance index %q is not an integer from 0 to %d", errBadRequest, mux.Vars(r)["index"], workload.MaxInstances-1))
		return
	}
	raw, err := httpx.ReadJSON(r)
	if err != nil {
		fail(w, err)
		return
	}
	st, err := workload.ParseStatus(raw)
	if err != nil {
		fail(w, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	st.Workload, st.Index = id, index
	// Only the node a report names may send it, when credentials are in
	// play (a member signs its reports with its own token).
	if p := httpx.PrincipalFrom(r.Context()); p != auth.Anonymous && p.Name != "node:"+st.Node {
		WriteError(w, http.StatusForbidden, fmt.Sprintf("only node %s reports its instances; %s may not", st.Node, httpx.UserFrom(r.Context())))
		return
	}
	v := a.node.View()
	p := v.Get(workload.KindPlacement, id)
	var pb workload.PlacementBody
	if p == nil || json.Unmarshal(p.Body, &pb) != nil || pb.NodeOf(index) != st.Node {
		WriteError(w, http.StatusConflict, fmt.Sprintf("instance %d of workload %q is not assigned to node %s", index, id, st.Node))
		return
	}
	body, _ := json.Marshal(st)
	ops := []fsm.Op{
		{Type: fsm.OpCheck, Kind: workload.KindPlacement, ID: id, Require: fsm.RequireVersion, Version: p.Version},
		{Type: fsm.OpPut, Kind: workload.KindInstance, ID: workload.InstanceID(id, index), Body: body},
	}
	if _, err := a.apply(w, r, ops...); err != nil {
		if errors.Is(err, fsm.ErrConflict) {
			WriteError(w, http.StatusConflict, fmt.Sprintf("the placement of workload %q changed meanwhile: %v", id, err))
			return
		}
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logParams are GET .../logs's query parameters.
type logParams struct {
	lines  int
	local  bool // this node's lines only
	json   bool
	since  int64 // only lines after this time (unix nanoseconds)
	follow bool
}

// followEvery is how often ?follow looks for new lines.
const followEvery = 300 * time.Millisecond

func parseLogParams(r *http.Request) (logParams, error) {
	q := r.URL.Query()
	p := logParams{lines: defaultLogLines}
	if s := q.Get("lines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLogLines {
			return p, fmt.Errorf("%w: lines %q must be an integer from 1 to %d", errBadRequest, s, maxLogLines)
		}
		p.lines = n
	}
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: since %q must be a time in unix nanoseconds", errBadRequest, v)
		}
		p.since = n
	}
	p.follow = q.Has("follow")
	p.local = q.Has("local")
	if p.follow && (p.local || q.Get("format") == "json") {
		return p, fmt.Errorf("%w: ?follow streams text lines gathered from the zone; it takes neither ?local nor format=json", errBadRequest)
	}
	switch f := q.Get("format"); f {
	case "", "text":
	case "json":
		p.json = true
	default:
		return p, fmt.Errorf("%w: format %q must be text or json", errBadRequest, f)
	}
	return p, nil
}

// workloadLogs answers the last N lines of a workload's instances across
// the zone, gathered from every live member (each answers for the
// instances it ran), merged in time order, as "<unix-nanos>,<channel>,<line>"
// lines. Members that did not answer are named in X-Cairn-Logs-Missing.
func (a *workloadsAPI) workloadLogs(w http.ResponseWriter, r *http.Request) {
	id, err := workloadID(r)
	var p logParams
	if err == nil {
		p, err = parseLogParams(r)
	}
	if err != nil {
		fail(w, err)
		return
	}
	if !p.local && a.node.View().Get(workload.KindWorkload, id) == nil {
		fail(w, fmt.Errorf("%w: workload %q does not exist", errNotFound, id))
		return
	}
	lines, missing, err := a.collectLogs(r.Context(), id, p)
	if err != nil {
		fail(w, err)
		return
	}
	if len(missing) > 0 {
		w.Header().Set("X-Cairn-Logs-Missing", strings.Join(missing, ","))
	}
	if p.json {
		if lines == nil {
			lines = []workload.Line{}
		}
		httpx.WriteJSON(w, http.StatusOK, lines)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	writeLines(w, lines)
	if !p.follow {
		return
	}
	// ?follow: new lines as they come, by polling the zone, until the
	// client goes or the request's deadline (-request-timeout) passes.
	rc := http.NewResponseController(w) // reaches through middleware wrappers
	for {
		_ = rc.Flush()
		if len(lines) > 0 {
			p.since = lines[len(lines)-1].Time
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(followEvery):
		}
		p.lines = maxLogLines
		if lines, _, err = a.collectLogs(r.Context(), id, p); err != nil {
			return
		}
		writeLines(w, lines)
	}
}

func writeLines(w http.ResponseWriter, lines []workload.Line) {
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(l.String())
		sb.WriteByte('\n')
	}
	_, _ = w.Write([]byte(sb.String()))
}

// collectLogs returns the last p.lines lines after p.since, this node's
// and (unless p.local) every other live member's of the zone.
func (a *workloadsAPI) collectLogs(ctx context.Context, id string, p logParams) ([]workload.Line, []string, error) {
	var lines []workload.Line
	if a.logs != nil {
		var err error
		if lines, err = a.logs.Logs(id, p.lines, p.since); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errBadRequest, err)
		}
	}
	if p.local {
		return lines, nil, nil
	}
	more, missing := a.gatherLogs(ctx, id, p.lines, p.since)
	return workload.MergeLast(p.lines, append(more, lines)...), missing, nil
}

// gatherLogs asks every other live member of this zone for its lines of
// workload id.
func (a *workloadsAPI) gatherLogs(ctx context.Context, id string, n int, since int64) (lists [][]workload.Line, missing []string) {
	if a.membership == nil {
		return nil, nil
	}
	st := a.node.Status()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range a.membership.Members() {
		if m.ID == st.NodeID || m.Zone != st.Zone || m.HTTP == "" {
			continue
		}
		if m.Status != cluster.StatusAlive && m.Status != cluster.StatusSuspect {
			continue
		}
		wg.Add(1)
		go func(m cluster.Member) {
			defer wg.Done()
			lines, err := a.fetchLogs(ctx, m.HTTP, id, n, since)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				missing = append(missing, m.ID)
				return
			}
			lists = append(lists, lines)
		}(m)
	}
	wg.Wait()
	return lists, missing
}

func (a *workloadsAPI) fetchLogs(ctx context.Context, base, id string, n int, since int64) ([]workload.Line, error) {
	u := fmt.Sprintf("%s/cairn/v1/workloads/%s/logs?local&format=json&lines=%d&since=%d", base, url.PathEscape(id), n, since)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	var lines []workload.Line
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<20)).Decode(&lines); err != nil {
		return nil, err
	}
	return lines, nil
}
