package maxscale

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"time"

	"cairn/cluster/monitor"
)

// Fleet is the monitors and servers of this API's store as the zone
// leader's prober (cluster/monitor) sees them: it reads them and writes
// a server's Running bit, the one thing a probe changes.
func (a *API) Fleet() monitor.Fleet { return fleet{a} }

type fleet struct{ a *API }

// Monitors returns the running monitors; a corrupt one is skipped.
func (f fleet) Monitors() []monitor.Monitor {
	t := newTxn(f.a.node.View())
	items, _ := t.view.List(KindMonitor, "", "", 0)
	out := make([]monitor.Monitor, 0, len(items))
	for _, it := range items {
		m, err := t.get(it.Kind, it.ID)
		if err != nil || m == nil || m.Stopped {
			continue
		}
		d, ok := parseInterval(m.Parameters["monitor_interval"])
		if !ok {
			d = 0 // unset or not an interval: the default
		}
		out = append(out, monitor.Monitor{ID: m.id, Name: m.Name, Interval: d})
	}
	return out
}

// Servers returns the servers monitor id monitors that have a TCP
// address.
func (f fleet) Servers(id string) []monitor.Server {
	t := newTxn(f.a.node.View())
	servers, err := t.lookup(KindServer, "monitor", id)
	if err != nil {
		return nil
	}
	out := make([]monitor.Server, 0, len(servers))
	for _, s := range servers {
		addr, ok := serverAddr(s)
		if !ok {
			continue
		}
		out = append(out, monitor.Server{ID: s.id, Name: s.Name, Addr: addr, Running: hasBit(s.Status, "Running")})
	}
	return out
}

// SetRunning writes the Running bit of server id, if it still differs,
// with MaxScale's event for the change.
func (f fleet) SetRunning(ctx context.Context, id string, up bool) error {
	_, err := f.a.commit(ctx, func(t *txn) error {
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
		s.TriggeredAt = httpDate(f.a.opts.Now())
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
