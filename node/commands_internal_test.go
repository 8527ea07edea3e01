package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/fsm"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Every error kind crosses the wire as the same sentinel, with its
// message and whether it was certainly not applied.
func TestCommandWire_ErrorsKeepTheirKind(t *testing.T) {
	diskErr := writeRefused{&DiskFault{Op: "store logs", Err: io.ErrShortWrite}}
	for _, err := range []error{
		ErrNotLeader, ErrLeadershipLost, ErrNoLeader, ErrOverloaded, ErrTimeout, ErrShutdown,
		diskErr, fmt.Errorf("%w: op 0: bad", fsm.ErrInvalid), errors.New("something else"),
	} {
		id, a, derr := decodeCommandResponse(unframe(t, encodeCommandResponse(7, commandAnswer{index: 3, err: err})))
		if derr != nil || id != 7 || a.index != 3 || a.res != nil {
			t.Fatalf("%v: decoded id %d, %+v, %v", err, id, a, derr)
		}
		if a.err.Error() != err.Error() || NotApplied(a.err) != NotApplied(err) {
			t.Errorf("%v: came back as %q, not applied %v (want %v)", err, a.err, NotApplied(a.err), NotApplied(err))
		}
		for _, k := range remoteErrorKinds[1:] {
			if errors.Is(a.err, k) != errors.Is(err, k) {
				t.Errorf("%v: errors.Is(_, %v) = %v after the wire, %v before", err, k, errors.Is(a.err, k), errors.Is(err, k))
			}
		}
	}
}

// A result comes back whole: resources (and the nil of a delete), the
// conflict, the refusal and what existed.
func TestCommandWire_ResultsRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 23, 30, 1, 123456789, time.UTC)
	for _, res := range []*fsm.Result{
		{Index: 9, Resources: []*fsm.Resource{
			{Kind: "k", ID: "a", Version: 9, CreateIndex: 4, Created: at, Updated: at.Add(time.Second), Body: json.RawMessage(`{"x":1}`)},
			nil,
		}, Existed: []bool{true, false}},
		{Index: 10, Conflict: &fsm.Conflict{Kind: "k", ID: "b", Version: 3, Require: fsm.RequireVersion}, Resources: []*fsm.Resource{}, Existed: []bool{}},
		{Index: 11, Conflict: &fsm.Conflict{Kind: "k", ID: "b", Index: "name", Value: "v", HolderID: "c"}, Resources: []*fsm.Resource{}, Existed: []bool{}},
		{Index: 12, Invalid: "op 0: no", Resources: []*fsm.Resource{}, Existed: []bool{}},
		// a frame whose length takes three bytes
		{Index: 13, Resources: []*fsm.Resource{{Kind: "k", ID: "big", Version: 1, CreateIndex: 13, Created: at, Updated: at,
			Body: json.RawMessage(`"` + strings.Repeat("x", 20000) + `"`)}}, Existed: []bool{false}},
	} {
		id, a, err := decodeCommandResponse(unframe(t, encodeCommandResponse(1, commandAnswer{index: res.Index, res: res})))
		if err != nil || id != 1 || a.index != res.Index || a.err != nil {
			t.Fatalf("%+v: decoded %d, %+v, %v", res, id, a, err)
		}
		if !reflect.DeepEqual(a.res, res) {
			t.Errorf("result changed on the wire:\n got %+v\nwant %+v", a.res, res)
		}
	}
}

// A request keeps its kind, timeout and data; a read index comes back as
// an index alone.
func TestCommandWire_RequestsAndReadIndexRoundTrip(t *testing.T) {
	id, kind, timeout, data, err := decodeCommandRequest(unframe(t, encodeCommandRequest(5, requestReadIndex, 1500*time.Millisecond, nil)))
	if err != nil || id != 5 || kind != requestReadIndex || timeout != 1500*time.Millisecond || len(data) != 0 {
		t.Fatalf("read index request decoded as %d, %d, %s, %q, %v", id, kind, timeout, data, err)
	}
	id, a, err := decodeCommandResponse(unframe(t, encodeCommandResponse(5, commandAnswer{index: 41})))
	if err != nil || id != 5 || a.index != 41 || a.res != nil || a.err != nil {
		t.Fatalf("read index answer decoded as %d, %+v, %v", id, a, err)
	}
}

// A frame cut anywhere is an error, never a panic or a half-read answer.
func TestCommandWire_TruncatedFrames_AreErrors(t *testing.T) {
	res := &fsm.Result{Index: 9, Resources: []*fsm.Resource{{Kind: "k", ID: "a", Version: 9, Body: json.RawMessage(`{}`)}}, Existed: []bool{false}}
	for _, p := range [][]byte{
		unframe(t, encodeCommandResponse(1, commandAnswer{index: 9, res: res})),
		unframe(t, encodeCommandResponse(1, commandAnswer{err: ErrTimeout})),
		unframe(t, encodeCommandResponse(1, commandAnswer{index: 41})),
	} {
		for n := range len(p) {
			if _, _, err := decodeCommandResponse(p[:n]); err == nil {
				t.Errorf("a response cut to %d of %d bytes decoded", n, len(p))
			}
		}
		if _, _, err := decodeCommandResponse(append(p, 0)); err == nil {
			t.Error("a response with a byte too many decoded")
		}
	}
	req := unframe(t, encodeCommandRequest(5, requestCommand, time.Second, []byte("command")))
	for n := range len(req) {
		if _, _, _, _, err := decodeCommandRequest(req[:n]); err == nil {
			t.Errorf("a request cut to %d of %d bytes decoded", n, len(req))
		}
	}
}

// unframe returns the payload of f, which must be one whole frame.
func unframe(t *testing.T, f []byte) []byte {
	t.Helper()
	br := bufio.NewReader(bytesReader(f))
	p, err := readFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	if br.Buffered() > 0 {
		t.Fatalf("%d bytes after the frame's length", br.Buffered())
	}
	return p
}

type bytesReaderT struct{ b []byte }

func bytesReader(b []byte) *bytesReaderT { return &bytesReaderT{b} }
func (r *bytesReaderT) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// fakeLeader listens like a leader's Raft port and runs serve on each
// connection after its first byte; it counts the connections.
func fakeLeader(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (addr raft.ServerAddress, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := br.ReadByte(); err != nil {
					return
				}
				serve(c, br)
			}()
		}
	}()
	return raft.ServerAddress(ln.Addr().String()), conns
}

func dialTCP(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

// A leader of an older version reads the magic byte as an unknown Raft
// RPC and hangs up: no command goes to it (the follower forwards HTTP
// requests instead), and it is not dialled again at once (twice: the
// opening of version 2, then that of version 1).
func TestCommandService_OlderLeader_NotUsed(t *testing.T) {
	addr, conns := fakeLeader(t, func(net.Conn, *bufio.Reader) {})
	s := newCommandService("", nil)
	s.dial = dialTCP
	defer s.close()
	if _, err := s.client(addr); err == nil {
		t.Fatal("a leader that hung up on the handshake was taken for one that takes commands")
	}
	if _, err := s.client(addr); err == nil {
		t.Fatal("second try: taken for one that takes commands")
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("dialled %d times within %s, want twice (protocol 2, then 1)", n, commandRetryAfterRefusal)
	}
}

// The real thing: Raft's own transport (what an older Cairn runs on its
// Raft port) reads the magic byte as an unknown RPC type and hangs up.
func TestCommandService_RaftWithoutCommands_RefusesTheHandshake(t *testing.T) {
	old, _, err := newTCPTransport("127.0.0.1:0", nil, nil, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	s := newCommandService("", nil)
	s.dial = dialTCP
	defer s.close()
	if _, err := s.client(old.LocalAddr()); err == nil {
		t.Fatal("a Raft port without a command server completed the handshake")
	}
}

// clientOfFakeLeader connects a command service (closed at the test's
// end) to a fake leader that takes the opening of the current version and
// then serves the connection with serve; it returns the service, the
// leader's address and the connection.
func clientOfFakeLeader(t *testing.T, serve func(br *bufio.Reader)) (*commandService, raft.ServerAddress, *commandClient) {
	t.Helper()
	addr, _ := fakeLeader(t, func(c net.Conn, br *bufio.Reader) {
		if v, _, err := readOpening(br); err != nil || v != commandProtoVersion {
			return
		}
		c.Write([]byte{commandProtoVersion})
		serve(br)
	})
	s := newCommandService("", nil)
	s.dial = dialTCP
	t.Cleanup(s.close)
	c, err := s.client(addr)
	if err != nil {
		t.Fatal(err)
	}
	return s, addr, c
}

// A connection that fails after a command was sent leaves its outcome
// unknown: the error must not say "not applied".
func TestCommandClient_ConnectionLostAfterSend_OutcomeUnknown(t *testing.T) {
	s, addr, c := clientOfFakeLeader(t, func(br *bufio.Reader) {
		readFrame(br) // the command arrives; the leader dies before answering
	})
	err := c.call(context.Background(), requestCommand, []byte("cmd"), time.Now().Add(5*time.Second)).err
	if !errors.Is(err, ErrLeadershipLost) || NotApplied(err) {
		t.Fatalf("apply over a connection lost after sending = %v; want ErrLeadershipLost, outcome unknown", err)
	}
	// The broken connection is replaced on the next use.
	if _, err := s.client(addr); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
}

// A leader that takes a command and never answers holds the call only
// until its context's deadline or, for a context without one, until the
// request's deadline and commandDialTimeout have passed; either way the
// outcome is unknown.
func TestCommandClient_LeaderNeverAnswers_CallEndsAtTheDeadline(t *testing.T) {
	_, _, c := clientOfFakeLeader(t, func(br *bufio.Reader) {
		for {
			if _, err := readFrame(br); err != nil { // takes every command, answers none
				return
			}
		}
	})
	call := func(ctx context.Context, deadline time.Time) error {
		done := make(chan error, 1)
		go func() { done <- c.call(ctx, requestCommand, []byte("cmd"), deadline).err }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("the call still waits 30 s on")
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	if err := call(ctx, dl); !errors.Is(err, context.DeadlineExceeded) || NotApplied(err) {
		t.Errorf("with the context's deadline: %v; want the deadline passed, outcome unknown", err)
	}
	if err := call(context.Background(), time.Now().Add(100*time.Millisecond)); !errors.Is(err, ErrLeadershipLost) || NotApplied(err) {
		t.Errorf("without a context deadline: %v; want ErrLeadershipLost, outcome unknown", err)
	}
}

// The Raft port hands a connection that starts with the magic byte to the
// command server and every other one to Raft, which still works.
func TestTransport_CommandConnections_GoToCommands(t *testing.T) {
	got := make(chan byte, 1)
	tr, layer, err := newTCPTransport("127.0.0.1:0", nil, nil, func(c net.Conn) {
		defer c.Close()
		var b [1]byte
		io.ReadFull(c, b[:])
		got <- b[0]
	}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	answerRPCs(tr)
	c, err := layer.Dial(tr.LocalAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{commandConnMagic, 42})
	select {
	case b := <-got:
		if b != 42 {
			t.Errorf("the command server read %d after the magic byte, want 42", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command connection never reached the command server")
	}
	from, _, err := newTCPTransport("127.0.0.1:0", nil, nil, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	var resp raft.AppendEntriesResponse
	if err := from.AppendEntries("x", tr.LocalAddr(), &raft.AppendEntriesRequest{}, &resp); err != nil || !resp.Success {
		t.Fatalf("a Raft RPC beside the command connection: %v, %+v", err, resp)
	}
}

// commandLeader listens like a leader's Raft port and hands each
// connection, its magic byte read, to a command service of build whose
// requests serve answers.
func commandLeader(t *testing.T, build string, serve func(ctx context.Context, kind byte, data []byte, sameBuild bool) commandAnswer) raft.ServerAddress {
	t.Helper()
	s := newCommandService(build, serve)
	t.Cleanup(s.close)
	addr, _ := fakeLeader(t, func(c net.Conn, br *bufio.Reader) {
		// serveConn reads from c itself: hand it what br holds too.
		s.serveConn(&bufferedConn{Conn: c, r: br})
	})
	return addr
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// A leader takes a follower's commands as of its own build only when the
// follower's opening names the same, non-empty build; a follower of
// protocol 1 names none.
func TestCommandService_SameBuild_OnlyWhenTheOpeningNamesIt(t *testing.T) {
	for _, tc := range []struct {
		leader, follower string
		version          byte
		want             bool
	}{
		{"b1", "b1", commandProtoVersion, true},
		{"b1", "b2", commandProtoVersion, false},
		{"b1", "", commandProtoVersion, false},
		{"", "", commandProtoVersion, false},
		{"b1", "b1", commandProtoV1, false},
	} {
		name := fmt.Sprintf("leader %q, follower %q, protocol %d", tc.leader, tc.follower, tc.version)
		got := make(chan bool, 1)
		addr := commandLeader(t, tc.leader, func(_ context.Context, _ byte, data []byte, sameBuild bool) commandAnswer {
			got <- sameBuild
			return commandAnswer{index: 7}
		})
		conn, err := dialTCP(addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := handshake(conn, tc.version, tc.follower); err != nil {
			t.Fatalf("%s: handshake: %v", name, err)
		}
		c := newCommandClient(conn)
		a := c.call(context.Background(), requestCommand, []byte("cmd"), time.Now().Add(5*time.Second))
		c.close(ErrShutdown)
		if a.err != nil || a.index != 7 {
			t.Fatalf("%s: answer %+v", name, a)
		}
		if same := <-got; same != tc.want {
			t.Errorf("%s: served with sameBuild %v, want %v", name, same, tc.want)
		}
	}
}

// A leader of protocol 1 hangs up on an opening of protocol 2: the
// follower opens again with protocol 1, and its commands go through.
func TestCommandService_Version1Leader_OpensAgainWithVersion1(t *testing.T) {
	addr, conns := fakeLeader(t, func(c net.Conn, br *bufio.Reader) {
		if v, err := br.ReadByte(); err != nil || v != commandProtoV1 {
			return // what a leader of protocol 1 does
		}
		c.Write([]byte{commandProtoV1})
		for {
			p, err := readFrame(br)
			if err != nil {
				return
			}
			id, _, _, _, err := decodeCommandRequest(p)
			if err != nil {
				return
			}
			c.Write(encodeCommandResponse(id, commandAnswer{index: 9}))
		}
	})
	s := newCommandService("b1", nil)
	s.dial = dialTCP
	defer s.close()
	c, err := s.client(addr)
	if err != nil {
		t.Fatalf("a leader of protocol 1 was not used: %v", err)
	}
	if a := c.call(context.Background(), requestCommand, []byte("cmd"), time.Now().Add(5*time.Second)); a.err != nil || a.index != 9 {
		t.Fatalf("command through a leader of protocol 1: %+v", a)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (protocol 2 refused, then 1)", n)
	}
}

// A leader that takes the connection but does not answer the opening in
// time is not taken for one of protocol 1 (that would keep the follower
// on protocol 1 for as long as the connection lasts): one connection, and
// the failure is not a refusal.
func TestCommandService_SilentLeader_NoFallBackToVersion1(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	addr, conns := fakeLeader(t, func(net.Conn, *bufio.Reader) { <-release })
	s := newCommandService("b1", nil)
	s.dial = dialTCP
	defer s.close()
	_, refused, err := s.open(addr, commandProtoVersion)
	if err == nil || refused {
		t.Fatalf("open against a silent leader: refused %v, %v; want a failure that is not a refusal", refused, err)
	}
	if _, err := s.client(addr); err == nil {
		t.Fatal("a silent leader was taken for one that takes commands")
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one open, one client, no second opening of protocol 1)", n)
	}
}

// The answer to a forwarded 1 KiB write, as the leader encodes it (make
// bench).
func BenchmarkCommandWire_EncodeResponse1KiB(b *testing.B) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	res := &fsm.Result{Index: 9, Resources: []*fsm.Resource{{Kind: "bench", ID: "key-000123", Version: 9, CreateIndex: 4,
		Created: at, Updated: at, Body: json.RawMessage(`"` + strings.Repeat("x", 1022) + `"`)}}, Existed: []bool{true}}
	b.ReportAllocs()
	for b.Loop() {
		encodeCommandResponse(12345, commandAnswer{index: 9, res: res})
	}
}
