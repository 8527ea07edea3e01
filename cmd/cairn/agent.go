package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
	"cairn/fsm"
	api "cairn/http"
	"cairn/http/maxscale"
	"cairn/http/mrf"
	"cairn/http/native"
	"cairn/http/topology"
	"cairn/node"
	"cairn/node/auth"
	"cairn/node/failpoint"
	settings "cairn/node/runtime"
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
	gossipAddr, gossipAdvertise     string
	join                            string
	joinTimeout, deadServerTimeout  time.Duration
	serverStabilization             time.Duration
	bootstrapExpect                 int
	controller                      bool
	pprofAddr                       string
	maxscaleAddr                    string
	exec, execUser                  string
	rescheduleTimeout               time.Duration
	maxArtifactBytes                int64
	workloadPorts                   string
	authMode, adminPassword         string
	insecure                        bool
	tokenTTL                        time.Duration
}

func parseAgentFlags(args []string) (*agentFlags, *flag.FlagSet, error) {
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
	fs.StringVar(&f.exec, "exec", "auto", "run the workload instances the zone assigns to this node as local processes: true, false, or auto (on only while every listener is on loopback)")
	fs.StringVar(&f.execUser, "exec-user", "", "when the agent runs as root, the user instances run as (default: root's own, with a warning)")
	fs.DurationVar(&f.rescheduleTimeout, "workload-reschedule-timeout", scheduler.DefaultRescheduleTimeout, "how long a failed member keeps its workload instances before the zone leader moves them")
	fs.StringVar(&f.workloadPorts, "workload-ports", fmt.Sprintf("%d-%d", scheduler.DefaultPorts.Lo, scheduler.DefaultPorts.Hi), "the port range workload instances' ports are drawn from (the zone leader's applies)")
	fs.Int64Var(&f.maxArtifactBytes, "max-artifact-bytes", native.DefaultMaxArtifactBytes, "largest workload artifact accepted, in bytes (uploads are bounded by -max-body-bytes too)")
	fs.StringVar(&f.authMode, "auth", "auto", "require credentials on the main listener: on, off, or auto (on when -http-addr is not a loopback address); the MaxScale API always requires them")
	fs.BoolVar(&f.insecure, "insecure", false, "allow -auth off on a listener that is not on loopback (anyone who reaches it can change the zone)")
	fs.StringVar(&f.adminPassword, "admin-password", "", "the password of the admin user a new zone creates (default: generated, printed once and written to <data-dir>/"+auth.InitialPasswordFile+")")
	fs.DurationVar(&f.tokenTTL, "token-ttl", native.DefaultTokenTTL, "how long a token from a login call is valid")
	fs.BoolVar(&f.controller, "controller", false, "this node holds the domain resources (the MRF controller role) (default: true without -join, else false)")
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if fs.NArg() > 0 {
		return nil, fs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return nil, fs, err
	}
	// A lone node is the domain's controller unless told otherwise; fs.Visit
	// sees flags set from the environment too.
	controllerGiven := false
	fs.Visit(func(fl *flag.Flag) { controllerGiven = controllerGiven || fl.Name == "controller" })
	if !controllerGiven {
		f.controller = f.join == ""
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
	if f.tokenTTL < time.Second {
		return nil, fs, fmt.Errorf("-token-ttl must be at least 1s")
	}
	return f, fs, nil
}

// applyEnv sets every flag not given on the command line from its
// CAIRN_<NAME> environment variable, if present.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := "CAIRN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookup(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w (-%s: %s)", name, v, e, f.Name, f.Usage)
			}
		}
	})
	return err
}

func runAgent(args []string) error {
	f, _, err := parseAgentFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
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
	err = a.wait(ctx)
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
}

// buildAgent makes every part of a run from its flags. On error, what it
// made is released.
func buildAgent(f *agentFlags, log *slog.Logger, levelVar *slog.LevelVar) (a *agentRun, err error) {
	a = &agentRun{f: f, log: log, levelVar: levelVar, serveErr: make(chan error, 2)}
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
	if err := a.listen(); err != nil {
		return a, err
	}
	if f.pprofAddr != "" {
		stopPprof, err := servePprof(f.pprofAddr, log)
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
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("listen on -http-addr %s: %w", f.httpAddr, err)
	}
	a.ln = ln
	a.onClose(func() { ln.Close() })
	a.httpURL = f.advertiseHTTP
	if a.httpURL == "" {
		a.httpURL = "http://" + advertisable(ln.Addr().String())
	}
	a.httpURL = strings.TrimRight(a.httpURL, "/")
	if f.maxscaleAddr != "" {
		msLn, err := net.Listen("tcp", f.maxscaleAddr)
		if err != nil {
			return fmt.Errorf("listen on -maxscale-addr %s: %w", f.maxscaleAddr, err)
		}
		a.msLn = msLn
		a.onClose(func() { msLn.Close() })
	}
	return nil
}

// openNode opens the node (Raft, the store) on the data dir.
func (a *agentRun) openNode() error {
	f := a.f
	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.Zone, cfg.DataDir = f.nodeID, f.zone, f.dataDir
	cfg.RaftAddr, cfg.RaftAdvertise, cfg.HTTPURL = f.raftAddr, f.raftAdvertise, a.httpURL
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = f.snapshotThreshold, f.snapshotInterval, f.trailingLogs
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout, cfg.CommitTimeout = f.heartbeat, f.election, f.lease, f.commit
	cfg.Logger = a.log
	// A lone node (no -join, no -bootstrap-expect above 1) founds its own
	// zone; with -join, only -bootstrap-expect founds one (safely: see
	// cluster.BootstrapServers), else the zone leader adds it.
	cfg.Bootstrap = f.join == "" && f.bootstrapExpect <= 1
	schema, err := fsm.NewSchema(slices.Concat(node.Kinds(), auth.Kinds(), maxscale.Kinds(), mrf.Kinds(), settings.Kinds(), workload.Kinds(), topology.Kinds())...)
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
	// This node's own credentials on its calls to other members.
	a.peers = &auth.NodeCredentials{View: n.View, NodeID: n.ID()}
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
	n.OnLeadership(reconciler.Run)
	return nil
}

// buildAPIs makes the runtime settings, the dialects' leader tasks and the
// HTTP servers (not serving yet).
func (a *agentRun) buildAPIs(reg *prometheus.Registry) {
	f, n, c, log := a.f, a.n, a.c, a.log
	limits := api.NewLimits(f.maxBodyBytes, f.requestTimeout)
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
	deployer := deploy.NewDeployer(n, deploy.NewHTTPController(n.ID(), n.HTTPURL(), c, a.peers.Wrap), log)
	deployer.Members = c
	n.OnLeadership(deployer.Run)
	// Workloads: the zone leader schedules, every node supervises what is
	// assigned to it (start runs the supervisor).
	sched := scheduler.New(n, c, log)
	sched.RescheduleTimeout = f.rescheduleTimeout
	sched.Ports, _ = parsePortRange(f.workloadPorts)
	n.OnLeadership(sched.Run)
	a.srv = api.NewServer(n, limits, log, api.WithMembership(c), api.WithMetrics(reg), api.WithRuntime(a.rt), api.WithDeployTimeout(f.deployTimeout),
		api.WithMaxScale(ms.Mounted()), api.WithWorkloads(native.WorkloadOptions{Logs: a.sup, MaxArtifactBytes: f.maxArtifactBytes, Peers: a.peers}),
		api.WithAuth(api.AuthPolicy{Auth: authn, Required: a.authRequired(), Peers: a.peers}), api.WithTokenTTL(f.tokenTTL))
	if a.msLn != nil {
		a.msSrv = api.NewDialectServer(n, limits, log, ms.Listener(), maxscale.MainPath,
			api.DialectErrors(maxscale.WriteError), api.DialectMetrics(a.srv, "maxscale", ms.Route))
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
		log.Info("the MaxScale REST API listens on http://"+a.msLn.Addr().String()+"/v1/", "component", "maxscale")
	}
	if err := c.Join(ctx); err != nil {
		return err
	}
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
	deadline := time.Now().Add(foreignZoneGrace)
	for time.Now().Before(deadline) {
		if own := n.KnownZoneID(); own != "" {
			if other := c.ForeignZoneID(n.Zone(), own); other != "" {
				return fmt.Errorf("this node's data dir %s holds the state of zone %q with id %s, but the domain's zone %q has id %s: "+
					"the two are different Raft groups (did this node once run alone, founding its own zone?). "+
					"To join the domain's zone, stop this node, remove its data dir and start it again; its own state is then gone. "+
					"To keep that state as a zone of its own, start it with another -zone",
					n.DataDir(), n.Zone(), own, n.Zone(), other)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
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
