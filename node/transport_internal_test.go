package node

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Raft's outgoing connections leave from the IP it listens on, so a peer
// (or a fault-injecting proxy) can tell nodes apart by source address.
func TestTransport_DialsFromBindIP(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	tr, err := newTCPTransport("127.0.0.3:0", nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		if c, err := peer.Accept(); err == nil {
			accepted <- c.RemoteAddr()
			c.Close()
		}
	}()
	// Any RPC dials the peer; its answer does not matter here.
	go tr.AppendEntries("p", raft.ServerAddress(peer.Addr().String()), &raft.AppendEntriesRequest{}, &raft.AppendEntriesResponse{})
	select {
	case a := <-accepted:
		if ip := a.(*net.TCPAddr).IP.String(); ip != "127.0.0.3" {
			t.Fatalf("raft dialled from %s, want 127.0.0.3", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("raft never dialled the peer")
	}
}

func TestTransport_UnspecifiedBindNeedsAdvertise(t *testing.T) {
	if tr, err := newTCPTransport("0.0.0.0:0", nil, hclog.NewNullLogger()); err == nil {
		tr.Close()
		t.Fatal("a 0.0.0.0 raft address without an advertise address was accepted")
	}
	adv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}
	tr, err := newTCPTransport("0.0.0.0:0", adv, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := string(tr.LocalAddr()); got != "127.0.0.1:7000" {
		t.Fatalf("advertised %s, want 127.0.0.1:7000", got)
	}
}
