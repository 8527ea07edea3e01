package api_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/cluster/tasks"
	"cairn/fsm"
	api "cairn/http"
	"cairn/http/apcera"
	"cairn/http/arm"
	"cairn/http/maxscale"
	"cairn/http/mrf"
	"cairn/http/topology"
	"cairn/node"
	"cairn/node/auth"
	"cairn/node/nodetest"
	settings "cairn/node/runtime"
	"cairn/node/workload"
)

// The HTTP fuzz targets send hostile bodies, paths and query strings to
// every dialect of one real node (Raft, fsync and all), through the whole
// middleware chain. Properties, for every input: no panic (recovered
// panics are 500s), no 500, and a refused request (4xx) leaves the store's
// digest as it was: nothing half-applied. `make fuzz` runs each for
// FUZZTIME; without -fuzz, `go test` runs their seeds as ordinary tests.

// fuzzZone is a single-node zone with every dialect mounted.
type fuzzZone struct {
	n *node.Node
	h http.Handler
}

func newFuzzZone(t testing.TB) *fuzzZone {
	t.Helper()
	schema, err := fsm.NewSchema(slices.Concat(node.Kinds(), auth.Kinds(), maxscale.Kinds(), mrf.Kinds(), settings.Kinds(), workload.Kinds(), topology.Kinds(), arm.Kinds(), apcera.Kinds(), tasks.Kinds())...)
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.MustLeader(t, node.Config{CommitTimeout: time.Millisecond, Logger: discard}, schema)
	authn := auth.NewAuthenticator(n.View)
	ms := maxscale.New(n, maxscale.Options{NodeID: n.ID(), Auth: authn})
	apc := apcera.New(apcera.Deps{Node: n, Auth: authn, Logger: discard})
	s := api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard, api.WithMaxScale(ms.Mounted()), api.WithApcera(apc.Mounted()),
		api.WithAuth(api.AuthPolicy{Auth: authn}))
	return &fuzzZone{n: n, h: s.Handler()}
}

func (z *fuzzZone) do(method, target string, body []byte, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://cairn.test/", bytes.NewReader(body))
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil
	}
	req.URL, req.RequestURI = u, target
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	z.h.ServeHTTP(w, req)
	return w
}

// check sends one request and enforces the properties.
func (z *fuzzZone) check(t *testing.T, method, target string, body []byte, header http.Header) int {
	t.Helper()
	before := z.n.StatusWithDigest().StoreDigest
	w := z.do(method, target, body, header)
	if w == nil {
		return 0 // not a request line a client could send
	}
	if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
		t.Fatalf("%s %s with %q: %d %s", method, target, truncate(body), w.Code, w.Body)
	}
	if w.Code >= 400 {
		if after := z.n.StatusWithDigest().StoreDigest; after != before {
			t.Fatalf("%s %s with %q was refused (%d %s) but changed the store", method, target, truncate(body), w.Code, w.Body)
		}
	}
	return w.Code
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// adminBasic is MaxScale's default admin, accepted while the zone has no
// user (as in these zones).
var adminBasic = http.Header{"Authorization": {"Basic YWRtaW46bWFyaWFkYg=="}}

// FuzzNativeResource: a resource write and read with any kind, id, query
// and body.
func FuzzNativeResource(f *testing.F) {
	f.Add("widget", "w1", "", []byte(`{"a":1}`))
	f.Add("widget", "w1", "consistent", []byte(`[1,2,{"x":null}]`))
	f.Add("a.b", "x%2Fy", "index=5&wait=1ms", []byte(`"s"`))
	f.Add("cairn.user", "admin", "", []byte(`{"role":"admin","hash":"x"}`))
	f.Add("mrf.deployment", "d", "", []byte(`{}`))
	f.Add("widget", "..", "limit=0&continue=%ff", []byte("{\"a\":\"\xff\"}"))
	z := newFuzzZone(f)
	f.Fuzz(func(t *testing.T, kind, id, query string, body []byte) {
		target := "/cairn/v1/resources/" + url.PathEscape(kind) + "/" + url.PathEscape(id)
		if query != "" {
			target += "?" + query
		}
		z.check(t, http.MethodPut, target, body, http.Header{"Content-Type": {"application/json"}})
		z.check(t, http.MethodGet, target, nil, nil)
		z.check(t, http.MethodGet, "/cairn/v1/resources/"+url.PathEscape(kind)+"?"+query, nil, nil)
	})
}

// FuzzMaxScale: JSON:API bodies to the MaxScale API's writes.
func FuzzMaxScale(f *testing.F) {
	for _, name := range []string{"create-server3.request.json", "create-server4.request.json", "patch-server1.request.json"} {
		if b, err := os.ReadFile(filepath.Join("..", "testdata", "maxscale", name)); err == nil {
			f.Add(uint8(0), b)
			f.Add(uint8(3), b)
		}
	}
	f.Add(uint8(1), []byte(`{"data":{"id":"svc","type":"services","attributes":{"router":"readconnroute","parameters":{"user":"u","password":"p"}},"relationships":{"servers":{"data":[{"id":"server1","type":"servers"}]}}}}`))
	f.Add(uint8(2), []byte(`{"data":{"id":"mon","type":"monitors","attributes":{"module":"mariadbmon","parameters":{"user":"u","password":"p"}}}}`))
	f.Add(uint8(4), []byte(`{"data":{"id":"u1","type":"inet","attributes":{"password":"pw","account":"admin"}}}`))
	f.Add(uint8(5), []byte(`{"data":[{"id":"server1","type":"servers"}]}`))
	z := newFuzzZone(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		routes := []struct{ method, path string }{
			{http.MethodPost, "/maxscale/v1/servers"},
			{http.MethodPost, "/maxscale/v1/services"},
			{http.MethodPost, "/maxscale/v1/monitors"},
			{http.MethodPatch, "/maxscale/v1/servers/server1"},
			{http.MethodPost, "/maxscale/v1/users/inet"},
			{http.MethodPatch, "/maxscale/v1/services/svc/relationships/servers"},
			{http.MethodPatch, "/maxscale/v1/monitors/mon"},
		}
		rt := routes[int(which)%len(routes)]
		z.check(t, rt.method, rt.path, body, adminBasic)
	})
}

// FuzzMRFContribution: contribution archives (zip bombs, traversal, huge
// or broken manifests, SCA XML) installed through MRF.
func FuzzMRFContribution(f *testing.F) {
	for _, name := range []string{"calculator.zip", "bad-manifest.zip", "fabric3-broken.zip", "greeting.zip", "plain.zip", "profile-bad.zip"} {
		if b, err := os.ReadFile(filepath.Join("..", "testdata", "mrf", name)); err == nil {
			f.Add(name, b)
		}
	}
	f.Add("x.zip", []byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	z := newFuzzZone(f)
	f.Fuzz(func(t *testing.T, name string, archive []byte) {
		target := "/management/domain/contributions/contribution/" + url.PathEscape(name)
		if z.check(t, http.MethodPut, target, archive, http.Header{"Content-Type": {"application/octet-stream"}}) < 300 {
			z.check(t, http.MethodDelete, target, nil, nil)
		}
	})
}

// FuzzWorkloadAndUser: the workload resource and the users API.
func FuzzWorkloadAndUser(f *testing.F) {
	f.Add(false, []byte(`{"command":["bash","-c","sleep 1"],"instances":1,"state":"stopped"}`))
	f.Add(false, []byte(`{"artifact":"0000000000000000000000000000000000000000","runtime":"bash","instances":2,"ports":["http"],"restart":{"mode":"always"}}`))
	f.Add(true, []byte(`{"password":"pw","role":"readonly"}`))
	f.Add(true, []byte(`{"role":"root"}`))
	z := newFuzzZone(f)
	f.Fuzz(func(t *testing.T, user bool, body []byte) {
		if user {
			z.check(t, http.MethodPut, "/cairn/v1/users/u1", body, nil)
			return
		}
		z.check(t, http.MethodPut, "/cairn/v1/workloads/w1", body, nil)
	})
}

// FuzzTopologyService: the Topology API's service creation, body and
// query parameters, against a host and a group that exist.
func FuzzTopologyService(f *testing.F) {
	f.Add("servicesPort=8087", []byte(`{"service":{"name":"APIGateway1","type":"gateway","scheme":"https","hostID":"host-1","managementPort":8085,"tags":{},"enabled":true},"domainPassphrase":"fred"}`))
	f.Add("signAlg=sha512&keyPassphrase=k", []byte(`{"service":{"name":"NM","type":"nodemanager","hostID":"host-1","managementPort":8090}}`))
	f.Add("servicesPort=x", []byte(`{"service":{"name":"a:b"}}`))
	z := newFuzzZone(f)
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		if z.n.View().Count("topology.host") == 0 {
			z.check(t, http.MethodPost, "/api/topology/hosts", []byte(`{"name":"n1"}`), nil)
			z.check(t, http.MethodPost, "/api/topology/groups", []byte(`{"name":"G","tags":{}}`), nil)
		}
		z.check(t, http.MethodPost, "/api/topology/services/group-1?"+query, body, nil)
		z.check(t, http.MethodPut, "/api/topology/services/group-1", body, nil)
	})
}

// FuzzARM: Runtime Manager's writes (a server registration, a server
// group, a cluster, an application's multipart deploy and its JSON
// patch), against a registered server and a deployed application.
func FuzzARM(f *testing.F) {
	f.Add(uint8(0), []byte(`{"muleVersion":"4.4.0","signatureRequest":"-----BEGIN CERTIFICATE REQUEST-----MIIB-----END CERTIFICATE REQUEST-----","muleLabel":"x"}`))
	f.Add(uint8(1), []byte(`{"name":"Group2","serverIds":[1,"2",3]}`))
	f.Add(uint8(2), []byte(`{"name":"c","multicastEnabled":"false","servers":[{"serverId":"1","serverIp":"192.168.1.1"}]}`))
	f.Add(uint8(3), []byte("--B\r\nContent-Disposition: form-data; name=\"artifactName\"\r\n\r\nb\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.zip\"\r\n\r\nPK\r\n--B\r\nContent-Disposition: form-data; name=\"targetId\"\r\n\r\n1\r\n--B--\r\n"))
	f.Add(uint8(4), []byte(`{"desiredStatus":"STOPPED"}`))
	z := newFuzzZone(f)
	var token string
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		if token == "" {
			// The registration token is derived from the signing key,
			// which a zone's first leader makes (auth.Bootstrap).
			if auth.KeyVersion(z.n.View()) == 0 {
				op, err := auth.NewKeyOp(0)
				if err == nil {
					_, _, err = z.n.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{op}, Time: time.Now()})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var out struct{ Data string }
			if err := json.Unmarshal(z.do(http.MethodGet, "/hybrid/api/v1/servers/registrationToken", nil, nil).Body.Bytes(), &out); err != nil || out.Data == "" {
				t.Fatalf("registration token: %v", err)
			}
			token = out.Data
			seed, err := os.ReadFile("../testdata/arm/register-server.json")
			if err != nil {
				t.Fatal(err)
			}
			z.check(t, http.MethodPost, "/hybrid/api/v1/servers?registrationToken="+token, bytes.Replace(seed, []byte("TestServer"), []byte(z.n.ID()), 1), nil)
			mp := http.Header{"Content-Type": {"multipart/form-data; boundary=B"}}
			z.check(t, http.MethodPost, "/hybrid/api/v1/applications", []byte("--B\r\nContent-Disposition: form-data; name=\"artifactName\"\r\n\r\na\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n\r\n#!/bin/sh\r\n--B\r\nContent-Disposition: form-data; name=\"targetId\"\r\n\r\n1\r\n--B--\r\n"), mp)
		}
		switch which % 5 {
		case 0:
			z.check(t, http.MethodPost, "/hybrid/api/v1/servers?registrationToken="+token, body, nil)
		case 1:
			z.check(t, http.MethodPost, "/hybrid/api/v1/serverGroups", body, nil)
		case 2:
			z.check(t, http.MethodPost, "/hybrid/api/v1/clusters", body, nil)
		case 3:
			z.check(t, http.MethodPost, "/hybrid/api/v1/applications", body, http.Header{"Content-Type": {"multipart/form-data; boundary=B"}})
			z.check(t, http.MethodPatch, "/hybrid/api/v1/applications/1", body, http.Header{"Content-Type": {"multipart/form-data; boundary=B"}})
		case 4:
			z.check(t, http.MethodPatch, "/hybrid/api/v1/applications/1", body, http.Header{"Content-Type": {"application/json"}})
		}
	})
}

// apceraMethods are the methods FuzzApcera's first argument picks from.
var apceraMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead}

// apceraUUID is a UUID in a recipe's path, and apceraPlaceholders what
// stands for it in FuzzApcera's paths: the objects of the zone's setup.
var (
	apceraUUID         = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	apceraVersionID    = regexp.MustCompile(`"version_id"\s*:\s*[0-9]+`)
	apceraPlaceholders = []struct{ prefix, name string }{{"/jobs/", "{job}"}, {"/packages/", "{pkg}"}, {"/stagingpipelines/", "{pipeline}"}, {"/tasks/", "{task}"}}
)

// apceraRecipe reads a recipe's request (testdata/apcera/recipes): its
// method's index in apceraMethods, its path under /apcera/v1 with its
// UUIDs as placeholders, and its body.
func apceraRecipe(raw []byte) (uint8, string, []byte, bool) {
	head, body, _ := bytes.Cut(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n\n"))
	method, rest, ok := strings.Cut(string(bytes.SplitN(head, []byte("\n"), 2)[0]), " ")
	path, _, _ := strings.Cut(rest, " ")
	i := slices.Index(apceraMethods, method)
	if !ok || i < 0 || !strings.HasPrefix(path, "/") {
		return 0, "", nil, false
	}
	path = strings.TrimPrefix(path, "/v1")
	for _, p := range apceraPlaceholders {
		if strings.HasPrefix(path, p.prefix) {
			path = apceraUUID.ReplaceAllLiteralString(path, p.name)
			break
		}
	}
	if method == http.MethodPut {
		// An update of the zone's own job or package, at its version.
		body = apceraVersionID.ReplaceAll(body, []byte(`"version_id":{version}`))
		body = bytes.ReplaceAll(body, []byte("job::/sandbox/demouser::sampleapp1"), []byte("{job_fqn}"))
		body = bytes.ReplaceAll(body, []byte("package::/sandbox/demouser::sampleapp1"), []byte("{pkg_fqn}"))
	}
	return uint8(i), path, bytes.TrimSpace(body), true
}

// apceraObjects are the objects FuzzApcera's requests name: a job using a
// ready package, a package still waiting for its upload (of
// apceraUpload), a staging pipeline and a Docker job's task.
type apceraObjects struct {
	job, pkg, pkg2, pipeline, task string
	n                              int // set-ups so far, for fresh FQNs
}

// apceraUpload is what the uploading package declares.
var apceraUpload = []byte("#!/bin/sh\necho fuzz\n")

// apceraState reads a stored Apcera object's state and version_id ("",
// -1 when it is gone).
func apceraState(v *fsm.View, kind, id string) (string, int64) {
	r := v.Get(kind, id)
	if r == nil {
		return "", -1
	}
	var o struct {
		State     string `json:"state"`
		VersionID int64  `json:"version_id"`
	}
	_ = json.Unmarshal(r.Body, &o)
	return o.State, o.VersionID
}

// ensure makes the objects a request may name that the ones before it
// deleted, or moved on: the job and the ready package, and a package
// waiting for its upload.
func (o *apceraObjects) ensure(t *testing.T, z *fuzzZone) {
	t.Helper()
	v := z.n.View()
	if _, jv := apceraState(v, apcera.KindJob, o.job); jv < 0 || v.Get(apcera.KindPackage, o.pkg) == nil {
		o.n++
		o.setUp(t, z, o.n)
	} else if st, _ := apceraState(v, apcera.KindPackage, o.pkg2); st != "uploading" {
		o.n++
		o.pkg2 = o.newPackage(t, z, "q", apceraUpload, o.n)
	}
}

// placeholders replaces {job}, {pkg}, {pkg2}, {pipeline} and {task} by
// the objects' UUIDs, {job_fqn} and {pkg_fqn} by the job's and the ready
// package's FQNs, and {version} by the version_id of the job (or, in a
// package's path, of the ready package).
func (o *apceraObjects) placeholders(v *fsm.View, path string) *strings.Replacer {
	_, version := apceraState(v, apcera.KindJob, o.job)
	if strings.HasPrefix(path, "/packages/") {
		_, version = apceraState(v, apcera.KindPackage, o.pkg)
	}
	fqn := func(kind, id string) string {
		var b struct{ FQN string }
		if r := v.Get(kind, id); r != nil {
			_ = json.Unmarshal(r.Body, &b)
		}
		return b.FQN
	}
	return strings.NewReplacer("{job}", o.job, "{pkg}", o.pkg, "{pkg2}", o.pkg2, "{pipeline}", o.pipeline, "{task}", o.task,
		"{version}", strconv.FormatInt(version, 10), "{job_fqn}", fqn(apcera.KindJob, o.job), "{pkg_fqn}", fqn(apcera.KindPackage, o.pkg))
}

func (o *apceraObjects) post(t *testing.T, z *fuzzZone, path string, body []byte) map[string]any {
	t.Helper()
	w := z.do(http.MethodPost, apcera.Prefix+path, body, http.Header{"Content-Type": {"application/json"}})
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK {
		t.Fatalf("set-up POST %s: %d %s", path, w.Code, w.Body)
	}
	return out
}

// newPackage creates a package declaring blob, and returns its UUID.
func (o *apceraObjects) newPackage(t *testing.T, z *fuzzZone, name string, blob []byte, n int) string {
	t.Helper()
	sum := sha1.Sum(blob)
	p := o.post(t, z, "/packages", fmt.Appendf(nil, `{"fqn":"package::/fuzz/u::%s%d","resource":{"length":%d,"sha1":"%s"}}`, name, n, len(blob), hex.EncodeToString(sum[:])))
	id, _ := p["uuid"].(string)
	if id == "" {
		t.Fatalf("set-up: package %v", p)
	}
	return id
}

// setUp makes the objects, with FQNs of their own (n-th set up).
func (o *apceraObjects) setUp(t *testing.T, z *fuzzZone, n int) {
	t.Helper()
	post := func(path string, body []byte) map[string]any { return o.post(t, z, path, body) }
	blob := []byte("#!/bin/sh\necho hi\n")
	o.pkg, o.pkg2 = o.newPackage(t, z, "p", blob, n), o.newPackage(t, z, "q", apceraUpload, n)
	if w := z.do(http.MethodPut, apcera.Prefix+"/packages/resources/"+o.pkg, blob, nil); w.Code != http.StatusOK {
		t.Fatalf("set-up upload: %d %s", w.Code, w.Body)
	}
	job := post("/jobs", fmt.Appendf(nil, `{"fqn":"job::/fuzz/u::a%d","packages":[{"uuid":%q}],"processes":{"app":{"start_command":"./run"}},"ports":[{"number":8080,"routes":[{"type":"http","endpoint":"a%d.fuzz.test","weight":0}]}]}`, n, o.pkg, n))
	o.job, _ = job["uuid"].(string)
	pl := post("/stagingpipelines", fmt.Appendf(nil, `{"fqn":"stagpipe::/fuzz::p%d","stagers":[]}`, n))
	o.pipeline, _ = pl["uuid"].(string)
	w := z.do(http.MethodPost, apcera.Prefix+"/jobs/docker", fmt.Appendf(nil, `{"job_fqn":"job::/fuzz/u::d%d","image_url":"https://registry-1.docker.io/library/nginx:latest","exposed_ports":[80]}`, n), nil)
	var task struct{ Location string }
	if json.Unmarshal(w.Body.Bytes(), &task) == nil && task.Location != "" {
		o.task = task.Location[strings.LastIndexByte(task.Location, '/')+1:]
	}
	if o.job == "" || o.pkg == "" || o.pkg2 == "" || o.pipeline == "" || o.task == "" {
		t.Fatalf("set-up: %+v (docker job %d %s)", o, w.Code, w.Body)
	}
}

// FuzzApcera: the Apcera API's requests (jobs, Docker jobs, packages and
// their uploads, bindings, staging pipelines, policy documents,
// manifests, tasks, login), any method, path and body, against a zone
// holding a job, a ready package, one waiting for its upload, a pipeline
// and a task. {job}, {pkg}, {pkg2}, {pipeline} and {task} in a path stand
// for those objects' UUIDs, {job_fqn} and {pkg_fqn} for the job's and
// the package's FQNs, {version} for the job's (or the package's)
// version_id. Seeds: the recipes' requests.
func FuzzApcera(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("..", "testdata", "apcera", "recipes", "*.request"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if m, path, body, ok := apceraRecipe(b); ok {
			f.Add(m, path, body)
		}
	}
	if len(names) == 0 {
		f.Fatal("no recipes in ../testdata/apcera/recipes")
	}
	f.Add(uint8(1), "/login", []byte(`{"username":"admin","password":"pw"}`))
	f.Add(uint8(1), "/login", []byte(`{"username":1}`))
	f.Add(uint8(2), "/packages/resources/{pkg2}", apceraUpload)
	f.Add(uint8(2), "/packages/{pkg2}/resources/x", apceraUpload[:5])
	f.Add(uint8(1), "/bindings", []byte(`{"fqn":"binding::/fuzz/u::l","job_fqn":"job::/fuzz/u::a0","target_job_uuid":"{job}","target_job_port":8080}`))
	f.Add(uint8(1), "/stagingpipelines", []byte(`{"fqn":"stagpipe::/fuzz::x","stagers":[{"name":"s"}],}`))
	f.Add(uint8(1), "/manifests", []byte(`{"jobs":{"job::/fuzz/u::m":{"docker":{"image":"nginx"},"exposed_ports":[80],"instances":2}}}`))
	f.Add(uint8(1), "/manifests", []byte(`{"jobs":{}}`))
	f.Add(uint8(0), "/tasks/{task}", []byte(nil))
	f.Add(uint8(0), "/jobs/{job}/logs?lines=0", []byte(nil))
	f.Add(uint8(2), "/jobs/{job}", []byte(`{"version_id":1,"state":"started","num_instances":-3,"ports":[{"number":1e99}]}`))
	f.Add(uint8(2), "/policy", []byte(`{"docs":[{"name":"p","text":"x","for_version":-1},{"name":"p","text":"y"}]}`))
	f.Add(uint8(3), "/packages/{pkg}", []byte(nil))
	f.Add(uint8(4), "/jobs/{job}", []byte(`{}`))
	z := newFuzzZone(f)
	var objs apceraObjects
	f.Fuzz(func(t *testing.T, method uint8, path string, body []byte) {
		objs.ensure(t, z)
		ph := objs.placeholders(z.n.View(), path)
		path, body = ph.Replace(path), []byte(ph.Replace(string(body)))
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		z.check(t, apceraMethods[int(method)%len(apceraMethods)], apcera.Prefix+path, body, http.Header{"Content-Type": {"application/json"}})
	})
}
