package maxscale

import (
	"slices"
	"strings"
	"time"
)

// The parameter types of MaxScale 6.4's module descriptions
// (/v1/maxscale/modules): what a value must be, and how it is stored.
const (
	ptString     = "string"
	ptPassword   = "password"
	ptBool       = "bool"
	ptCount      = "count"
	ptInt        = "int"
	ptDuration   = "duration"
	ptEnum       = "enum"
	ptEnumList   = "enum_mask"
	ptPath       = "path"
	ptSize       = "size"
	ptStringList = "stringlist"
)

// param describes one parameter as MaxScale 6.4 declares it (its
// mxs::config::Param or MXS_MODULE_PARAM): name, type, default, whether
// it must be given and whether it may change at run time.
type param struct {
	Name      string
	Type      string
	Default   any
	Mandatory bool
	// Static parameters cannot be changed once the object exists.
	Static bool
	// Enum holds the values an enum parameter takes.
	Enum []string
	// Unit is what a bare number means for a duration: time.Second or
	// time.Millisecond, as MaxScale interprets it per parameter.
	Unit time.Duration
	// Pattern: Name is a prefix followed by two digits (namedserverfilter's
	// match01 ... target25).
	Pattern bool
}

func (p param) matches(name string) bool {
	if !p.Pattern {
		return p.Name == name
	}
	rest, ok := strings.CutPrefix(name, p.Name)
	return ok && len(rest) == 2 && rest[0] >= '0' && rest[0] <= '9' && rest[1] >= '0' && rest[1] <= '9'
}

// module is one of the routers, monitors, filters and protocols Cairn
// knows: the modules MaxScale 6.4 ships that its API can name.
type module struct {
	Name        string
	Type        string // Router, Monitor, Filter, Protocol
	Description string
	Aliases     []string
	Params      []param
}

func dur(name string, def string, unit time.Duration) param {
	return param{Name: name, Type: ptDuration, Default: def, Unit: unit}
}

var (
	sec = time.Second
	ms  = time.Millisecond
)

var sslVersions = []string{"MAX", "TLSv10", "TLSv11", "TLSv12", "TLSv13"}

// serverParams are a server's parameters (server/core/server.cc).
var serverParams = []param{
	{Name: "address", Type: ptString},
	{Name: "socket", Type: ptString},
	{Name: "port", Type: ptCount, Default: 3306},
	{Name: "protocol", Type: ptString, Default: "mariadbbackend", Static: true},
	{Name: "authenticator", Type: ptString, Static: true},
	{Name: "extra_port", Type: ptCount, Default: 0},
	{Name: "priority", Type: ptInt, Default: 0},
	{Name: "monitoruser", Type: ptString},
	{Name: "monitorpw", Type: ptPassword},
	{Name: "persistpoolmax", Type: ptCount, Default: 0},
	dur("persistmaxtime", "0ms", sec),
	{Name: "proxy_protocol", Type: ptBool, Default: false},
	{Name: "rank", Type: ptEnum, Default: "primary", Enum: []string{"primary", "secondary"}},
	{Name: "max_routing_connections", Type: ptCount, Default: 0},
	{Name: "disk_space_threshold", Type: ptString},
	{Name: "ssl", Type: ptBool, Default: false},
	{Name: "ssl_cert", Type: ptPath},
	{Name: "ssl_key", Type: ptPath},
	{Name: "ssl_ca_cert", Type: ptPath},
	{Name: "ssl_version", Type: ptEnum, Default: "MAX", Enum: sslVersions},
	{Name: "ssl_cipher", Type: ptString},
	{Name: "ssl_cert_verify_depth", Type: ptCount, Default: 9},
	{Name: "ssl_verify_peer_certificate", Type: ptBool, Default: false},
	{Name: "ssl_verify_peer_host", Type: ptBool, Default: false},
}

// serviceParams are every service's parameters (server/core/service.cc);
// the router's own come on top.
var serviceParams = []param{
	{Name: "user", Type: ptString, Mandatory: true},
	{Name: "password", Type: ptPassword, Mandatory: true},
	{Name: "enable_root_user", Type: ptBool, Default: false},
	{Name: "max_connections", Type: ptCount, Default: 0},
	dur("connection_timeout", "0ms", sec),
	dur("net_write_timeout", "0ms", sec),
	{Name: "auth_all_servers", Type: ptBool, Default: false},
	{Name: "strip_db_esc", Type: ptBool, Default: true},
	{Name: "localhost_match_wildcard_host", Type: ptBool, Default: true},
	{Name: "version_string", Type: ptString},
	{Name: "log_auth_warnings", Type: ptBool, Default: true},
	{Name: "session_track_trx_state", Type: ptBool, Default: false},
	{Name: "retain_last_statements", Type: ptInt, Default: -1},
	{Name: "session_trace", Type: ptBool, Default: false},
	{Name: "rank", Type: ptEnum, Default: "primary", Enum: []string{"primary", "secondary"}},
	dur("connection_keepalive", "300000ms", sec),
	{Name: "force_connection_keepalive", Type: ptBool, Default: false},
	{Name: "prune_sescmd_history", Type: ptBool, Default: true},
	{Name: "disable_sescmd_history", Type: ptBool, Default: false},
	{Name: "max_sescmd_history", Type: ptCount, Default: 50},
	dur("idle_session_pool_time", "-1ms", sec),
	dur("multiplex_timeout", "60000ms", sec),
	{Name: "user_accounts_file", Type: ptPath, Static: true},
	{Name: "user_accounts_file_usage", Type: ptEnum, Default: "add_when_load_ok", Enum: []string{"add_when_load_ok", "file_only_always"}, Static: true},
	{Name: "log_debug", Type: ptBool, Default: false},
	{Name: "log_info", Type: ptBool, Default: false},
	{Name: "log_notice", Type: ptBool, Default: false},
	{Name: "log_warning", Type: ptBool, Default: false},
}

// monitorParams are every monitor's parameters (common_monitor_params in
// server/core/monitor.cc); the module's own come on top.
var monitorParams = []param{
	{Name: "user", Type: ptString, Mandatory: true},
	{Name: "password", Type: ptPassword, Mandatory: true},
	dur("monitor_interval", "2000ms", ms),
	dur("backend_connect_timeout", "3000ms", sec),
	dur("backend_read_timeout", "3000ms", sec),
	dur("backend_write_timeout", "3000ms", sec),
	{Name: "backend_connect_attempts", Type: ptCount, Default: 1},
	dur("journal_max_age", "28800000ms", sec),
	{Name: "disk_space_threshold", Type: ptString},
	dur("disk_space_check_interval", "0ms", ms),
	{Name: "script", Type: ptString},
	dur("script_timeout", "90000ms", sec),
	{Name: "events", Type: ptString, Default: "all"},
}

// listenerParams are a listener's parameters (server/core/listener.cc);
// none can change once it exists except the TLS ones.
var listenerParams = []param{
	{Name: "protocol", Type: ptString, Default: "mariadbclient", Static: true},
	{Name: "authenticator", Type: ptString, Static: true},
	{Name: "authenticator_options", Type: ptString, Static: true},
	{Name: "address", Type: ptString, Default: "::", Static: true},
	{Name: "socket", Type: ptString, Static: true},
	{Name: "port", Type: ptCount, Default: 0, Static: true},
	{Name: "ssl", Type: ptBool, Default: false},
	{Name: "ssl_key", Type: ptPath},
	{Name: "ssl_cert", Type: ptPath},
	{Name: "ssl_ca_cert", Type: ptPath},
	{Name: "ssl_version", Type: ptEnum, Default: "MAX", Enum: sslVersions},
	{Name: "ssl_cipher", Type: ptString},
	{Name: "ssl_crl", Type: ptString},
	{Name: "ssl_cert_verify_depth", Type: ptCount, Default: 9},
	{Name: "ssl_verify_peer_certificate", Type: ptBool, Default: false},
	{Name: "ssl_verify_peer_host", Type: ptBool, Default: false},
	{Name: "sql_mode", Type: ptEnum, Default: "default", Enum: []string{"default", "oracle"}},
	{Name: "connection_init_sql_file", Type: ptPath},
	{Name: "user_mapping_file", Type: ptPath},
}

// modules are the modules Cairn knows, in MaxScale 6.4's names, with each
// module's own parameters (from their sources at tag maxscale-6.4.15).
// Cairn routes no SQL: these describe what a configuration may say, the
// source of the validation of every create and PATCH.
var modules = []module{
	{Name: "readwritesplit", Type: "Router", Description: "A Read/Write splitting router for enhancement read scalability", Params: []param{
		{Name: "use_sql_variables_in", Type: ptEnum, Default: "all", Enum: []string{"all", "master"}},
		{Name: "slave_selection_criteria", Type: ptEnum, Default: "LEAST_CURRENT_OPERATIONS", Enum: []string{"LEAST_GLOBAL_CONNECTIONS", "LEAST_ROUTER_CONNECTIONS", "LEAST_BEHIND_MASTER", "LEAST_CURRENT_OPERATIONS", "ADAPTIVE_ROUTING"}},
		{Name: "master_failure_mode", Type: ptEnum, Default: "fail_instantly", Enum: []string{"fail_instantly", "fail_on_write", "error_on_write"}},
		{Name: "causal_reads", Type: ptEnum, Default: "none", Enum: []string{"none", "local", "global", "fast", "fast_global", "universal", "true", "false", "on", "off", "yes", "no", "1", "0"}},
		dur("max_slave_replication_lag", "0ms", sec),
		{Name: "max_slave_connections", Type: ptString, Default: "255"},
		{Name: "slave_connections", Type: ptCount, Default: 255},
		{Name: "retry_failed_reads", Type: ptBool, Default: true},
		{Name: "strict_multi_stmt", Type: ptBool, Default: false},
		{Name: "strict_sp_calls", Type: ptBool, Default: false},
		{Name: "master_accept_reads", Type: ptBool, Default: false},
		dur("causal_reads_timeout", "10000ms", sec),
		{Name: "master_reconnection", Type: ptBool, Default: false},
		{Name: "delayed_retry", Type: ptBool, Default: false},
		dur("delayed_retry_timeout", "10000ms", sec),
		{Name: "transaction_replay", Type: ptBool, Default: false},
		{Name: "transaction_replay_max_size", Type: ptSize, Default: 1048576},
		dur("transaction_replay_timeout", "0ms", sec),
		{Name: "transaction_replay_attempts", Type: ptCount, Default: 5},
		{Name: "transaction_replay_retry_on_deadlock", Type: ptBool, Default: false},
		{Name: "transaction_replay_retry_on_mismatch", Type: ptBool, Default: false},
		{Name: "transaction_replay_checksum", Type: ptEnum, Default: "full", Enum: []string{"full", "result_only", "no_insert_id"}},
		{Name: "optimistic_trx", Type: ptBool, Default: false},
		{Name: "lazy_connect", Type: ptBool, Default: false},
		{Name: "reuse_prepared_statements", Type: ptBool, Default: false},
	}},
	{Name: "readconnroute", Type: "Router", Description: "A connection based router to load balance based on connections", Params: []param{
		{Name: "router_options", Type: ptEnumList, Default: "running", Enum: []string{"master", "slave", "synced", "running"}},
		{Name: "master_accept_reads", Type: ptBool, Default: false},
	}},
	{Name: "schemarouter", Type: "Router", Description: "A database sharding router for simple sharding", Params: []param{
		{Name: "ignore_tables", Type: ptString},
		{Name: "ignore_tables_regex", Type: ptString},
		{Name: "refresh_databases", Type: ptBool, Default: true},
		dur("refresh_interval", "300000ms", sec),
		{Name: "debug", Type: ptBool, Default: false},
		{Name: "max_staleness", Type: ptDuration, Default: "150000ms", Unit: sec},
	}},
	{Name: "hintrouter", Type: "Router", Description: "A hint router", Params: []param{
		{Name: "default_action", Type: ptEnum, Default: "master", Enum: []string{"master", "slave", "named", "all"}},
		{Name: "default_server", Type: ptString},
		{Name: "max_slaves", Type: ptInt, Default: -1},
	}},
	{Name: "cat", Type: "Router", Description: "Resultset concatenation router"},
	{Name: "mariadbmon", Type: "Monitor", Description: "A MariaDB Master/Slave replication monitor", Aliases: []string{"mysqlmon"}, Params: []param{
		{Name: "assume_unique_hostnames", Type: ptBool, Default: true},
		{Name: "auto_failover", Type: ptBool, Default: false},
		{Name: "auto_rejoin", Type: ptBool, Default: false},
		{Name: "failcount", Type: ptCount, Default: 5},
		dur("failover_timeout", "90000ms", sec),
		dur("switchover_timeout", "90000ms", sec),
		{Name: "replication_user", Type: ptString},
		{Name: "replication_password", Type: ptPassword},
		{Name: "replication_master_ssl", Type: ptBool, Default: false},
		{Name: "verify_master_failure", Type: ptBool, Default: true},
		dur("master_failure_timeout", "10000ms", sec),
		{Name: "servers_no_promotion", Type: ptString},
		{Name: "promotion_sql_file", Type: ptPath},
		{Name: "demotion_sql_file", Type: ptPath},
		{Name: "enforce_read_only_slaves", Type: ptBool, Default: false},
		{Name: "enforce_writable_master", Type: ptBool, Default: false},
		{Name: "enforce_simple_topology", Type: ptBool, Default: false},
		{Name: "switchover_on_low_disk_space", Type: ptBool, Default: false},
		{Name: "maintenance_on_low_disk_space", Type: ptBool, Default: true},
		{Name: "handle_events", Type: ptBool, Default: true},
		{Name: "cooperative_monitoring_locks", Type: ptEnum, Default: "none", Enum: []string{"none", "majority_of_all", "majority_of_running"}},
		{Name: "master_conditions", Type: ptEnumList, Default: "primary_monitor_master", Enum: []string{"none", "connecting_slave", "connected_slave", "running_slave", "primary_monitor_master", "disk_space_ok"}},
		{Name: "slave_conditions", Type: ptEnumList, Default: "none", Enum: []string{"none", "linked_master", "running_master", "writable_master", "primary_monitor_master"}},
	}},
	{Name: "galeramon", Type: "Monitor", Description: "A Galera cluster monitor", Params: []param{
		{Name: "disable_master_failback", Type: ptBool, Default: false},
		{Name: "available_when_donor", Type: ptBool, Default: false},
		{Name: "disable_master_role_setting", Type: ptBool, Default: false},
		{Name: "root_node_as_master", Type: ptBool, Default: false},
		{Name: "use_priority", Type: ptBool, Default: false},
		{Name: "set_donor_nodes", Type: ptBool, Default: false},
	}},
	{Name: "qlafilter", Type: "Filter", Description: "A simple query logging filter", Params: []param{
		{Name: "filebase", Type: ptString, Mandatory: true},
		{Name: "match", Type: ptString},
		{Name: "exclude", Type: ptString},
		{Name: "user", Type: ptString},
		{Name: "source", Type: ptString},
		{Name: "options", Type: ptEnumList, Default: "", Enum: []string{"ignorecase", "case", "extended"}},
		{Name: "log_type", Type: ptEnumList, Default: "session", Enum: []string{"session", "unified", "stdout"}},
		{Name: "log_data", Type: ptEnumList, Default: "date,user,query", Enum: []string{"service", "session", "date", "user", "reply_time", "total_reply_time", "query", "default_db", "num_rows", "reply_size", "transaction", "transaction_time", "num_warnings", "error_msg"}},
		{Name: "flush", Type: ptBool, Default: false},
		{Name: "append", Type: ptBool, Default: true},
		{Name: "separator", Type: ptString, Default: ","},
		{Name: "newline_replacement", Type: ptString, Default: " "},
		{Name: "duration_unit", Type: ptString, Default: "ms"},
		{Name: "use_canonical_form", Type: ptBool, Default: false},
	}},
	{Name: "regexfilter", Type: "Filter", Description: "A query rewrite filter that uses regular expressions to rewrite queries", Params: []param{
		{Name: "match", Type: ptString, Mandatory: true},
		{Name: "replace", Type: ptString, Mandatory: true},
		{Name: "options", Type: ptEnumList, Default: "ignorecase", Enum: []string{"ignorecase", "case", "extended"}},
		{Name: "source", Type: ptString},
		{Name: "user", Type: ptString},
		{Name: "log_file", Type: ptString},
		{Name: "log_trace", Type: ptBool, Default: false},
	}},
	{Name: "namedserverfilter", Type: "Filter", Description: "A routing hint filter that sends queries to a server by regular expression", Params: []param{
		{Name: "source", Type: ptString},
		{Name: "user", Type: ptString},
		{Name: "options", Type: ptEnumList, Default: "ignorecase", Enum: []string{"ignorecase", "case", "extended"}},
		{Name: "match", Type: ptString, Pattern: true},
		{Name: "target", Type: ptString, Pattern: true},
	}},
	{Name: "hintfilter", Type: "Filter", Description: "A hint parsing filter"},
	{Name: "tee", Type: "Filter", Description: "A tee piece in the filter plumbing", Params: []param{
		{Name: "target", Type: ptString},
		{Name: "service", Type: ptString},
		{Name: "match", Type: ptString},
		{Name: "exclude", Type: ptString},
		{Name: "options", Type: ptEnumList, Default: "ignorecase", Enum: []string{"ignorecase", "case", "extended"}},
		{Name: "source", Type: ptString},
		{Name: "user", Type: ptString},
		{Name: "sync", Type: ptBool, Default: false},
	}},
	{Name: "throttlefilter", Type: "Filter", Description: "Prevents high frequency querying from monopolizing the system", Params: []param{
		{Name: "max_qps", Type: ptCount, Mandatory: true},
		{Name: "throttling_duration", Type: ptDuration, Mandatory: true, Unit: ms},
		dur("sampling_duration", "250ms", ms),
		dur("continuous_duration", "2000ms", ms),
	}},
	{Name: "topfilter", Type: "Filter", Description: "A top N query logging filter", Params: []param{
		{Name: "filebase", Type: ptString, Mandatory: true},
		{Name: "count", Type: ptCount, Default: 10},
		{Name: "match", Type: ptString},
		{Name: "exclude", Type: ptString},
		{Name: "options", Type: ptEnumList, Default: "ignorecase", Enum: []string{"ignorecase", "case", "extended"}},
		{Name: "source", Type: ptString},
		{Name: "user", Type: ptString},
	}},
	{Name: "mariadbbackend", Type: "Protocol", Description: "The MariaDB client-server protocol towards the servers", Aliases: []string{"mysqlbackend", "mariadb"}},
	{Name: "mariadbclient", Type: "Protocol", Description: "The MariaDB client-server protocol towards the clients", Aliases: []string{"mysqlclient", "mariadb", "mariadbprotocol"}},
}

// findModule returns the module of type typ named name (or by one of its
// aliases; case-insensitive, as MaxScale loads modules), or nil.
func findModule(typ, name string) *module {
	n := strings.ToLower(name)
	for i := range modules {
		m := &modules[i]
		if m.Type == typ && (m.Name == n || slices.Contains(m.Aliases, n)) {
			return m
		}
	}
	return nil
}

// findAnyModule returns the module named name, of any type.
func findAnyModule(name string) *module {
	n := strings.ToLower(name)
	for i := range modules {
		if modules[i].Name == n {
			return &modules[i]
		}
	}
	return nil
}
