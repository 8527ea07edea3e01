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
	"strings"
	"syscall"
	"time"

	"cairn/cluster"
	"cairn/cluster/scheduler"
	"cairn/fsm"
	cairnhttp "cairn/http"
	"cairn/http/maxscale"
	"cairn/http/mrf"
	"cairn/http/native"
	"cairn/node"
	"cairn/node/failpoint"
	noderuntime "cairn/node/runtime"
	"cairn/node/workload"
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
	if f.maxBodyBytes < 1 {
		return nil, fs, fmt.Errorf("-max-body-bytes must be positive")
	}
	if f.bootstrapExpect < 0 {
		return nil, fs, fmt.Errorf("-bootstrap-expect must not be negative")
	}
	if f.requestTimeout <= 0 {
		return nil, fs, fmt.Errorf("-request-timeout must be positive")
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
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &levelVar}))
	slog.SetDefault(log)
	if err := failpoint.ArmFromEnv(); err != nil { // a failpoints build only
		return err
	}

	if f.nodeID == "" {
		f.nodeID = node.StoredNodeID(f.dataDir)
	}
	if f.nodeID == "" {
		if f.nodeID, err = os.Hostname(); err != nil {
			return fmt.Errorf("no -node-id given and no hostname: %w", err)
		}
	}
	if err := node.ValidNodeID(f.nodeID); err != nil {
		return fmt.Errorf("-node-id: %w", err)
	}

	// Listen before opening the node so that port 0 resolves and the
	// advertised URL is known.
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("listen on -http-addr %s: %w", f.httpAddr, err)
	}
	defer ln.Close()
	httpURL := f.advertiseHTTP
	if httpURL == "" {
		httpURL = "http://" + advertisable(ln.Addr().String())
	}
	httpURL = strings.TrimRight(httpURL, "/")
	var msLn net.Listener
	if f.maxscaleAddr != "" {
		if msLn, err = net.Listen("tcp", f.maxscaleAddr); err != nil {
			return fmt.Errorf("listen on -maxscale-addr %s: %w", f.maxscaleAddr, err)
		}
		defer msLn.Close()
	}
	if f.pprofAddr != "" {
		stopPprof, err := servePprof(f.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.Zone, cfg.DataDir = f.nodeID, f.zone, f.dataDir
	cfg.RaftAddr, cfg.RaftAdvertise, cfg.HTTPURL = f.raftAddr, f.raftAdvertise, httpURL
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = f.snapshotThreshold, f.snapshotInterval, f.trailingLogs
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout, cfg.CommitTimeout = f.heartbeat, f.election, f.lease, f.commit
	cfg.Logger = log
	// A lone node (no -join, no -bootstrap-expect above 1) founds its own
	// zone; with -join, only -bootstrap-expect founds one (safely: see
	// cluster.BootstrapServers), else the zone leader adds it.
	cfg.Bootstrap = f.join == "" && f.bootstrapExpect <= 1
	schema, err := fsm.NewSchema(append(append(maxscale.Kinds(), mrf.Kinds()...), workload.Kinds()...)...)
	if err != nil {
		return err
	}
	// Before the node opens, so that raft's go-metrics reach the registry
	// from its first election on.
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	n, err := node.Open(cfg, schema)
	if err != nil {
		return err
	}
	defer n.Close()
	reg.MustRegister(n.Collector())
	// The supervisor (and its scan of /proc for what a previous run left
	// behind) before gossip starts: the time from joining the pool to
	// looking for founders (-bootstrap-expect) stays as short as it was.
	sup, err := newSupervisor(f, n, httpURL, log)
	if err != nil {
		return err
	}
	// Taken before gossip starts: once this node is in the pool, a zone
	// leader may add it (and give it Raft state) at any moment.
	resumed := n.HasState()
	c, err := cluster.Start(cluster.Config{
		Self: cluster.Meta{ID: n.ID(), Zone: n.Zone(), Controller: f.controller, HTTP: httpURL, Raft: n.RaftAddr(), Version: version,
			RaftID: n.RaftID(), ZoneID: n.KnownZoneID(), State: resumed, Expect: f.bootstrapExpect, LogFormat: fsm.LatestFormat},
		GossipAddr:      f.gossipAddr,
		GossipAdvertise: f.gossipAdvertise,
		Join:            splitList(f.join),
		JoinTimeout:     f.joinTimeout,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	defer c.Shutdown()
	reg.MustRegister(c.Collector())
	n.SetPeerHTTP(c.HTTPOf)
	n.SetPeerFormat(c.LogFormatOf)
	n.OnLeaderChange(c.SetLeader)
	reconciler := cluster.NewReconciler(c, n, f.deadServerTimeout)
	reconciler.Stabilization = f.serverStabilization
	n.OnLeadership(reconciler.Run)
	identityCtx, stopIdentity := context.WithCancel(context.Background())
	defer stopIdentity()
	go advertiseIdentity(identityCtx, c, n)

	limits := cairnhttp.NewLimits(f.maxBodyBytes, f.requestTimeout)
	// The zone's runtime values, stored in Raft, win over the flags: the
	// follow loop applies those already stored, then every change.
	rt := noderuntime.New(&levelVar, limits, n, log)
	followCtx, stopFollow := context.WithCancel(context.Background())
	defer stopFollow()
	go rt.Follow(followCtx, n.Store())
	ms := maxscale.New(n, maxscale.Options{NodeID: n.ID(), CairnVersion: version, Logger: log})
	// MaxScale's monitors probe their servers from the zone leader only.
	n.OnLeadership(ms.RunMonitors)
	// The zone leader follows the controller's MRF deployments into the zone.
	n.OnLeadership(mrf.NewDeployer(n, mrf.NewHTTPController(n, c), log).Run)
	// Workloads: the zone leader schedules, every node supervises what is
	// assigned to it.
	sched := scheduler.New(n, c, log)
	sched.RescheduleTimeout = f.rescheduleTimeout
	sched.Ports, _ = parsePortRange(f.workloadPorts)
	n.OnLeadership(sched.Run)
	supCtx, stopSup := context.WithCancel(context.Background())
	supDone := make(chan struct{})
	go func() { defer close(supDone); sup.Run(supCtx) }()
	stopSupervisor := func() { stopSup(); <-supDone }
	defer stopSupervisor()
	srv := cairnhttp.NewServer(n, limits, log, cairnhttp.WithMembership(c), cairnhttp.WithMetrics(reg), cairnhttp.WithRuntime(rt), cairnhttp.WithDeployTimeout(f.deployTimeout),
		cairnhttp.WithMaxScale(ms.Mounted()), cairnhttp.WithWorkloads(native.WorkloadOptions{Logs: sup, MaxArtifactBytes: f.maxArtifactBytes}))
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	var msSrv *cairnhttp.Server
	if msLn != nil {
		msSrv = cairnhttp.NewDialectServer(n, limits, log, ms.Listener(), maxscale.MainPath)
		go func() { serveErr <- msSrv.Serve(msLn) }()
		log.Info("the MaxScale REST API listens on http://"+msLn.Addr().String()+"/v1/", "component", "maxscale")
	}

	// SIGINT/SIGTERM end the wait for peers too, not only the serving.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := c.Join(ctx); err != nil {
		if ctx.Err() != nil {
			log.Info("stopped by a signal while joining")
			return nil
		}
		return err
	}
	how := "resumed from its data dir"
	switch {
	case n.Bootstrapped():
		how = "bootstrapped a new single-node zone"
	case resumed:
	case n.HasState():
		how = "added to the zone by its leader"
	case f.bootstrapExpect >= 1:
		how = fmt.Sprintf("waiting for %d members of zone %s to bootstrap it", f.bootstrapExpect, n.Zone())
		go bootstrapWhenExpected(ctx, c, n, f.bootstrapExpect, log)
	default:
		how = "waiting for the zone leader to add it"
	}
	if resumed {
		if err := refuseForeignZone(ctx, c, n); err != nil {
			return err
		}
	}
	fmt.Printf("cairn %s: node %s of zone %s listening on %s (raft %s, gossip %s), data dir %s: %s\n",
		version, n.ID(), n.Zone(), httpURL, n.RaftAddr(), c.GossipAddr(), f.dataDir, how)

	select {
	case <-ctx.Done():
		log.Info("shutting down on a signal")
	case err = <-serveErr:
		log.Error("HTTP server stopped", "err", err)
	}
	// Instances stop with the agent (SIGTERM, then SIGKILL after their
	// stop timeout); the next run starts them afresh.
	stopSupervisor()
	// Leave gracefully: hand leadership over first so the zone does not
	// wait out an election, then tell gossip, so the new leader removes
	// this node from the configuration at once.
	if n.IsLeader() {
		if e := n.TransferLeadership(); e != nil {
			log.Info("no leadership transfer before leaving", "reason", e)
		}
	}
	// A leave broadcast goes out within a gossip interval (200ms) when
	// anyone is listening.
	if e := c.Leave(time.Second); e != nil {
		log.Warn("leaving the gossip pool did not finish cleanly", "err", e)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e := srv.Shutdown(shutdownCtx); e != nil {
		log.Warn("HTTP shutdown did not finish cleanly", "err", e)
	}
	if msSrv != nil {
		if e := msSrv.Shutdown(shutdownCtx); e != nil {
			log.Warn("the MaxScale listener's shutdown did not finish cleanly", "err", e)
		}
	}
	if e := n.Close(); e != nil {
		log.Warn("raft shutdown did not finish cleanly", "err", e)
	}
	log.Info("stopped")
	return err
}

// advertiseIdentity keeps the zone id and "has state" of this node's gossip
// metadata up to date: a zone leader adds only members of its own zone, and
// founders found a zone only while nobody has state.
func advertiseIdentity(ctx context.Context, c *cluster.Cluster, n *node.Node) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		c.SetIdentity(n.KnownZoneID(), n.HasState())
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
