package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cairn/cluster"
	"cairn/cluster/deploy"
	"cairn/cluster/monitor"
	"cairn/cluster/scheduler"
	"cairn/cluster/tasks"
	"cairn/fsm"
	api "cairn/http"
	"cairn/http/apcera"
	"cairn/http/arm"
	"cairn/http/maxscale"
	"cairn/http/mrf"
	"cairn/http/native"
	"cairn/http/topology"
	"cairn/node"
	"cairn/node/auth"
	"cairn/node/failpoint"
	settings "cairn/node/runtime"
	"cairn/node/tlsconfig"
	"cairn/node/workload"

	"github.com/prometheus/client_golang/prometheus"
)

// agentFlags are `cairn agent`'s settings; every flag can also be set by
// the environment variable CAIRN_<NAME> (-node-id is CAIRN_NODE_ID).
type agentFlags struct {
	nodeID, dataDir, zone           string
	logLevel                        slog.Level
	httpAddr, advertiseHTTP         string
	raftAddr, raftAdvertise         string
	maxBodyBytes                    int64
	requestTimeout                  time.Duration
	deployTimeout                   time.Duration
	snapshotThreshold, trailingLogs uint64
	snapshotInterval                time.Duration
	heartbeat, election, lease      time.Duration
	commit                          time.Duration
	logStore                        string
	gossipAddr, gossipAdvertise     string
	join                            string
	joinTimeout, deadServerTimeout  time.Duration
	serverStabilization             time.Duration
	bootstrapExpect                 int
	controller                      bool
	pprofAddr                       string
	maxscaleAddr                    string
	apceraAddr                      string
	routerAddr                      string
	exec, execUser                  string
	rescheduleTimeout               time.Duration
	maxArtifactBytes                int64
	workloadPorts                   string
	authMode, adminPassword         string
	insecure                        bool
	tokenTTL                        time.Duration
	maxApplyInFlight                int
	// configPath is -config, the YAML file of settings (config.go);
	// configCheck (-config-check) validates them and exits.
	configPath  string
	configCheck bool
	// retryJoin are gossip addresses retried for good (-retry-join).
	retryJoin     string
	retryInterval time.Duration
	maxConcurrent int64

	// TLS and gossip encryption (see node/tlsconfig for what is verified).
	tlsCert, tlsKey, tlsCA string
	tlsSelfSigned          bool
	gossipKey              string
	gossipSecret           []byte // gossipKey decoded
}

func parseAgentFlags(args []string) (_ *agentFlags, _ *flag.FlagSet, err error) {
	def := node.DefaultConfig()
	f := &agentFlags{}
	fs := flag.NewFlagSet("cairn agent", flag.ContinueOnError)
	fs.StringVar(&f.nodeID, "node-id", "", "this node's id, unique in the domain (default: the id recorded in the data dir, else the hostname)")
	fs.StringVar(&f.dataDir, "data-dir", "./data", "where the Raft log, snapshots and node id live")
	fs.StringVar(&f.zone, "zone", def.Zone, "the zone this node belongs to")
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8180", "address the HTTP APIs listen on")
	fs.StringVar(&f.advertiseHTTP, "advertise-http", "", "HTTP base URL other nodes and links use (default: http://<http-addr>)")
	fs.StringVar(&f.raftAddr, "raft-addr", def.RaftAddr, "address the Raft transport listens on")
	fs.StringVar(&f.raftAdvertise, "raft-advertise", "", "Raft address other nodes dial (default: raft-addr)")
	fs.Int64Var(&f.maxBodyBytes, "max-body-bytes", 8<<20, "largest request body accepted, in bytes (larger: 413)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", 30*time.Second, "deadline of one request")
	fs.Uint64Var(&f.snapshotThreshold, "snapshot-threshold", def.SnapshotThreshold, "log entries between Raft snapshots")
	fs.DurationVar(&f.snapshotInterval, "snapshot-interval", def.SnapshotInterval, "how often to check whether a snapshot is due")
	fs.Uint64Var(&f.trailingLogs, "trailing-logs", def.TrailingLogs, "log entries kept after a snapshot, for followers that lag")
	fs.DurationVar(&f.heartbeat, "raft-heartbeat-timeout", def.HeartbeatTimeout, "follower's wait for the leader before calling an election")
	fs.DurationVar(&f.election, "raft-election-timeout", def.ElectionTimeout, "candidate's wait for votes")
	fs.DurationVar(&f.lease, "raft-leader-lease-timeout", def.LeaderLeaseTimeout, "leader steps down after this long without quorum contact")
	fs.DurationVar(&f.commit, "raft-commit-timeout", def.CommitTimeout, "longest wait before a heartbeat carries the commit index")
	fs.StringVar(&f.logStore, "raft-log-store", "", "where a new data dir keeps its Raft log: wal (raft-wal, one fsync per append) or bolt (raft-boltdb); empty: wal; an existing data dir keeps the one it has")
	fs.StringVar(&f.gossipAddr, "gossip-addr", "127.0.0.1:8182", "address gossip (memberlist, UDP and TCP) listens on")
	fs.StringVar(&f.gossipAdvertise, "gossip-advertise", "", "gossip address other nodes dial (default: gossip-addr)")
	fs.StringVar(&f.join, "join", "", "comma-separated gossip addresses of nodes already in the domain")
	fs.DurationVar(&f.joinTimeout, "join-timeout", time.Minute, "how long to keep retrying -join before giving up")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "with -join: found a new zone once exactly this many of its members, none with state, are seen (0: a lone node without -join founds its own)")
	fs.DurationVar(&f.serverStabilization, "server-stabilization-time", cluster.DefaultStabilization, "how long a new member must stay caught up with the leader before it becomes a voter")
	fs.DurationVar(&f.deadServerTimeout, "dead-server-timeout", 30*time.Second, "how long a failed member stays in the zone's Raft configuration")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address, on a listener of its own (default: off)")
	fs.StringVar(&f.maxscaleAddr, "maxscale-addr", "127.0.0.1:8989", "address the MaxScale REST API listens on, at /v1/... and /... (empty: off; it is also served at /maxscale/v1/... on -http-addr)")
	fs.DurationVar(&f.deployTimeout, "mrf-deploy-timeout", mrf.DefaultDeployTimeout, "how long an MRF deploy or undeploy waits for its target zones to report before answering 504 (the deployment goes on converging)")
	fs.StringVar(&f.apceraAddr, "apcera-addr", "127.0.0.1:8190", "address the Apcera REST API listens on, at /v1/... and /... (empty: off; it is also served at /apcera/v1/... on -http-addr)")
	fs.StringVar(&f.routerAddr, "router-addr", "", "address of the HTTP router for Apcera job routes: a request whose Host is a route goes to a running instance (empty: off)")
	fs.StringVar(&f.exec, "exec", "auto", "run the workload instances the zone assigns to this node as local processes: true, false, or auto (on only while every listener is on loopback)")
	fs.StringVar(&f.execUser, "exec-user", "", "when the agent runs as root, the user instances run as (default: root's own, with a warning)")
	fs.DurationVar(&f.rescheduleTimeout, "workload-reschedule-timeout", scheduler.DefaultRescheduleTimeout, "how long a failed member keeps its workload instances before the zone leader moves them")
	fs.StringVar(&f.workloadPorts, "workload-ports", fmt.Sprintf("%d-%d", scheduler.DefaultPorts.Lo, scheduler.DefaultPorts.Hi), "the port range workload instances' ports are drawn from (the zone leader's applies)")
	fs.Int64Var(&f.maxArtifactBytes, "max-artifact-bytes", native.DefaultMaxArtifactBytes, "largest workload artifact accepted, in bytes (uploads are bounded by -max-body-bytes too)")
	fs.Int64Var(&f.maxConcurrent, "max-concurrent-requests", defaultMaxConcurrent, "requests each HTTP listener serves at once; more get 503 with Retry-After (0: unlimited)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) every HTTP listener and Raft serve with TLS; with -tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA certificate(s) that other nodes' certificates must be signed by: node-to-node connections verify it, Raft requires it of clients (mutual TLS)")
	fs.BoolVar(&f.tlsSelfSigned, "tls-self-signed", false, "serve TLS with a self-signed certificate made once in <data-dir>/tls (for trials; instead of -tls-cert/-tls-key)")
	fs.StringVar(&f.gossipKey, "gossip-key", "", "base64 key (16, 24 or 32 bytes) that encrypts gossip; every node of the domain needs the same one (`cairn keygen` makes one)")
	fs.StringVar(&f.authMode, "auth", "auto", "require credentials on the main listener: on, off, or auto (on when -http-addr is not a loopback address); the MaxScale API always requires them")
	fs.BoolVar(&f.insecure, "insecure", false, "allow -auth off on a listener that is not on loopback (anyone who reaches it can change the zone)")
	fs.StringVar(&f.adminPassword, "admin-password", "", "the password of the admin user a new zone creates (default: generated, printed once and written to <data-dir>/"+auth.InitialPasswordFile+")")
	fs.IntVar(&f.maxApplyInFlight, "max-writes-in-flight", node.DefaultMaxApplyInFlight, "writes this node may have proposed to Raft and not yet applied; more are refused at once with 503 and Retry-After (certainly not applied) instead of queueing (-1: no bound)")
	fs.DurationVar(&f.tokenTTL, "token-ttl", native.DefaultTokenTTL, "how long a token from a login call is valid")
	fs.BoolVar(&f.controller, "controller", false, "this node holds the domain resources (the MRF controller role) (default: true without -join or -retry-join, else false)")
	fs.StringVar(&f.configPath, "config", "", "a YAML file of settings, keyed by these flags' names (flags and CAIRN_* variables win over it)")
	fs.BoolVar(&f.configCheck, "config-check", false, "check the settings (flags, environment, -config file) and exit: 0 if they are valid")
	fs.StringVar(&f.retryJoin, "retry-join", "", "comma-separated gossip addresses tried until one answers, with no deadline, and tried again whenever gossip does not see a member alive there")
	fs.DurationVar(&f.retryInterval, "retry-interval", cluster.DefaultRetryInterval, "how often -retry-join addresses are tried")
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if fs.NArg() > 0 {
		return nil, fs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// Flags win over the environment, which wins over the -config file
	// (itself named by a flag or CAIRN_CONFIG), which wins over defaults.
	origins := settingOrigins{}
	defer func() { err = origins.annotate(err) }()
	if err := applyEnv(fs, os.LookupEnv, origins); err != nil {
		return nil, fs, err
	}
	if f.configPath != "" {
		cf, err := readConfigFile(f.configPath, fs)
		if err != nil {
			return nil, fs, err
		}
		if err := applySettings(fs, cf.source(), origins); err != nil {
			return nil, fs, err
		}
	}
	// A lone node is the domain's controller unless told otherwise; fs.Visit
	// sees flags set from the environment and the file too.
	controllerGiven := false
	fs.Visit(func(fl *flag.Flag) { controllerGiven = controllerGiven || fl.Name == "controller" })
	if !controllerGiven {
		f.controller = !f.joins()
	}
	if f.retryInterval <= 0 {
		return nil, fs, fmt.Errorf("-retry-interval must be positive")
	}
	// The floors of the zone-wide runtime values (node/runtime).
	if f.maxBodyBytes < settings.MinMaxBodyBytes {
		return nil, fs, fmt.Errorf("-max-body-bytes must be at least %d", settings.MinMaxBodyBytes)
	}
	if f.bootstrapExpect < 0 {
		return nil, fs, fmt.Errorf("-bootstrap-expect must not be negative")
	}
	if f.requestTimeout < settings.MinRequestTimeout {
		return nil, fs, fmt.Errorf("-request-timeout must be at least %s", settings.MinRequestTimeout)
	}
	switch f.exec {
	case "auto", "true", "false":
	default:
		return nil, fs, fmt.Errorf("-exec must be true, false or auto, got %q", f.exec)
	}
	if _, err := parsePortRange(f.workloadPorts); err != nil {
		return nil, fs, err
	}
	if f.maxArtifactBytes < 1 {
		return nil, fs, fmt.Errorf("-max-artifact-bytes must be positive")
	}
	if f.rescheduleTimeout <= 0 {
		return nil, fs, fmt.Errorf("-workload-reschedule-timeout must be positive")
	}
	if f.deployTimeout <= 0 {
		return nil, fs, fmt.Errorf("-mrf-deploy-timeout must be positive")
	}
	if f.maxConcurrent != 0 && f.maxConcurrent < settings.MinMaxConcurrentRequests {
		return nil, fs, fmt.Errorf("-max-concurrent-requests must be 0 (unlimited) or at least %d", settings.MinMaxConcurrentRequests)
	}
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return nil, fs, fmt.Errorf("-tls-cert and -tls-key go together: give both or neither")
	case f.tlsSelfSigned && f.tlsCert != "":
		return nil, fs, fmt.Errorf("-tls-self-signed makes its own certificate: give it or -tls-cert/-tls-key, not both")
	case f.tlsCA != "" && f.tlsCert == "":
		return nil, fs, fmt.Errorf("-tls-ca needs -tls-cert and -tls-key signed by that CA (a -tls-self-signed certificate is not)")
	}
	if f.gossipKey != "" {
		key, err := cluster.ParseGossipKey(f.gossipKey)
		if err != nil {
			return nil, fs, fmt.Errorf("-gossip-key: %w", err)
		}
		f.gossipSecret = key
	}
	switch f.authMode {
	case "auto", "on", "off":
	default:
		return nil, fs, fmt.Errorf("-auth must be on, off or auto, got %q", f.authMode)
	}
	if f.authMode == "off" && !allLoopback(f.httpAddr) && !f.insecure {
		return nil, fs, fmt.Errorf("-auth off on -http-addr %s, which is not a loopback address, needs -insecure as well: anyone who reaches it could change the zone", f.httpAddr)
	}
	if f.adminPassword != "" {
		if err := auth.CheckPassword(f.adminPassword); err != nil {
			return nil, fs, fmt.Errorf("-admin-password: %w", err)
		}
	}
	if f.maxApplyInFlight == 0 || f.maxApplyInFlight < -1 {
		return nil, fs, fmt.Errorf("-max-writes-in-flight must be positive, or -1 for no bound")
	}
	if f.tokenTTL < time.Second {
		return nil, fs, fmt.Errorf("-token-ttl must be at least 1s")
	}
	return f, fs, nil
}

// applyEnv sets every flag not given on the command line from its
// CAIRN_<NAME> environment variable, if present.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool), origins settingOrigins) error {
	return applySettings(fs, settingSource{
		lookup: func(flagName string) (string, bool) { return lookup(envName(flagName)) },
		origin: func(flagName, v string) string { return fmt.Sprintf("%s=%q", envName(flagName), v) },
	}, origins)
}

// envName is the environment variable of a flag: -node-id is CAIRN_NODE_ID.
func envName(flagName string) string {
	return "CAIRN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// joins reports whether the node is given peers to join (-join or
// -retry-join), rather than being a lone node.
func (f *agentFlags) joins() bool { return f.join != "" || f.retryJoin != "" }

func runAgent(args []string) error {
	f, _, err := parseAgentFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.configCheck {
		return checkConfig(f, os.Stdout)
	}
	var levelVar slog.LevelVar
	levelVar.Set(f.logLevel)
	// The MaxScale API shows the last lines at /v1/maxscale/logs/data.
	log := slog.New(maxscale.NewLogRing(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &levelVar}), 1000))
	slog.SetDefault(log)
	if err := failpoint.ArmFromEnv(); err != nil { // a failpoints build only
		return err
	}
	a, err := buildAgent(f, log, &levelVar)
	if err != nil {
		return err
	}
	defer a.close()
	// SIGINT/SIGTERM end the wait for peers too, not only the serving.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := a.start(ctx); err != nil {
		if ctx.Err() != nil {
			log.Info("stopped by a signal while joining")
			return nil
		}
		return err
	}
	go notifyWhenReady(ctx, a.n, log)
	err = a.wait(ctx)
	_ = sdNotify("STOPPING=1")
	a.stop()
	return err
}

// agentRun is one run of `cairn agent`: buildAgent makes its parts (the
// listeners, the node, gossip, the APIs) without starting to serve; start
// serves, joins the domain and says so; stop leaves it gracefully; close
// releases whatever build made, in reverse order.
type agentRun struct {
	f          *agentFlags
	log        *slog.Logger
	levelVar   *slog.LevelVar
	httpURL    string
	ln, msLn   net.Listener
	apcLn      net.Listener
	apcSrv     *api.Server
	routerLn   net.Listener // the router of Apcera job routes (-router-addr)
	routerSrv  *http.Server
	n          *node.Node
	c          *cluster.Cluster
	rt         *settings.Settings
	srv, msSrv *api.Server
	// sup runs the workload instances the zone assigns to this node;
	// stopSupervisor (set by start) stops them and waits.
	sup            *workload.Supervisor
	stopSupervisor func()
	// peers carries this node's own token on its calls to other members.
	peers *auth.NodeCredentials
	// resumed: the node had Raft state before it joined gossip (taken
	// before: once in the pool, a zone leader may give it state).
	resumed  bool
	serveErr chan error
	// background is cancelled by close: the goroutines start runs.
	background context.Context
	closers    []func()

	// tls is this node's TLS setup; nil: plain HTTP and TCP.
	tls *tlsconfig.Config
}

// buildAgent makes every part of a run from its flags. On error, what it
// made is released.
func buildAgent(f *agentFlags, log *slog.Logger, levelVar *slog.LevelVar) (a *agentRun, err error) {
	a = &agentRun{f: f, log: log, levelVar: levelVar, serveErr: make(chan error, 4)}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	var cancel context.CancelFunc
	a.background, cancel = context.WithCancel(context.Background())
	a.onClose(cancel)

	if f.nodeID == "" {
		f.nodeID = node.StoredNodeID(f.dataDir)
	}
	if f.nodeID == "" {
		if f.nodeID, err = os.Hostname(); err != nil {
			return a, fmt.Errorf("no -node-id given and no hostname: %w", err)
		}
	}
	if err := node.ValidNodeID(f.nodeID); err != nil {
		return a, fmt.Errorf("-node-id: %w", err)
	}
	if a.tls, err = loadTLS(f); err != nil {
		return a, err
	}
	warnInClear(f, a.tls, log)
	if err := a.listen(); err != nil {
		return a, err
	}
	if f.pprofAddr != "" {
		stopPprof, err := servePprof(f.pprofAddr, a.tls, log)
		if err != nil {
			return a, err
		}
		a.onClose(stopPprof)
	}
	// Before the node opens, so that raft's go-metrics reach the registry
	// from its first election on.
	reg, err := newRegistry()
	if err != nil {
		return a, err
	}
	if err := a.openNode(); err != nil {
		return a, err
	}
	reg.MustRegister(a.n.Collector())
	if m := a.sup.MemoryLimits(); m != "" {
		reg.MustRegister(memoryLimitsInfo(m))
	}
	if err := a.startGossip(); err != nil {
		return a, err
	}
	reg.MustRegister(a.c.Collector())
	a.buildAPIs(reg)
	return a, nil
}

// onClose registers fn to run at close, before what was registered earlier.
func (a *agentRun) onClose(fn func()) { a.closers = append(a.closers, fn) }

// close releases what buildAgent made, last made first.
func (a *agentRun) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// listen opens the HTTP listeners before the node, so that port 0 resolves
// and the advertised URL is known.
func (a *agentRun) listen() error {
	f := a.f
	a.httpURL = strings.TrimRight(f.advertiseHTTP, "/")
	other := "https://" // the scheme this node does not serve
	if a.tls.Enabled() {
		other = "http://"
	}
	if strings.HasPrefix(a.httpURL, other) {
		return fmt.Errorf("-advertise-http %s: this node serves %s (TLS flags decide): other nodes and links would use the wrong scheme",
			f.advertiseHTTP, a.tls.Scheme())
	}
	ln, err := a.listenTCP("-http-addr", f.httpAddr)
	if err != nil {
		return err
	}
	a.ln = ln
	if a.httpURL == "" {
		a.httpURL = a.tls.Scheme() + "://" + advertisable(ln.Addr().String())
	}
	if f.maxscaleAddr != "" {
		if a.msLn, err = a.listenTCP("-maxscale-addr", f.maxscaleAddr); err != nil {
			return err
		}
	}
	if f.apceraAddr != "" {
		if a.apcLn, err = a.listenTCP("-apcera-addr", f.apceraAddr); err != nil {
			return err
		}
	}
	if f.routerAddr != "" {
		if a.routerLn, err = a.listenTCP("-router-addr", f.routerAddr); err != nil {
			return err
		}
	}
	return nil
}

// listenTCP opens an HTTP listener on addr (the value of flag), under TLS
// when it is on; close releases it.
func (a *agentRun) listenTCP(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", flag, addr, err)
	}
	a.onClose(func() { ln.Close() })
	if a.tls.Enabled() {
		// net/http bounds the handshake by ReadHeaderTimeout.
		ln = tls.NewListener(ln, a.tls.HTTPServer())
	}
	return ln, nil
}

// openNode opens the node (Raft, the store) on the data dir.
func (a *agentRun) openNode() error {
	f := a.f
	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.Zone, cfg.DataDir = f.nodeID, f.zone, f.dataDir
	cfg.RaftAddr, cfg.RaftAdvertise, cfg.HTTPURL = f.raftAddr, f.raftAdvertise, a.httpURL
	cfg.TLS = a.tls
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = f.snapshotThreshold, f.snapshotInterval, f.trailingLogs
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout, cfg.CommitTimeout = f.heartbeat, f.election, f.lease, f.commit
	cfg.LogStore = f.logStore
	cfg.Logger = a.log
	cfg.MaxApplyInFlight = f.maxApplyInFlight
	build, err := executableDigest()
	if err != nil {
		a.log.Warn("cannot read this executable to identify its build; the leader will prepare this node's forwarded writes again", "err", err)
	}
	cfg.Build = build
	// A lone node (no -join, no -bootstrap-expect above 1) founds its own
	// zone; with -join, only -bootstrap-expect founds one (safely: see
	// cluster.BootstrapServers), else the zone leader adds it.
	cfg.Bootstrap = !f.joins() && f.bootstrapExpect <= 1
	schema, err := fsm.NewSchema(slices.Concat(node.Kinds(), auth.Kinds(), maxscale.Kinds(), mrf.Kinds(), settings.Kinds(), workload.Kinds(), topology.Kinds(), apcera.Kinds(), tasks.Kinds(), arm.Kinds())...)
	if err != nil {
		return err
	}
	n, err := node.Open(cfg, schema)
	if err != nil {
		return err
	}
	a.n = n
	a.onClose(func() { n.Close() })
	a.resumed = n.HasState()
	// The supervisor (and its scan of /proc for what a previous run left
	// behind) before gossip starts: the time from joining the pool to
	// looking for founders (-bootstrap-expect) stays as short as it was.
	// This node's own credentials on its calls to other members, over
	// TLS when it is on.
	a.peers = &auth.NodeCredentials{Base: a.tls.Transport(16), View: n.View, NodeID: n.ID(), DomainKey: a.domainKey()}
	if a.sup, err = newSupervisor(a.f, n, a.httpURL, a.peers, a.log); err != nil {
		return err
	}
	return nil
}

// startGossip creates this node's gossip member (it joins nobody yet) and
// wires membership into the node: peers' addresses, the leader it
// advertises, and the zone leader's reconciler.
func (a *agentRun) startGossip() error {
	f, n := a.f, a.n
	c, err := cluster.Start(cluster.Config{
		Self: cluster.Meta{ID: n.ID(), Zone: n.Zone(), Controller: f.controller, HTTP: a.httpURL, Raft: n.RaftAddr(), Version: version,
			RaftID: n.RaftID(), ZoneID: n.KnownZoneID(), State: a.resumed, Expect: f.bootstrapExpect, LogFormat: fsm.LatestFormat,
			Engine: a.sup.Engine()},
		GossipAddr:      f.gossipAddr,
		GossipAdvertise: f.gossipAdvertise,
		Join:            splitList(f.join),
		JoinTimeout:     f.joinTimeout,
		RetryJoin:       splitList(f.retryJoin),
		RetryInterval:   f.retryInterval,
		SecretKey:       f.gossipSecret,
		Logger:          a.log,
	})
	if err != nil {
		return err
	}
	a.c = c
	a.onClose(func() { c.Shutdown() })
	n.SetPeerHTTP(c.HTTPOf)
	n.SetPeerFormat(c.LogFormatOf)
	n.OnLeaderChange(c.SetLeader)
	reconciler := cluster.NewReconciler(c, n, f.deadServerTimeout)
	reconciler.Stabilization = f.serverStabilization
	reconciler.Progress = cluster.HTTPProgress(a.tls.HTTPClient(2 * time.Second))
	n.OnLeadership(reconciler.Run)
	return nil
}

// buildAPIs makes the runtime settings, the dialects' leader tasks and the
// HTTP servers (not serving yet).
func (a *agentRun) buildAPIs(reg *prometheus.Registry) {
	f, n, c, log := a.f, a.n, a.c, a.log
	limits := api.NewLimits(f.maxBodyBytes, f.requestTimeout)
	limits.SetMaxConcurrentRequests(f.maxConcurrent)
	// The zone's runtime values, stored in Raft, win over the flags: the
	// follow loop (started by start) applies those already stored, then
	// every change.
	a.rt = settings.New(a.levelVar, limits, n, log)
	authn := a.authenticator()
	logRing, _ := log.Handler().(*maxscale.LogRing)
	ms := maxscale.New(n, maxscale.Options{NodeID: n.ID(), CairnVersion: version, Logger: log, Auth: authn, Logs: logRing})
	// MaxScale's monitors probe their servers from the zone leader only.
	n.OnLeadership(monitor.New(ms.Fleet(), log).Run)
	// The zone leader follows the controller's MRF deployments into the
	// zone; a runnable one runs as a workload on each live member.
	deployer := deploy.NewDeployer(n, deploy.NewHTTPController(n.ID(), n.HTTPURL(), c, a.peerWrap), log)
	deployer.Members = c
	n.OnLeadership(deployer.Run)
	// Workloads: the zone leader schedules, every node supervises what is
	// assigned to it (start runs the supervisor).
	sched := scheduler.New(n, c, log)
	sched.RescheduleTimeout = f.rescheduleTimeout
	sched.Ports, _ = parsePortRange(f.workloadPorts)
	n.OnLeadership(sched.Run)
	// Apcera's long operations (a Docker job, a manifest) are tasks the
	// zone leader follows.
	n.OnLeadership(tasks.NewFollower(n, log).Run)
	apc := apcera.New(apcera.Deps{Node: n, Auth: authn, TokenTTL: f.tokenTTL, Peers: a.peers, Logger: log, MaxArtifactBytes: f.maxArtifactBytes})
	policy := api.AuthPolicy{Auth: authn, Required: a.authRequired(), Peers: a.peers}
	a.srv = api.NewServer(n, limits, log, api.WithMembership(c), api.WithMetrics(reg), api.WithRuntime(a.rt), api.WithDeployTimeout(f.deployTimeout),
		api.WithMaxScale(ms.Mounted()), api.WithApcera(apc.Mounted()), api.WithPeerTLS(a.tls),
		api.WithWorkloads(native.WorkloadOptions{Logs: a.sup, MaxArtifactBytes: f.maxArtifactBytes, Peers: a.peers}),
		api.WithAuth(api.AuthPolicy{Auth: authn, Required: a.authRequired(), Peers: a.peers}), api.WithTokenTTL(f.tokenTTL))
	if a.msLn != nil {
		a.msSrv = api.NewDialectServer(n, limits, log, ms.Listener(), maxscale.MainPath, api.DialectPeerTLS(a.tls),
			api.DialectErrors(maxscale.WriteError), api.DialectMetrics(a.srv, "maxscale", ms.Route))
	}
	if a.apcLn != nil {
		// Authenticated as the main listener is, and also off loopback
		// whatever -auth says of -http-addr.
		p := policy
		p.Required = p.Required || !allLoopback(f.apceraAddr)
		a.apcSrv = api.NewDialectServer(n, limits, log, apc.Listener(), apcera.MainPath, api.DialectAuth(p, apcera.Exempt, apcera.WriteError),
			api.DialectPeerTLS(a.tls))
	}
	if a.routerLn != nil {
		// Applications' traffic: neither the APIs' limits nor their
		// credentials apply (as Apcera's router, it is the apps' own).
		// Of the listeners' hygiene it has the header and idle timeouts,
		// a header size bound and the concurrency cap (api.CapConcurrency).
		a.routerSrv = &http.Server{Handler: api.CapConcurrency(limits, apc.Router()), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	}
}

// authenticator checks credentials against the zone's users; the zone
// leader gives a zone without users its first admin and signing key.
func (a *agentRun) authenticator() *auth.Authenticator {
	f, n, log := a.f, a.n, a.log
	n.OnLeadership((&auth.Bootstrap{Node: n, AdminPassword: f.adminPassword, DataDir: f.dataDir, Log: log.With("component", "auth"),
		Print: func(msg string) { fmt.Fprintln(os.Stderr, msg) }}).Run)
	authn := auth.NewAuthenticator(n.View)
	authn.WaitIndex = n.WaitIndex
	authn.DomainKey = a.domainKey()
	if f.maxscaleAddr != "" && !allLoopback(f.maxscaleAddr) {
		var last atomic.Int64
		authn.OnMaxScaleDefault = func() {
			if now := time.Now().Unix(); now-last.Load() >= 60 && last.Swap(now) != now {
				log.Warn("the MaxScale API accepted MaxScale's default admin/mariadb on an address that is not loopback; change it: maxctrl alter user admin <password>, or cairn user passwd admin",
					"component", "maxscale", "maxscale_addr", f.maxscaleAddr)
			}
		}
	}
	switch {
	case f.authMode == "off" && !allLoopback(f.httpAddr):
		log.Warn("AUTHENTICATION IS OFF on a listener that is not loopback (-auth off -insecure): anyone who reaches "+f.httpAddr+" can change the zone", "http_addr", f.httpAddr)
		fmt.Fprintln(os.Stderr, "cairn agent: WARNING: authentication is off on "+f.httpAddr+", which is not a loopback address (-auth off -insecure)")
	case a.authRequired():
		log.Info("the main listener requires credentials (HTTP Basic or a Bearer token)", "http_addr", f.httpAddr, "auth", f.authMode)
	}
	return authn
}

// authRequired says whether the main listener refuses requests without
// credentials: -auth on, or auto off loopback.
func (a *agentRun) authRequired() bool {
	switch a.f.authMode {
	case "on":
		return true
	case "off":
		return false
	}
	return !allLoopback(a.f.httpAddr)
}

// start serves HTTP, joins the domain (founding or waiting to be added to
// the zone) and prints the start line. An error means the run must end.
func (a *agentRun) start(ctx context.Context) error {
	f, n, c, log := a.f, a.n, a.c, a.log
	go advertiseIdentity(a.background, c, n, a.resumed)
	supCtx, stopSup := context.WithCancel(a.background)
	supDone := make(chan struct{})
	go func() { defer close(supDone); a.sup.Run(supCtx) }()
	var once sync.Once
	a.stopSupervisor = func() { once.Do(func() { stopSup(); <-supDone }) }
	a.onClose(a.stopSupervisor)
	go a.rt.Follow(a.background, n)
	go func() { a.serveErr <- a.srv.Serve(a.ln) }()
	if a.msSrv != nil {
		go func() { a.serveErr <- a.msSrv.Serve(a.msLn) }()
		log.Info("the MaxScale REST API listens on "+a.tls.Scheme()+"://"+a.msLn.Addr().String()+"/v1/", "component", "maxscale")
	}
	if a.apcSrv != nil {
		go func() { a.serveErr <- a.apcSrv.Serve(a.apcLn) }()
		log.Info("the Apcera REST API listens on "+a.tls.Scheme()+"://"+a.apcLn.Addr().String()+"/v1/", "component", "apcera")
	}
	if a.routerSrv != nil {
		go func() {
			if err := a.routerSrv.Serve(a.routerLn); !errors.Is(err, http.ErrServerClosed) {
				a.serveErr <- err
			}
		}()
		log.Info("the router of Apcera job routes listens on "+a.tls.Scheme()+"://"+a.routerLn.Addr().String(), "component", "apcera")
	}
	if err := c.Join(ctx); err != nil {
		return err
	}
	go c.KeepJoined(a.background)
	how := "resumed from its data dir"
	switch {
	case n.Bootstrapped():
		how = "bootstrapped a new single-node zone"
	case a.resumed:
	case n.HasState():
		how = "added to the zone by its leader"
	case f.bootstrapExpect >= 1:
		how = fmt.Sprintf("waiting for %d members of zone %s to bootstrap it", f.bootstrapExpect, n.Zone())
		go bootstrapWhenExpected(ctx, c, n, f.bootstrapExpect, log)
	default:
		how = "waiting for the zone leader to add it"
	}
	if a.resumed {
		if err := refuseForeignZone(ctx, c, n); err != nil {
			return err
		}
	}
	fmt.Printf("cairn %s: node %s of zone %s listening on %s (raft %s, gossip %s), data dir %s: %s\n",
		version, n.ID(), n.Zone(), a.httpURL, n.RaftAddr(), c.GossipAddr(), f.dataDir, how)
	return nil
}

// wait returns when a signal ends ctx (nil) or an HTTP server stops (its
// error).
func (a *agentRun) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		a.log.Info("shutting down on a signal")
		return nil
	case err := <-a.serveErr:
		a.log.Error("HTTP server stopped", "err", err)
		return err
	}
}

// stop leaves gracefully: the workload instances stop first (SIGTERM, then
// SIGKILL after their stop timeout; the next run starts them afresh); then
// hand leadership over so the zone does not wait out an election, then tell
// gossip, so the new leader removes this node from the configuration at
// once; then finish the requests in flight and shut Raft down.
func (a *agentRun) stop() {
	n, log := a.n, a.log
	a.stopSupervisor()
	if n.IsLeader() {
		if e := n.TransferLeadership(); e != nil {
			log.Info("no leadership transfer before leaving", "reason", e)
		}
	}
	// A leave broadcast goes out within a gossip interval (200ms) when
	// anyone is listening.
	if e := a.c.Leave(time.Second); e != nil {
		log.Warn("leaving the gossip pool did not finish cleanly", "err", e)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e := a.srv.Shutdown(shutdownCtx); e != nil {
		log.Warn("HTTP shutdown did not finish cleanly", "err", e)
	}
	if a.msSrv != nil {
		if e := a.msSrv.Shutdown(shutdownCtx); e != nil {
			log.Warn("the MaxScale listener's shutdown did not finish cleanly", "err", e)
		}
	}
	if a.apcSrv != nil {
		if e := a.apcSrv.Shutdown(shutdownCtx); e != nil {
			log.Warn("the Apcera listener's shutdown did not finish cleanly", "err", e)
		}
	}
	if a.routerSrv != nil {
		if e := a.routerSrv.Shutdown(shutdownCtx); e != nil {
			log.Warn("the router's shutdown did not finish cleanly", "err", e)
		}
	}
	if e := n.Close(); e != nil {
		log.Warn("raft shutdown did not finish cleanly", "err", e)
	}
	log.Info("stopped")
}

// advertiseIdentity keeps the zone id and "has state" of this node's gossip
// metadata up to date: a zone leader adds only members of its own zone, and
// founders found a zone only while nobody has state.
//
// "Has state" is state of its own: from its data dir at start (resumed), or
// a zone it has applied the identity of. Log entries a fresh node received
// since it started came from a zone's leader (often, after its data dir was
// wiped, from the leader's last replication to its old server at the same
// address): they do not make it a stranger to that zone.
func advertiseIdentity(ctx context.Context, c *cluster.Cluster, n *node.Node, resumed bool) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		zoneID := n.KnownZoneID()
		c.SetIdentity(zoneID, resumed || zoneID != "")
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// foreignZoneGrace is how long after joining a node with state looks for a
// zone of its name with another identity.
const foreignZoneGrace = 5 * time.Second

// refuseForeignZone stops a node whose state belongs to another Raft group
// than the zone of the same name it just joined (a node that once ran
// alone and founded its own zone, restarted with -join). The zone never
// adds it (cluster.Reconciler); this tells the operator why and what to do,
// instead of running beside the zone as a second group with its name.
func refuseForeignZone(ctx context.Context, c *cluster.Cluster, n *node.Node) error {
	// The whole grace is watched, not only its first look: a member that
	// was down while its zone restored a backup of another zone (cairn
	// snapshot restore) comes back with the old zone id, but it is of the
	// same Raft group, and the leader's snapshot brings it the new id.
	deadline := time.Now().Add(foreignZoneGrace)
	own, other := "", ""
	for time.Now().Before(deadline) {
		own, other = n.KnownZoneID(), ""
		if own != "" {
			other = c.ForeignZoneID(n.Zone(), own)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	if other == "" {
		return nil
	}
	// Led by a member of the zone with the other id: the same Raft group,
	// still installing the leader's snapshot.
	if lid, _ := n.Leader(); lid != "" && lid != n.ID() {
		if m, ok := c.Member(lid); ok && m.ZoneID == other {
			return nil
		}
	}
	return fmt.Errorf("this node's data dir %s holds the state of zone %q with id %s, but the domain's zone %q has id %s: "+
		"the two are different Raft groups (did this node once run alone, founding its own zone?). "+
		"To join the domain's zone, stop this node, remove its data dir and start it again; its own state is then gone. "+
		"To keep that state as a zone of its own, start it with another -zone",
		n.DataDir(), n.Zone(), own, n.Zone(), other)
}

// bootstrapWhenExpected founds the zone once gossip shows the expected
// number of members, unless the zone turns out to exist already.
func bootstrapWhenExpected(ctx context.Context, c *cluster.Cluster, n *node.Node, expect int, log *slog.Logger) {
	servers, err := c.BootstrapServers(ctx, n.Zone(), expect)
	if err != nil || servers == nil || n.HasState() {
		return
	}
	if err := n.BootstrapZone(servers); err != nil && !errors.Is(err, node.ErrAlreadyBootstrapped) {
		log.Error("bootstrapping the zone failed", "err", err)
		return
	}
	log.Info("bootstrapped the zone", "zone", n.Zone(), "voters", len(servers))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// advertisable turns a listen address into one others can dial: an
// unspecified host (0.0.0.0, ::) becomes this machine's hostname.
func advertisable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}
