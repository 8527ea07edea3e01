package maxscale

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultMonitorInterval is MaxScale's monitor_interval default.
const defaultMonitorInterval = 2 * time.Second

// minMonitorInterval bounds how often a monitor may probe.
const minMonitorInterval = 50 * time.Millisecond

// probeTimeout bounds one TCP connect (MaxScale's backend_connect_timeout
// default is 3s); it is also held under the monitor's interval.
const probeTimeout = 3 * time.Second

// RunMonitors probes, until ctx ends, the servers of every running monitor
// every monitor_interval: a TCP connect to address:port with a timeout. A
// server whose Running bit changes is written through Raft, and only then,
// so a steady fleet writes nothing. Run it on the zone leader only (the
// node's OnLeadership): one prober per zone, and its writes need no
// forwarding. The Master and Slave bits stay as set and cleared by clients.
func (a *API) RunMonitors(ctx context.Context) {
	log := a.opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "maxscale")
	last := map[string]time.Time{} // monitor id → last probe
	tick := time.NewTicker(minMonitorInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t := newTxn(a.node.View())
		items, _ := t.view.List(KindMonitor, "", "", 0)
		now := time.Now()
		var wg sync.WaitGroup
		for _, it := range items {
			m, err := t.get(it.Kind, it.ID)
			if err != nil || m == nil || m.Stopped {
				continue
			}
			interval := monitorInterval(m.Parameters["monitor_interval"])
			if now.Sub(last[m.id]) < interval {
				continue
			}
			last[m.id] = now
			servers, err := t.lookup(KindServer, "monitor", m.id)
			if err != nil {
				continue
			}
			for _, s := range servers {
				addr, ok := serverAddr(s)
				if !ok {
					continue
				}
				timeout := min(probeTimeout, interval)
				wg.Go(func() {
					up := probe(ctx, addr, timeout)
					if up == hasBit(s.Status, "Running") {
						return
					}
					if err := a.setRunning(ctx, s.id, up); err != nil && ctx.Err() == nil {
						log.Warn("could not record a server's new state", "server", s.Name, "address", addr, "running", up, "err", err)
						return
					}
					log.Info("monitor "+m.Name+" marked server "+s.Name+" at "+addr+" "+map[bool]string{true: "Running", false: "Down"}[up], "monitor", m.Name, "server", s.Name)
				})
			}
		}
		wg.Wait()
	}
}

// setRunning writes the Running bit of server id, if it still differs.
func (a *API) setRunning(ctx context.Context, id string, up bool) error {
	_, err := a.commit(ctx, func(t *txn) error {
		s, err := t.get(KindServer, id)
		if err != nil || s == nil || hasBit(s.Status, "Running") == up {
			return err
		}
		bits := without(s.Status, "Running")
		s.LastEvent = "server_down"
		if up {
			bits = append(bits, "Running")
			s.LastEvent = "server_up"
		}
		s.Status = bits
		s.TriggeredAt = httpDate(a.opts.Now())
		t.touch(s)
		return nil
	})
	return err
}

func hasBit(bits []string, bit string) bool {
	for _, b := range bits {
		if b == bit {
			return true
		}
	}
	return false
}

// monitorInterval is the interval a monitor probes at: its
// monitor_interval, the default when unset, never under the minimum.
func monitorInterval(v any) time.Duration {
	d, ok := parseInterval(v)
	if !ok || d <= 0 {
		return defaultMonitorInterval
	}
	return max(d, minMonitorInterval)
}

// parseInterval reads a monitor_interval: a number of milliseconds, or a
// duration with its unit ("2s", "500ms") as MaxScale 6 accepts. ok is
// false for anything else.
func parseInterval(v any) (d time.Duration, ok bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil && n >= 0 {
			return time.Duration(n) * time.Millisecond, true
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Millisecond, true
		}
		if p, err := time.ParseDuration(x); err == nil && p >= 0 {
			return p, true
		}
	}
	return 0, false
}

// serverAddr is the host:port a server is probed at; servers reached by a
// Unix socket are not probed.
func serverAddr(s *object) (string, bool) {
	host, _ := s.Parameters["address"].(string)
	if host == "" {
		return "", false
	}
	var port string
	switch p := s.Parameters["port"].(type) {
	case json.Number:
		port = p.String()
	case string:
		port = p
	default:
		port = "3306"
	}
	return net.JoinHostPort(strings.TrimSpace(host), port), true
}

// probe reports whether a TCP connection to addr opens within timeout.
func probe(ctx context.Context, addr string, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
