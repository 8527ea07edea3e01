package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// client sends one worker's requests, one at a time, each over the
// worker's own keep-alive HTTP/1.1 connection to its node (one a node,
// opened when first needed). It writes a request by hand in one write and
// reads the answer with net/http's parser.
//
// Why not net/http's Transport: it hands each request from the caller's
// goroutine to the connection's writer and reader goroutines and back,
// three wake-ups a request. The load generator shares the host with the
// zone it measures, and at c=64 it spent ~60 µs of CPU a request there
// (wrk ~20 µs), a quarter of the host's: what it took from the zone
// flattened every rate it measured.
type client struct {
	timeout time.Duration
	// preferMinimal asks for PUTs' answers without the resource.
	preferMinimal bool
	tls           *tls.Config      // for https nodes: HTTP/1.1 only, the server name set per node
	nodes         map[string]*node // by base URL
	buf           []byte           // the request being written
}

// node is a base URL taken apart once, and the connection to it.
type node struct {
	https    bool
	host     string      // the Host header
	hostname string      // the TLS server name
	dial     string      // host:port
	prefix   string      // a path the base URL has, without a trailing slash
	conn     *clientConn // nil until a request opens it
}

// clientConn is one open connection and the reader of its answers.
type clientConn struct {
	net.Conn
	br *bufio.Reader
	// stop ends the watch that cuts the connection short when the run's
	// context ends.
	stop func() bool
}

// newClient returns a client; tlsConfig (nil: the system's roots) is what
// https nodes are verified with.
func newClient(timeout time.Duration, tlsConfig *tls.Config, preferMinimal bool) *client {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsConfig = tlsConfig.Clone()
	tlsConfig.NextProtos = []string{"http/1.1"}
	return &client{timeout: timeout, tls: tlsConfig, preferMinimal: preferMinimal, nodes: map[string]*node{}}
}

// errClosedBeforeAnswer is a kept-alive connection that the server closed
// before it answered anything (send sends a GET again on a new one).
var errClosedBeforeAnswer = errors.New("connection closed before an answer")

// send makes one request to the node at base (path and query after it)
// within the client's timeout, reads the answer to its end and returns its
// status and headers. Only a GET is sent again, once, when a connection
// that had served earlier requests turns out closed; net/http's Transport
// does the same (a PUT is not replayed: it may have been applied).
func (c *client) send(ctx context.Context, method, base, path string, body []byte, hdr, val string) (status int, header http.Header, err error) {
	n, err := c.node(base)
	if err != nil {
		return 0, nil, err
	}
	for attempt := 0; ; attempt++ {
		cc, reused, err := c.conn(ctx, n)
		if err != nil {
			return 0, nil, err
		}
		status, header, keep, err := c.roundTrip(ctx, cc, n, method, path, body, hdr, val)
		if err == nil {
			if !keep {
				n.drop()
			}
			return status, header, nil
		}
		n.drop()
		if !reused || attempt > 0 || method != http.MethodGet || !errors.Is(err, errClosedBeforeAnswer) {
			return 0, nil, err
		}
	}
}

// roundTrip writes one request on cc and reads its answer; keep is false
// when the server closes the connection after it (Connection: close).
func (c *client) roundTrip(ctx context.Context, cc *clientConn, n *node, method, path string, body []byte, hdr, val string) (status int, header http.Header, keep bool, err error) {
	if err := cc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, nil, false, err
	}
	// Checked after the deadline is set: a context that ends from here on
	// has its watch move the deadline to the past.
	if err := ctx.Err(); err != nil {
		return 0, nil, false, err
	}
	b := append(c.buf[:0], method...)
	b = append(b, ' ')
	b = append(b, n.prefix...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, n.host...)
	b = append(b, "\r\nUser-Agent: cairn-bench\r\n"...)
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	if hdr != "" {
		b = append(b, hdr...)
		b = append(b, ": "...)
		b = append(b, val...)
		b = append(b, "\r\n"...)
	}
	if c.preferMinimal && method == http.MethodPut {
		b = append(b, "Prefer: return=minimal\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.buf = b
	if _, err := cc.Write(b); err != nil {
		return 0, nil, false, cause(ctx, closedBeforeAnswer(err))
	}
	if _, err := cc.br.Peek(1); err != nil {
		return 0, nil, false, cause(ctx, closedBeforeAnswer(err))
	}
	hr, err := http.ReadResponse(cc.br, nil)
	if err != nil {
		return 0, nil, false, cause(ctx, err)
	}
	_, err = io.Copy(io.Discard, hr.Body)
	hr.Body.Close()
	if err != nil {
		return 0, nil, false, cause(ctx, err)
	}
	return hr.StatusCode, hr.Header, !hr.Close, nil
}

// closedBeforeAnswer marks err as errClosedBeforeAnswer when it says the
// server had closed the connection (nothing of an answer was read yet).
func closedBeforeAnswer(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %w", errClosedBeforeAnswer, err)
	}
	return err
}

// cause names the run's end instead of the deadline it set off.
func cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// node takes base apart, once.
func (c *client) node(base string) (*node, error) {
	if n, ok := c.nodes[base]; ok {
		return n, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	n := &node{https: u.Scheme == "https", host: u.Host, hostname: u.Hostname(), dial: u.Host, prefix: u.EscapedPath()}
	if u.Port() == "" {
		port := "80"
		if n.https {
			port = "443"
		}
		n.dial = net.JoinHostPort(n.hostname, port)
	}
	c.nodes[base] = n
	return n, nil
}

// conn returns the open connection to n, or opens one; reused tells
// which.
func (c *client) conn(ctx context.Context, n *node) (cc *clientConn, reused bool, err error) {
	if n.conn != nil {
		return n.conn, true, nil
	}
	dialCtx, cancel := context.WithTimeout(ctx, min(c.timeout, 5*time.Second))
	defer cancel()
	conn, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(dialCtx, "tcp", n.dial)
	if err != nil {
		return nil, false, err
	}
	if n.https {
		cfg := c.tls
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = n.hostname
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			conn.Close()
			return nil, false, err
		}
		conn = tc
	}
	cc = &clientConn{Conn: conn, br: bufio.NewReaderSize(conn, 16<<10)}
	cc.stop = context.AfterFunc(ctx, func() { cc.SetDeadline(time.Unix(1, 0)) })
	n.conn = cc
	return cc, false, nil
}

// drop closes the connection to n, after a failure or a Connection:
// close; the next request opens another.
func (n *node) drop() {
	if n.conn != nil {
		n.conn.stop()
		n.conn.Close()
		n.conn = nil
	}
}

// close closes every connection.
func (c *client) close() {
	for _, n := range c.nodes {
		n.drop()
	}
}
