package node

// Command forwarding. A follower that serves a write itself (a request
// whose context carries ForwardCommand: the native API's resource writes)
// sends the leader the command it built, over the Raft port, instead of
// the HTTP forwarder proxying the whole request: the leader then proposes
// it without an HTTP exchange, authentication or audit of its own (the
// follower did those, with what it has applied of the zone's users; the
// version of the user record it relied on rides in the command as a
// precondition: ForwardCommand). The same connection carries a
// follower's requests for the leader's read index, which let it serve a
// ?consistent read itself when it has applied that far
// (CaughtUpWithLeader).
//
// A command connection starts with commandConnMagic, which no Raft RPC
// type is (the Raft port's first byte says which it is: boundStreamLayer.route), and
// the protocol version, then (version 2) the follower's build
// (Config.Build: a uvarint length, then its bytes); the leader echoes the
// version. A leader of version 1 hangs up on a version 2 opening, and
// the follower opens again with version 1 (no build: its commands are
// prepared again). A node older than commands reads the magic byte as an
// unknown RPC and closes the connection: the follower then forwards
// requests over HTTP as before (ForwardsCommands is false for that
// leader). After the handshake each side sends frames (a uvarint length,
// then the payload), the same in both versions, many in flight at once,
// each request answered by the frame with its id:
//
//	request:  id, kind, timeout in ms, then for requestCommand
//	          fsm.EncodeCommand of the prepared command (requestReadIndex:
//	          nothing)
//	response: id, status, index, then the result (statusResult), nothing
//	          (statusIndex: a read index) or the error (statusError: its
//	          kind, whether it was certainly not applied, its message)
//
// What a follower answers when the leader does not: a command whose frame
// was never written (no connection, the handshake failed) was not applied
// and is tried again with whoever leads, for up to leaderWait; a
// connection lost after its frame was written leaves the outcome unknown
// (ErrLeadershipLost), as a lost HTTP forward does.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"cairn/fsm"
	"cairn/internal/binfield"

	"github.com/hashicorp/raft"
)

const (
	// commandConnMagic opens a command connection on the Raft port; Raft's
	// own RPC types are 0-4.
	commandConnMagic byte = 0xCA
	// commandProtoVersion is the version of the opening a follower sends
	// first; commandProtoV1 the one it falls back to (no build).
	commandProtoVersion byte = 2
	commandProtoV1      byte = 1
	// maxBuildLen bounds the build a follower's opening names.
	maxBuildLen = 256
	// maxCommandFrame bounds a frame: a command holds at most a request
	// body (the HTTP limit is far below) and a result the written resources.
	maxCommandFrame = 64 << 20
	// commandLeaderWait bounds how long a command waits for a leader it can
	// reach (an election in progress), as the HTTP forwarder does.
	commandLeaderWait = 3 * time.Second
	// commandDialTimeout bounds connecting to the leader and the handshake.
	commandDialTimeout = 2 * time.Second
	// commandRetryAfterFailure is how long a leader that could not be
	// reached is not dialled again for; commandRetryAfterRefusal, one that
	// hung up on the handshake (an older version, which logs an error each
	// time).
	commandRetryAfterFailure = time.Second
	commandRetryAfterRefusal = 30 * time.Second
	// peerIdleWorkers bounds the goroutines a command connection keeps
	// waiting for requests (workerPool): enough for the leader's default
	// bound of writes in flight.
	peerIdleWorkers = 2 * DefaultMaxApplyInFlight
)

// Request kinds.
const (
	// requestCommand carries a prepared command to propose.
	requestCommand byte = 1
	// requestReadIndex asks for the leader's read index (Node.ReadIndex).
	requestReadIndex byte = 2
)

// Response statuses.
const (
	statusResult byte = 1
	statusError  byte = 2
	statusIndex  byte = 3 // an index alone: a read index
)

// remoteErrorKinds are the sentinels an error crosses the wire as, by
// their position (0: none of them); the first that matches is sent, so
// an error that is also another comes before it.
var remoteErrorKinds = []error{
	nil,
	ErrLeadershipLost, ErrNotLeader, ErrNoLeader, ErrOverloaded, ErrTimeout,
	ErrShutdown, ErrDiskFault, fsm.ErrInvalid, fsm.ErrConflict,
}

// remoteError is an error the leader answered a forwarded command with.
type remoteError struct {
	kind       error // one of remoteErrorKinds, or nil
	msg        string
	notApplied bool
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

type forwardCommandKey struct{}

// forwarded is what ForwardCommand puts in a context.
type forwarded struct {
	checks []fsm.Op
}

// ForwardCommand marks ctx: an Apply made with it on a follower is sent to
// the leader as a command (instead of failing with ErrNotLeader). checks
// are what this node's authorisation of the write relied on (the caller's
// user record at the version the credentials were checked against:
// auth.Principal.Checks): they ride in the command as its last operations,
// so a leader that has changed that record since (this node's replica was
// behind) refuses the write, ErrCredentialsChanged, rather than apply it on
// a stale authorisation.
func ForwardCommand(ctx context.Context, checks ...fsm.Op) context.Context {
	return context.WithValue(ctx, forwardCommandKey{}, forwarded{checks: checks})
}

func forwardsCommand(ctx context.Context) bool {
	_, ok := ctx.Value(forwardCommandKey{}).(forwarded)
	return ok
}

// withChecks returns cmd with ctx's ForwardCommand checks appended (a copy:
// the caller's ops are not touched), and how many ops it had.
func withChecks(ctx context.Context, cmd fsm.Command) (fsm.Command, int) {
	f, _ := ctx.Value(forwardCommandKey{}).(forwarded)
	n := len(cmd.Ops)
	if len(f.checks) > 0 {
		cmd.Ops = append(append(make([]fsm.Op, 0, n+len(f.checks)), cmd.Ops...), f.checks...)
	}
	return cmd, n
}

// withoutChecks turns the result of a command withChecks made back into
// the result of the caller's n ops: a check that failed is
// ErrCredentialsChanged, and the checks' entries are dropped.
func withoutChecks(cmd fsm.Command, n int, res *fsm.Result, err error) (*fsm.Result, error) {
	if res == nil || len(cmd.Ops) == n {
		return res, err
	}
	if c := res.Conflict; c != nil && c.Index == "" {
		for _, check := range cmd.Ops[n:] {
			if c.Kind == check.Kind && c.ID == check.ID && c.Require == check.Require {
				return nil, fmt.Errorf("%w: %s %q is at version %d at the zone leader, not %d as this node read it; the write was not applied, retry it",
					ErrCredentialsChanged, c.Kind, c.ID, c.Version, check.Version)
			}
		}
	}
	out := *res
	if len(out.Resources) > n {
		out.Resources = out.Resources[:n]
	}
	if len(out.Existed) > n {
		out.Existed = out.Existed[:n]
	}
	return &out, err
}

// ForwardsCommands reports whether this node is a follower whose leader
// takes forwarded commands (it connects to find out, once per leader):
// an Apply with ForwardCommand then goes to it. False while there is no
// leader, on the leader, and for a leader of an older version.
func (n *Node) ForwardsCommands() bool {
	if n.IsLeader() {
		return false
	}
	_, err := n.leaderClient()
	return err == nil
}

// leaderClient returns the command connection to the zone's leader (it
// connects to find out, once per leader): ErrNoLeader while there is
// none, ErrNotLeader when it cannot be reached or is of an older version.
func (n *Node) leaderClient() (*commandClient, error) {
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return nil, ErrNoLeader
	}
	c, err := n.commands.client(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: the zone leader at %s cannot be reached: %v", ErrNotLeader, addr, err)
	}
	return c, nil
}

// requestDeadline is when a request to the leader made with ctx gives up:
// ctx's deadline, else Config.ApplyTimeout from now.
func (n *Node) requestDeadline(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(n.cfg.ApplyTimeout)
}

// applyAtLeader sends cmd, with ctx's checks, to the leader and returns
// its answer. The command is prepared here (a bad one is refused here, as the leader
// would) and again by the leader, whose schema is the one that counts.
func (n *Node) applyAtLeader(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	cmd, ops := withChecks(ctx, cmd)
	index, res, err := n.sendToLeader(ctx, cmd)
	res, err = withoutChecks(cmd, ops, res, err)
	return index, res, err
}

// sendToLeader is applyAtLeader's exchange with the leader.
func (n *Node) sendToLeader(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	if err := n.disk.refuse(); err != nil {
		return 0, nil, err
	}
	prepared, err := fsm.PrepareCommand(n.store.Schema(), cmd)
	if err != nil {
		return 0, nil, err
	}
	data, err := fsm.EncodeCommand(prepared)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	deadline := n.requestDeadline(ctx)
	retryUntil := time.Now().Add(commandLeaderWait)
	for {
		if n.IsLeader() { // it may win an election while it waits
			return n.apply(ctx, cmd)
		}
		c, err := n.leaderClient()
		if c != nil {
			a := c.call(ctx, requestCommand, data, deadline)
			if a.index > 0 {
				n.forwarded.NoteWrite(a.index) // read your writes through this node
			}
			if a.res != nil {
				return a.index, a.res, a.res.Err()
			}
			// The leader was deposed before it proposed the command, or the
			// connection failed before the command was sent: try again.
			if !NotApplied(a.err) || !errors.Is(a.err, ErrNotLeader) {
				return a.index, nil, a.err
			}
			err = a.err
		}
		if time.Now().After(retryUntil) || ctx.Err() != nil {
			return 0, nil, err
		}
		select {
		case <-ctx.Done():
		case <-n.closed:
			return 0, nil, ErrShutdown
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// servePeer serves one request a follower sent: a command to propose, or
// a read index to give. sameBuild: the follower runs this node's build.
func (n *Node) servePeer(ctx context.Context, kind byte, data []byte, sameBuild bool) commandAnswer {
	switch kind {
	case requestCommand:
		index, res, err := n.applyForPeer(ctx, data, sameBuild)
		return commandAnswer{index, res, err}
	case requestReadIndex:
		index, err := n.ReadIndex(ctx)
		return commandAnswer{index: index, err: err}
	}
	return commandAnswer{err: fmt.Errorf("%w: unknown request kind %d", fsm.ErrInvalid, kind)}
}

// CaughtUpWithLeader asks the leader for its read index (ReadIndex) over
// the command connection and reports whether this follower has applied
// that far: a read of its store is then linearizable, as one of the
// leader's is after its own barrier (every write acknowledged before the
// call is at or below the index). False when it has not: the caller then
// reads at the leader rather than wait for this node to learn of the
// commit, which it does only with the leader's next append (up to twice
// CommitTimeout later when the leader has nothing new to send). False
// with an error when the leader could not give the index (none, or one
// that takes no requests here): one attempt, no retries.
func (n *Node) CaughtUpWithLeader(ctx context.Context) (bool, error) {
	if n.IsLeader() {
		return false, ErrNotLeader
	}
	if n.raft.LastIndex() > n.raft.AppliedIndex() {
		// Entries held here but not applied are most likely committed
		// and waiting for the leader's next append to say so: this node
		// is behind, and asking would cost a round trip for nothing.
		return false, nil
	}
	c, err := n.leaderClient()
	if err != nil {
		return false, err
	}
	a := c.call(ctx, requestReadIndex, nil, n.requestDeadline(ctx))
	if a.err != nil {
		return false, a.err
	}
	return n.store.Index() >= a.index, nil
}

// applyForPeer proposes a command a follower forwarded; data is its
// encoding, as the follower prepared it. Only this node proposes it: a
// node that no longer leads says so (not applied), and the follower tries
// the next leader.
func (n *Node) applyForPeer(ctx context.Context, data []byte, sameBuild bool) (uint64, *fsm.Result, error) {
	if !n.IsLeader() {
		return 0, nil, ErrNotLeader
	}
	start := time.Now()
	index, res, err := n.proposeForPeer(ctx, data, sameBuild)
	n.metrics.observeApply(time.Since(start), err)
	return index, res, err
}

// proposeForPeer is applyForPeer's proposal. A follower of this node's
// build prepared the command as this node would (the same code checked,
// canonicalised and indexed it): it is proposed as it came, when the
// zone's log format takes prepared commands. Any other is prepared again
// here, as the follower's schema may be behind this one.
func (n *Node) proposeForPeer(ctx context.Context, data []byte, sameBuild bool) (uint64, *fsm.Result, error) {
	release, err := n.holdSlot(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer release()
	if !sameBuild || n.store.View().LogFormat() < fsm.FormatPrepared {
		cmd, err := fsm.DecodeCommand(data)
		if err != nil {
			return 0, nil, err
		}
		cmd.Prepared = false
		for i := range cmd.Ops {
			cmd.Ops[i].Keys = nil
		}
		if data, err = n.encode(cmd); err != nil {
			return 0, nil, err
		}
	}
	return n.propose(ctx, data)
}

// commandService holds a node's command connections: the clients it
// opened to leaders, and the connections followers opened to it.
type commandService struct {
	dial  func(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error)
	build string // this node's Config.Build
	// serve answers a request; sameBuild says its follower runs build.
	serve func(ctx context.Context, kind byte, data []byte, sameBuild bool) commandAnswer

	mu      sync.Mutex
	closed  bool
	peers   map[raft.ServerAddress]*commandPeer
	serving map[net.Conn]struct{}
	wg      sync.WaitGroup // serving connections and their commands
}

// commandPeer is the connection to one leader, or why there is none.
type commandPeer struct {
	ready      chan struct{} // closed once client or err is set
	client     *commandClient
	err        error
	retryAfter time.Time // when to dial again after err
}

// newCommandService serves the requests of followers with serve (by
// their kind), for a node of build; its dial is set once the Raft port is
// open.
func newCommandService(build string, serve func(ctx context.Context, kind byte, data []byte, sameBuild bool) commandAnswer) *commandService {
	return &commandService{build: build, serve: serve, peers: map[raft.ServerAddress]*commandPeer{}, serving: map[net.Conn]struct{}{}}
}

// client returns the connection to the leader at addr, connecting if there
// is none; one that failed is not tried again for
// commandRetryAfterFailure.
func (s *commandService) client(addr raft.ServerAddress) (*commandClient, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrShutdown
	}
	p := s.peers[addr]
	stale := p != nil && isClosed(p.ready) &&
		(p.err != nil && time.Now().After(p.retryAfter) || p.client != nil && p.client.broken())
	if p == nil || stale {
		p = &commandPeer{ready: make(chan struct{})}
		s.peers[addr] = p
		go s.connect(addr, p)
	}
	s.mu.Unlock()
	<-p.ready
	return p.client, p.err
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// connect dials the leader at addr and shakes hands; it fills p.
func (s *commandService) connect(addr raft.ServerAddress, p *commandPeer) {
	defer close(p.ready)
	retryAfter := commandRetryAfterFailure
	conn, refused, err := s.open(addr, commandProtoVersion)
	if refused { // a leader of version 1 hangs up on a version 2 opening
		conn, refused, err = s.open(addr, commandProtoV1)
	}
	if refused {
		retryAfter = commandRetryAfterRefusal
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.closed {
		conn.Close()
		err = ErrShutdown
	}
	if err != nil {
		p.err, p.retryAfter = err, time.Now().Add(retryAfter)
		return
	}
	p.client = newCommandClient(conn)
}

// open dials the leader at addr and opens a command connection of
// version; refused: the leader did not take the opening (it hung up, or
// answered another version), as opposed to one that could not be reached
// or did not answer in time.
func (s *commandService) open(addr raft.ServerAddress, version byte) (conn net.Conn, refused bool, err error) {
	conn, err = s.dial(addr, commandDialTimeout)
	if err != nil {
		return nil, false, err
	}
	if err := handshake(conn, version, s.build); err != nil {
		conn.Close()
		refused = errors.Is(err, errOtherVersion) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
		return nil, refused, err
	}
	return conn, false, nil
}

// errOtherVersion: the leader echoed another protocol version.
var errOtherVersion = errors.New("the leader speaks another command protocol")

// handshake opens a command connection of version (version 2 names
// build): the leader must echo the version (an older node closes the
// connection instead).
func handshake(conn net.Conn, version byte, build string) error {
	_ = conn.SetDeadline(time.Now().Add(commandDialTimeout))
	defer conn.SetDeadline(time.Time{})
	opening := []byte{commandConnMagic, version}
	if version >= 2 {
		opening = binfield.AppendBytes(opening, []byte(build))
	}
	if _, err := conn.Write(opening); err != nil {
		return err
	}
	var v [1]byte
	if _, err := io.ReadFull(conn, v[:]); err != nil {
		return fmt.Errorf("the leader takes no forwarded commands of protocol %d (an older version?): %w", version, err)
	}
	if v[0] != version {
		return fmt.Errorf("%w: %d, not %d", errOtherVersion, v[0], version)
	}
	return nil
}

// readOpening reads the rest of a follower's opening after the magic
// byte: its version and (version 2) its build.
func readOpening(br *bufio.Reader) (version byte, build string, err error) {
	version, err = br.ReadByte()
	if err != nil || version == commandProtoV1 {
		return version, "", err
	}
	if version != commandProtoVersion {
		return version, "", fmt.Errorf("unknown command protocol %d", version)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return version, "", err
	}
	if n > maxBuildLen {
		return version, "", fmt.Errorf("a build of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return version, "", err
	}
	return version, string(b), nil
}

// close closes every command connection, both ways, and waits for the
// commands being served to end.
func (s *commandService) close() {
	s.mu.Lock()
	s.closed = true
	peers := s.peers
	s.peers = map[raft.ServerAddress]*commandPeer{}
	for c := range s.serving {
		c.Close()
	}
	s.mu.Unlock()
	for _, p := range peers {
		<-p.ready
		if p.client != nil {
			p.client.close(ErrShutdown)
		}
	}
	s.wg.Wait()
}

// serveConn serves a command connection a follower opened (its magic
// byte already read) until it closes.
func (s *commandService) serveConn(conn net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.serving[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		conn.Close()
		s.mu.Lock()
		delete(s.serving, conn)
		s.mu.Unlock()
		s.wg.Done()
	}()
	br := bufio.NewReaderSize(conn, 64<<10)
	_ = conn.SetReadDeadline(time.Now().Add(commandDialTimeout))
	v, build, err := readOpening(br)
	if err != nil {
		return
	}
	sameBuild := s.build != "" && build == s.build
	_ = conn.SetReadDeadline(time.Time{})
	out := newFrameWriter(conn)
	defer out.close()
	workers := newWorkerPool(peerIdleWorkers, &s.wg)
	defer workers.close()
	out.send([]byte{v})
	for {
		frame, err := readFrame(br)
		if err != nil {
			return
		}
		id, kind, timeout, data, err := decodeCommandRequest(frame)
		if err != nil {
			return
		}
		workers.run(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			a := s.serve(ctx, kind, data, sameBuild)
			cancel()
			out.send(encodeCommandResponse(id, a))
		})
	}
}

// commandClient is one connection to a leader, carrying many commands at
// once.
type commandClient struct {
	conn net.Conn
	out  *frameWriter

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan commandAnswer
	err     error // set once the connection failed; no more requests
	done    chan struct{}
}

type commandAnswer struct {
	index uint64
	res   *fsm.Result
	err   error
}

func newCommandClient(conn net.Conn) *commandClient {
	c := &commandClient{conn: conn, out: newFrameWriter(conn), pending: map[uint64]chan commandAnswer{}, done: make(chan struct{})}
	go c.readAnswers()
	return c
}

func (c *commandClient) broken() bool { return isClosed(c.done) }

// call sends one request of kind and waits for its answer, until
// deadline.
func (c *commandClient) call(ctx context.Context, kind byte, data []byte, deadline time.Time) commandAnswer {
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return commandAnswer{err: ErrTimeout}
	}
	answer := make(chan commandAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return commandAnswer{err: fmt.Errorf("%w: the connection to the zone leader failed before the request was sent: %v", ErrNotLeader, c.err)}
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = answer
	c.mu.Unlock()
	c.out.send(encodeCommandRequest(id, kind, timeout, data))
	// The leader answers within timeout (its Apply is bounded by it) or
	// the connection fails; the wait is bounded all the same, by ctx's
	// deadline when it has one (an HTTP request's), else by a timer.
	var expired <-chan time.Time
	if dl, ok := ctx.Deadline(); !ok || dl.After(deadline.Add(commandDialTimeout)) {
		t := time.NewTimer(timeout + commandDialTimeout)
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case a := <-answer:
		return a
	case <-expired:
		err = fmt.Errorf("%w: the zone leader did not answer in time; the write may still be applied", ErrLeadershipLost)
	case <-ctx.Done():
		err = fmt.Errorf("%w before the zone leader answered; the write may still be applied", ctx.Err())
	}
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
	return commandAnswer{err: err}
}

// readAnswers hands each answer to its request until the connection
// fails, then fails every request still waiting.
func (c *commandClient) readAnswers() {
	br := bufio.NewReaderSize(c.conn, 64<<10)
	for {
		frame, err := readFrame(br)
		if err == nil {
			var id uint64
			var a commandAnswer
			if id, a, err = decodeCommandResponse(frame); err == nil {
				c.mu.Lock()
				ch := c.pending[id]
				delete(c.pending, id)
				c.mu.Unlock()
				if ch != nil {
					ch <- a
				}
				continue
			}
		}
		c.close(err)
		return
	}
}

// close ends the connection; the requests still waiting may have reached
// the leader: their outcome is unknown.
func (c *commandClient) close(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = cause
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	c.conn.Close()
	c.out.close()
	for _, ch := range pending {
		ch <- commandAnswer{err: fmt.Errorf("%w: the connection to the zone leader failed (%v); the write may still be applied", ErrLeadershipLost, cause)}
	}
}

// frameWriter writes frames from many goroutines through one goroutine,
// which flushes when no more are waiting: frames sent together share a
// write.
type frameWriter struct {
	frames chan []byte
	stop   chan struct{}
	once   sync.Once
}

func newFrameWriter(conn net.Conn) *frameWriter {
	w := &frameWriter{frames: make(chan []byte, 256), stop: make(chan struct{})}
	go w.run(conn)
	return w
}

// send queues p (whole frames, or the handshake's byte); it is dropped
// once the writer is closed.
func (w *frameWriter) send(p []byte) {
	select {
	case w.frames <- p:
	case <-w.stop:
	}
}

func (w *frameWriter) close() { w.once.Do(func() { close(w.stop) }) }

func (w *frameWriter) run(conn net.Conn) {
	bw := bufio.NewWriterSize(conn, 64<<10)
	for {
		var p []byte
		select {
		case p = <-w.frames:
		case <-w.stop:
			return
		}
		yielded := false
		for p != nil {
			if _, err := bw.Write(p); err != nil {
				conn.Close()
				w.close()
				return
			}
			if p = w.queued(); p == nil && !yielded {
				// Once a write: goroutines about to send run first, so
				// that under load their frames share this write.
				yielded = true
				runtime.Gosched()
				p = w.queued()
			}
		}
		if err := bw.Flush(); err != nil {
			conn.Close()
			w.close()
			return
		}
	}
}

// queued returns a frame already queued, or nil.
func (w *frameWriter) queued() []byte {
	select {
	case p := <-w.frames:
		return p
	default:
		return nil
	}
}

// readFrame reads one length-prefixed frame.
func readFrame(br *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > maxCommandFrame {
		return nil, fmt.Errorf("command frame of %d bytes, more than %d", n, maxCommandFrame)
	}
	p := make([]byte, n)
	_, err = io.ReadFull(br, p)
	return p, err
}
