package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"cairn/cluster/deploy"
)

// runnableZip is a contribution whose manifest declares component and
// runs: run is the manifest's "run" object; files are added at the top of
// the archive.
func runnableZip(t *testing.T, component, run string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, body string) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	add("META-INF/cairn-contribution.json", `{"components":["`+component+`"],"run":`+run+`}`)
	for name, body := range files {
		add(name, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// componentState returns the state the controller's components list gives
// component in zone ("" if it is not listed there, "-" if listed without
// one), and the leaf.
func componentState(url, component, zone string) (string, map[string]any) {
	_, doc, _ := getDoc(url)
	list, _ := doc["components"].([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["uri"] == "fabric3://domain/"+component && m["zone"] == zone {
			s, ok := m["state"].(string)
			if !ok {
				return "-", m
			}
			return s, m
		}
	}
	return "", nil
}

// Test_MRF_RunnableContribution_RunsOnEveryMember_RunningUntilUndeployed
// deploys a contribution whose archive holds a start file the bash runtime
// recognises to zone1 (3 members): one process runs on each member (seen
// in /proc), its component is RUNNING at the controller, in the
// deployment's zone status and in the contributions' status; a member
// killed and restarted leaves and rejoins the workload; undeploy stops
// every process and the component is gone.
func Test_MRF_RunnableContribution_RunsOnEveryMember_RunningUntilUndeployed(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	d := startMRFDomain(t)
	killInstancesAtCleanup(t, d.zone1...)
	_, doc, _ := getDoc(d.controller.url + "/management/domain")
	contributions, deployments, components := href(doc, "contributions"), href(doc, "deployments"), href(doc, "components")

	archive := runnableZip(t, "TickerComponent", `{}`, map[string]string{
		"bash_start.sh": "while true; do echo \"tick $CAIRN_INSTANCE\"; sleep 0.2; done\n",
	})
	mustMRFDo(t, http.MethodPut, contributions+"/contribution/ticker.zip", archive, http.StatusCreated)
	dep := deployments + "/contribution/ticker.zip"
	mustMRFDo(t, http.MethodPost, dep+"?zone=zone1", nil, http.StatusCreated)

	wl := deploy.WorkloadID("ticker.zip")
	for _, a := range d.zone1 {
		var got map[string][]int
		waitFor(t, "one ticker process on "+a.id(), workloadTimeout, func() bool {
			got = leaders(t, a.opts.dataDir, wl)
			return len(got) == 1
		}, func() string { return fmt.Sprint(got) })
	}
	var leaf map[string]any
	waitFor(t, "TickerComponent RUNNING in zone1", workloadTimeout, func() bool {
		var st string
		st, leaf = componentState(components, "TickerComponent", "zone1")
		return st == deploy.RunRunning
	}, func() string { return fmt.Sprint(leaf) })
	if run, _ := leaf["run"].(map[string]any); run["instances"] != float64(3) || run["running"] != float64(3) {
		t.Errorf("component's run %v, want 3 of 3 instances running", leaf["run"])
	}
	_, doc, _ = getDoc(dep)
	zone1, _ := doc["zones"].(map[string]any)["zone1"].(map[string]any)
	if run, _ := zone1["run"].(map[string]any); run["state"] != deploy.RunRunning {
		t.Errorf("deployment's zone1 %v, want run.state RUNNING", zone1)
	}
	_, doc, _ = getDoc(contributions)
	if !strings.Contains(fmt.Sprint(doc["contributions"]), "running:map[zone1:RUNNING]") {
		t.Errorf("contributions %v: ticker.zip not RUNNING in zone1", doc["contributions"])
	}
	// The logs of the zone's workload are the contribution's output.
	var logs string
	leader := mustAgreeOnLeader(t, d.zone1, 10*time.Second)
	waitFor(t, "the ticker's output", workloadTimeout, func() bool {
		logs = string(leader.mustDo(http.MethodGet, "/cairn/v1/workloads/"+wl+"/logs?lines=30", nil, http.StatusOK).body)
		return strings.Contains(logs, ",stdout,tick 0") && strings.Contains(logs, ",stdout,tick 1") && strings.Contains(logs, ",stdout,tick 2")
	}, func() string { return logs })

	// A member killed leaves the zone's members, and the workload follows:
	// RUNNING on the two left; restarted, it runs one again.
	gone := others(d.zone1, leader)[0]
	gone.mustKill()
	runOf := func() map[string]any {
		_, leaf := componentState(components, "TickerComponent", "zone1")
		run, _ := leaf["run"].(map[string]any)
		return run
	}
	waitFor(t, "TickerComponent RUNNING on the 2 members left", 30*time.Second, func() bool {
		run := runOf()
		return run["state"] == deploy.RunRunning && run["instances"] == float64(2)
	}, func() string { return fmt.Sprint(runOf()) })
	back := mustStartAgent(t, gone.restartOpts())
	killInstancesAtCleanup(t, back)
	members := append(others(d.zone1, gone), back)
	waitFor(t, "TickerComponent RUNNING on 3 members again", 30*time.Second, func() bool {
		run := runOf()
		return run["state"] == deploy.RunRunning && run["instances"] == float64(3)
	}, func() string { return fmt.Sprint(runOf()) })
	for _, a := range members {
		var got map[string][]int
		waitFor(t, "one ticker process on "+a.id(), workloadTimeout, func() bool {
			got = leaders(t, a.opts.dataDir, wl)
			return len(got) == 1
		}, func() string { return fmt.Sprint(got) })
	}

	// Undeploy: every process goes, and the component with them.
	mustMRFDo(t, http.MethodDelete, dep, nil, http.StatusOK)
	for _, a := range members {
		var got map[string][]int
		waitFor(t, "no ticker process on "+a.id(), workloadTimeout, func() bool {
			got = leaders(t, a.opts.dataDir, wl)
			return len(got) == 0
		}, func() string { return fmt.Sprint(got) })
	}
	if st, _ := componentState(components, "TickerComponent", "zone1"); st != "" {
		t.Errorf("TickerComponent still listed after undeploy, state %q", st)
	}
	leader.mustDo(http.MethodGet, "/cairn/v1/workloads/"+wl, nil, http.StatusNotFound)
	mustMRFDo(t, http.MethodDelete, contributions+"/contribution/ticker.zip", nil, http.StatusOK)
}

// Test_MRF_RunnableContribution_ExecutorOff_SaysNothingRuns deploys a
// runnable contribution to a node whose executor is off: it deploys, but
// the component is FAILED, never RUNNING, and the deployment's zone says
// the executor is off.
func Test_MRF_RunnableContribution_ExecutorOff_SaysNothingRuns(t *testing.T) {
	t.Parallel()
	c := mustStartAgent(t, agentOpts{nodeID: "c1", args: []string{"-exec", "false"}})
	killInstancesAtCleanup(t, c)
	base := c.url + "/management/domain"
	archive := runnableZip(t, "SleeperComponent", `{"command":["sleep","600"]}`, nil)
	mustMRFDo(t, http.MethodPut, base+"/contributions/contribution/sleeper.zip", archive, http.StatusCreated)
	dep := base + "/deployments/contribution/sleeper.zip"
	mustMRFDo(t, http.MethodPost, dep, nil, http.StatusCreated)

	var zone map[string]any
	waitFor(t, "the deployment to say nothing runs", workloadTimeout, func() bool {
		_, doc, _ := getDoc(dep)
		zones, _ := doc["zones"].(map[string]any)
		zone, _ = zones["default"].(map[string]any)
		run, _ := zone["run"].(map[string]any)
		return run["state"] == deploy.RunFailed && strings.Contains(fmt.Sprint(run["reason"]), "the executor is off on node c1")
	}, func() string { return fmt.Sprint(zone) })
	// Never RUNNING, for as long as it is deployed: checked a few times.
	for range 5 {
		if st, leaf := componentState(base+"/components", "SleeperComponent", "default"); st != deploy.RunFailed {
			t.Fatalf("component state %q (%v), want FAILED", st, leaf)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := leaders(t, c.opts.dataDir, deploy.WorkloadID("sleeper.zip")); len(got) != 0 {
		t.Errorf("processes run with the executor off: %v", got)
	}
	mustMRFDo(t, http.MethodDelete, dep, nil, http.StatusOK)
}
