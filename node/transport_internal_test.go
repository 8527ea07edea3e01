package node

import (
	"errors"
	"net"
	"testing"
	"time"

	"cairn/node/tlsconfig"
	"cairn/node/tlsconfig/tlstest"

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
	tr, _, err := newTCPTransport("127.0.0.3:0", nil, nil, nil, hclog.NewNullLogger())
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
	if tr, _, err := newTCPTransport("0.0.0.0:0", nil, nil, nil, hclog.NewNullLogger()); err == nil {
		tr.Close()
		t.Fatal("a 0.0.0.0 raft address without an advertise address was accepted")
	}
	adv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}
	tr, _, err := newTCPTransport("0.0.0.0:0", adv, nil, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := string(tr.LocalAddr()); got != "127.0.0.1:7000" {
		t.Fatalf("advertised %s, want 127.0.0.1:7000", got)
	}
}

// mustTLS loads a node's TLS setup signed by ca (its own CA file).
func mustTLS(t *testing.T, ca *tlstest.CA, name string) *tlsconfig.Config {
	t.Helper()
	cert, key := ca.MustIssue(t, name, "127.0.0.1")
	tc, err := tlsconfig.Load(cert, key, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// answerRPCs answers every AppendEntries tr receives, until it closes.
func answerRPCs(tr *raft.NetworkTransport) {
	go func() {
		for rpc := range tr.Consumer() {
			rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
		}
	}()
}

// With a CA, Raft is mutual TLS: members signed by the CA talk; a node
// whose certificate another CA signed is refused in both directions.
func TestTransport_MutualTLS(t *testing.T) {
	ca, other := tlstest.MustNewCA(t, "zone"), tlstest.MustNewCA(t, "other")
	a, _, err := newTCPTransport("127.0.0.1:0", nil, mustTLS(t, ca, "a"), nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _, err := newTCPTransport("127.0.0.1:0", nil, mustTLS(t, ca, "b"), nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rogue, _, err := newTCPTransport("127.0.0.1:0", nil, mustTLS(t, other, "rogue"), nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	plain, _, err := newTCPTransport("127.0.0.1:0", nil, nil, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	answerRPCs(a)
	answerRPCs(b)
	answerRPCs(rogue)
	send := func(from, to *raft.NetworkTransport) error {
		var resp raft.AppendEntriesResponse
		err := from.AppendEntries("x", to.LocalAddr(), &raft.AppendEntriesRequest{}, &resp)
		if err == nil && !resp.Success {
			err = errors.New("not answered")
		}
		return err
	}
	if err := send(a, b); err != nil {
		t.Fatalf("a -> b: %v", err)
	}
	if err := send(b, a); err != nil {
		t.Fatalf("b -> a: %v", err)
	}
	if err := send(rogue, a); err == nil {
		t.Fatal("a accepted an RPC from a client whose certificate another CA signed")
	}
	if err := send(a, rogue); err == nil {
		t.Fatal("a sent an RPC to a server whose certificate another CA signed")
	}
	if err := send(plain, a); err == nil {
		t.Fatal("a accepted a plain TCP RPC")
	}
}
