package maxscale

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// The maxscale resource's parameters (MaxScale 6.4's global
// configuration, server/core/config.cc). Those MaxScale allows to change
// at run time are stored zone-wide (kind maxscale.maxscale, one object):
// a PATCH through any node changes what every node shows. Cairn accepts
// no SQL clients, so the ones that tune client handling (auth_*_timeout,
// writeq_*, rebalance_*, ...) are recorded and served but govern nothing.
// The static ones are what this node is and cannot change.

// KindGlobal is the kind of the stored runtime parameters.
const KindGlobal = "maxscale.maxscale"

// globalID is the id of the one stored object of KindGlobal.
const globalID = "maxscale"

// globalParams are the global parameters, with MaxScale 6.4's defaults.
var globalParams = []param{
	dur("auth_connect_timeout", "10000ms", sec),
	dur("auth_read_timeout", "10000ms", sec),
	dur("auth_write_timeout", "10000ms", sec),
	{Name: "log_throttling", Type: "throttling", Default: map[string]any{"count": 10, "window": 1000, "suppress": 10000}},
	{Name: "passive", Type: ptBool, Default: false},
	{Name: "ms_timestamp", Type: ptBool, Default: false},
	{Name: "skip_permission_checks", Type: ptBool, Default: false},
	{Name: "query_retries", Type: ptCount, Default: 1},
	dur("query_retry_timeout", "5000ms", sec),
	{Name: "retain_last_statements", Type: ptCount, Default: 0},
	{Name: "dump_last_statements", Type: ptEnum, Default: "never", Enum: []string{"never", "on_close", "on_error"}},
	{Name: "session_trace", Type: ptCount, Default: 0},
	{Name: "max_auth_errors_until_block", Type: ptCount, Default: 10},
	dur("rebalance_period", "0ms", sec),
	{Name: "rebalance_threshold", Type: ptCount, Default: 20},
	{Name: "rebalance_window", Type: ptCount, Default: 10},
	{Name: "writeq_high_water", Type: ptSize, Default: 65536},
	{Name: "writeq_low_water", Type: ptSize, Default: 1024},
	dur("users_refresh_time", "30000ms", sec),
	dur("users_refresh_interval", "0ms", sec),
	{Name: "log_warning", Type: ptBool, Default: true},
	{Name: "log_notice", Type: ptBool, Default: true},
	{Name: "log_info", Type: ptBool, Default: false},
	{Name: "log_debug", Type: ptBool, Default: false},
	{Name: "log_warn_super_user", Type: ptBool, Default: false},
	{Name: "admin_log_auth_failures", Type: ptBool, Default: true},
	{Name: "syslog", Type: ptBool, Default: false},
	{Name: "maxlog", Type: ptBool, Default: true},
	// Static: what this node is.
	{Name: "threads", Type: ptCount, Static: true},
	{Name: "admin_auth", Type: ptBool, Static: true},
	{Name: "admin_enabled", Type: ptBool, Static: true},
	{Name: "admin_host", Type: ptString, Static: true},
	{Name: "admin_port", Type: ptCount, Static: true},
	{Name: "admin_secure_gui", Type: ptBool, Static: true},
	{Name: "admin_ssl_key", Type: ptPath, Static: true},
	{Name: "admin_ssl_cert", Type: ptPath, Static: true},
	{Name: "admin_ssl_ca_cert", Type: ptPath, Static: true},
	{Name: "config_sync_cluster", Type: ptString, Static: true},
	{Name: "sql_mode", Type: ptEnum, Enum: []string{"default", "oracle"}, Static: true},
	{Name: "load_persisted_configs", Type: ptBool, Static: true},
	{Name: "persist_runtime_changes", Type: ptBool, Static: true},
	{Name: "local_address", Type: ptString, Static: true},
}

// logParams are the parameters /v1/maxscale/logs shows and changes.
var logParams = []string{"highprecision", "log_debug", "log_info", "log_notice", "log_warning", "log_throttling", "maxlog", "syslog", "ms_timestamp"}

// staticGlobals are the static parameters' values for a request that
// reached this node at host:port.
func (a *API) staticGlobals(r *http.Request) map[string]any {
	host, port := r.Host, 8989
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host = h
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	return map[string]any{
		"threads": 1, "admin_auth": true, "admin_enabled": true, "admin_host": host, "admin_port": port,
		"admin_secure_gui": false, "admin_ssl_key": nil, "admin_ssl_cert": nil, "admin_ssl_ca_cert": nil,
		"config_sync_cluster": nil, "sql_mode": "default", "load_persisted_configs": false,
		"persist_runtime_changes": false, "local_address": nil,
	}
}

// globals returns every global parameter: the stored runtime values over
// MaxScale's defaults, and the static ones; with the stored object (nil
// while none is stored).
func (a *API) globals(t *txn, r *http.Request) (map[string]any, *object, error) {
	out := a.staticGlobals(r)
	for _, p := range globalParams {
		if !p.Static {
			out[p.Name] = p.Default
		}
	}
	out["highprecision"] = false
	g, err := t.get(KindGlobal, globalID)
	if err != nil {
		return nil, nil, err
	}
	if g != nil {
		for k, v := range g.Parameters {
			out[k] = v
		}
	}
	return out, g, nil
}

// normaliseThrottling reads log_throttling as MaxScale 6.4 takes it: an
// object {count, window, suppress} or the string "count, window,
// suppress" (durations with units; bare numbers are milliseconds).
func normaliseThrottling(v any) (any, error) {
	var count, window, suppress any
	switch x := v.(type) {
	case map[string]any:
		count, window, suppress = x["count"], x["window"], x["suppress"]
	case string:
		parts := strings.Split(x, ",")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%q is not 'count, window, suppress'", x)
		}
		count, window, suppress = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), strings.TrimSpace(parts[2])
	default:
		return nil, fmt.Errorf("%s is not an object {count, window, suppress}", str(v))
	}
	c, ok := integer(count)
	w, ok2 := duration(window, ms)
	s, ok3 := duration(suppress, ms)
	if !ok || !ok2 || !ok3 || c < 0 || w < 0 || s < 0 {
		return nil, fmt.Errorf("%s is not an object {count, window, suppress} of non-negative values", str(v))
	}
	return map[string]any{"count": json.Number(strconv.FormatInt(c, 10)), "window": json.Number(strconv.FormatInt(w.Milliseconds(), 10)),
		"suppress": json.Number(strconv.FormatInt(s.Milliseconds(), 10))}, nil
}

// patchGlobals serves PATCH /v1/maxscale and /v1/maxscale/logs: the
// runtime parameters change zone-wide, in one Raft command; a static one
// given another value than it has is refused with MaxScale's message; an
// unknown one, too.
func (a *API) patchGlobals(w http.ResponseWriter, r *http.Request) {
	doc, err := readDoc(r)
	if err != nil {
		fail(w, err)
		return
	}
	var changed map[string]any
	if doc.Data.Attributes != nil {
		changed = doc.Data.Attributes.Parameters
	}
	a.write(w, r, func(t *txn) error {
		cur, g, err := a.globals(t, r)
		if err != nil {
			return err
		}
		if g == nil {
			g = &object{kind: KindGlobal, id: globalID, Name: globalID, Parameters: map[string]any{}}
			t.create(g)
		}
		if r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != "" {
			doc, mod, err := a.maxscaleDoc(t, r)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(doc)
			if err := checkPreconditions(r, etagOf(b), mod); err != nil {
				return err
			}
		}
		keys := make([]string, 0, len(changed))
		for k := range changed {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := changed[k]
			if strings.TrimSpace(k) == "" {
				return refuse("maxscale: A parameter name cannot be empty")
			}
			p, ok := lookupParam(k, globalParams)
			if k == "highprecision" {
				p, ok = param{Name: k, Type: ptBool}, true
			}
			if !ok {
				return refuse(fmt.Sprintf("Unknown global parameter '%s'.", k))
			}
			if p.Static {
				if str(v) != str(cur[k]) {
					return refuse(fmt.Sprintf("maxscale: Parameter '%s' cannot be modified at runtime", k))
				}
				continue
			}
			if v == nil {
				delete(g.Parameters, k) // back to the default
				continue
			}
			var nv any
			if p.Type == "throttling" {
				nv, err = normaliseThrottling(v)
			} else {
				nv, err = normalise(p, v)
			}
			if err != nil {
				return refuse(fmt.Sprintf("maxscale: Invalid value for parameter '%s': %s", k, err))
			}
			g.Parameters[k] = nv
		}
		t.touch(g)
		return nil
	})
}

// logsDoc serves GET /v1/maxscale/logs: the logging parameters.
func (a *API) logs(w http.ResponseWriter, r *http.Request) {
	t := newTxn(a.node.View())
	all, g, err := a.globals(t, r)
	if err != nil {
		fail(w, err)
		return
	}
	params := map[string]any{}
	for _, k := range logParams {
		params[k] = all[k]
	}
	base := baseURL(r)
	mod := a.started
	if g != nil {
		mod = g.updated
	}
	writeDoc(w, r, document{Links: links{Self: base + "/maxscale/logs/"}, Data: map[string]any{
		"id": "logs", "type": "logs",
		"attributes": map[string]any{
			"parameters":     params,
			"log_file":       nil,
			"log_priorities": logPriorities(all),
		},
		"links": links{Self: base + "/maxscale/logs/"},
	}}, mod)
}

func logPriorities(all map[string]any) []string {
	out := []string{"alert", "error"}
	for _, p := range []string{"warning", "notice", "info", "debug"} {
		if b, _ := all["log_"+p].(bool); b {
			out = append(out, p)
		}
	}
	return out
}

// logData serves GET /v1/maxscale/logs/data: this node's recent log lines
// (Cairn's own log, newest last), page[size] of them (default 50).
func (a *API) logData(w http.ResponseWriter, r *http.Request) {
	rows := 50
	if s := r.URL.Query().Get("page[size]"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fail(w, refuse("Invalid value for 'page[size]': "+s))
			return
		}
		rows = n
	}
	var lines []LogLine
	if a.opts.Logs != nil {
		lines = a.opts.Logs.Last(rows)
	}
	log := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		log = append(log, map[string]any{
			"id": strconv.FormatUint(l.Seq, 10), "timestamp": l.Time.UTC().Format("2006-01-02 15:04:05"),
			"priority": l.Priority, "message": l.Message,
		})
	}
	base := baseURL(r)
	// Shaped here: pagination of the log is by rows, not by shape.
	q := r.URL.Query()
	q.Del("page[size]")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	writeDoc(w, r2, document{Links: links{Self: base + "/maxscale/logs/data/"}, Data: map[string]any{
		"id": "log_data", "type": "log_data",
		"attributes": map[string]any{"log_source": "cairn", "log": log},
	}}, time.Time{})
}

// flushLogs serves POST /v1/maxscale/logs/flush: MaxScale rotates its log
// file; Cairn logs to its standard error, which has nothing to rotate.
func (a *API) flushLogs(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }

// moduleDoc is the resource object of module m.
func moduleDoc(base string, m module) map[string]any {
	params := make([]map[string]any, 0, len(m.Params))
	for _, p := range m.Params {
		name := p.Name
		if p.Pattern {
			name += "NN"
		}
		pd := map[string]any{"name": name, "type": p.Type, "mandatory": p.Mandatory, "modifiable": !p.Static}
		if p.Default != nil {
			pd["default_value"] = p.Default
		}
		if len(p.Enum) > 0 {
			pd["enum_values"] = p.Enum
		}
		params = append(params, pd)
	}
	return map[string]any{
		"id": m.Name, "type": "module",
		"attributes": map[string]any{
			"module_type": m.Type, "version": "V" + Version, "description": m.Description,
			"api": strings.ToLower(m.Type), "maturity": "GA", "commands": []any{}, "parameters": params,
		},
		"links": links{Self: base + "/maxscale/modules/" + m.Name + "/"},
	}
}

// allModules are the modules /v1/maxscale/modules lists: the routers,
// monitors, filters and protocols Cairn knows, and the core parameter
// sets of the maxscale resource, servers, services, monitors and
// listeners, as MaxScale 6.4 lists them.
func allModules() []module {
	core := []module{
		{Name: "maxscale", Type: "Core", Description: "The global MaxScale configuration (Cairn: this node and the zone's runtime parameters)", Params: globalParams},
		{Name: "servers", Type: "Server", Description: "Server parameters", Params: serverParams},
		{Name: "services", Type: "Service", Description: "Service parameters (the router's own come on top)", Params: serviceParams},
		{Name: "monitors", Type: "Monitor", Description: "Monitor parameters (the module's own come on top)", Params: monitorParams},
		{Name: "listeners", Type: "Listener", Description: "Listener parameters", Params: listenerParams},
	}
	return append(core, modules...)
}

// listModules serves GET /v1/maxscale/modules.
func (a *API) listModules(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	data := []any{}
	for _, m := range allModules() {
		data = append(data, moduleDoc(base, m))
	}
	writeDoc(w, r, document{Links: links{Self: base + "/maxscale/modules/"}, Data: data}, a.started)
}

// getModule serves GET /v1/maxscale/modules/:module.
func (a *API) getModule(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(mux.Vars(r)["module"])
	base := baseURL(r)
	for _, m := range allModules() {
		if m.Name == name || (len(m.Aliases) > 0 && findModule(m.Type, name) != nil && findModule(m.Type, name).Name == m.Name) {
			writeDoc(w, r, document{Links: links{Self: base + "/maxscale/modules/" + m.Name + "/"}, Data: moduleDoc(base, m)}, a.started)
			return
		}
	}
	fail(w, errNotFound)
}

// threadDoc is Cairn's one "thread": MaxScale's routing workers route SQL
// sessions, which Cairn has none of, so every count is zero and the
// object says what it stands for.
func threadDoc(base string) map[string]any {
	return map[string]any{
		"id": "0", "type": "threads",
		"attributes": map[string]any{
			"stats": map[string]any{
				"reads": 0, "writes": 0, "errors": 0, "hangups": 0, "accepts": 0,
				"avg_event_queue_length": 0, "max_event_queue_length": 0, "max_exec_time": 0, "max_queue_time": 0,
				"current_descriptors": 0, "total_descriptors": 0,
				"load":     map[string]any{"last_second": 0, "last_minute": 0, "last_hour": 0},
				"sessions": 0, "zombies": 0,
			},
			"cairn": "Cairn routes no SQL and has no routing workers: this one thread stands for the node, every count is 0",
		},
		"links": links{Self: base + "/maxscale/threads/0/"},
	}
}

// threads serves GET /v1/maxscale/threads.
func (a *API) threads(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	writeDoc(w, r, document{Links: links{Self: base + "/maxscale/threads/"}, Data: []any{threadDoc(base)}}, a.started)
}

// thread serves GET /v1/maxscale/threads/:id: only "0".
func (a *API) thread(w http.ResponseWriter, r *http.Request) {
	if mux.Vars(r)["id"] != "0" {
		fail(w, errNotFound)
		return
	}
	base := baseURL(r)
	writeDoc(w, r, document{Links: links{Self: base + "/maxscale/threads/0/"}, Data: threadDoc(base)}, a.started)
}

// sessions serves GET /v1/sessions: Cairn accepts no SQL clients, so
// there is never a session.
func (a *API) sessions(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, r, document{Links: links{Self: baseURL(r) + "/sessions/"}, Data: []any{}}, a.started)
}

// noSession serves the routes of one session: there is none, so 404.
func (a *API) noSession(w http.ResponseWriter, r *http.Request) { fail(w, errNotFound) }

// reloadService serves POST /v1/services/:name/reload: MaxScale reloads
// the service's database users; Cairn logs no SQL user in, so there is
// nothing to reload: 204 for a service that exists.
func (a *API) reloadService(w http.ResponseWriter, r *http.Request) {
	if !a.exists(w, KindService, mux.Vars(r)["name"]) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// queryClassifier serves GET /v1/maxscale/query_classifier: Cairn parses
// no SQL, so its classifier cache is empty and holds nothing.
func (a *API) queryClassifier(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	writeDoc(w, r, document{Links: links{Self: base + "/maxscale/query_classifier/"}, Data: map[string]any{
		"id": "query_classifier", "type": "query_classifier",
		"attributes": map[string]any{"parameters": map[string]any{"cache_size": 0, "log_unrecognized_statements": 0}},
		"links":      links{Self: base + "/maxscale/query_classifier/"},
	}}, a.started)
}

// serverDiagnostics serves GET /v1/maxscale/debug/server_diagnostics,
// which maxctrl's `create report` reads: Cairn holds no connections to
// the servers, so there is nothing to report.
func (a *API) serverDiagnostics(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	writeDoc(w, r, document{Links: links{Self: base + "/maxscale/debug/server_diagnostics/"}, Data: map[string]any{
		"id": "server_diagnostics", "type": "server_diagnostics",
		"attributes": map[string]any{"servers": []any{}},
	}}, a.started)
}
