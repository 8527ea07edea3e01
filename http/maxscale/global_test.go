package maxscale_test

import (
	"slices"
	"testing"
)

func (f *fixture) globalParam(name string) any {
	f.t.Helper()
	return decode(f.t, f.must("GET", "/v1/maxscale", nil, 200).body).(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["parameters"].(map[string]any)[name]
}

// Test_MaxScale_RuntimeParameters_PatchedThroughRaft: PATCH /v1/maxscale
// changes the parameters MaxScale changes at run time (stored zone-wide,
// normalised as MaxScale shows them); static ones keep their value
// (refused with MaxScale's message), unknown ones are refused, null
// returns one to its default.
func Test_MaxScale_RuntimeParameters_PatchedThroughRaft(t *testing.T) {
	f := mustServe(t)
	if got := f.globalParam("auth_connect_timeout"); got != "10000ms" {
		t.Fatalf("default auth_connect_timeout %v", got)
	}
	f.must("PATCH", "/v1/maxscale", []byte(`{"data":{"attributes":{"parameters":{"auth_connect_timeout":"5s","auth_read_timeout":3,"log_throttling":{"count":5,"window":"2s","suppress":"1m"},"passive":true}}}}`), 204)
	for k, want := range map[string]string{"auth_connect_timeout": `"5000ms"`, "auth_read_timeout": `"3000ms"`,
		"log_throttling": `{"count":5,"suppress":60000,"window":2000}`, "passive": `true`} {
		if got := str(f.globalParam(k)); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	// The same through the main listener's mount: one zone-wide value.
	r := f.doURL(f.main, "GET", "/maxscale/v1/maxscale", nil, "admin", "mariadb")
	if v := decode(t, r.body).(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["parameters"].(map[string]any)["auth_connect_timeout"]; v != "5000ms" {
		t.Errorf("on the main listener: %v", v)
	}
	mustErrors(t, f.must("PATCH", "/v1/maxscale", []byte(`{"data":{"attributes":{"parameters":{"threads":8}}}}`), 403), "maxscale: Parameter 'threads' cannot be modified at runtime")
	f.must("PATCH", "/v1/maxscale", []byte(`{"data":{"attributes":{"parameters":{"threads":1}}}}`), 204) // its own value: no change
	mustErrors(t, f.must("PATCH", "/v1/maxscale", []byte(`{"data":{"attributes":{"parameters":{"nosuch":1}}}}`), 403), "Unknown global parameter 'nosuch'.")
	mustErrors(t, f.must("PATCH", "/v1/maxscale", []byte(`{"data":{"attributes":{"parameters":{"auth_connect_timeout":"soon"}}}}`), 403), "auth_connect_timeout")
	f.must("PATCH", "/v1/maxscale", []byte(`{"data":{"attributes":{"parameters":{"auth_connect_timeout":null}}}}`), 204)
	if got := f.globalParam("auth_connect_timeout"); got != "10000ms" {
		t.Errorf("null: %v, want the default back", got)
	}
	// /v1/maxscale/logs: the logging subset, changed as maxctrl's
	// `enable log-priority info` does.
	f.must("PATCH", "/v1/maxscale/logs", []byte(`{"data":{"attributes":{"parameters":{"log_info":true}}}}`), 204)
	logs := decode(t, f.must("GET", "/v1/maxscale/logs", nil, 200).body).(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)
	if logs["parameters"].(map[string]any)["log_info"] != true || !slices.Contains(logs["log_priorities"].([]any), any("info")) {
		t.Errorf("logs %v", logs)
	}
}

// Test_MaxScale_ModulesThreadsLogsSessionsReload: the modules Cairn knows
// with their parameters (the source of the validation), one honestly
// labelled thread, the node's log lines, no sessions, and reload.
func Test_MaxScale_ModulesThreadsLogsSessionsReload(t *testing.T) {
	f := mustServe(t)
	mods := ids(t, f.must("GET", "/v1/maxscale/modules", nil, 200).body)
	for _, m := range []string{"maxscale", "servers", "readwritesplit", "readconnroute", "mariadbmon", "galeramon", "qlafilter", "mariadbclient"} {
		if !slices.Contains(mods, m) {
			t.Errorf("modules lack %s: %v", m, mods)
		}
	}
	rw := decode(t, f.must("GET", "/v1/maxscale/modules/readwritesplit", nil, 200).body).(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)
	if rw["module_type"] != "Router" {
		t.Errorf("readwritesplit: %v", rw["module_type"])
	}
	found := false
	for _, p := range rw["parameters"].([]any) {
		p := p.(map[string]any)
		if p["name"] == "causal_reads_timeout" && p["type"] == "duration" && p["default_value"] == "10000ms" {
			found = true
		}
	}
	if !found {
		t.Errorf("readwritesplit's causal_reads_timeout is not described: %v", rw["parameters"])
	}
	f.must("GET", "/v1/maxscale/modules/mysqlmon", nil, 200) // an alias
	f.must("GET", "/v1/maxscale/modules/nosuch", nil, 404)

	th := decode(t, f.must("GET", "/v1/maxscale/threads", nil, 200).body).(map[string]any)["data"].([]any)
	if len(th) != 1 || th[0].(map[string]any)["attributes"].(map[string]any)["stats"] == nil {
		t.Errorf("threads %v", th)
	}
	f.must("GET", "/v1/maxscale/threads/0", nil, 200)
	f.must("GET", "/v1/maxscale/threads/1", nil, 404)

	d := decode(t, f.must("GET", "/v1/maxscale/logs/data?page[size]=5", nil, 200).body).(map[string]any)["data"].(map[string]any)
	if _, ok := d["attributes"].(map[string]any)["log"].([]any); !ok || d["type"] != "log_data" {
		t.Errorf("log data %v", d)
	}
	f.must("GET", "/v1/maxscale/logs/data?page[size]=0", nil, 403)
	f.must("POST", "/v1/maxscale/logs/flush", nil, 204)

	if got := ids(t, f.must("GET", "/v1/sessions", nil, 200).body); len(got) != 0 {
		t.Errorf("sessions %v", got)
	}
	f.must("GET", "/v1/sessions/1", nil, 404)
	f.mustService("S1", "readconnroute")
	f.must("POST", "/v1/services/S1/reload", nil, 204)
	f.must("POST", "/v1/services/nope/reload", nil, 404)
}
