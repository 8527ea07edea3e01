package mrf_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/cluster"
	"cairn/cluster/deploy"
	"cairn/fsm"
	"cairn/http/mrf"
	"cairn/node/workload"
)

const calcDeployment = "/management/domain/deployments/contribution/calculator.zip"

// newDomain is a controller c1 (zone default) with zone1 (z1, z2) beside
// it in gossip.
func newDomain(t *testing.T) *fixture {
	t.Helper()
	ms := &fakeMembership{members: []cluster.Member{
		member("c1", "default", "http://localhost:8180", true, cluster.StatusAlive),
		member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
		member("z2", "zone1", "http://10.0.1.9:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"default": "c1", "zone1": "z2"}}
	return newFixture(t, newFakeNode("c1", "default", "http://localhost:8180"), ms)
}

// fakeController is the controller as a zone's Deployer sees it, served
// straight from a controller fixture: its store for reads (blocking on
// its index, as the native API's ?index= read does), its MRF handler for
// reports.
type fakeController struct {
	f           *fixture
	reportFails atomic.Bool // reports fail as if the controller were unreachable
}

func (c *fakeController) Deployments(ctx context.Context, after uint64, wait time.Duration) ([]deploy.Deployment, uint64, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	_ = c.f.node.store.WaitIndex(wctx, after+1)
	cancel()
	v := c.f.node.store.View()
	items, _ := v.List(mrf.KindDeployment, "", "", 0)
	var out []deploy.Deployment
	for _, it := range items {
		var d deploy.Deployment
		if err := json.Unmarshal(it.Body, &d); err != nil {
			return nil, 0, err
		}
		d.Generation = it.CreateIndex
		out = append(out, d)
	}
	return out, v.Index(), ctx.Err()
}

func (c *fakeController) Archive(ctx context.Context, sum string) ([]byte, error) {
	r := c.f.node.store.View().Get(mrf.KindArchive, sum)
	if r == nil {
		return nil, deploy.ErrArchiveGone
	}
	var a struct{ Data []byte }
	err := json.Unmarshal(r.Body, &a)
	return a.Data, err
}

func (c *fakeController) Report(ctx context.Context, uri string, rep deploy.ZoneReport) error {
	if c.reportFails.Load() {
		return errors.New("connection refused")
	}
	b, _ := json.Marshal(rep)
	req := httptest.NewRequest(http.MethodPost, "/management/domain/deployments/contribution/"+uri+"/report", strings.NewReader(string(b)))
	w := httptest.NewRecorder()
	c.f.handler.ServeHTTP(w, req)
	switch w.Code {
	case http.StatusOK:
		return nil
	case http.StatusNotFound, http.StatusConflict:
		return fmt.Errorf("%w: %s", deploy.ErrStaleReport, w.Body)
	}
	return fmt.Errorf("report: %d %s", w.Code, w.Body)
}

// runDeployer runs zone node n's Deployer until the test ends or stop is
// called.
func runDeployer(t *testing.T, n *fakeNode, ctl deploy.Controller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		deploy.NewDeployer(n, ctl, slog.New(slog.DiscardHandler)).Run(ctx)
		close(done)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(func() { cancel(); <-done })
	return stop
}

// zoneStates returns the deployment's state per zone, as the controller
// shows it ("" if not deployed).
func zoneStates(t *testing.T, f *fixture, path string) map[string]string {
	t.Helper()
	w := f.send(t, http.MethodGet, path, nil, 0)
	if w.Code != http.StatusOK {
		return nil
	}
	out := map[string]string{}
	for z, s := range docOf(t, w)["zones"].(map[string]any) {
		st := s.(map[string]any)
		out[z] = fmt.Sprint(st["state"])
		if r, ok := st["reason"]; ok {
			out[z] += ": " + fmt.Sprint(r)
		}
	}
	return out
}

func Test_Deployments_DeployToZones_409_UndeployThenUninstall(t *testing.T) {
	f := newDomain(t)
	mustInstall(t, f, "calculator.zip", "calculator.zip")
	before := f.node.store.View().Digest()
	for _, q := range []string{"?zone=nope", "?zone=zone1,nope", "?zone=zone1&zone=Zone1"} {
		w := f.send(t, http.MethodPut, calcDeployment+q, nil, 0)
		if w.Code != http.StatusBadRequest || !strings.Contains(message(t, w), "Unknown zone") {
			t.Errorf("deploy %s: %d %s, want 400 naming the zone", q, w.Code, w.Body)
		}
	}
	if w := f.send(t, http.MethodPost, "/management/domain/deployments/contribution/nope.zip", nil, 0); w.Code != http.StatusNotFound ||
		message(t, w) != "Contribution not found: nope.zip" {
		t.Errorf("deploy of an absent contribution: %d %s", w.Code, w.Body)
	}
	if f.node.store.View().Digest() != before {
		t.Fatal("a refused deploy changed the store")
	}

	// No ?zone: every zone of the domain, each pending.
	w := f.send(t, http.MethodPost, calcDeployment+"?async", nil, 0)
	if w.Code != http.StatusCreated || w.Body.Len() != 0 || w.Header().Get("Location") != "http://localhost:8180"+calcDeployment {
		t.Fatalf("deploy: %d %q Location %q", w.Code, w.Body, w.Header().Get("Location"))
	}
	if got := zoneStates(t, f, calcDeployment); fmt.Sprint(got) != "map[default:pending zone1:pending]" {
		t.Errorf("zones %v", got)
	}
	w = f.send(t, http.MethodPut, calcDeployment+"?async&zone=zone1", nil, 0)
	if w.Code != http.StatusConflict || message(t, w) != "Contribution already deployed: calculator.zip" {
		t.Errorf("second deploy: %d %s", w.Code, w.Body)
	}
	mustMatchFixture(t, "deployments.json", docOf(t, f.send(t, http.MethodGet, "/management/domain/deployments", nil, 0)), "deployments")

	w = f.send(t, http.MethodDelete, calcPath, nil, 0)
	if w.Code != http.StatusBadRequest || message(t, w) != "Contribution must be undeployed before it is uninstalled: calculator.zip" {
		t.Errorf("uninstall while deployed: %d %s", w.Code, w.Body)
	}
	w = f.send(t, http.MethodDelete, calcDeployment+"?async", nil, 0)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("undeploy: %d %q", w.Code, w.Body)
	}
	if w = f.send(t, http.MethodDelete, calcDeployment+"?async", nil, 0); w.Code != http.StatusNotFound {
		t.Errorf("second undeploy: %d %s", w.Code, w.Body)
	}
	if w = f.send(t, http.MethodDelete, calcPath, nil, 0); w.Code != http.StatusOK {
		t.Errorf("uninstall after undeploy: %d %s", w.Code, w.Body)
	}
}

func Test_Deployments_Report_BadInputAndStaleGeneration(t *testing.T) {
	f := newDomain(t)
	mustInstall(t, f, "calculator.zip", "calculator.zip")
	f.send(t, http.MethodPost, calcDeployment+"?async&zone=zone1", nil, 0)
	gen := docOf(t, f.send(t, http.MethodGet, calcDeployment, nil, 0))["generation"].(float64)
	report := calcDeployment + "/report"
	for body, want := range map[string]int{
		`nope`: http.StatusBadRequest,
		`{"zone":"zone1","generation":1,"state":"running"}`:                       http.StatusBadRequest,
		`{"zone":"zone1","generation":1,"state":"deployed","extra":1}`:            http.StatusBadRequest,
		fmt.Sprintf(`{"zone":"zone2","generation":%v,"state":"deployed"}`, gen):   http.StatusBadRequest,
		fmt.Sprintf(`{"zone":"zone1","generation":%v,"state":"deployed"}`, gen+1): http.StatusConflict,
	} {
		if w := f.send(t, http.MethodPost, report, []byte(body), 0); w.Code != want {
			t.Errorf("report %s: %d %s, want %d", body, w.Code, w.Body, want)
		}
	}
	w := f.send(t, http.MethodPost, report, []byte(fmt.Sprintf(`{"zone":"zone1","generation":%v,"state":"failed","reason":"disk full","node":"z2"}`, gen)), 0)
	if w.Code != http.StatusOK {
		t.Fatalf("report: %d %s", w.Code, w.Body)
	}
	if got := zoneStates(t, f, calcDeployment); got["zone1"] != "failed: disk full" {
		t.Errorf("zones %v", got)
	}
}

func Test_Deployer_FollowsController_AppliesReportsAndRemoves(t *testing.T) {
	ctl := newDomain(t)
	zone := newFixture(t, newFakeNode("z2", "zone1", "http://10.0.1.9:8182"), nil)
	fc := &fakeController{f: ctl}
	runDeployer(t, zone.node, fc)

	mustInstall(t, ctl, "calculator.zip", "calculator.zip")
	ctl.send(t, http.MethodPut, calcDeployment+"?async&zone=zone1", nil, 0)
	waitFor(t, func() bool { return zoneStates(t, ctl, calcDeployment)["zone1"] == deploy.StateDeployed })
	// The zone's own store holds the deployment and the archive.
	v := zone.node.store.View()
	if v.Get(mrf.KindZoneDeployment, "calculator.zip") == nil || v.Get(mrf.KindZoneArchive, calculatorSHA1) == nil {
		t.Fatal("the zone's store lacks the deployment or its archive")
	}
	doc := docOf(t, zone.send(t, http.MethodGet, "/management/zone/deployments", nil, 0))
	if fmt.Sprint(doc["contributions"]) != "[calculator.zip]" {
		t.Errorf("zone deployments %v", doc)
	}
	// Its components run in zone1.
	comps := docOf(t, ctl.send(t, http.MethodGet, "/management/domain/components", nil, 0))
	for _, c := range comps["components"].([]any) {
		delete(c.(map[string]any), "contribution") // Cairn's addition
	}
	mustMatchFixture(t, "components.json", comps)
	one := ctl.send(t, http.MethodGet, "/management/domain/components/CalculatorComponent", nil, 0)
	if d := docOf(t, one); d["uri"] != "fabric3://domain/CalculatorComponent" || d["zone"] != "zone1" || d["contribution"] != "calculator.zip" {
		t.Errorf("component: %v", d)
	}
	if w := ctl.send(t, http.MethodGet, "/management/domain/components/nope", nil, 0); w.Code != http.StatusNotFound {
		t.Errorf("unknown component: %d", w.Code)
	}
	if d := docOf(t, ctl.send(t, http.MethodGet, calcPath, nil, 0)); fmt.Sprint(d["zones"]) != "[zone1]" {
		t.Errorf("contribution's zones %v", d["zones"])
	}

	// A second contribution naming a component the zone runs fails there,
	// with the reason, and adds nothing to the zone.
	mustInstall(t, ctl, "clash.zip", "calculator-clash.zip")
	clash := "/management/domain/deployments/contribution/clash.zip"
	ctl.send(t, http.MethodPut, clash+"?async&zone=zone1", nil, 0)
	waitFor(t, func() bool { return strings.HasPrefix(zoneStates(t, ctl, clash)["zone1"], deploy.StateFailed) })
	if got := zoneStates(t, ctl, clash)["zone1"]; !strings.Contains(got, "CalculatorComponent") || !strings.Contains(got, "calculator.zip") {
		t.Errorf("failure reason %q", got)
	}
	if zone.node.store.View().Get(mrf.KindZoneDeployment, "clash.zip") != nil {
		t.Error("the failed deployment is in the zone's store")
	}

	// Undeploy: the zone removes the deployment and its archive.
	ctl.send(t, http.MethodDelete, calcDeployment+"?async", nil, 0)
	waitFor(t, func() bool {
		v := zone.node.store.View()
		return v.Get(mrf.KindZoneDeployment, "calculator.zip") == nil && v.Get(mrf.KindZoneArchive, calculatorSHA1) == nil
	})
	comps = docOf(t, ctl.send(t, http.MethodGet, "/management/domain/components", nil, 0))
	if len(comps["components"].([]any)) != 0 {
		t.Errorf("components after undeploy: %v", comps["components"])
	}
}

func Test_Deployer_NewLeader_FinishesWhatTheOldOneBegan(t *testing.T) {
	ctl := newDomain(t)
	zone := newFixture(t, newFakeNode("z2", "zone1", "http://10.0.1.9:8182"), nil)
	fc := &fakeController{f: ctl}
	mustInstall(t, ctl, "calculator.zip", "calculator.zip")
	mustInstall(t, ctl, "greeting.zip", "greeting.zip")

	// The first leader applies calculator.zip in the zone but cannot
	// report it; then it loses its leadership.
	fc.reportFails.Store(true)
	stop := runDeployer(t, zone.node, fc)
	ctl.send(t, http.MethodPut, calcDeployment+"?async&zone=zone1", nil, 0)
	waitFor(t, func() bool { return zone.node.store.View().Get(mrf.KindZoneDeployment, "calculator.zip") != nil })
	stop()
	if got := zoneStates(t, ctl, calcDeployment)["zone1"]; got != deploy.StatePending {
		t.Fatalf("zone1 is %q at the controller before any report", got)
	}
	// The next leader finds it applied and reports it.
	fc.reportFails.Store(false)
	stop = runDeployer(t, zone.node, fc)
	waitFor(t, func() bool { return zoneStates(t, ctl, calcDeployment)["zone1"] == deploy.StateDeployed })
	stop()

	// While no leader follows, calculator.zip is deployed anew (another
	// generation) and greeting.zip deployed; the next leader converges.
	ctl.send(t, http.MethodDelete, calcDeployment+"?async", nil, 0)
	ctl.send(t, http.MethodPut, calcDeployment+"?async&zone=zone1", nil, 0)
	ctl.send(t, http.MethodPut, "/management/domain/deployments/contribution/greeting.zip?async&zone=zone1", nil, 0)
	gen := docOf(t, ctl.send(t, http.MethodGet, calcDeployment, nil, 0))["generation"].(float64)
	runDeployer(t, zone.node, fc)
	waitFor(t, func() bool {
		return zoneStates(t, ctl, calcDeployment)["zone1"] == deploy.StateDeployed &&
			zoneStates(t, ctl, "/management/domain/deployments/contribution/greeting.zip")["zone1"] == deploy.StateDeployed
	})
	r := zone.node.store.View().Get(mrf.KindZoneDeployment, "calculator.zip")
	var zd struct{ Generation uint64 }
	if r == nil || json.Unmarshal(r.Body, &zd) != nil || float64(zd.Generation) != gen {
		t.Errorf("zone holds calculator.zip at generation %d, want %v", zd.Generation, gen)
	}
}

func Test_Deploy_Synchronous_201WhenDeployed_420WhenAZoneFails_504WhenPending(t *testing.T) {
	ms := &fakeMembership{members: []cluster.Member{
		member("c1", "default", "http://localhost:8180", true, cluster.StatusAlive),
		member("z1", "zone1", "http://10.0.1.8:8182", false, cluster.StatusAlive),
	}, leaders: map[string]string{"default": "c1"}}
	ctl := newFixtureWith(t, newFakeNode("c1", "default", "http://localhost:8180"), ms, func(d *mrf.Deps) {
		d.DeployTimeout = 300 * time.Millisecond
	})
	// The controller's zone follows its own deployments; zone1 has no
	// leader that does.
	runDeployer(t, ctl.node, &fakeController{f: ctl})
	mustInstall(t, ctl, "Calculator.zip", "calculator.zip")
	mustInstall(t, ctl, "clash.zip", "calculator-clash.zip")

	// Deployed in zone default by the time the answer comes.
	dep := "/management/domain/deployments/contribution/calculator.ZIP"
	w := ctl.send(t, http.MethodPost, dep+"?zone=default", nil, 0)
	if w.Code != http.StatusCreated || w.Header().Get("Location") != "http://localhost:8180/management/domain/deployments/contribution/Calculator.zip" {
		t.Fatalf("deploy: %d %s Location %q", w.Code, w.Body, w.Header().Get("Location"))
	}
	if got := zoneStates(t, ctl, dep); fmt.Sprint(got) != "map[default:deployed]" {
		t.Errorf("zones after a synchronous deploy: %v", got)
	}
	comps := docOf(t, ctl.send(t, http.MethodGet, "/management/domain/components", nil, 0))
	if n := len(comps["components"].([]any)); n != 2 {
		t.Errorf("components right after deploy: %v", comps)
	}

	// A zone that fails: 420 with the zone's reason in "value", and the
	// deployment taken back.
	clash := "/management/domain/deployments/contribution/clash.zip"
	w = ctl.send(t, http.MethodPost, clash+"?zone=default", nil, 0)
	var entity struct {
		SelfLink mrf.Link `json:"selfLink"`
		Value    []string `json:"value"`
	}
	if w.Code != 420 || json.Unmarshal(w.Body.Bytes(), &entity) != nil || len(entity.Value) != 1 ||
		!strings.HasPrefix(entity.Value[0], "default: component CalculatorComponent is already provided") {
		t.Fatalf("failed deploy: %d %s", w.Code, w.Body)
	}
	if w := ctl.send(t, http.MethodGet, clash, nil, 0); w.Code != http.StatusNotFound {
		t.Errorf("the failed deployment is still recorded: %d %s", w.Code, w.Body)
	}

	// A zone that does not report: 504 naming it; the deployment stays.
	greet := "/management/domain/deployments/contribution/greeting.zip"
	mustInstall(t, ctl, "greeting.zip", "greeting.zip")
	w = ctl.send(t, http.MethodPost, greet+"?zone=zone1", nil, 0)
	if w.Code != http.StatusGatewayTimeout || !strings.Contains(message(t, w), "pending in zone(s) zone1") {
		t.Fatalf("deploy to a silent zone: %d %s", w.Code, w.Body)
	}
	if got := zoneStates(t, ctl, greet); fmt.Sprint(got) != "map[zone1:pending]" {
		t.Errorf("zones of the pending deployment: %v", got)
	}

	// Undeploy: 200 once the zone removed it.
	w = ctl.send(t, http.MethodDelete, dep, nil, 0)
	if w.Code != http.StatusOK {
		t.Fatalf("undeploy: %d %s", w.Code, w.Body)
	}
	if ctl.node.store.View().Get(mrf.KindZoneDeployment, "calculator.zip") != nil {
		t.Error("undeploy answered before the zone removed the deployment")
	}
}

// Test_Deployer_Runnable_WorkloadInTheDeploymentsCommand_RemovedWithIt
// deploys a runnable contribution to zone1: the zone's deployment, its
// artifact's manifest and its workload (one instance per member: here the
// zone leader alone) are written by one command; its run state is
// RUNNING only once the instance reports it runs, and the controller,
// which cannot reach the zone, says UNKNOWN, never RUNNING; undeploy
// removes the workload with the deployment.
func Test_Deployer_Runnable_WorkloadInTheDeploymentsCommand_RemovedWithIt(t *testing.T) {
	ctl := newDomain(t)
	zone := newFixture(t, newFakeNode("z2", "zone1", "http://10.0.1.9:8182"), nil)
	runDeployer(t, zone.node, &fakeController{f: ctl})
	archive := makeZip(t, map[string]string{mrf.ManifestPath: `{"components":["Sleeper"],"run":{"command":["sleep","60"]}}`})
	dep := "/management/domain/deployments/contribution/sleeper.zip"
	if w := ctl.send(t, http.MethodPut, "/management/domain/contributions/contribution/sleeper.zip", archive, 0); w.Code != http.StatusCreated {
		t.Fatalf("install: %d %s", w.Code, w.Body)
	}
	ctl.send(t, http.MethodPost, dep+"?async&zone=zone1", nil, 0)
	waitFor(t, func() bool { return zoneStates(t, ctl, dep)["zone1"] == deploy.StateDeployed })

	v := zone.node.store.View()
	id := deploy.WorkloadID("sleeper.zip")
	zd, wl := v.Get(mrf.KindZoneDeployment, "sleeper.zip"), v.Get(workload.KindWorkload, id)
	if zd == nil || wl == nil || zd.Version != wl.Version {
		t.Fatalf("zone deployment %v and workload %v: not written by one command", zd, wl)
	}
	spec, err := workload.ParseSpec(wl.Body)
	if err != nil || spec.Instances != 1 || fmt.Sprint(spec.Placement.Nodes) != "[z2]" || fmt.Sprint(spec.Command) != "[sleep 60]" || spec.Artifact == "" {
		t.Fatalf("workload %s: %+v %v", wl.Body, spec, err)
	}
	if art := v.Get(workload.KindArtifact, spec.Artifact); art == nil || art.Version != wl.Version {
		t.Fatalf("artifact %s: %v, not written with the workload", spec.Artifact, art)
	}
	if st := deploy.RunStatusIn(v, "sleeper.zip"); st.State != deploy.RunStarting {
		t.Errorf("before any instance reports: %+v, want STARTING", st)
	}
	report := func(state string) {
		b, _ := json.Marshal(workload.Status{Workload: id, Index: 0, Node: "z2", State: state, PID: 42})
		zone.node.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: workload.KindInstance, ID: workload.InstanceID(id, 0), Body: b}}})
	}
	report(workload.InstanceRunning)
	if st := deploy.RunStatusIn(zone.node.store.View(), "sleeper.zip"); st.State != deploy.RunRunning || st.Running != 1 {
		t.Errorf("with its instance running: %+v, want RUNNING", st)
	}
	// The controller cannot reach zone1's leader here: it does not know.
	comps := docOf(t, ctl.send(t, http.MethodGet, "/management/domain/components", nil, 0))
	if leaf := comps["components"].([]any)[0].(map[string]any); leaf["state"] != deploy.RunUnknown {
		t.Errorf("component %v, want state UNKNOWN", leaf)
	}

	ctl.send(t, http.MethodDelete, dep+"?async", nil, 0)
	waitFor(t, func() bool { return zone.node.store.View().Get(mrf.KindZoneDeployment, "sleeper.zip") == nil })
	v = zone.node.store.View()
	if v.Get(workload.KindWorkload, id) != nil || v.Get(workload.KindPlacement, id) != nil || v.Count(workload.KindInstance) != 0 {
		t.Error("the workload, its placement or its instances outlived the deployment in the zone")
	}
}
