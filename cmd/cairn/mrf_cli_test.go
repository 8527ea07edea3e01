package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The requests of these tests are those Fabric3's admin CLI
// (Fabric3/fabric3-admin, DomainConnectionImpl and the command classes)
// sends: install and profile install PUT the archive streamed in chunks
// with Content-type application/json; deploy is a POST with no body;
// `post <path> <content>` sends content serialised as a JSON string;
// `follow -r <runtime>` GETs the controller's /domain/runtimes and takes
// the runtime's href up to its last '/' as the management address.

// cliClient is the CLI's HttpURLConnection: no redirects followed for a
// streamed body (a 307 is its answer), a read timeout of 20 s.
var cliClient = &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// cliPut PUTs body chunked (no Content-Length), as the CLI's put does.
func cliPut(t *testing.T, url string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-type", "application/json")
	return cliSend(t, req)
}

// cliPost POSTs content as the CLI does: nil for deploy (no body), else
// serialised as a JSON string.
func cliPost(t *testing.T, url string, content *string) reply {
	t.Helper()
	var rd io.Reader
	if content != nil {
		b, _ := json.Marshal(*content)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-type", "application/json")
	return cliSend(t, req)
}

func cliSend(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := cliClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func wantStatus(t *testing.T, what string, r reply, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: %d %s, want %d", what, r.status, bytes.TrimSpace(r.body), want)
	}
}

// componentZones returns "uri@zone" of the components a components
// resource lists, sorted.
func componentZones(t *testing.T, url string) []string {
	t.Helper()
	code, doc, err := getDoc(url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	var out []string
	list, _ := doc["components"].([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, strings.TrimPrefix(fmt.Sprint(m["uri"]), "fabric3://domain/")+"@"+fmt.Sprint(m["zone"]))
	}
	sort.Strings(out)
	return out
}

func Test_MRF_Fabric3CLI_InstallAnywhere_SyncDeploy_Runtimes_Posts_Profiles_SurviveRestart(t *testing.T) {
	t.Parallel() // mostly waiting on its zone: runs beside another test
	d := startMRFDomain(t, "-mrf-deploy-timeout", "3s")
	ctl := d.controller.url + "/management"
	leader := mustAgreeOnLeader(t, d.zone1, 20*time.Second)
	follower := others(d.zone1, leader)[0]

	// follow -r <runtime>: every runtime is listed with its zone, and the
	// management address taken from its href answers as that runtime.
	_, root, _ := getDoc(ctl + "/domain")
	if href(root, "runtimes") != ctl+"/domain/runtimes" {
		t.Errorf("the root links runtimes at %q", href(root, "runtimes"))
	}
	var runtimes []any
	waitFor(t, "the controller to list all four runtimes, zone1's leader leading", 20*time.Second, func() bool {
		_, doc, _ := getDoc(ctl + "/domain/runtimes")
		runtimes, _ = doc["value"].([]any)
		leads := 0
		for _, r := range runtimes {
			m := r.(map[string]any)
			if m["zone"] == "zone1" && m["leader"] == true {
				leads++
			}
		}
		return len(runtimes) == 4 && leads == 1
	}, func() string { return fmt.Sprint(runtimes) })
	for _, r := range runtimes {
		m := r.(map[string]any)
		h, _ := m["href"].(string)
		management := h[:strings.LastIndex(h, "/")]
		code, doc, err := getDoc(management + "/runtime")
		if err != nil || code != http.StatusOK || doc["name"] != m["name"] || doc["zone"] != m["zone"] {
			t.Errorf("follow -r %v (%s): %d %v %v", m["name"], management, code, doc, err)
		}
	}

	// install through a zone1 follower, streamed: forwarded to the
	// controller, the name's case kept.
	f3 := sampleArchive(t, "fabric3-calculator.zip")
	r := cliPut(t, follower.url+"/management/domain/contributions/contribution/MyCalc.zip", f3)
	wantStatus(t, "install MyCalc.zip through "+follower.id(), r, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != ctl+"/domain/contributions/contribution/MyCalc.zip" {
		t.Errorf("Location %q", loc)
	}
	r = cliPut(t, leader.url+"/management/domain/contributions/contribution/mycalc.zip", f3)
	if wantStatus(t, "install mycalc.zip again", r, http.StatusConflict); !bytes.Contains(r.body, []byte("MyCalc.zip")) {
		t.Errorf("409 does not name MyCalc.zip: %s", r.body)
	}
	_, doc, _ := getDoc(ctl + "/domain/contributions")
	if got := fmt.Sprint(doc["contributions"]); !strings.Contains(got, "uri:MyCalc.zip") {
		t.Errorf("status lists %s", got)
	}
	_, doc, _ = getDoc(ctl + "/domain/contributions/contribution/MYCALC.ZIP")
	if fmt.Sprint(doc["components"]) != "[CalculatorService MathComponent AddService SubtractService]" || doc["uri"] != "MyCalc.zip" {
		t.Errorf("MyCalc.zip: %v", doc)
	}

	// deploy (every zone): answered once both zones run it, so list at
	// once shows every component in both zones.
	dep := ctl + "/domain/deployments/contribution/MyCalc.zip"
	wantStatus(t, "deploy MyCalc.zip", cliPost(t, dep, nil), http.StatusCreated)
	var want []string
	for _, c := range []string{"AddService", "CalculatorService", "MathComponent", "SubtractService"} {
		want = append(want, c+"@default", c+"@zone1")
	}
	if got := componentZones(t, ctl+"/domain/components"); !slices.Equal(got, want) {
		t.Errorf("list right after deploy: %v, want %v", got, want)
	}
	if got := componentZones(t, ctl+"/domain/components/calculatorservice"); !slices.Equal(got, []string{"CalculatorService@default", "CalculatorService@zone1"}) {
		t.Errorf("list CalculatorService: %v", got)
	}
	if ok, why := zoneHolds(leader, "MyCalc.zip"); !ok {
		t.Errorf("zone1's leader does not hold MyCalc.zip once deployed: %s", why)
	}

	// A zone that fails: 420 with "<zone>: <reason>" in value, nothing left
	// deployed.
	wantStatus(t, "install calculator.zip", cliPut(t, ctl+"/domain/contributions/contribution/calculator.zip", sampleArchive(t, "calculator.zip")), http.StatusCreated)
	wantStatus(t, "deploy calculator.zip to zone1", cliPost(t, ctl+"/domain/deployments/contribution/calculator.zip?zone=zone1", nil), http.StatusCreated)
	wantStatus(t, "install clash.zip", cliPut(t, ctl+"/domain/contributions/contribution/clash.zip", sampleArchive(t, "calculator-clash.zip")), http.StatusCreated)
	r = cliPost(t, ctl+"/domain/deployments/contribution/clash.zip", nil)
	var failed struct{ Value []string }
	if wantStatus(t, "deploy clash.zip", r, 420); json.Unmarshal(r.body, &failed) != nil || len(failed.Value) != 1 ||
		!strings.HasPrefix(failed.Value[0], "zone1: component CalculatorComponent") {
		t.Errorf("420 body %s", r.body)
	}
	mustMRFDo(t, http.MethodGet, ctl+"/domain/deployments/contribution/clash.zip", nil, http.StatusNotFound)
	waitFor(t, "zone default to remove the taken-back clash.zip", 10*time.Second, func() bool {
		ok, _ := zoneHolds(d.controller, "clash.zip")
		return !ok
	}, nil)

	// undeploy: 200 once every zone removed it.
	mustMRFDo(t, http.MethodDelete, dep, nil, http.StatusOK)
	for _, a := range []*agent{d.controller, leader} {
		if ok, _ := zoneHolds(a, "MyCalc.zip"); ok {
			t.Errorf("%s still holds MyCalc.zip after the undeploy answered", a.id())
		}
	}

	// post <path> <content>: the content arrives as a JSON string.
	obj := `{"level":"debug"}`
	wantStatus(t, "post zone/runtime/logging "+obj, cliPost(t, follower.url+"/management/zone/runtime/logging", &obj), http.StatusOK)
	bare := "warn"
	other := others(d.zone1, leader, follower)[0]
	wantStatus(t, "post runtime/logging warn on "+other.id(), cliPost(t, other.url+"/management/runtime/logging", &bare), http.StatusOK)
	for _, a := range d.zone1 {
		waitFor(t, a.id()+" to log at warn", 10*time.Second, func() bool {
			_, l, _ := getDoc(a.url + "/management/runtime/logging")
			return l["level"] == "warn"
		}, nil)
	}
	several := "2048"
	if r := cliPost(t, follower.url+"/management/zone/runtime/http", &several); r.status != http.StatusBadRequest || !bytes.Contains(r.body, []byte("maxBodyBytes")) {
		t.Errorf("a bare string to http: %d %s", r.status, r.body)
	}

	// profile install / uninstall, through a participant.
	prof := follower.url + "/management/domain/contributions/profiles/profile/Tools.zip"
	wantStatus(t, "profile install", cliPut(t, prof, sampleArchive(t, "profile-tools.zip")), http.StatusCreated)
	wantStatus(t, "profile install again", cliPut(t, prof, sampleArchive(t, "profile-tools.zip")), http.StatusConflict)
	if r := cliPut(t, ctl+"/domain/contributions/profiles/profile/bad.zip", sampleArchive(t, "profile-bad.zip")); r.status != 420 ||
		!bytes.Contains(r.body, []byte("extensions/bad.zip")) {
		t.Errorf("bad profile: %d %s", r.status, r.body)
	}
	_, doc, _ = getDoc(ctl + "/domain/contributions/profiles")
	if fmt.Sprint(doc["profiles"]) != "[Tools.zip]" {
		t.Errorf("profiles %v", doc)
	}

	// zone1 without a leader: a deploy there answers 504 naming it after
	// -mrf-deploy-timeout, and stays recorded, pending.
	for _, a := range others(d.zone1, follower) {
		a.mustKill()
	}
	r = cliPost(t, ctl+"/domain/deployments/contribution/MyCalc.zip?zone=zone1", nil)
	if wantStatus(t, "deploy to a zone without a leader", r, http.StatusGatewayTimeout); !bytes.Contains(r.body, []byte("zone1")) {
		t.Errorf("504 does not name zone1: %s", r.body)
	}
	if st := zoneStateAt(ctl+"/domain/deployments/contribution/MyCalc.zip", "zone1"); st != "pending" {
		t.Errorf("zone1's state after the 504: %q", st)
	}

	// What was stored survives a snapshot and a restart of the controller.
	mustMRFDo(t, http.MethodPost, ctl+"/zone/runtime/raft/snapshot", nil, http.StatusOK)
	waitStatus(t, d.controller, "a snapshot on the controller", 10*time.Second, func(st nodeStatus) bool { return st.LastSnapshotIndex > 0 })
	if code := d.controller.mustStop(); code != 0 {
		t.Fatalf("controller exited %d", code)
	}
	c2 := mustStartAgent(t, d.controller.restartOpts())
	ctl = c2.url + "/management"
	_, doc, _ = getDoc(ctl + "/domain/contributions")
	var uris []string
	for _, c := range doc["contributions"].([]any) {
		uris = append(uris, c.(map[string]any)["uri"].(string))
	}
	sort.Strings(uris)
	if fmt.Sprint(uris) != "[MyCalc.zip calculator.zip clash.zip hello.zip readme.zip]" {
		t.Errorf("contributions after the restart: %v", uris)
	}
	_, doc, _ = getDoc(ctl + "/domain/contributions/profiles/profile/tools.zip")
	if doc["uri"] != "Tools.zip" || fmt.Sprint(doc["contributions"]) != "[hello.zip readme.zip]" {
		t.Errorf("profile after the restart: %v", doc)
	}
	wantStatus(t, "profile uninstall", cliSend(t, mustRequest(t, http.MethodDelete, ctl+"/domain/contributions/profiles/profile/Tools.zip")), http.StatusOK)

}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// runJavaCLI runs testdata/mrf/javaclient/MrfCli.java, which sends the
// admin CLI's requests through the JDK's HttpURLConnection configured as
// the CLI configures it, and returns its status code and body.
func runJavaCLI(t *testing.T, java string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := filepath.Join("..", "..", "testdata", "mrf", "javaclient", "MrfCli.java")
	out, err := exec.CommandContext(ctx, java, append([]string{src}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("java MrfCli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	code, err := strconv.Atoi(strings.TrimPrefix(first, "CODE "))
	if err != nil {
		t.Fatalf("java MrfCli %s: %s", strings.Join(args, " "), out)
	}
	return code, rest
}

func Test_MRF_JavaHttpURLConnection_ChunkedInstallThroughParticipant_DeployPost(t *testing.T) {
	t.Parallel()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("no java on PATH")
	}
	d := startMRFDomain(t)
	leader := mustAgreeOnLeader(t, d.zone1, 20*time.Second)
	follower := others(d.zone1, leader)[0]
	management := follower.url + "/management" // any node will do
	archive := filepath.Join("..", "..", "testdata", "mrf", "fabric3-calculator.zip")

	if code, body := runJavaCLI(t, java, "install", management, archive, "JavaCalc.zip"); code != http.StatusCreated {
		t.Fatalf("install through %s: %d %s (307 here is what Java cannot follow)", follower.id(), code, body)
	}
	if code, body := runJavaCLI(t, java, "deploy", management, "JavaCalc.zip"); code != http.StatusCreated {
		t.Fatalf("deploy: %d %s", code, body)
	}
	if got := componentZones(t, d.controller.url+"/management/domain/components/MathComponent"); !slices.Equal(got, []string{"MathComponent@default", "MathComponent@zone1"}) {
		t.Errorf("MathComponent runs in %v right after deploy", got)
	}
	if code, body := runJavaCLI(t, java, "post", management, "zone/runtime/logging", `{"level":"debug"}`); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, body)
	}
	waitFor(t, leader.id()+" to log at debug", 10*time.Second, func() bool {
		_, l, _ := getDoc(leader.url + "/management/runtime/logging")
		return l["level"] == "debug"
	}, nil)
	if code, body := runJavaCLI(t, java, "install", management, archive, "JavaCalc.zip"); code != http.StatusConflict || !strings.Contains(body, "JavaCalc.zip") {
		t.Errorf("install again: %d %s", code, body)
	}
}
