// Package monitor is the zone leader's prober of database servers: a
// leader loop (like cluster's membership reconciler and the workload
// scheduler) that TCP-connects to the servers of every running monitor
// each monitor interval and records a server's reachability through Raft
// when it changes, and only then, so a steady fleet writes nothing.
//
// The monitors and servers are the MaxScale dialect's (http/maxscale):
// it gives the prober a Fleet, which reads them from its store and writes
// the Running bit of a server; the prober knows only intervals, addresses
// and whether a connection opens. MaxScale's own monitors do more (they
// read replication roles over the MySQL protocol); this one probes TCP.
package monitor

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultInterval is MaxScale's monitor_interval default.
const DefaultInterval = 2 * time.Second

// MinInterval bounds how often a monitor may probe; it is also the
// prober's tick.
const MinInterval = 50 * time.Millisecond

// ProbeTimeout bounds one TCP connect (MaxScale's backend_connect_timeout
// default is 3s); it is also held under the monitor's interval.
const ProbeTimeout = 3 * time.Second

// Monitor is a running monitor as the prober sees it.
type Monitor struct {
	ID, Name string
	// Interval is the monitor's monitor_interval; 0 when unset (the
	// prober uses DefaultInterval), never used under MinInterval.
	Interval time.Duration
}

// Server is a server a monitor probes.
type Server struct {
	ID, Name string
	// Addr is the host:port probed.
	Addr string
	// Running is the server's Running bit as stored.
	Running bool
}

// Fleet is what the prober needs of the store its monitors live in.
type Fleet interface {
	// Monitors returns the running (not stopped) monitors.
	Monitors() []Monitor
	// Servers returns the servers monitor id probes: those reached by a
	// TCP address (a server behind a Unix socket is not probed).
	Servers(id string) []Server
	// SetRunning writes server id's Running bit, if it still differs,
	// with the event a monitor records.
	SetRunning(ctx context.Context, id string, up bool) error
}

// Prober is the leader loop.
type Prober struct {
	fleet Fleet
	log   *slog.Logger
}

// New returns the prober of fleet's monitors.
func New(fleet Fleet, log *slog.Logger) *Prober {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{fleet: fleet, log: log.With("component", "maxscale")}
}

// Interval is the interval a monitor probes at: d, DefaultInterval when
// d is 0 or negative, never under MinInterval.
func Interval(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultInterval
	}
	return max(d, MinInterval)
}

// Run probes, until ctx ends, the servers of every running monitor every
// monitor interval: a TCP connect to the server's address with a timeout.
// A server whose Running bit changes is written through Raft, and only
// then. Run it on the zone leader only (the node's OnLeadership): one
// prober per zone, and its writes need no forwarding. The Master and
// Slave bits stay as set and cleared by clients.
func (p *Prober) Run(ctx context.Context) {
	last := map[string]time.Time{} // monitor id → last probe
	tick := time.NewTicker(MinInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		var wg sync.WaitGroup
		for _, m := range p.fleet.Monitors() {
			interval := Interval(m.Interval)
			if now.Sub(last[m.ID]) < interval {
				continue
			}
			last[m.ID] = now
			for _, s := range p.fleet.Servers(m.ID) {
				timeout := min(ProbeTimeout, interval)
				wg.Go(func() {
					up := Probe(ctx, s.Addr, timeout)
					if up == s.Running {
						return
					}
					if err := p.fleet.SetRunning(ctx, s.ID, up); err != nil && ctx.Err() == nil {
						p.log.Warn("could not record a server's new state", "server", s.Name, "address", s.Addr, "running", up, "err", err)
						return
					}
					p.log.Info("monitor "+m.Name+" marked server "+s.Name+" at "+s.Addr+" "+map[bool]string{true: "Running", false: "Down"}[up], "monitor", m.Name, "server", s.Name)
				})
			}
		}
		wg.Wait()
	}
}

// Probe reports whether a TCP connection to addr opens within timeout.
func Probe(ctx context.Context, addr string, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
