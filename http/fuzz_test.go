package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"cairn/fsm"
	api "cairn/http"
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
	schema, err := fsm.NewSchema(slices.Concat(node.Kinds(), auth.Kinds(), maxscale.Kinds(), mrf.Kinds(), settings.Kinds(), workload.Kinds(), topology.Kinds(), arm.Kinds())...)
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.MustLeader(t, node.Config{CommitTimeout: time.Millisecond, Logger: discard}, schema)
	authn := auth.NewAuthenticator(n.View)
	ms := maxscale.New(n, maxscale.Options{NodeID: n.ID(), Auth: authn})
	s := api.NewServer(n, api.NewLimits(1<<20, 5*time.Second), discard, api.WithMaxScale(ms.Mounted()),
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
