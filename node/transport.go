package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"cairn/node/tlsconfig"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// boundStreamLayer is raft's TCP stream layer with two differences:
// outgoing connections leave from the IP that Raft listens on (when that
// is a specific address) instead of whichever one the kernel picks, so
// peers, firewalls and the fault-injecting proxies of cluster/jepsen see
// one address per node in both directions; and, with TLS on, every
// connection is TLS (mutual when a CA is given: see tlsconfig).
//
// It also carries command connections (commands.go): a connection whose
// first byte is commandConnMagic goes to commands, the rest to Raft.
type boundStreamLayer struct {
	net.Listener
	advertise net.Addr
	local     *net.TCPAddr      // source of dialled connections; nil lets the kernel choose
	tls       *tlsconfig.Config // nil: plain TCP
	commands  func(net.Conn)    // serves a command connection; nil: none taken

	startOnce sync.Once
	raftConns chan net.Conn
	done      chan struct{} // closed when the listener fails (closed)
	acceptErr error         // why, set before done is closed
}

// tlsHandshakeTimeout bounds a Raft connection's TLS handshake, on either
// side: a peer that connects and sends nothing must not hold a goroutine.
const tlsHandshakeTimeout = 10 * time.Second

// newTCPTransport listens on bindAddr and returns raft's network transport
// over a boundStreamLayer; advertise, if set, is the address peers dial;
// tc, if not nil, puts every connection under TLS.
// commands, if not nil, serves the command connections.
func newTCPTransport(bindAddr string, advertise net.Addr, tc *tlsconfig.Config, commands func(net.Conn), logger hclog.Logger) (*raft.NetworkTransport, *boundStreamLayer, error) {
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, nil, err
	}
	layer := &boundStreamLayer{Listener: ln, advertise: advertise, tls: tc, commands: commands,
		raftConns: make(chan net.Conn), done: make(chan struct{})}
	bound := ln.Addr().(*net.TCPAddr)
	if !bound.IP.IsUnspecified() {
		layer.local = &net.TCPAddr{IP: bound.IP}
	}
	if a, ok := layer.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, nil, fmt.Errorf("%w: %s (set -raft-advertise)", errNotAdvertisable, layer.Addr())
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 5, Timeout: 10 * time.Second, Logger: logger,
	}), layer, nil
}

// Accept returns the next Raft connection. Connections are accepted, and
// their first byte read, in goroutines of their own (under TLS the
// handshake happens then), so a slow peer never holds up the others.
func (s *boundStreamLayer) Accept() (net.Conn, error) {
	s.startOnce.Do(func() { go s.acceptLoop() })
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.done:
		return nil, s.acceptErr
	}
}

func (s *boundStreamLayer) acceptLoop() {
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.acceptErr = err
			close(s.done)
			return
		}
		if s.tls != nil {
			c = &handshakeConn{Conn: tls.Server(c, s.tls.RaftServer())}
		}
		go s.route(c)
	}
}

// route reads c's first byte and hands c to Raft (that byte still to be
// read) or to the command server.
func (s *boundStreamLayer) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(tlsHandshakeTimeout))
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if first[0] == commandConnMagic && s.commands != nil {
		s.commands(c)
		return
	}
	select {
	case s.raftConns <- &peekedConn{Conn: c, first: first[0], unread: true}:
	case <-s.done:
		c.Close()
	}
}

// peekedConn is a connection whose first byte was read already: its first
// Read returns it.
type peekedConn struct {
	net.Conn
	first  byte
	unread bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.unread && len(p) > 0 {
		c.unread = false
		p[0] = c.first
		return 1, nil
	}
	return c.Conn.Read(p)
}

// Dial connects to a peer from the layer's local IP; under TLS the
// handshake (which verifies the peer) completes before it returns.
func (s *boundStreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if s.local != nil {
		d.LocalAddr = s.local
	}
	c, err := d.Dial("tcp", string(addr))
	if err != nil || s.tls == nil {
		return c, err
	}
	tc := tls.Client(c, s.tls.ClientFor(string(addr)))
	if timeout <= 0 || timeout > tlsHandshakeTimeout {
		timeout = tlsHandshakeTimeout
	}
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("raft TLS handshake with %s: %w", addr, err)
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

// Addr is the address peers dial: the advertised one if set.
func (s *boundStreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}

// handshakeConn is an accepted TLS connection whose handshake runs, under
// tlsHandshakeTimeout, on its first read or write.
type handshakeConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		_ = c.Conn.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
		if c.err = c.Conn.Handshake(); c.err != nil {
			c.err = fmt.Errorf("raft TLS handshake with %s: %w", c.RemoteAddr(), c.err)
			return
		}
		_ = c.Conn.SetDeadline(time.Time{})
	})
	return c.err
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
