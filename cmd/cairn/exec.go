package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"cairn/cluster/scheduler"
	"cairn/node"
	"cairn/node/workload"
)

// newSupervisor builds this node's workload supervisor from the flags,
// after killing whatever a previous run on the data dir left behind.
func newSupervisor(f *agentFlags, n *node.Node, httpURL string, peers http.RoundTripper, log *slog.Logger) (*workload.Supervisor, error) {
	enabled := f.exec == "true"
	if f.exec == "auto" {
		enabled = allLoopback(f.httpAddr, f.raftAddr, f.gossipAddr, f.maxscaleAddr, f.apceraAddr, f.routerAddr)
	}
	var cred *syscall.Credential
	switch {
	case f.execUser != "" && os.Geteuid() != 0:
		return nil, fmt.Errorf("-exec-user %s: only an agent running as root can run instances as another user", f.execUser)
	case f.execUser != "":
		u, err := user.Lookup(f.execUser)
		if err != nil {
			return nil, fmt.Errorf("-exec-user: %w", err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("-exec-user %s: uid %q or gid %q is not a number", f.execUser, u.Uid, u.Gid)
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	case enabled && os.Geteuid() == 0:
		log.Warn("the agent runs as root and no -exec-user is set: workload instances run as root", "component", "supervisor")
	}
	if !enabled {
		log.Info("the executor is off: instances assigned to this node are reported failed (-exec)", "component", "supervisor", "exec", f.exec)
	}
	var engine *workload.ContainerDriver
	if enabled {
		// Looked for once, at start: a daemon started later is seen at
		// the agent's next start. A CLI without its daemon is no engine.
		var err error
		if engine, err = workload.DetectEngine(context.Background(), n.DataDir(), log); err != nil {
			log.Info("no working container engine: workloads with an image do not run on this node", "component", "supervisor", "why", err)
		} else {
			log.Info("workloads with an image run here as containers", "component", "supervisor", "engine", engine.Name())
		}
	}
	sup, err := workload.New(workload.Config{NodeID: n.ID(), DataDir: n.DataDir(), Enabled: enabled, Credential: cred,
		Engine: engine, Report: workload.HTTPReport(httpURL, peers), Logger: log}, n)
	if err != nil {
		return nil, err
	}
	sup.CleanLeftovers()
	return sup, nil
}

// parsePortRange reads -workload-ports, "lo-hi".
func parsePortRange(s string) (scheduler.PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1024 || b > 65535 || a > b {
		return scheduler.PortRange{}, fmt.Errorf("-workload-ports %q: want a range such as 20000-29999 within 1024-65535", s)
	}
	return scheduler.PortRange{Lo: a, Hi: b}, nil
}

// allLoopback reports whether every non-empty listen address is on a
// loopback host.
func allLoopback(addrs ...string) bool {
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		if host == "localhost" {
			continue
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}
