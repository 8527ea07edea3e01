package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// mrfRaw sends requests to absolute URLs and does not follow redirects,
// so a test sees a 307 as the server answered it.
var mrfRaw = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// mrfDo sends one request with a binary body to an absolute URL.
func mrfDo(method, url string, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/zip")
	}
	resp, err := mrfRaw.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func mustMRFDo(t *testing.T, method, url string, body []byte, want int) reply {
	t.Helper()
	r, err := mrfDo(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, r.status, bytes.TrimSpace(r.body), want)
	}
	return r
}

// sampleArchive reads a sample contribution archive of testdata/mrf.
func sampleArchive(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mrf", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// zoneStateAt returns the state of deployment url in zone at the
// controller ("" if absent or unreadable).
func zoneStateAt(url, zone string) string {
	code, doc, err := getDoc(url)
	if err != nil || code != http.StatusOK {
		return ""
	}
	zones, _ := doc["zones"].(map[string]any)
	st, _ := zones[zone].(map[string]any)
	s, _ := st["state"].(string)
	return s
}

// zoneHolds reports whether a's zone store, as a serves it, has applied
// the deployment of uri with its archive.
func zoneHolds(a *agent, uri string) (bool, string) {
	code, doc, err := getDoc(a.url + "/management/zone/deployments")
	if err != nil || code != http.StatusOK {
		return false, fmt.Sprintf("%s: %d %v", a.id(), code, err)
	}
	list, _ := doc["deployments"].([]any)
	for _, d := range list {
		m, _ := d.(map[string]any)
		if m["uri"] == uri && m["archive"] == true {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%s: %v", a.id(), doc["contributions"])
}

// componentsAt returns "name@zone" of every component the controller lists.
func componentsAt(url string) []string {
	_, doc, _ := getDoc(url)
	var out []string
	list, _ := doc["components"].([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, strings.TrimPrefix(fmt.Sprint(m["uri"]), "fabric3://domain/")+"@"+fmt.Sprint(m["zone"]))
	}
	return out
}

func Test_MRF_Contribution_DeployedToZone1_OnEveryMember_LeaderKilled_Converges(t *testing.T) {
	t.Parallel()
	d := startMRFDomain(t)
	root := d.controller.url + "/management/domain"
	code, doc, err := getDoc(root)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", root, code, err)
	}
	contributions, deployments, components := href(doc, "contributions"), href(doc, "deployments"), href(doc, "components")

	// Install: 201 and the Location of the contribution.
	calc := sampleArchive(t, "calculator.zip")
	r := mustMRFDo(t, http.MethodPut, contributions+"/contribution/calculator.zip", calc, http.StatusCreated)
	calcURL := r.header.Get("Location")
	code, doc, _ = getDoc(calcURL)
	if code != http.StatusOK || doc["sha1"] != sha1Hex(calc) || doc["state"] != "INSTALLED" {
		t.Fatalf("GET %s: %d %v", calcURL, code, doc)
	}
	mustMRFDo(t, http.MethodPut, contributions+"/contribution/calculator.zip", calc, http.StatusConflict)

	// A write to a zone1 follower, which is no controller, is forwarded
	// to the controller: created there.
	leader := mustAgreeOnLeader(t, d.zone1, 20*time.Second)
	follower := others(d.zone1, leader)[0]
	r = mustMRFDo(t, http.MethodPut, follower.url+"/management/domain/contributions/contribution/greeting.zip", sampleArchive(t, "greeting.zip"), http.StatusCreated)
	if loc := r.header.Get("Location"); loc != contributions+"/contribution/greeting.zip" {
		t.Errorf("created at %q", loc)
	}

	// Deploy to zone1: answered once zone1 reports it deployed; then on
	// every member.
	calcDep := deployments + "/contribution/calculator.zip"
	mustMRFDo(t, http.MethodPut, calcDep+"?zone=zone1", nil, http.StatusCreated)
	if st := zoneStateAt(calcDep, "zone1"); st != "deployed" {
		t.Errorf("zone1's state of calculator.zip right after the deploy: %q", st)
	}
	mustMRFDo(t, http.MethodPost, calcDep, nil, http.StatusConflict)
	waitFor(t, "zone1 to report calculator.zip deployed", 20*time.Second, func() bool {
		return zoneStateAt(calcDep, "zone1") == "deployed"
	}, func() string { _, doc, _ := getDoc(calcDep); return fmt.Sprint(doc) })
	for _, a := range d.zone1 {
		var last string
		waitFor(t, a.id()+" to hold calculator.zip", 10*time.Second, func() bool {
			ok, why := zoneHolds(a, "calculator.zip")
			last = why
			return ok
		}, func() string { return last })
	}
	if got := componentsAt(components); !slices.Equal(got, []string{"AddComponent@zone1", "CalculatorComponent@zone1"}) {
		t.Errorf("components %v", got)
	}
	// The controller's own zone was not a target: it holds no copy.
	if ok, _ := zoneHolds(d.controller, "calculator.zip"); ok {
		t.Error("zone default holds calculator.zip")
	}

	// Deploy greeting.zip and kill zone1's leader at once: whichever step
	// the leader had reached, the next one finishes it.
	greetDep := deployments + "/contribution/greeting.zip"
	mustMRFDo(t, http.MethodPost, greetDep+"?async&zone=zone1", nil, http.StatusCreated)
	leader.mustKill()
	survivors := others(d.zone1, leader)
	waitFor(t, "zone1's new leader to report greeting.zip deployed", 30*time.Second, func() bool {
		return zoneStateAt(greetDep, "zone1") == "deployed"
	}, func() string { _, doc, _ := getDoc(greetDep); return fmt.Sprint(doc) })
	for _, a := range survivors {
		var last string
		waitFor(t, a.id()+" to hold greeting.zip", 10*time.Second, func() bool {
			ok, why := zoneHolds(a, "greeting.zip")
			last = why
			return ok
		}, func() string { return last })
	}
	// The killed leader, restarted, catches up from the zone's log.
	restarted := mustStartAgent(t, leader.restartOpts())
	waitFor(t, "the restarted member to hold both deployments", 20*time.Second, func() bool {
		a, _ := zoneHolds(restarted, "calculator.zip")
		b, _ := zoneHolds(restarted, "greeting.zip")
		return a && b
	}, func() string { _, why := zoneHolds(restarted, "greeting.zip"); return why })
	if got := componentsAt(components); !slices.Contains(got, "GreetingComponent@zone1") || len(got) != 3 {
		t.Errorf("components %v", got)
	}

	// Undeploy, then uninstall: 400 while deployed, 200 after.
	r = mustMRFDo(t, http.MethodDelete, calcURL, nil, http.StatusBadRequest)
	if !bytes.Contains(r.body, []byte("must be undeployed")) {
		t.Errorf("uninstall while deployed: %s", r.body)
	}
	mustMRFDo(t, http.MethodDelete, calcDep, nil, http.StatusOK)
	for _, a := range append(survivors, restarted) {
		waitFor(t, a.id()+" to drop calculator.zip", 10*time.Second, func() bool {
			ok, _ := zoneHolds(a, "calculator.zip")
			return !ok
		}, nil)
	}
	if got := componentsAt(components); !slices.Equal(got, []string{"GreetingComponent@zone1"}) {
		t.Errorf("components after undeploy %v", got)
	}
	mustMRFDo(t, http.MethodDelete, calcURL, nil, http.StatusOK)
	mustMRFDo(t, http.MethodGet, calcURL, nil, http.StatusNotFound)
}

// randomZip is a zip of one stored (uncompressed) entry of n random
// bytes: a body with every byte value, large enough to stream in many
// reads.
func randomZip(t *testing.T, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "payload.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func Test_MRF_Contribution_PutThroughFollower_ForwardedIntact_SurvivesReceiverLoss(t *testing.T) {
	t.Parallel()
	// A zone of three controllers: the domain's resources are in its Raft group.
	nodes := startCluster(t, 3, agentOpts{args: []string{"-controller"}})
	leader := mustAgreeOnLeader(t, nodes, 20*time.Second)
	receiver := others(nodes, leader)[0]
	body := randomZip(t, 1<<20)
	r := mustMRFDo(t, http.MethodPut, receiver.url+"/management/domain/contributions/contribution/big.zip", body, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != leader.url+"/management/domain/contributions/contribution/big.zip" {
		t.Errorf("Location %q: want the leader's, which served it", loc)
	}
	receiver.mustKill()
	want := sha1Hex(body)
	for _, a := range others(nodes, receiver) {
		// A local read: the survivor may still be applying the entry the
		// leader committed with the receiver's acknowledgement.
		var last string
		waitFor(t, a.id()+" to serve the contribution", 10*time.Second, func() bool {
			code, doc, err := getDoc(a.url + "/management/domain/contributions/contribution/big.zip")
			last = fmt.Sprintf("%d %v %v", code, doc, err)
			return err == nil && code == http.StatusOK && doc["sha1"] == want && doc["length"] == float64(len(body))
		}, func() string { return last + ", want sha1 " + want })
		res := a.mustGet("mrf.archive", want)
		var stored struct{ Data []byte }
		mustUnmarshal(t, res.Body, &stored)
		if !bytes.Equal(stored.Data, body) {
			t.Fatalf("%s: the stored archive differs from the body sent (%d bytes, %d stored)", a.id(), len(body), len(stored.Data))
		}
	}
	// Over the body limit: 413 from the follower, nothing forwarded.
	mustMRFDo(t, http.MethodPut, leader.url+"/management/zone/runtime/http", mustJSON(t, map[string]int{"maxBodyBytes": 1 << 19}), http.StatusOK)
	other := others(nodes, receiver, leader)[0]
	waitFor(t, other.id()+" to apply maxBodyBytes", 10*time.Second, func() bool {
		_, doc, _ := getDoc(other.url + "/management/runtime/http")
		return doc["maxBodyBytes"] == float64(1<<19)
	}, nil)
	mustMRFDo(t, http.MethodPut, other.url+"/management/domain/contributions/contribution/big2.zip", body, http.StatusRequestEntityTooLarge)
	mustMRFDo(t, http.MethodGet, leader.url+"/management/domain/contributions/contribution/big2.zip", nil, http.StatusNotFound)
}
