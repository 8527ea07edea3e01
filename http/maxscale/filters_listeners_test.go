package maxscale_test

import (
	"slices"
	"testing"
)

func (f *fixture) mustService(name, router string) {
	f.t.Helper()
	f.must("POST", "/v1/services", []byte(`{"data":{"id":"`+name+`","attributes":{"router":"`+router+`","parameters":{`+svcParams+`}}}}`), 204)
}

func relIDs(t *testing.T, doc []byte, rel string) []string {
	t.Helper()
	d := decode(t, doc).(map[string]any)["data"].(map[string]any)
	r, ok := d["relationships"].(map[string]any)[rel].(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for _, m := range r["data"].([]any) {
		out = append(out, m.(map[string]any)["id"].(string))
	}
	return out
}

// Test_Filters_ChainOrderedAndRelatedBothWays: a service's filters are an
// ordered chain, replaced as sent; each filter lists the services that use
// it; a filter in use is destroyed only with force, which takes it out of
// every chain.
func Test_Filters_ChainOrderedAndRelatedBothWays(t *testing.T) {
	f := mustServe(t)
	f.mustService("S1", "readwritesplit")
	f.mustService("S2", "readconnroute")
	f.must("POST", "/v1/filters", []byte(`{"data":{"id":"QLA","type":"filters","attributes":{"module":"qlafilter","parameters":{"filebase":"/tmp/qla"}}}}`), 204)
	f.must("POST", "/v1/filters", []byte(`{"data":{"id":"Hint","type":"filters","attributes":{"module":"hintfilter"}}}`), 204)
	f.must("PATCH", "/v1/services/S1/relationships/filters", []byte(`{"data":[{"id":"QLA","type":"filters"},{"id":"Hint","type":"filters"}]}`), 204)
	if got := relIDs(t, f.must("GET", "/v1/services/S1", nil, 200).body, "filters"); !slices.Equal(got, []string{"QLA", "Hint"}) {
		t.Fatalf("S1's filters: %v", got)
	}
	// Reordering is a change.
	f.must("PATCH", "/v1/services/S1", []byte(`{"data":{"relationships":{"filters":{"data":[{"id":"Hint","type":"filters"},{"id":"QLA","type":"filters"}]}}}}`), 204)
	if got := relIDs(t, f.must("GET", "/v1/services/S1", nil, 200).body, "filters"); !slices.Equal(got, []string{"Hint", "QLA"}) {
		t.Fatalf("S1's filters after reordering: %v", got)
	}
	f.must("PATCH", "/v1/services/S2/relationships/filters", []byte(`{"data":[{"id":"QLA","type":"filters"}]}`), 204)
	if got := relIDs(t, f.must("GET", "/v1/filters/QLA", nil, 200).body, "services"); !slices.Equal(got, []string{"S1", "S2"}) {
		t.Fatalf("QLA's services: %v", got)
	}
	f.must("PATCH", "/v1/services/S1/relationships/filters", []byte(`{"data":[{"id":"nope","type":"filters"}]}`), 403)
	f.must("PATCH", "/v1/filters/QLA/relationships/services", []byte(`{"data":[]}`), 403)
	// Parameters are the module's; the module stays.
	f.must("PATCH", "/v1/filters/QLA", []byte(`{"data":{"attributes":{"parameters":{"match":"select","flush":"true"}}}}`), 204)
	f.must("PATCH", "/v1/filters/QLA", []byte(`{"data":{"attributes":{"parameters":{"nope":1}}}}`), 403)
	f.must("PATCH", "/v1/filters/QLA", []byte(`{"data":{"attributes":{"module":"tee"}}}`), 403)
	mustErrors(t, f.must("DELETE", "/v1/filters/QLA", nil, 403), "Filter 'QLA' cannot be destroyed: Remove it from all services first")
	f.must("DELETE", "/v1/filters/QLA?force=yes", nil, 204)
	if got := relIDs(t, f.must("GET", "/v1/services/S1", nil, 200).body, "filters"); !slices.Equal(got, []string{"Hint"}) {
		t.Fatalf("S1's filters after QLA was destroyed: %v", got)
	}
	if got := relIDs(t, f.must("GET", "/v1/services/S2", nil, 200).body, "filters"); len(got) != 0 {
		t.Fatalf("S2's filters after QLA was destroyed: %v", got)
	}
	// A service with filters is destroyed only with force.
	f.must("DELETE", "/v1/services/S1", nil, 403)
	f.must("DELETE", "/v1/services/S1?force=yes", nil, 204)
	f.must("DELETE", "/v1/filters/Hint", nil, 204)
}

// Test_Listeners_RulesAndRelationships: a listener belongs to one existing
// service; no two listen on one socket, or on one port of one address (an
// address of every interface clashes with any); its state says nothing
// listens; it is created under its service too, listed there, destroyed
// with it by force.
func Test_Listeners_RulesAndRelationships(t *testing.T) {
	f := mustServe(t)
	f.mustService("S1", "readwritesplit")
	f.mustService("S2", "readconnroute")
	post := func(body string, want int) reply {
		t.Helper()
		return f.must("POST", "/v1/listeners", []byte(body), want)
	}
	post(`{"data":{"id":"L1","type":"listeners","attributes":{"parameters":{"port":4006,"address":"::","protocol":"mariadbclient"}},"relationships":{"services":{"data":[{"id":"S1","type":"services"}]}}}}`, 204)
	mustErrors(t, post(`{"data":{"id":"L2","attributes":{"parameters":{"port":4006,"address":"127.0.0.1"}},"relationships":{"services":{"data":[{"id":"S2","type":"services"}]}}}}`, 403), "Listener 'L1' already listens at [127.0.0.1]:4006")
	mustErrors(t, post(`{"data":{"id":"L2","attributes":{"parameters":{"port":4007}},"relationships":{"services":{"data":[{"id":"nope","type":"services"}]}}}}`, 403), "'nope' is not a valid service in MaxScale")
	mustErrors(t, post(`{"data":{"id":"L2","attributes":{"parameters":{"port":4007}}}}`, 403), "needs exactly one service")
	mustErrors(t, post(`{"data":{"id":"L2","attributes":{"parameters":{"address":"127.0.0.1"}},"relationships":{"services":{"data":[{"id":"S2"}]}}}}`, 403), "missing the port or socket parameter")
	mustErrors(t, post(`{"data":{"id":"L2","attributes":{"parameters":{"port":4007,"socket":"/tmp/x.sock"}},"relationships":{"services":{"data":[{"id":"S2"}]}}}}`, 403), "both 'socket' and 'port'")
	mustErrors(t, post(`{"data":{"id":"L2","attributes":{"parameters":{"port":4007,"weight":1}},"relationships":{"services":{"data":[{"id":"S2"}]}}}}`, 403), "The parameter 'weight' is unrecognized.")
	mustErrors(t, post(`{"data":{"id":"S1","attributes":{"parameters":{"port":4007}},"relationships":{"services":{"data":[{"id":"S2"}]}}}}`, 403), "a service with that name already exists")
	// Under a service: the path names it.
	f.must("POST", "/v1/services/S2/listeners", []byte(`{"data":{"id":"L2","attributes":{"parameters":{"socket":"/tmp/cairn-l2.sock"}}}}`), 204)
	mustErrors(t, f.must("POST", "/v1/services/S1/listeners", []byte(`{"data":{"id":"L3","attributes":{"parameters":{"socket":"/tmp/cairn-l2.sock"}}}}`), 403), "Listener 'L2' already listens on '/tmp/cairn-l2.sock'")
	f.must("POST", "/v1/services/S1/listeners", []byte(`{"data":{"id":"L3","attributes":{"parameters":{"port":4008,"address":"127.0.0.1"}}}}`), 204)
	f.must("POST", "/v1/services/nope/listeners", []byte(`{"data":{"id":"L4","attributes":{"parameters":{"port":4009}}}}`), 404)

	if got := ids(t, f.must("GET", "/v1/listeners", nil, 200).body); !slices.Equal(got, []string{"L1", "L2", "L3"}) {
		t.Fatalf("listeners: %v", got)
	}
	if got := ids(t, f.must("GET", "/v1/services/S1/listeners", nil, 200).body); !slices.Equal(got, []string{"L1", "L3"}) {
		t.Fatalf("S1's listeners: %v", got)
	}
	l1 := f.must("GET", "/v1/listeners/L1", nil, 200).body
	if got := relIDs(t, l1, "services"); !slices.Equal(got, []string{"S1"}) {
		t.Fatalf("L1's services: %v", got)
	}
	want := `{"data":{"id":"L1","type":"listeners","attributes":{"state":"Stopped","parameters":{"port":4006,"address":"::","protocol":"mariadbclient"}}}}`
	if d := contains("", decode(t, []byte(want)), decode(t, l1)); len(d) > 0 {
		t.Fatal(d)
	}
	s1 := f.must("GET", "/v1/services/S1", nil, 200).body
	if got := relIDs(t, s1, "listeners"); !slices.Equal(got, []string{"L1", "L3"}) {
		t.Fatalf("S1's listeners relationship: %v", got)
	}
	if n := len(decode(t, s1).(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)["listeners"].([]any)); n != 2 {
		t.Fatalf("S1's attributes.listeners has %d, want 2", n)
	}
	f.must("GET", "/v1/services/S2/listeners/L1", nil, 404)
	f.must("GET", "/v1/services/S1/listeners/L1", nil, 200)
	// Nothing listens: starting is refused, stopping is no change.
	f.must("PUT", "/v1/listeners/L1/start", nil, 403)
	f.must("PUT", "/v1/listeners/L1/stop", nil, 204)
	// Static parameters stay; TLS ones may change.
	mustErrors(t, f.must("PATCH", "/v1/listeners/L1", []byte(`{"data":{"attributes":{"parameters":{"port":4010}}}}`), 403), "Parameter 'port' cannot be modified at runtime")
	f.must("PATCH", "/v1/listeners/L1", []byte(`{"data":{"attributes":{"parameters":{"ssl_cert_verify_depth":5}}}}`), 204)
	// A listener's service cannot change.
	f.must("PATCH", "/v1/listeners/L1/relationships/services", []byte(`{"data":[{"id":"S2","type":"services"}]}`), 403)

	f.must("DELETE", "/v1/services/S2/listeners/L1", nil, 404)
	f.must("DELETE", "/v1/services/S1/listeners/L1", nil, 204)
	f.must("GET", "/v1/listeners/L1", nil, 404)
	// Its port is free again.
	post(`{"data":{"id":"L1","attributes":{"parameters":{"port":4006}},"relationships":{"services":{"data":[{"id":"S2"}]}}}}`, 204)
	mustErrors(t, f.must("DELETE", "/v1/services/S1", nil, 403), "L3")
	f.must("DELETE", "/v1/services/S1?force=yes", nil, 204)
	if got := ids(t, f.must("GET", "/v1/listeners", nil, 200).body); !slices.Equal(got, []string{"L2", "L1"}) {
		t.Fatalf("listeners after S1 was destroyed with force: %v", got)
	}
}
