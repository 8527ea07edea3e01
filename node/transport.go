package node

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// boundStreamLayer is raft's TCP stream layer with one difference: outgoing
// connections leave from the IP that Raft listens on (when that is a
// specific address) instead of whichever one the kernel picks. Peers,
// firewalls and the fault-injecting proxies of cluster/jepsen then see one
// address per node in both directions.
type boundStreamLayer struct {
	net.Listener
	advertise net.Addr
	local     *net.TCPAddr // source of dialled connections; nil lets the kernel choose
}

// newTCPTransport listens on bindAddr and returns raft's network transport
// over a boundStreamLayer; advertise, if set, is the address peers dial.
func newTCPTransport(bindAddr string, advertise net.Addr, logger hclog.Logger) (*raft.NetworkTransport, error) {
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, err
	}
	layer := &boundStreamLayer{Listener: ln, advertise: advertise}
	bound := ln.Addr().(*net.TCPAddr)
	if !bound.IP.IsUnspecified() {
		layer.local = &net.TCPAddr{IP: bound.IP}
	}
	if a, ok := layer.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("%w: %s (set -raft-advertise)", errNotAdvertisable, layer.Addr())
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 5, Timeout: 10 * time.Second, Logger: logger,
	}), nil
}

// Dial connects to a peer from the layer's local IP.
func (s *boundStreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if s.local != nil {
		d.LocalAddr = s.local
	}
	return d.Dial("tcp", string(addr))
}

// Addr is the address peers dial: the advertised one if set.
func (s *boundStreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}
