package cluster

import (
	"io"
	stdlog "log"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip's TCP connections leave from the IP it binds, as its UDP packets do.
func TestTransport_DialsFromBindIP(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	mc := memberlist.DefaultLANConfig()
	mc.Logger = stdlog.New(io.Discard, "", 0)
	tr, err := newBoundTransport("127.0.0.3", 0, mc)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown()
	if mc.BindPort == 0 || mc.AdvertisePort != mc.BindPort {
		t.Fatalf("port 0 not resolved into the config: bind %d advertise %d", mc.BindPort, mc.AdvertisePort)
	}
	for _, dial := range []func() (net.Conn, error){
		func() (net.Conn, error) { return tr.DialTimeout(peer.Addr().String(), time.Second) },
		func() (net.Conn, error) {
			return tr.DialAddressTimeout(memberlist.Address{Addr: peer.Addr().String()}, time.Second)
		},
	} {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		s, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if ip := s.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.3" {
			t.Errorf("gossip dialled from %s, want 127.0.0.3", s.RemoteAddr())
		}
		s.Close()
		c.Close()
	}
}
