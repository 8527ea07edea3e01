package apcera

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"cairn/cluster/tasks"
	"cairn/fsm"
	"cairn/http/httpx"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
)

func newUUID() string { return tasks.NewUUID() }

// dockerJobRequest is Apcera's CreateDockerJobRequest, as far as Cairn
// uses it.
type dockerJobRequest struct {
	AllowEgress   bool             `json:"allow_egress"`
	ExposedPorts  []int64          `json:"exposed_ports"`
	ImageURL      string           `json:"image_url"`
	JobFQN        string           `json:"job_fqn"`
	Resources     map[string]any   `json:"resources"`
	RestartConfig map[string]any   `json:"restart_config"`
	Routes        map[string]int64 `json:"routes"`
	Start         bool             `json:"start"`
	Env           map[string]any   `json:"env"`
	StartCommand  string           `json:"start_command"`
}

// imageRef turns an image URL (https://registry-1.docker.io/deis/
// helloworld:latest) into the reference an engine pulls
// (docker.io/deis/helloworld:latest).
func imageRef(u string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if rest, ok := strings.CutPrefix(s, "registry-1.docker.io/"); ok {
		return "docker.io/" + rest
	}
	return s
}

// createDockerJob creates a job running a Docker image and answers at
// once with the location of the task that follows it: the job and its
// workload, and the task, are one command; the zone leader's task
// follower (cluster/tasks) ends the task complete once the instances
// run, or errored (no container engine on any node, say).
func (a *API) createDockerJob(w http.ResponseWriter, r *http.Request) {
	var in dockerJobRequest
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	f, err := parseFQN(in.JobFQN, "job")
	if err != nil {
		fail(w, err)
		return
	}
	if in.ImageURL == "" {
		fail(w, badRequest("image_url is required"))
		return
	}
	jobID, taskID, by := newUUID(), newUUID(), user(r)
	_, err = a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		job := object{"fqn": f.String(), "name": f.Name, "num_instances": 1,
			"docker_origin": map[string]any{"image_url": in.ImageURL, "image": imageRef(in.ImageURL)},
			"resources":     in.Resources, "restart": in.RestartConfig, "state": jobReady}
		if in.Start {
			job["state"] = jobStarted
		}
		env := map[string]any{}
		for k, val := range in.Env {
			env[k] = val
		}
		job["processes"] = map[string]any{"app": map[string]any{"environment": env, "start_command": in.StartCommand}}
		var ports []any
		for _, p := range in.ExposedPorts {
			port := map[string]any{"number": p, "optional": false}
			var routes []any
			for ep, rp := range in.Routes {
				if rp == p {
					routes = append(routes, map[string]any{"endpoint": strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://"), "type": "http", "weight": 0})
				}
			}
			if routes != nil {
				port["routes"] = routes
			}
			ports = append(ports, port)
		}
		job["ports"] = ports
		job, _, err := newJob(job, jobID, by, now)
		if err != nil {
			return nil, err
		}
		job["docker_origin"] = map[string]any{"image_url": in.ImageURL, "image": imageRef(in.ImageURL)}
		wops, err := workloadOps(v, jobID, job, nil)
		if err != nil {
			return nil, err
		}
		var follow []tasks.Follow
		if in.Start {
			follow = append(follow, tasks.Follow{Workload: jobID, Thread: f.Name, Name: f.String()})
		}
		t := tasks.New(taskID, follow, now, 0,
			tasks.NewEvent(taskID, tasks.EventProgress, "Creating Job", f.Name, "creating "+f.String()+" from "+in.ImageURL, nil, now))
		ops := []fsm.Op{{Type: fsm.OpPut, Kind: KindJob, ID: jobID, Body: mustJSON(job), Require: fsm.RequireAbsent}}
		ops = append(ops, wops...)
		return append(ops, t.Op()), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"location": baseURL(r) + "/tasks/" + taskID})
}

// manifest is a multi-resource manifest: jobs by FQN.
type manifest struct {
	Jobs map[string]struct {
		Packages []struct {
			FQN  string `json:"fqn"`
			UUID string `json:"uuid"`
		} `json:"packages"`
		Start struct {
			Cmd string `json:"cmd"`
		} `json:"start"`
		State     string         `json:"state"`
		Restart   map[string]any `json:"restart"`
		Instances *int64         `json:"instances"`
		Env       map[string]any `json:"env"`
		Exposed   []int64        `json:"exposed_ports"`
	} `json:"jobs"`
}

// createManifest creates every job of a manifest in one command with the
// task that follows those it starts.
func (a *API) createManifest(w http.ResponseWriter, r *http.Request) {
	var in manifest
	if err := readBody(r, &in); err != nil {
		fail(w, err)
		return
	}
	if len(in.Jobs) == 0 {
		fail(w, badRequest("the manifest names no jobs: {\"jobs\": {\"job::/ns::name\": {...}}}"))
		return
	}
	fqns := make([]string, 0, len(in.Jobs))
	for k := range in.Jobs {
		fqns = append(fqns, k)
	}
	sort.Strings(fqns)
	taskID, by := newUUID(), user(r)
	_, err := a.write(w, r, func(v *fsm.View, now time.Time) ([]fsm.Op, error) {
		var ops []fsm.Op
		var follow []tasks.Follow
		var events []tasks.Event
		for _, fq := range fqns {
			mj := in.Jobs[fq]
			f, err := parseFQN(fq, "job")
			if err != nil {
				return nil, err
			}
			var pkgs []any
			for _, p := range mj.Packages {
				res := v.Get(KindPackage, p.UUID)
				if p.UUID == "" || !validUUID(p.UUID) {
					res = byFQN(v, KindPackage, p.FQN)
				}
				if res == nil {
					return nil, badRequest("job %s: package %s%s does not exist", f, p.FQN, p.UUID)
				}
				ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindPackage, ID: res.ID, Require: fsm.RequireVersion, Version: res.Version})
				pkgs = append(pkgs, map[string]any{"uuid": res.ID, "source": "user", "state": decodeObject(res).str("state")})
			}
			id := newUUID()
			job := object{"fqn": f.String(), "packages": pkgs, "state": mj.State,
				"processes": map[string]any{"app": map[string]any{"start_command": mj.Start.Cmd, "environment": mj.Env}}}
			if mj.Instances != nil {
				job["num_instances"] = *mj.Instances
			}
			if mj.Restart != nil {
				job["restart"] = mj.Restart
			}
			var ports []any
			for _, p := range mj.Exposed {
				ports = append(ports, map[string]any{"number": p, "optional": false})
			}
			job["ports"] = ports
			job, _, err = newJob(job, id, by, now)
			if err != nil {
				return nil, err
			}
			wops, err := workloadOps(v, id, job, nil)
			if err != nil {
				return nil, err
			}
			ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: KindJob, ID: id, Body: mustJSON(job), Require: fsm.RequireAbsent})
			ops = append(ops, wops...)
			events = append(events, tasks.NewEvent(taskID, tasks.EventProgress, "Deploy", "manifest", "creating \""+f.String()+"\"", nil, now))
			if job.str("state") == jobStarted {
				follow = append(follow, tasks.Follow{Workload: id, Thread: f.Name, Name: f.String()})
			}
		}
		t := tasks.New(taskID, follow, now, 0, events...)
		return append(ops, t.Op()), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"location": baseURL(r) + "/tasks/" + taskID})
}

// taskView is a task as Apcera shows it (the follower's bookkeeping
// left out).
type taskView struct {
	UUID          string        `json:"uuid"`
	State         string        `json:"state"`
	Errored       string        `json:"errored"`
	TimeStarted   int64         `json:"time_started"`
	TimeCompleted int64         `json:"time_completed,omitempty"`
	Events        []tasks.Event `json:"events"`
}

func (a *API) readTask(id string) (tasks.Task, bool) {
	res := a.Node.View().Get(tasks.Kind, id)
	if res == nil || !validUUID(id) {
		return tasks.Task{}, false
	}
	t, err := tasks.Parse(res)
	return t, err == nil
}

// getTask answers the Task (polling), or, on a WebSocket upgrade of the
// same URL, streams each of its events as one JSON text message, in
// order, as they are written, ending after the "eos" or "error" event.
// Events are read from this node's store: any node can be followed.
func (a *API) getTask(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["uuid"]
	t, ok := a.readTask(id)
	if !ok {
		fail(w, notFound("task %s does not exist", id))
		return
	}
	if websocket.IsWebSocketUpgrade(r) {
		a.streamTask(w, r, id)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, taskView{UUID: t.UUID, State: t.State, Errored: t.Errored,
		TimeStarted: t.TimeStarted, TimeCompleted: t.TimeCompleted, Events: t.Events})
}

// streamMax bounds how long a WebSocket follows a task (tasks end by
// their deadline well before).
const streamMax = 15 * time.Minute

var upgrader = websocket.Upgrader{
	// A task's location is given to clients of any origin (APC, scripts,
	// the Node.js samples); the token authorises, not the origin.
	CheckOrigin: func(*http.Request) bool { return true },
}

// hijackable unwraps middleware response writers down to one the
// WebSocket upgrade can take the connection from.
func hijackable(w http.ResponseWriter) http.ResponseWriter {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return w
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

func (a *API) streamTask(w http.ResponseWriter, r *http.Request, id string) {
	conn, err := upgrader.Upgrade(hijackable(w), r, nil)
	if err != nil {
		return // the upgrader answered the client
	}
	defer conn.Close()
	// The request's deadline is for requests; a stream has its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), streamMax)
	defer cancel()
	go func() { // a client that closes ends the stream
		for {
			if _, _, err := conn.NextReader(); err != nil {
				cancel()
				return
			}
		}
	}()
	sent := 0
	for {
		v := a.Node.View()
		idx := v.Index()
		res := v.Get(tasks.Kind, id)
		if res == nil {
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "task deleted"))
			return
		}
		t, err := tasks.Parse(res)
		if err != nil {
			return
		}
		for ; sent < len(t.Events); sent++ {
			b, _ := json.Marshal(t.Events[sent])
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		}
		if t.Ended() {
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, t.State))
			return
		}
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		_ = a.Node.WaitIndex(wctx, idx+1)
		wcancel()
		if ctx.Err() != nil {
			return
		}
	}
}
