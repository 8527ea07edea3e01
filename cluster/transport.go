package cluster

import (
	"net"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// boundTransport is memberlist's NetTransport whose TCP connections leave
// from the IP gossip binds (when that is a specific address), as its UDP
// packets already do. Every peer then sees one address per node, which is
// what the fault-injecting proxies of cluster/jepsen tell nodes apart by.
type boundTransport struct {
	*memberlist.NetTransport
	local *net.TCPAddr // nil lets the kernel choose
}

// newBoundTransport binds gossip's UDP and TCP listeners on host:port. Port
// 0 picks a free one, which is then written into mc, as memberlist does for
// its own transport (retrying, since UDP and TCP must both get that port).
func newBoundTransport(host string, port int, mc *memberlist.Config) (*boundTransport, error) {
	var nt *memberlist.NetTransport
	var err error
	for try := 0; try < 10; try++ {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host}, BindPort: port, Logger: mc.Logger,
		})
		if err == nil || port != 0 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if mc.AdvertisePort == mc.BindPort {
			mc.AdvertisePort = nt.GetAutoBindPort()
		}
		mc.BindPort = nt.GetAutoBindPort()
	}
	t := &boundTransport{NetTransport: nt}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		t.local = &net.TCPAddr{IP: ip}
	}
	return t, nil
}

// DialTimeout connects to a peer's gossip port from the local IP.
func (t *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if t.local != nil {
		d.LocalAddr = t.local
	}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout is DialTimeout for memberlist's node-aware callers;
// NetTransport's own would bypass the override above.
func (t *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}
