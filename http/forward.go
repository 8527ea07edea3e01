package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/http/httpx"
	"cairn/http/mrf"
	"cairn/http/native"
	"cairn/node"
	"cairn/node/tlsconfig"
)

// HopHeader marks a request one node forwarded to another; a node that
// gets it but is not the leader answers 503 rather than forward again, so
// a stale view of the leader cannot make a loop.
const HopHeader = "X-Cairn-Forwarded-By"

// ReadAfterHeader carries, on a read a follower forwards because it is
// behind (readAtLeader), the index the read must be served after: the
// leader may be new and not yet have applied the writes the follower
// forwarded to its predecessor.
const ReadAfterHeader = "X-Cairn-Read-After"

// leaderWait bounds how long a write waits for a zone leader to appear (an
// election in progress) before it is refused with 503.
const leaderWait = 3 * time.Second

// catchUpWait bounds how long a read on a follower waits for the follower
// to apply the writes it forwarded before it is served anyway.
const catchUpWait = 5 * time.Second

// Leadership is what forwarding needs of the node.
type Leadership interface {
	ID() string
	IsLeader() bool
	Leader() (id, httpURL string)
	WaitIndex(ctx context.Context, index uint64) error
	// Forwarded is what this node forwarded to the leader: what it serves
	// itself must agree with the leader's answers.
	Forwarded() *node.Forwarded
	// AppliedIndex is the index the local store has applied.
	AppliedIndex() uint64
	// ReadBarrier makes the next local read linearizable; leader only.
	ReadBarrier(ctx context.Context) error
	// Servers is the zone's Raft configuration: the members whose hop
	// header is believed.
	Servers() ([]node.Server, error)
}

// CaughtUpHeader is set to "false" on a read's answer when this node had
// not yet applied every write it forwarded (it waited catchUpWait): the
// answer may not show them.
const CaughtUpHeader = "X-Cairn-Caught-Up"

// forwarder proxies writes and consistent reads to the zone leader.
type forwarder struct {
	node      Leadership
	log       *slog.Logger
	transport http.RoundTripper
	metrics   *httpMetrics // nil records nothing
	// rewritePath, if set, maps the request's path to the leader's: a
	// dialect's own listener forwards to the leader's main listener.
	rewritePath func(string) string // proxies holds one *httputil.ReverseProxy per leader URL.
	proxies     sync.Map
	// forwarding holds a token per request being forwarded (nil: no
	// bound): beyond the leader's own bound of writes in flight, more would
	// only queue there to be refused.
	forwarding chan struct{}
}

// saturated reports whether this node has its limit of requests being
// forwarded to the leader.
func (f *forwarder) saturated() bool {
	return f.forwarding != nil && len(f.forwarding) >= cap(f.forwarding)
}

// takeSlot takes one of this node's slots for requests being forwarded to
// the leader and returns its release, or nil when every slot is taken.
func (f *forwarder) takeSlot() (release func()) {
	if f.forwarding == nil {
		return func() {}
	}
	select {
	case f.forwarding <- struct{}{}:
		return func() { <-f.forwarding }
	default:
		return nil
	}
}

func newForwarder(n Leadership, log *slog.Logger) *forwarder {
	// The request's own deadline bounds the wait for the leader's answer.
	return &forwarder{node: n, log: log, transport: (*tlsconfig.Config)(nil).Transport(128)}
}

// mustForward reports whether r has to be served by the leader: every
// write, and reads that ask for ?consistent.
func mustForward(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.URL.Query().Has("consistent")
	}
	return true
}

// wrap forwards what the leader must serve and passes the rest to next.
func (f *forwarder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f.diskFault(r); err != nil {
			unavailableNotApplied(w, r, fmt.Sprintf("node %s takes no writes: %v", f.node.ID(), err))
			return
		}
		leader := f.node.IsLeader()
		if !leader && f.behindItsWrites(r) && f.readAtLeader(w, r) {
			return
		}
		if leader || !(mustForward(r) || f.forwardedRead(r)) {
			f.awaitForwarded(w, r)
			if isWrite(r) {
				var release func()
				if r, release = f.admit(w, r); release == nil {
					return
				}
				defer release()
			}
			f.serveHere(next, w, r)
			return
		}
		if isConsistentRead(r) && f.readHere(next, w, r) {
			return
		}
		if by := r.Header.Get(HopHeader); by != "" && !f.fromMember(by, r.RemoteAddr) {
			// A client's own header, not a member's hop: it says nothing
			// of leadership, and is replaced when this node forwards.
			r.Header.Del(HopHeader)
		}
		if by := r.Header.Get(HopHeader); by != "" {
			f.metrics.forwardFailed(forwardHopRefused)
			unavailableNotApplied(w, r,
				fmt.Sprintf("node %s forwarded this request here, but %s does not lead the zone either (leadership is changing); retry", by, f.node.ID()))
			return
		}
		release := f.takeSlot()
		if release == nil {
			f.metrics.forwardFailed(forwardSaturated)
			unavailableNotApplied(w, r, fmt.Sprintf("node %s is already forwarding its limit of %d requests to the zone leader (overloaded); retry", f.node.ID(), cap(f.forwarding)))
			return
		}
		defer release()
		if isWrite(r) {
			defer f.node.Forwarded().StartWrite()()
		}
		if f.rewritePath == nil && isResourceWrite(r) {
			if c, ok := f.node.(commandForwarder); ok && c.ForwardsCommands() {
				// Served here, its command sent to the leader: one HTTP
				// exchange instead of two. The leader refuses it if the
				// caller's user changed since this node checked it.
				f.metrics.forwardedOne()
				checks := httpx.PrincipalFrom(r.Context()).Checks()
				next.ServeHTTP(w, r.WithContext(node.ForwardCommand(r.Context(), checks...)))
				return
			}
		}
		// The body is read whole before anything is sent: a broken, late or
		// over-limit body is the client's fault, answered here with 400,
		// 408 or 413 as the leader would, not a forward failure or a 503
		// "retry".
		if !bufferBody(w, r) {
			return
		}
		f.forwardUntilAnswered(next, w, r)
	})
}

// behindItsWrites reports whether r is a plain read of native resources
// and this follower has not yet applied every write it forwarded, with
// none in flight: the leader, which has applied them, had better serve
// r (readAtLeader). A follower learns of a commit only with the leader's
// next append; with none due (no write of its own in flight) that comes
// up to twice the commit timeout later, and a client reading right after
// its own write through a follower waited that long. With writes in
// flight the append is due soon, and waiting for it costs less than a
// forward (a 20/80 write/read mix through a follower at c=64 ran at 0.79×
// when every such read was forwarded).
//
// Only resource reads qualify: every node holds the same resources, while
// other reads may be of this node (its status, metrics, logs, artifacts
// it stores); ?stale reads are local by definition, and blocking reads
// (?index) wait where they were asked.
func (f *forwarder) behindItsWrites(r *http.Request) bool {
	fw := f.node.Forwarded()
	if fw.Writing() || f.node.AppliedIndex() >= fw.WriteIndex() || !isResourceRead(r) {
		return false // the usual case, decided without parsing the query
	}
	q := r.URL.Query()
	return !q.Has("stale") && !q.Has("index") && !q.Has("consistent")
}

// readAtLeader forwards the read r to the leader once and reports whether
// an answer was written. It writes nothing and reports false when no
// other node is known to lead, this node is at its bound of forwards, or the leader
// refused the connection: r is then served here, once this node has
// caught up (awaitForwarded), as if it had never been sent.
func (f *forwarder) readAtLeader(w http.ResponseWriter, r *http.Request) bool {
	leaderID, leaderURL := f.node.Leader()
	if leaderURL == "" || leaderID == f.node.ID() { // stepping down: no one to ask
		return false
	}
	release := f.takeSlot()
	if release == nil {
		return false
	}
	defer release()
	r.Header.Set(ReadAfterHeader, strconv.FormatUint(f.node.Forwarded().Floor(), 10))
	f.metrics.forwardedOne()
	return f.forwardOnce(w, r, leaderURL, true) == forwardAnswered
}

// forwardedRead reports whether r is a resource read that another member
// forwarded here (readAtLeader) to be served by the leader: this node,
// if it no longer leads, may lack the writes the other one forwarded, so
// it must not serve it (it answers 503, as for any hop that finds no
// leader).
func (f *forwarder) forwardedRead(r *http.Request) bool {
	by := r.Header.Get(HopHeader)
	return by != "" && isResourceRead(r) && f.fromMember(by, r.RemoteAddr)
}

// isResourceRead reports whether r reads native resources on the main
// listener.
func isResourceRead(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, "/cairn/v1/resources/")
}

// readHere serves the ?consistent read r on this follower when the
// leader's read index, asked over the command connection, shows this node
// has applied every write acknowledged before r (node.Node.
// CaughtUpWithLeader): the leader then reads and answers nothing. It
// reports false, having written nothing, when the follower is behind or
// the index could not be had: r is then forwarded to the leader, which is
// quicker than waiting for this node to learn of the latest commit.
func (f *forwarder) readHere(next http.Handler, w http.ResponseWriter, r *http.Request) bool {
	c, ok := f.node.(readIndexer)
	if !ok {
		return false
	}
	caughtUp, err := c.CaughtUpWithLeader(r.Context())
	if err != nil || !caughtUp {
		return false
	}
	next.ServeHTTP(w, r.WithContext(httpx.WithReadBarrier(r.Context())))
	return true
}

// readIndexer is a follower that can ask its leader for the read index
// (node.Node.CaughtUpWithLeader).
type readIndexer interface {
	CaughtUpWithLeader(ctx context.Context) (bool, error)
}

// commandForwarder is a follower that can send the leader a command it
// built (node.Node.ForwardsCommands).
type commandForwarder interface {
	ForwardsCommands() bool
}

// isResourceWrite reports whether r writes one native resource: its
// handler reads nothing before it writes (the command's preconditions are
// checked where it is applied), so a follower may serve it and send the
// leader only the command.
func isResourceWrite(r *http.Request) bool {
	return (r.Method == http.MethodPut || r.Method == http.MethodDelete) && strings.HasPrefix(r.URL.Path, "/cairn/v1/resources/")
}

// writeAdmitter is a node that bounds the writes it serves as leader
// (node.Node.AdmitWrite).
type writeAdmitter interface {
	AdmitWrite(ctx context.Context) (context.Context, func(), error)
}

// admitBodyMax is the largest body a write may have to take its slot
// before its handler runs: its body is read first, in memory.
const admitBodyMax = 1 << 20

// admit takes one of the leader's write slots for r once its body has
// been read (a slow client then holds no slot while it sends), and
// returns r with the slot in its context, and the slot's release; or
// answers r (503 not applied, or the body's error) and returns a nil
// release. A write whose body is larger than admitBodyMax or of unknown
// length (an upload, streamed by its handler), a restore, and a write that
// waits on purpose (a synchronous MRF deploy) take their slot only in
// Apply, as other callers of Apply do.
func (f *forwarder) admit(w http.ResponseWriter, r *http.Request) (*http.Request, func()) {
	a, ok := f.node.(writeAdmitter)
	if !ok || r.ContentLength < 0 || r.ContentLength > admitBodyMax || native.IsRestore(r) || mrf.Waits(r) {
		return r, func() {}
	}
	if !bufferBody(w, r) {
		return r, nil
	}
	ctx, release, err := a.AdmitWrite(r.Context())
	if err != nil {
		native.WriteNotApplied(w, http.StatusServiceUnavailable, overloadedMessage)
		return r, nil
	}
	return r.WithContext(ctx), release
}

// bufferBody reads r's body whole (it is bounded by the body limit) and
// puts it back in memory, where it can be sent again (a forward that the
// leader refused before reading it is retried). A body that could not be
// read is answered, 400, 408 or 413, and bufferBody returns false.
func bufferBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	b, err := httpx.ReadBody(r)
	if err != nil {
		native.WriteError(w, bodyStatus(err), err.Error())
		return false
	}
	r.ContentLength, r.TransferEncoding = int64(len(b)), nil
	r.Body = httpx.NewMemoryBody(b)
	if len(b) == 0 {
		r.Body = http.NoBody // else a transport would send it chunked
	}
	return true
}

// forwardUntilAnswered forwards r to the leader until an answer (the
// leader's, or a failure) is written. A leader that refuses the connection
// never saw the request: it is forwarded again, to whoever leads next, for
// up to leaderWait.
func (f *forwarder) forwardUntilAnswered(next http.Handler, w http.ResponseWriter, r *http.Request) {
	retryUntil := time.Now().Add(leaderWait)
	for attempt := 0; ; attempt++ {
		leaderURL, err := f.awaitLeader(r.Context())
		if err != nil {
			unavailableNotApplied(w, r, err.Error())
			return
		}
		if leaderURL == "" { // this node became leader meanwhile
			f.serveHere(next, w, r)
			return
		}
		if attempt == 0 {
			f.metrics.forwardedOne()
		}
		mayRetry := time.Now().Before(retryUntil) && r.Context().Err() == nil
		if f.forwardOnce(w, r, leaderURL, mayRetry) == forwardAnswered {
			return
		}
		f.log.Info("the zone leader refused the connection; forwarding again", "leader", leaderURL, "method", r.Method, "path", r.URL.Path)
		select {
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// forwardOutcome is what one forward to the leader came to.
type forwardOutcome int

const (
	// forwardAnswered: an answer was written (the leader's, or a 503).
	forwardAnswered forwardOutcome = iota
	// forwardRefused: the leader refused the connection before any of the
	// request was sent, and retrying was allowed: nothing was written.
	forwardRefused
)

// outcomeKey carries, in a forwarded request's context, where the proxy's
// error handler records a refused connection (the proxies are shared by
// every request to one leader).
type outcomeKey struct{}

type forwardAttempt struct {
	mayRetry bool
	outcome  forwardOutcome
}

// forwardOnce proxies r to the leader at leaderURL once.
func (f *forwarder) forwardOnce(w http.ResponseWriter, r *http.Request, leaderURL string, mayRetry bool) forwardOutcome {
	p, err := f.proxyTo(leaderURL)
	if err != nil {
		f.metrics.forwardFailed(forwardBadLeaderURL)
		unavailableNotApplied(w, r, fmt.Sprintf("the leader's address %q is not a URL", leaderURL))
		return forwardAnswered
	}
	attempt := &forwardAttempt{mayRetry: mayRetry}
	p.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, attempt)))
	return attempt.outcome
}

// awaitForwarded holds a request served here until this node has applied
// every write it forwarded to the leader and saw applied there (read your
// writes through one node) and the index of every read the leader served
// for it (its answers never go back in time). The forwarded write itself
// is answered as soon as the leader answers; the follower learns the
// commit index only with the leader's next append (up to the commit
// timeout later), and making every forwarded write wait for that halved a
// follower's write rate. A read that finds this node behind its writes is
// forwarded rather than held (behindItsWrites), so the wait here is
// mostly for the index of such a read, which the follower applies with
// the next append. A read a member forwarded because it was behind waits
// for the index it names (ReadAfterHeader).
func (f *forwarder) awaitForwarded(w http.ResponseWriter, r *http.Request) {
	idx := f.node.Forwarded().Floor()
	if s := r.Header.Get(ReadAfterHeader); s != "" {
		// A member's read, forwarded because that member was behind.
		if after, err := strconv.ParseUint(s, 10, 64); err == nil && f.fromMember(r.Header.Get(HopHeader), r.RemoteAddr) {
			idx = max(idx, after)
		}
	}
	if idx == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), catchUpWait)
	defer cancel()
	if err := f.node.WaitIndex(ctx, idx); err != nil && r.Context().Err() == nil {
		w.Header().Set(CaughtUpHeader, "false")
		f.log.Warn("serving a request before this node applied the writes it forwarded", "index", idx, "err", err)
	}
}

// serveHere serves r on this node. A ?consistent read first passes the
// leader's read barrier, here, once, for every dialect: a deposed leader
// that still believes it leads answers 503 instead of its stale view.
func (f *forwarder) serveHere(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if isConsistentRead(r) {
		if err := f.node.ReadBarrier(r.Context()); err != nil {
			native.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("a consistent read needs the zone leader's confirmation: %v; retry", err))
			return
		}
		r = r.WithContext(httpx.WithReadBarrier(r.Context()))
	}
	next.ServeHTTP(w, r)
}

// diskFault returns the node's disk fault (node.ErrDiskFault) if r is a
// write and the node has one: a node that cannot store Raft's log takes
// no writes, not even to forward them (it could not apply them, so a read
// through it would not see them). Reads go on, from what it holds.
func (f *forwarder) diskFault(r *http.Request) error {
	if !isWrite(r) {
		return nil
	}
	if d, ok := f.node.(interface{ DiskFault() error }); ok {
		return d.DiskFault()
	}
	return nil
}

// isConsistentRead reports whether r is a read that asks for ?consistent.
func isConsistentRead(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return r.URL.Query().Has("consistent")
	}
	return false
}

// bodyStatus is the status of a request body that could not be read.
func bodyStatus(err error) int {
	switch {
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, httpx.ErrBodyTimeout):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// fromMember reports whether a hop header naming node id came from that
// member of the zone: id is in the Raft configuration and the request
// comes from the host of its Raft address. A client cannot then make a
// follower refuse its request as a forwarding loop by sending the header.
func (f *forwarder) fromMember(id, remoteAddr string) bool {
	servers, err := f.node.Servers()
	if err != nil {
		return false
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID != id {
			continue
		}
		sh, _, err := net.SplitHostPort(s.Address)
		return err == nil && sameHost(sh, host)
	}
	return false
}

// sameHost compares two hosts as IP addresses when they are, else as names.
func sameHost(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia != nil && ib != nil {
		return ia.Equal(ib)
	}
	return a == b
}

// unavailableNotApplied answers 503 for a request the leader never got; a
// write's answer says it was not applied (native.AppliedHeader), which
// means nothing for a read.
func unavailableNotApplied(w http.ResponseWriter, r *http.Request, msg string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		native.WriteNotApplied(w, http.StatusServiceUnavailable, msg)
		return
	}
	native.WriteError(w, http.StatusServiceUnavailable, msg)
}

// neverSent reports whether a forward failed before any of r reached the
// leader: the connection could not be made and the body is unread.
func neverSent(err error, r *http.Request) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	b, ok := r.Body.(*httpx.MemoryBody) // the transport closes a body even when it never read it
	return !ok || b.Unread()
}

// awaitLeader returns the leader's HTTP URL, waiting up to leaderWait for
// an election to finish; "" means this node is the leader now.
func (f *forwarder) awaitLeader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if f.node.IsLeader() {
			return "", nil
		}
		id, u := f.node.Leader()
		if id != "" && u != "" {
			return u, nil
		}
		select {
		case <-ctx.Done():
			if id != "" {
				f.metrics.forwardFailed(forwardLeaderAddrUnknown)
				return "", fmt.Errorf("the zone leader %s has not advertised its HTTP address yet; retry", id)
			}
			f.metrics.forwardFailed(forwardNoLeader)
			return "", errors.New("the zone has no leader right now; retry")
		case <-tick.C:
		}
	}
}

// proxyBuffers lends the proxies the buffers they copy the leader's
// answers through: without it each forwarded request allocated one of
// 32 KiB, most of a follower's garbage under write load.
var proxyBuffers = &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// proxyTo returns the reverse proxy to the leader at leaderURL, one per
// leader, kept for the connections it pools.
func (f *forwarder) proxyTo(leaderURL string) (*httputil.ReverseProxy, error) {
	if p, ok := f.proxies.Load(leaderURL); ok {
		return p.(*httputil.ReverseProxy), nil
	}
	target, err := url.Parse(leaderURL)
	if err != nil {
		return nil, err
	}
	p := &httputil.ReverseProxy{
		Transport:  f.transport,
		BufferPool: proxyBuffers,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if f.rewritePath != nil {
				pr.Out.URL.Path = f.rewritePath(pr.In.URL.Path)
				pr.Out.URL.RawPath = ""
			}
			pr.SetXForwarded()
			pr.Out.Header.Set(HopHeader, f.node.ID())
		},
		// What is served here next waits for the index the leader
		// applied this write at, or served this read at (awaitForwarded).
		ModifyResponse: func(resp *http.Response) error {
			idx, err := strconv.ParseUint(resp.Header.Get("X-Cairn-Index"), 10, 64)
			switch {
			case err != nil:
			case resp.Request.Method == http.MethodGet || resp.Request.Method == http.MethodHead:
				f.node.Forwarded().NoteRead(idx)
			default:
				f.node.Forwarded().NoteWrite(idx)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			attempt, _ := r.Context().Value(outcomeKey{}).(*forwardAttempt)
			if attempt != nil && attempt.mayRetry && neverSent(err, r) {
				attempt.outcome = forwardRefused // the caller forwards again
				return
			}
			if r.Context().Err() != nil {
				f.metrics.forwardFailed(forwardCanceled)
			} else {
				f.metrics.forwardFailed(forwardUnreachable)
			}
			f.log.Warn("forwarding to the leader failed", "leader", leaderURL, "method", r.Method, "path", r.URL.Path, "err", err)
			msg := fmt.Sprintf("forwarding to the zone leader at %s failed: %v; retry", leaderURL, err)
			if neverSent(err, r) {
				unavailableNotApplied(w, r, msg)
			} else {
				native.WriteError(w, http.StatusServiceUnavailable, msg)
			}
		},
	}
	actual, _ := f.proxies.LoadOrStore(leaderURL, p)
	return actual.(*httputil.ReverseProxy), nil
}
