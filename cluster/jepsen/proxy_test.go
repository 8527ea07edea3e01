package jepsen

import (
	"io"
	"net"
	"testing"
	"time"
)

// echoTCP serves an echo on ip and returns its address.
func echoTCP(t *testing.T, ip string) string {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// dialFrom connects to addr from ip, as a node does.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one byte and reports whether it came back within wait.
func roundTrip(c net.Conn, wait time.Duration) bool {
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{'x'}); err != nil {
		return false
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err == nil
}

// A partition really cuts TCP between the nodes it separates, in both
// directions, leaves other links and the harness's own traffic alone, and
// healing lets the stalled bytes through.
func TestNet_PartitionCutsTCP(t *testing.T) {
	ips := []string{nodeIP(0), nodeIP(1), nodeIP(2)}
	n := NewNet(ips)
	defer n.Close()
	proxy, err := n.ProxyTCP(ips[0]+":0", echoTCP(t, ips[0]), 0)
	if err != nil {
		t.Fatal(err)
	}
	from1, from2, harness := dialFrom(t, ips[1], proxy), dialFrom(t, ips[2], proxy), dialFrom(t, "127.0.0.1", proxy)
	for _, c := range []net.Conn{from1, from2, harness} {
		if !roundTrip(c, 2*time.Second) {
			t.Fatal("no round trip before any fault")
		}
	}
	n.Partition([]int{0, 2}, []int{1})
	if roundTrip(from1, 300*time.Millisecond) {
		t.Fatal("n2 reached n1 across the partition")
	}
	if !roundTrip(from2, 2*time.Second) || !roundTrip(harness, 2*time.Second) {
		t.Fatal("links the partition does not cut were cut")
	}
	late := dialFrom(t, ips[1], proxy) // a new connection is cut too
	if roundTrip(late, 300*time.Millisecond) {
		t.Fatal("a new connection crossed the partition")
	}
	n.Heal()
	var b [2]byte // from1's stalled byte, then the new one
	from1.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := from1.Write([]byte{'y'}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(from1, b[:]); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}

// A partition drops UDP datagrams across it, both ways, and healing
// restores them.
func TestNet_PartitionDropsUDP(t *testing.T) {
	ips := []string{nodeIP(0), nodeIP(1)}
	n := NewNet(ips)
	defer n.Close()
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ips[0])})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			k, src, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:k], src)
		}
	}()
	proxy, err := n.ProxyUDP(ips[0]+":0", echo.LocalAddr().String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ips[1])})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	pa, _ := net.ResolveUDPAddr("udp", proxy)
	ping := func() bool {
		sender.WriteToUDP([]byte("p"), pa)
		sender.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 64)
		_, _, err := sender.ReadFromUDP(buf)
		return err == nil
	}
	if !ping() {
		t.Fatal("no echo before any fault")
	}
	n.Partition([]int{0}, []int{1})
	if ping() {
		t.Fatal("a datagram crossed the partition")
	}
	n.Heal()
	if !ping() {
		t.Fatal("no echo after healing")
	}
}
