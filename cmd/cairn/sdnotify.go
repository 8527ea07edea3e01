package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"time"

	"cairn/node"
)

// sdNotify sends state to systemd's notification socket (sd_notify(3)):
// a datagram to the unix socket NOTIFY_SOCKET names, "@" standing for the
// abstract namespace. Without NOTIFY_SOCKET (not run by systemd with
// Type=notify) it does nothing. The protocol is the few lines below, so
// no library is needed.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// notifyWhenReady tells systemd the agent is ready (READY=1) once the node
// is (it knows a leader and has caught up with it: node.Ready), and
// until then says in STATUS what it waits for. A zone's first node waits
// for its peers: the unit's start has no timeout (see cairn.service).
func notifyWhenReady(ctx context.Context, n *node.Node, log *slog.Logger) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	last := ""
	for {
		ok, why := n.Ready()
		if ok {
			if err := sdNotify("READY=1\nSTATUS=serving"); err != nil {
				log.Warn("could not tell systemd the agent is ready", "err", err)
			}
			return
		}
		if why != last {
			_ = sdNotify("STATUS=not ready yet: " + why)
			last = why
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
