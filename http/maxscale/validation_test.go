package maxscale_test

import (
	"fmt"
	"testing"
)

// MaxScale 6.4's validation rules, one test each (config_runtime.cc,
// server.cc, config2.cc at tag maxscale-6.4.15).

const svcParams = `"user":"maxuser","password":"maxpwd"`

func (f *fixture) mustServer(name, addr string, port int) {
	f.t.Helper()
	f.must("POST", "/v1/servers", fmt.Appendf(nil, `{"data":{"id":%q,"attributes":{"parameters":{"address":%q,"port":%d}}}}`, name, addr, port), 204)
}

func Test_Validation_DuplicateMemberInOneRelationship_RefusedOnCreate(t *testing.T) {
	f := mustServe(t)
	f.mustServer("s1", "127.0.0.1", 4001)
	mustErrors(t, f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{`+svcParams+`}},
		"relationships":{"servers":{"data":[{"id":"s1","type":"servers"},{"id":"s1","type":"servers"}]}}}}`), 403), "The 'servers' relationship names 's1' more than once")
	mustErrors(t, f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{`+svcParams+`}},
		"relationships":{"servers":{"data":[{"id":"s1","type":"servers"},{"id":"S1","type":"servers"}]}}}}`), 403), "more than once")
	f.must("GET", "/v1/monitors/M", nil, 404)
	f.must("GET", "/v1/services/S", nil, 404)
	// A PATCH computes set differences (maxctrl's link re-sends members
	// already linked): there a repeat collapses.
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{`+svcParams+`}}}}`), 204)
	f.must("PATCH", "/v1/services/S/relationships/servers", []byte(`{"data":[{"id":"s1","type":"servers"},{"id":"s1","type":"servers"}]}`), 204)
	if got := ids(t, f.must("GET", "/v1/services/S/relationships/servers", nil, 200).body); len(got) != 1 {
		t.Errorf("servers after a PATCH naming s1 twice: %v", got)
	}
}

func Test_Validation_UnknownParameter_RefusedWithItsName(t *testing.T) {
	f := mustServe(t)
	f.mustServer("s1", "127.0.0.1", 4001)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readwritesplit","parameters":{`+svcParams+`}}}}`), 204)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{`+svcParams+`}}}}`), 204)
	for _, c := range []struct{ method, path, body, param string }{
		{"POST", "/v1/servers", `{"data":{"id":"s2","attributes":{"parameters":{"address":"127.0.0.1","port":4002,"weight":3}}}}`, "weight"},
		{"PATCH", "/v1/servers/s1", `{"data":{"attributes":{"parameters":{"weight":3}}}}`, "weight"},
		{"POST", "/v1/services", `{"data":{"id":"S2","attributes":{"router":"readconnroute","parameters":{` + svcParams + `,"weight":3}}}}`, "weight"},
		// a parameter of another router, of another monitor module
		{"PATCH", "/v1/services/S", `{"data":{"attributes":{"parameters":{"router_options":"slave"}}}}`, "router_options"},
		{"POST", "/v1/monitors", `{"data":{"id":"M2","attributes":{"module":"galeramon","parameters":{` + svcParams + `,"auto_failover":true}}}}`, "auto_failover"},
		{"PATCH", "/v1/monitors/M", `{"data":{"attributes":{"parameters":{"weight":3}}}}`, "weight"},
	} {
		mustErrors(t, f.must(c.method, c.path, []byte(c.body), 403), "The parameter '"+c.param+"' is unrecognized.")
	}
	// A module's own parameters are known to it.
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"parameters":{"causal_reads":"local","max_connections":10}}}}`), 204)
	f.must("PATCH", "/v1/monitors/M", []byte(`{"data":{"attributes":{"parameters":{"auto_failover":true}}}}`), 204)
}

func Test_Validation_AddressMustBeIPOrHostname(t *testing.T) {
	f := mustServe(t)
	for _, addr := range []string{"/tmp/mysql.sock", "not a host", "host:3306", "-leading.example"} {
		mustErrors(t, f.must("POST", "/v1/servers", fmt.Appendf(nil, `{"data":{"id":"s1","attributes":{"parameters":{"address":%q,"port":3306}}}}`, addr), 403),
			"The 'address' parameter is not a valid IP or hostname")
	}
	for i, addr := range []string{"127.0.0.1", "::1", "db-1.example.com", "localhost"} {
		f.mustServer(fmt.Sprintf("ok%d", i), addr, 3306)
	}
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"sock","attributes":{"parameters":{"socket":"/tmp/mysql.sock"}}}}`), 204)
	mustErrors(t, f.must("PATCH", "/v1/servers/ok0", []byte(`{"data":{"attributes":{"parameters":{"address":"/var/run/x.sock"}}}}`), 403), "not a valid IP or hostname")
}

func Test_Validation_ServersCannotShareAddressAndPort(t *testing.T) {
	f := mustServe(t)
	f.mustServer("s1", "127.0.0.1", 4001)
	f.mustServer("s2", "127.0.0.1", 4002)
	mustErrors(t, f.must("POST", "/v1/servers", []byte(`{"data":{"id":"s3","attributes":{"parameters":{"address":"127.0.0.1","port":4001}}}}`), 403),
		"Cannot create server 's3' at '[127.0.0.1]:4001', server 's1' exists there already.")
	mustErrors(t, f.must("PATCH", "/v1/servers/s2", []byte(`{"data":{"attributes":{"parameters":{"port":4001}}}}`), 403),
		"Cannot update server 's2' to '[127.0.0.1]:4001', server 's1' exists there already.")
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"k1","attributes":{"parameters":{"socket":"/tmp/a.sock"}}}}`), 204)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"k2","attributes":{"parameters":{"socket":"/tmp/a.sock"}}}}`), 403)
	// The same port on another address, and moving to a free one, are fine.
	f.mustServer("s3", "127.0.0.2", 4001)
	f.must("PATCH", "/v1/servers/s2", []byte(`{"data":{"attributes":{"parameters":{"port":4003}}}}`), 204)
	// Once s1 is gone its address is free.
	f.must("DELETE", "/v1/servers/s1", nil, 204)
	f.must("PATCH", "/v1/servers/s2", []byte(`{"data":{"attributes":{"parameters":{"port":4001}}}}`), 204)
}

func Test_Validation_MonitorRequiresUser(t *testing.T) {
	f := mustServe(t)
	mustErrors(t, f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"password":"p"}}}}`), 403),
		"The mandatory parameter 'user' is not provided.")
	mustErrors(t, f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon"}}}`), 403), "mandatory parameter")
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{"user":"u","password":"p"}}}}`), 204)
	mustErrors(t, f.must("PATCH", "/v1/monitors/M", []byte(`{"data":{"attributes":{"parameters":{"user":null}}}}`), 403), "The mandatory parameter 'user' is not provided.")
}

func Test_Validation_UnknownRouterOrMonitorModule_Refused(t *testing.T) {
	f := mustServe(t)
	mustErrors(t, f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"nosuchrouter","parameters":{`+svcParams+`}}}}`), 403),
		"Could not create service 'S' with module 'nosuchrouter'")
	mustErrors(t, f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"nosuchmon","parameters":{`+svcParams+`}}}}`), 403),
		"Could not create monitor 'M' with module 'nosuchmon'")
	// A monitor module is no router, nor the other way round.
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"mariadbmon","parameters":{`+svcParams+`}}}}`), 403)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"readwritesplit","parameters":{`+svcParams+`}}}}`), 403)
	// Aliases MaxScale loads under another name.
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mysqlmon","parameters":{`+svcParams+`}}}}`), 204)
}

func Test_Validation_EmptyParameterName_Refused(t *testing.T) {
	f := mustServe(t)
	f.mustServer("s1", "127.0.0.1", 4001)
	mustErrors(t, f.must("POST", "/v1/servers", []byte(`{"data":{"id":"s2","attributes":{"parameters":{"address":"127.0.0.1","port":4002,"":1}}}}`), 403), "A parameter name cannot be empty")
	mustErrors(t, f.must("PATCH", "/v1/servers/s1", []byte(`{"data":{"attributes":{"parameters":{"":"x"}}}}`), 403), "A parameter name cannot be empty")
	mustErrors(t, f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readconnroute","parameters":{`+svcParams+`," ":1}}}}`), 403), "A parameter name cannot be empty")
}

func Test_Validation_DurationsNormalised(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"M","attributes":{"module":"mariadbmon","parameters":{`+svcParams+`,"monitor_interval":"123s","backend_connect_timeout":5,"failover_timeout":"2m"}}}}`), 204)
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"S","attributes":{"router":"readwritesplit","parameters":{`+svcParams+`,"connection_keepalive":"1h","max_slave_replication_lag":"30s"}}}}`), 204)
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"parameters":{"causal_reads_timeout":"1500ms"}}}}`), 204)
	for path, want := range map[string]string{
		"/v1/monitors/M": `{"data":{"attributes":{"parameters":{"monitor_interval":"123000ms","backend_connect_timeout":"5000ms","failover_timeout":"120000ms"}}}}`,
		"/v1/services/S": `{"data":{"attributes":{"parameters":{"connection_keepalive":"3600000ms","max_slave_replication_lag":"30000ms","causal_reads_timeout":"1500ms"}}}}`,
	} {
		if d := contains("", decode(t, []byte(want)), decode(t, f.must("GET", path, nil, 200).body)); len(d) > 0 {
			t.Errorf("GET %s: %v", path, d)
		}
	}
	// Counts and booleans are stored as MaxScale shows them.
	f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"parameters":{"max_connections":"10","enable_root_user":"yes"}}}}`), 204)
	if d := contains("", decode(t, []byte(`{"data":{"attributes":{"parameters":{"max_connections":10,"enable_root_user":true}}}}`)), decode(t, f.must("GET", "/v1/services/S", nil, 200).body)); len(d) > 0 {
		t.Error(d)
	}
	mustErrors(t, f.must("PATCH", "/v1/services/S", []byte(`{"data":{"attributes":{"parameters":{"connection_keepalive":"soon"}}}}`), 403), "is not a duration")
}

func Test_Validation_NamesShareOneNamespace(t *testing.T) {
	f := mustServe(t)
	f.mustServer("shared", "127.0.0.1", 4001)
	mustErrors(t, f.must("POST", "/v1/services", []byte(`{"data":{"id":"Shared","attributes":{"router":"readconnroute","parameters":{`+svcParams+`}}}}`), 403),
		"Can't create service 'Shared', a server with that name already exists")
	mustErrors(t, f.must("POST", "/v1/monitors", []byte(`{"data":{"id":"shared","attributes":{"module":"mariadbmon","parameters":{`+svcParams+`}}}}`), 403),
		"a server with that name already exists")
}

func Test_Validation_StaticParameter_RefusedAtRuntime(t *testing.T) {
	f := mustServe(t)
	f.must("POST", "/v1/servers", []byte(`{"data":{"id":"s1","attributes":{"parameters":{"address":"127.0.0.1","port":4001,"protocol":"mariadbbackend"}}}}`), 204)
	mustErrors(t, f.must("PATCH", "/v1/servers/s1", []byte(`{"data":{"attributes":{"parameters":{"protocol":"mysqlbackend"}}}}`), 403),
		"Parameter 'protocol' cannot be modified at runtime")
	// The same value again is no change.
	f.must("PATCH", "/v1/servers/s1", []byte(`{"data":{"attributes":{"parameters":{"protocol":"mariadbbackend"}}}}`), 204)
}
