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

	"cairn/fsm"
	cairnhttp "cairn/http"
	"cairn/node"
)

// agentFlags are `cairn agent`'s settings; every flag can also be set by
// the environment variable CAIRN_<NAME> (-node-id is CAIRN_NODE_ID).
type agentFlags struct {
	nodeID, dataDir, zone, logLevel string
	httpAddr, advertiseHTTP         string
	raftAddr, raftAdvertise         string
	maxBodyBytes                    int64
	requestTimeout                  time.Duration
	snapshotThreshold, trailingLogs uint64
	snapshotInterval                time.Duration
	heartbeat, election, lease      time.Duration
	commit                          time.Duration
}

func parseAgentFlags(args []string) (*agentFlags, *flag.FlagSet, error) {
	def := node.DefaultConfig()
	f := &agentFlags{}
	fs := flag.NewFlagSet("cairn agent", flag.ContinueOnError)
	fs.StringVar(&f.nodeID, "node-id", "", "this node's id, unique in the domain (default: the id recorded in the data dir, else the hostname)")
	fs.StringVar(&f.dataDir, "data-dir", "./data", "where the Raft log, snapshots and node id live")
	fs.StringVar(&f.zone, "zone", def.Zone, "the zone this node belongs to")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
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
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if fs.NArg() > 0 {
		return nil, fs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return nil, fs, err
	}
	if f.maxBodyBytes < 1 {
		return nil, fs, fmt.Errorf("-max-body-bytes must be positive")
	}
	if f.requestTimeout <= 0 {
		return nil, fs, fmt.Errorf("-request-timeout must be positive")
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
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func runAgent(args []string) error {
	f, _, err := parseAgentFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("-log-level %q: want debug, info, warn or error", f.logLevel)
	}
	var levelVar slog.LevelVar
	levelVar.Set(level)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &levelVar}))
	slog.SetDefault(log)

	if f.nodeID == "" {
		f.nodeID = node.StoredNodeID(f.dataDir)
	}
	if f.nodeID == "" {
		if f.nodeID, err = os.Hostname(); err != nil {
			return fmt.Errorf("no -node-id given and no hostname: %w", err)
		}
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

	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.Zone, cfg.DataDir = f.nodeID, f.zone, f.dataDir
	cfg.RaftAddr, cfg.RaftAdvertise, cfg.HTTPURL = f.raftAddr, f.raftAdvertise, httpURL
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = f.snapshotThreshold, f.snapshotInterval, f.trailingLogs
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout, cfg.CommitTimeout = f.heartbeat, f.election, f.lease, f.commit
	cfg.Logger = log
	schema, err := fsm.NewSchema()
	if err != nil {
		return err
	}
	n, err := node.Open(cfg, schema)
	if err != nil {
		return err
	}
	srv := cairnhttp.NewServer(n, cairnhttp.NewLimits(f.maxBodyBytes, f.requestTimeout), log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	how := "resumed from its data dir"
	if n.Bootstrapped() {
		how = "bootstrapped a new single-node zone"
	}
	fmt.Printf("cairn %s: node %s of zone %s listening on %s (raft %s), data dir %s: %s\n",
		version, n.ID(), n.Zone(), httpURL, n.RaftAddr(), f.dataDir, how)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
	case err = <-serveErr:
		log.Error("HTTP server stopped", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e := srv.Shutdown(ctx); e != nil {
		log.Warn("HTTP shutdown did not finish cleanly", "err", e)
	}
	if e := n.Close(); e != nil {
		log.Warn("raft shutdown did not finish cleanly", "err", e)
	}
	log.Info("stopped")
	return err
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
