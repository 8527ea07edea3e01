package monitor_test

import (
	"context"
	"net"
	"testing"
	"time"

	"cairn/cluster/monitor"
)

func TestInterval_DefaultAndFloor(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{0, monitor.DefaultInterval},
		{-time.Second, monitor.DefaultInterval},
		{time.Millisecond, monitor.MinInterval},
		{5 * time.Second, 5 * time.Second},
	} {
		if got := monitor.Interval(c.in); got != c.want {
			t.Errorf("Interval(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestProbe_OpenAndClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if !monitor.Probe(context.Background(), addr, time.Second) {
		t.Errorf("a listening port %s probed down", addr)
	}
	ln.Close()
	if monitor.Probe(context.Background(), addr, time.Second) {
		t.Errorf("a closed port %s probed up", addr)
	}
}
