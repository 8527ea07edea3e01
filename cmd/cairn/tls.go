package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"cairn/node/auth"
	"cairn/node/tlsconfig"
)

// defaultMaxConcurrent is -max-concurrent-requests' default: far above
// what a zone's clients, forwards and blocking watches use together
// (`cairn bench -c 64` through every node stays well under it), low enough
// that a flood of slow requests gets 503s before it exhausts memory or
// file descriptors.
const defaultMaxConcurrent = 1024

// loadTLS reads the TLS flags: nil when TLS is off. -tls-self-signed makes
// its pair in <data-dir>/tls once (naming the loopback addresses, the
// hostname and the hosts this node advertises) and reuses it afterwards.
func loadTLS(f *agentFlags) (*tlsconfig.Config, error) {
	cert, key := f.tlsCert, f.tlsKey
	if f.tlsSelfSigned {
		var hosts []string
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		for _, addr := range []string{f.httpAddr, f.raftAddr, f.raftAdvertise, f.maxscaleAddr} {
			if h, _, err := net.SplitHostPort(addr); err == nil {
				hosts = append(hosts, h)
			}
		}
		if u, err := url.Parse(f.advertiseHTTP); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
		var err error
		if cert, key, err = tlsconfig.SelfSigned(filepath.Join(f.dataDir, "tls"), hosts...); err != nil {
			return nil, fmt.Errorf("-tls-self-signed: %w", err)
		}
	}
	if cert == "" {
		return nil, nil
	}
	return tlsconfig.Load(cert, key, f.tlsCA)
}

// warnInClear says at start what crosses the network unprotected: the
// defaults bind loopback, where nothing does, so the warnings are for a
// node opened to the network without the TLS or gossip key flags.
func warnInClear(f *agentFlags, tc *tlsconfig.Config, log *slog.Logger) {
	log = log.With("component", "tls")
	switch {
	case !tc.Enabled() && !allLoopback(f.httpAddr, f.maxscaleAddr, f.raftAddr):
		log.Warn("TLS is off on listeners that are not loopback: requests, credentials and Raft's log cross the network in the clear (-tls-cert/-tls-key/-tls-ca)",
			"http_addr", f.httpAddr, "raft_addr", f.raftAddr)
	case tc.Enabled() && !tc.Mutual() && !allLoopback(f.raftAddr):
		log.Warn("TLS without -tls-ca: Raft does not ask its clients for certificates, so anyone who reaches -raft-addr can speak Raft to this node",
			"raft_addr", f.raftAddr)
	}
	if f.gossipSecret == nil && !allLoopback(f.gossipAddr) {
		log.Warn("gossip is not encrypted (-gossip-key): anyone who reaches -gossip-addr can join the domain's pool and read its members",
			"gossip_addr", f.gossipAddr)
	}
}

// peerWrap is the wrap of a member-to-member client's transport: TLS as
// configured (tlsconfig.Secure), then this node's own credentials
// (auth.NodeCredentials.Wrap).
func (a *agentRun) peerWrap(rt http.RoundTripper) http.RoundTripper {
	return a.peers.Wrap(a.tls.Secure(rt))
}

// domainKey is the key members of every zone sign their calls to each
// other with, derived from -gossip-key (the one secret a domain's zones
// share: auth.DomainKey); nil without one, when member tokens hold in
// their own zone only.
func (a *agentRun) domainKey() *auth.Key {
	if a.f.gossipSecret == nil {
		return nil
	}
	return auth.DomainKey(a.f.gossipSecret)
}
