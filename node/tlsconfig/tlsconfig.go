// Package tlsconfig is a node's one TLS setup: the certificate it serves
// and presents, the CA it verifies peers with, and the tls.Configs and HTTP
// clients derived from them. Every listener and every node-to-node
// connection (Raft, write forwarding, the controller links, status probes,
// log gathering) takes its settings from here, so none is set up by hand
// and none is forgotten when TLS is turned on.
//
// A nil *Config means TLS is off: its methods then give plain HTTP clients
// and nil tls.Configs.
//
// What is verified:
//
//   - With a CA (-tls-ca): every outgoing connection verifies the peer's
//     chain against that CA only, and its name (the host of the address
//     dialled must be in the certificate). Raft's listener also requires a
//     client certificate signed by the CA (mutual TLS). HTTP listeners do
//     not ask clients for certificates.
//   - Without a CA: outgoing connections verify the peer against the
//     system's roots plus this node's own certificate (pinned), and its
//     name. Nodes sharing one certificate, or holding certificates of a
//     public CA, reach each other; a node with a self-signed certificate
//     of its own reaches only itself. Nobody's client certificate is
//     asked for.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// ErrNoCertInCA means the -tls-ca file held no PEM certificate.
var ErrNoCertInCA = errors.New("no PEM certificate in the CA file")

// Config is this node's TLS material.
type Config struct {
	cert tls.Certificate
	// ca is the pool of -tls-ca; nil without one.
	ca *x509.CertPool
	// roots is what outgoing connections verify peers against.
	roots *x509.CertPool
}

// Load reads the certificate and key (PEM) and, if caFile is not empty,
// the CA certificates that peers must chain to.
func Load(certFile, keyFile, caFile string) (*Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load -tls-cert %s and -tls-key %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse -tls-cert %s: %w", certFile, err)
	}
	cert.Leaf = leaf
	c := &Config{cert: cert}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read -tls-ca: %w", err)
		}
		c.ca = x509.NewCertPool()
		if !c.ca.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca %s: %w", caFile, ErrNoCertInCA)
		}
		c.roots = c.ca
		// A node whose own certificate the CA does not sign would be
		// refused by every peer, and would refuse itself: say so now.
		inter := x509.NewCertPool() // the rest of -tls-cert's chain
		for _, der := range cert.Certificate[1:] {
			if ic, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(ic)
			}
		}
		opts := x509.VerifyOptions{Roots: c.ca, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := leaf.Verify(opts); err != nil {
			return nil, fmt.Errorf("-tls-cert %s is not signed by -tls-ca %s: %w", certFile, caFile, err)
		}
		return c, nil
	}
	if c.roots, err = x509.SystemCertPool(); err != nil || c.roots == nil {
		c.roots = x509.NewCertPool()
	}
	// Pinned: x509 accepts a chain of one certificate that is itself in
	// the roots, so this node can reach itself and nodes sharing its
	// certificate.
	c.roots.AddCert(leaf)
	return c, nil
}

// Enabled reports whether TLS is on.
func (c *Config) Enabled() bool { return c != nil }

// Mutual reports whether Raft requires CA-signed client certificates.
func (c *Config) Mutual() bool { return c != nil && c.ca != nil }

// Scheme is the scheme of this node's HTTP URLs: "https" with TLS, else
// "http".
func (c *Config) Scheme() string {
	if c == nil {
		return "http"
	}
	return "https"
}

// Certificate is this node's own certificate, leaf parsed.
func (c *Config) Certificate() tls.Certificate { return c.cert }

// minVersion: TLS 1.2 is the oldest without known breaks that every
// client of the product APIs speaks.
const minVersion = tls.VersionTLS12

// HTTPServer is the configuration of an HTTP listener: this node's
// certificate, no client certificate asked for (clients authenticate with
// the APIs' own schemes). Nil when TLS is off.
func (c *Config) HTTPServer() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{MinVersion: minVersion, Certificates: []tls.Certificate{c.cert}}
}

// RaftServer is the configuration of Raft's listener: with a CA, a client
// certificate signed by it is required (mutual TLS). Nil when TLS is off.
func (c *Config) RaftServer() *tls.Config {
	if c == nil {
		return nil
	}
	tc := &tls.Config{MinVersion: minVersion, Certificates: []tls.Certificate{c.cert}}
	if c.ca != nil {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		tc.ClientCAs = c.ca
	}
	return tc
}

// Client is the configuration of a connection to another node: the peer
// is verified against the CA (or the system roots and the pinned own
// certificate), and this node's certificate is presented for Raft's
// mutual TLS. serverName is the host dialled; empty lets net/http fill
// it in. Nil when TLS is off.
func (c *Config) Client(serverName string) *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{MinVersion: minVersion, RootCAs: c.roots, ServerName: serverName,
		Certificates: []tls.Certificate{c.cert}}
}

// ClientFor is Client for a connection to addr (host:port): the host is
// the name verified.
func (c *Config) ClientFor(addr string) *tls.Config {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return c.Client(host)
}

// Transport returns a new HTTP transport for requests to other nodes:
// no proxy, a short dial timeout (a peer that does not answer in 2 s is
// treated as down), keep-alives, and TLS as configured. maxIdlePerHost
// is how many idle connections it keeps per peer.
func (c *Config) Transport(maxIdlePerHost int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     c.Client(""),
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: maxIdlePerHost,
		IdleConnTimeout:     90 * time.Second,
	}
}

// Secure returns rt set up for TLS to other nodes when rt is an
// *http.Transport and TLS is on (a clone with Client's configuration;
// its other settings kept), else rt as it is: for a client that builds
// its own transport.
func (c *Config) Secure(rt http.RoundTripper) http.RoundTripper {
	t, ok := rt.(*http.Transport)
	if c == nil || !ok {
		return rt
	}
	t = t.Clone()
	t.TLSClientConfig = c.Client("")
	return t
}

// HTTPClient returns a client for requests to other nodes over
// Transport, with an overall timeout (0: none; the request's context
// bounds it). It does not follow redirects: a node's answer is passed on
// as it is.
func (c *Config) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: c.Transport(16), Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
