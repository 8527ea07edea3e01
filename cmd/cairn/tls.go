package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

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
