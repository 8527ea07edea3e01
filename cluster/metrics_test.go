package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/cluster"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// freeGossipAddr returns a 127.0.0.1 address whose port was free for TCP
// and UDP a moment ago.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
	}
	t.Fatal("no free port for gossip")
	return ""
}

func mustStart(t *testing.T, id, zone string, join ...string) *cluster.Cluster {
	t.Helper()
	addr := freeGossipAddr(t)
	c, err := cluster.Start(cluster.Config{
		Self:        cluster.Meta{ID: id, Zone: zone, HTTP: "http://" + id + ".test", Raft: id + ".test:1"},
		GossipAddr:  addr,
		Join:        join,
		JoinTimeout: 10 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start gossip for %s: %v", id, err)
	}
	t.Cleanup(func() { c.Shutdown() })
	if err := c.Join(context.Background()); err != nil {
		t.Fatalf("%s join: %v", id, err)
	}
	return c
}

const membersWant = `
# HELP cairn_gossip_members Nodes of the domain this node's gossip knows, by zone and status.
# TYPE cairn_gossip_members gauge
cairn_gossip_members{status="alive",zone="z1"} 1
cairn_gossip_members{status="alive",zone="z2"} 1
cairn_gossip_members{status="dead",zone="z1"} 0
cairn_gossip_members{status="dead",zone="z2"} 0
cairn_gossip_members{status="left",zone="z1"} 0
cairn_gossip_members{status="left",zone="z2"} 0
cairn_gossip_members{status="suspect",zone="z1"} 0
cairn_gossip_members{status="suspect",zone="z2"} 0
`

func Test_Collector_MembersByZoneAndStatus(t *testing.T) {
	a := mustStart(t, "a", "z1")
	b := mustStart(t, "b", "z2", a.GossipAddr())
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.Collector())

	deadline := time.Now().Add(10 * time.Second)
	for {
		err := testutil.GatherAndCompare(reg, strings.NewReader(membersWant), "cairn_gossip_members")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members of a two-zone domain: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := b.Leave(5 * time.Second); err != nil {
		t.Fatalf("b leaves: %v", err)
	}
	want := map[string]float64{"alive": 0, "left": 1}
	deadline = time.Now().Add(10 * time.Second)
	for {
		ok := true
		for st, v := range want {
			got, err := gaugeOf(reg, "z2", st)
			if err != nil {
				t.Fatal(err)
			}
			ok = ok && got == v
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after b left: zone z2 never showed alive 0, left 1")
		}
		time.Sleep(20 * time.Millisecond)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// gaugeOf returns cairn_gossip_members{zone, status}.
func gaugeOf(reg *prometheus.Registry, zone, status string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != "cairn_gossip_members" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["zone"] == zone && labels["status"] == status {
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, nil
}
