package maxscale_test

import (
	"strings"
	"testing"
)

// Test_Secrets_ReadBackMasked: a service's and a monitor's password and a
// server's monitorpw read back as "*****" on every GET, collections
// included, and as null while unset; the value itself is never served.
func Test_Secrets_ReadBackMasked(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S1","attributes":{"router":"readconnroute","parameters":{"user":"u","password":"s3cret-svc"}}}}`), 204)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M1","attributes":{"module":"mariadbmon","parameters":{"user":"u","password":"s3cret-mon","replication_user":"r","replication_password":"s3cret-repl"}}}}`), 204)
	f.must("PUT", "/v1/monitors/M1/stop", nil, 204)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"srv1","attributes":{"parameters":{"address":"127.0.0.1","port":3306}}}}`), 204)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"srv2","attributes":{"parameters":{"address":"127.0.0.1","port":3307,"monitoruser":"mu","monitorpw":"s3cret-srv"}}}}`), 204)

	param := func(path, name string) (any, bool) {
		t.Helper()
		doc := decode(t, f.must("GET", path, nil, 200).body).(map[string]any)
		p := doc["data"].(map[string]any)["attributes"].(map[string]any)["parameters"].(map[string]any)
		v, ok := p[name]
		return v, ok
	}
	for _, c := range []struct {
		path, name string
		want       any
	}{
		{"/v1/services/S1", "password", "*****"},
		{"/v1/monitors/M1", "password", "*****"},
		{"/v1/monitors/M1", "replication_password", "*****"},
		{"/v1/servers/srv2", "monitorpw", "*****"},
		{"/v1/servers/srv1", "monitorpw", nil},
	} {
		if v, ok := param(c.path, c.name); !ok || v != c.want {
			t.Errorf("GET %s: parameters.%s = %v (present %v), want %v", c.path, c.name, v, ok, c.want)
		}
	}
	for _, p := range []string{"/v1/services", "/v1/monitors", "/v1/servers", "/v1/services/S1", "/v1/monitors/M1", "/v1/servers/srv2",
		"/v1/servers/srv2/relationships/services"} {
		r := f.do("GET", p, nil)
		if strings.Contains(string(r.body), "s3cret") {
			t.Errorf("GET %s serves a password: %s", p, r.body)
		}
	}
	// Unset again: null.
	f.must("PATCH", "/v1/servers/srv2", []byte(`{"data":{"attributes":{"parameters":{"monitoruser":null,"monitorpw":null}}}}`), 204)
	if v, ok := param("/v1/servers/srv2", "monitorpw"); !ok || v != nil {
		t.Errorf("monitorpw unset reads %v (present %v), want null", v, ok)
	}
}
