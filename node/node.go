// Package node runs one Cairn node's Raft member: its data dir, the Raft
// log and stable store (raft-boltdb/v2, fsync'd), file snapshots, the TCP
// transport, and the apply path from a command to the FSM's result.
//
// HTTP handlers reach Raft only through a Node: Apply to write, View to
// read, Status to tell where the leader is.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"cairn/fsm"
	"cairn/node/failpoint"

	"github.com/hashicorp/raft"
)

// Node is one running member of a zone.
type Node struct {
	cfg          Config
	log          *slog.Logger
	raft         *raft.Raft
	store        *fsm.Store
	stores       *raftStores
	transport    *voteGuardTransport
	commands     *commandService // forwarded commands, both ways (commands.go)
	raftID       string          // this node's Raft server id: "<node id>@<data dir incarnation>"
	snaps        raft.SnapshotStore
	disk         *diskWatch // the first failed write of Raft state (diskfault.go)
	bootstrapped bool
	metrics      *nodeMetrics
	// inFlight holds a token per command proposed and not yet applied
	// (nil: no bound).
	inFlight chan struct{}

	mu          sync.RWMutex
	peerHTTP    func(id string) string  // resolves another node's HTTP URL from gossip
	peerFormat  func(raftID string) int // the latest log format another server reads, from gossip
	leaderTasks []func(ctx context.Context)
	termCtx     context.Context // set while leader tasks run; nil otherwise
	termCancel  context.CancelFunc
	termTasks   sync.WaitGroup
	// readyTerm is the term in which this node, as leader, applied every
	// entry of earlier terms (its barrier command); 0 while it has not. In
	// any other term its commit index may trail what an earlier leader
	// committed, and it must not serve consistent reads.
	readyTerm atomic.Uint64
	closeOnce sync.Once
	// restoreFailed is set while the last snapshot this node tried to
	// install failed: it then serves nothing newer than before, and must
	// neither report ready nor be promoted to voter.
	restoreFailed atomic.Bool
	restoreErr    atomic.Pointer[error] // the first failed install's error
	// recordedZoneID is the zone id the data dir recorded (a string).
	recordedZoneID atomic.Value

	// caughtUp is set once the store has caught up since the node
	// started: it reached catchUpTarget, the commit index the first Ready
	// that found it behind saw (under steady writes it may never equal
	// the moving commit index). Until then the node is not ready however
	// small its lag (see ReadyMaxLag).
	caughtUp      atomic.Bool
	catchUpTarget atomic.Uint64

	// forwarded is what this node forwarded to the leader.
	forwarded Forwarded

	verifyMu      sync.Mutex
	nextVerify    *verifyRound // the round new consistent reads join
	verifyRunning bool
	closed        chan struct{}
	loopDone      chan struct{}
	background    sync.WaitGroup // goroutines that write to the data dir
}

// Open starts the node described by cfg over schema. A data dir with no
// Raft state and cfg.Bootstrap set founds a single-node zone; one with state
// resumes where it left off.
func Open(cfg Config, schema fsm.Schema) (*Node, error) {
	def := DefaultConfig()
	fill(&cfg, def)
	if err := ValidNodeID(cfg.NodeID); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.NodeID)
	if err := checkDataDirOwner(cfg.DataDir, cfg.NodeID); err != nil {
		return nil, err
	}
	format, err := checkDataDirFormat(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	logStoreKind, err := chooseLogStore(cfg.DataDir, format, cfg.LogStore)
	if err != nil {
		return nil, err
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o750); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}

	n := &Node{cfg: cfg, log: log.With("component", "node"), store: fsm.NewStore(schema),
		metrics: newNodeMetrics(), closed: make(chan struct{}), loopDone: make(chan struct{})}
	if cfg.MaxApplyInFlight > 0 {
		n.inFlight = make(chan struct{}, cfg.MaxApplyInFlight)
	}
	n.disk = newDiskWatch(n.log, n.stopStanding)

	if err := checkDataFiles(cfg.DataDir); err != nil {
		return nil, err
	}
	stores, err := openRaftStores(raftDir, logStoreKind, n.disk.watchLog(log))
	if err != nil {
		if errors.Is(err, ErrDataDirInUse) {
			return nil, fmt.Errorf("%w: %s", ErrDataDirInUse, cfg.DataDir)
		}
		return nil, err
	}
	n.stores = stores
	bs := stores.stable
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()

	logStore, fsmAdapter := withFailpoints(stores.log, fsm.NewFSM(n.store, log))
	fsmAdapter = restoreTracker{fsmAdapter, n}
	logStore = n.disk.watchLogs(logStore)
	logs, err := raft.NewLogCache(1024, logStore)
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, newHCLog(log, "raft-snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	n.snaps = n.disk.watchSnapshots(snaps)
	var advertise net.Addr
	if cfg.RaftAdvertise != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", cfg.RaftAdvertise); err != nil {
			return nil, fmt.Errorf("raft advertise address %q: %w", cfg.RaftAdvertise, err)
		}
	}
	existing, err := raft.HasExistingState(logs, bs, snaps)
	if err != nil {
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	if logStoreKind == LogStoreWAL {
		// raft.db's log was read whole by checkDataFiles already.
		if err := readableLog(raftDir, stores.log); err != nil {
			return nil, err
		}
	}
	// Written only now, with the data dir locked by the open log.
	if n.raftID, err = recordIdentity(cfg.DataDir, cfg.NodeID, existing); err != nil {
		return nil, err
	}
	if err := recordDataDirFormat(cfg.DataDir, logStoreKind); err != nil {
		return nil, err
	}
	removeSpools(cfg.DataDir)
	n.commands = newCommandService(cfg.Build, n.servePeer)
	nt, layer, err := newTCPTransport(cfg.RaftAddr, advertise, cfg.TLS, n.commands.serveConn, newHCLog(log, "raft-transport"))
	if err != nil {
		return nil, fmt.Errorf("raft transport on %s: %w", cfg.RaftAddr, err)
	}
	n.commands.dial = layer.Dial
	n.transport = newVoteGuardTransport(nt, raft.ServerID(n.raftID), func(index, term uint64) bool {
		return holdsEntry(logs, snaps, index, term)
	})
	n.transport.isolateOnDiskFault(n.disk)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.raftID)
	rc.Logger = newHCLog(log, "raft")
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	// Group commit: the leader takes up to MaxAppendEntries waiting
	// proposals into one append (one fsync). Not BatchApplyCh: with a
	// buffered apply channel, an Apply racing Shutdown can be queued where
	// nothing reads it and never answer (seen: Test_Apply_AfterClose hung).
	rc.MaxAppendEntries = 256
	// Only the labelled metrics (the bridge reads no others).
	rc.NoLegacyTelemetry = true
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}

	// Raft blocks on NotifyCh; leaderNotifications drains it at once.
	leaderNotify := make(chan bool, 1)
	rc.NotifyCh = leaderNotify
	newest, _ := newestSnapshot(n.snaps)
	n.raft, err = raft.NewRaft(rc, fsmAdapter, logs, n.disk.watchStable(bs), n.snaps, n.transport)
	if cerr := n.checkRestored(newest, err); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.transport.raft.Store(n.raft)
	n.OnLeaderChange(n.metrics.leaderObserved)
	n.OnLeadership(n.raiseLogFormatLoop)
	if !existing && cfg.Bootstrap {
		f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			ID: rc.LocalID, Address: n.transport.LocalAddr(), Suffrage: raft.Voter,
		}}})
		if err := f.Error(); err != nil {
			n.raft.Shutdown()
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		n.bootstrapped = true
	}
	go n.leaderLoop(n.leaderNotifications(leaderNotify))
	n.loadRecordedZoneID()
	n.background.Add(1)
	go func() {
		defer n.background.Done()
		n.followZoneID()
	}()
	ok = true
	return n, nil
}

// fill copies defaults into cfg's zero fields.
func fill(cfg *Config, def Config) {
	if cfg.Zone == "" {
		cfg.Zone = def.Zone
	}
	if cfg.DataDir == "" {
		cfg.DataDir = def.DataDir
	}
	if cfg.RaftAddr == "" {
		cfg.RaftAddr = def.RaftAddr
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = def.SnapshotThreshold
	}
	if cfg.MaxApplyInFlight == 0 {
		cfg.MaxApplyInFlight = def.MaxApplyInFlight
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = def.SnapshotInterval
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = def.TrailingLogs
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = def.HeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = def.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = def.LeaderLeaseTimeout
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = def.CommitTimeout
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = def.ApplyTimeout
	}
}

// Bootstrapped reports whether Open founded a new zone (rather than
// resuming from the data dir or waiting to be joined).
func (n *Node) Bootstrapped() bool { return n.bootstrapped }

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// DataDir returns the node's data dir.
func (n *Node) DataDir() string { return n.cfg.DataDir }

// RaftID returns the node's Raft server id, bound to its data dir.
func (n *Node) RaftID() string { return n.raftID }

// Zone returns the node's zone.
func (n *Node) Zone() string { return n.cfg.Zone }

// HTTPURL returns this node's advertised HTTP base URL.
func (n *Node) HTTPURL() string { return n.cfg.HTTPURL }

// RaftAddr returns the address other nodes dial for Raft.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// View returns a consistent read view of the local store. With WaitIndex
// it is the one way to read: a view for what is applied now, WaitIndex to
// wait until an index is.
func (n *Node) View() *fsm.View { return n.store.View() }

// WaitIndex blocks until the local store has applied index, or ctx ends.
func (n *Node) WaitIndex(ctx context.Context, index uint64) error {
	return n.store.WaitIndex(ctx, index)
}

// Forwarded is what this node forwarded to its leader (read your writes
// and monotonic reads through one node).
func (n *Node) Forwarded() *Forwarded { return &n.forwarded }

// AppliedIndex is the index of the last entry the local store applied.
func (n *Node) AppliedIndex() uint64 { return n.store.Index() }

// SetPeerHTTP installs the function that maps another node's id to its HTTP
// URL (the cluster package feeds it from gossip).
func (n *Node) SetPeerHTTP(f func(id string) string) {
	n.mu.Lock()
	n.peerHTTP = f
	n.mu.Unlock()
}

// SetPeerFormat installs the function that tells the latest log format
// another server of the zone reads (the cluster package feeds it from
// gossip; 0 for a server it does not know).
func (n *Node) SetPeerFormat(f func(raftID string) int) {
	n.mu.Lock()
	n.peerFormat = f
	n.mu.Unlock()
}

// LogFormat returns the zone's log format as this node has applied it.
func (n *Node) LogFormat() int { return n.store.View().LogFormat() }

// zoneReads reports whether every server of the configuration reads log
// format f.
func (n *Node) zoneReads(f int) bool {
	n.mu.RLock()
	peerFormat := n.peerFormat
	n.mu.RUnlock()
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == n.raftID {
			continue
		}
		if peerFormat == nil || peerFormat(string(s.ID)) < f {
			return false
		}
	}
	return true
}

// Apply proposes cmd to the zone and waits until it is committed and applied
// here. ctx's deadline (else Config.ApplyTimeout) bounds the proposing; once
// proposed, the command ends committed or with the loss of leadership. It
// returns the Raft index and the FSM's result; err wraps fsm.ErrConflict or
// fsm.ErrInvalid when the store refused the batch (the index still
// advanced), or is ErrNotLeader, ErrLeadershipLost, ErrTimeout or
// ErrShutdown; NotApplied tells which of those leave cmd certainly unapplied.
//
// On a follower, a command whose ctx carries ForwardCommand is sent to the
// leader (commands.go); without it Apply returns ErrNotLeader there.
func (n *Node) Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	if forwardsCommand(ctx) && !n.IsLeader() {
		index, res, err := n.applyAtLeader(ctx, cmd)
		n.metrics.forwarded.WithLabelValues(applyResult(err)).Inc()
		return index, res, err
	}
	start := time.Now()
	index, res, err := n.apply(ctx, cmd)
	n.metrics.observeApply(time.Since(start), err)
	return index, res, err
}

// Overloaded reports whether this node, as leader, has its limit of
// commands in flight: a write arriving now would get ErrOverloaded, so the
// HTTP front refuses it before reading it. A follower is never overloaded
// here (its forwards have a bound of their own).
func (n *Node) Overloaded() bool {
	return n.inFlight != nil && len(n.inFlight) >= cap(n.inFlight) && n.IsLeader()
}

// MaxApplyInFlight is the bound on commands in flight (0: none).
func (n *Node) MaxApplyInFlight() int { return cap(n.inFlight) }

// admittedKey marks the context of a request holding one of n's write
// slots (AdmitWrite); its value is n.
type admittedKey struct{}

// AdmitWrite takes one of this node's slots for writes in flight (the
// ones Apply takes, -max-writes-in-flight) for a request about to be
// served here, or returns ErrOverloaded when none is free. Every Apply
// made with the returned context uses that slot instead of taking one, so
// the bound covers an admitted write's whole handling (parsing, checks,
// the answer), not only its wait for Raft: under overload, writes past the
// bound are refused before that work rather than queued within it. release
// gives the slot back; call it once.
func (n *Node) AdmitWrite(ctx context.Context) (admitted context.Context, release func(), err error) {
	if n.inFlight == nil {
		return ctx, func() {}, nil
	}
	if release = n.takeSlot(); release == nil {
		n.metrics.observeApply(0, ErrOverloaded)
		return ctx, nil, ErrOverloaded
	}
	return context.WithValue(ctx, admittedKey{}, n), release, nil
}

// takeSlot takes one of the slots of n.inFlight (not nil) and returns its
// release, or nil when every slot is taken.
func (n *Node) takeSlot() (release func()) {
	select {
	case n.inFlight <- struct{}{}:
		return func() { <-n.inFlight }
	default:
		return nil
	}
}

func (n *Node) apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	release, err := n.holdSlot(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer release()
	data, err := n.encode(cmd)
	if err != nil {
		return 0, nil, err
	}
	return n.propose(ctx, data)
}

// holdSlot refuses a write while the disk is faulty, and holds one of
// the slots for commands in flight for it unless ctx holds one already
// (AdmitWrite): ErrOverloaded when none is free. Call release once the
// write is answered.
func (n *Node) holdSlot(ctx context.Context) (release func(), err error) {
	if err := n.disk.refuse(); err != nil {
		return nil, err
	}
	if n.inFlight == nil || ctx.Value(admittedKey{}) == n {
		return func() {}, nil
	}
	if release = n.takeSlot(); release == nil {
		return nil, ErrOverloaded
	}
	return release, nil
}

// encode returns the log entry of cmd: prepared here when the zone's log
// format allows, as every replica then applies what the entry says,
// whatever its version (check, canonicalise and index it once, here).
func (n *Node) encode(cmd fsm.Command) ([]byte, error) {
	if n.store.View().LogFormat() >= fsm.FormatPrepared {
		prepared, err := fsm.PrepareCommand(n.store.Schema(), cmd)
		if err != nil {
			return nil, err
		}
		cmd = prepared
	}
	data, err := fsm.EncodeCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	return data, nil
}

// propose appends the log entry data and waits for its result.
func (n *Node) propose(ctx context.Context, data []byte) (uint64, *fsm.Result, error) {
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return 0, nil, ErrTimeout
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		return 0, nil, n.disk.explain(translate(err))
	}
	failpoint.Inject(failpoint.ApplyBeforeReply)
	res, ok := f.Response().(*fsm.Result)
	if !ok || res == nil {
		return f.Index(), nil, fmt.Errorf("%w: log entry %d was not applied as a command", fsm.ErrInvalid, f.Index())
	}
	return res.Index, res, res.Err()
}

// ReadBarrier makes the next local read linearizable, by the ReadIndex
// technique (Raft dissertation §6.4): take the leader's read index
// (ReadIndex), then wait until the store has applied that index. Only the
// leader can do this (a follower has CaughtUpWithLeader).
func (n *Node) ReadBarrier(ctx context.Context) error {
	commit, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	if err := n.store.WaitIndex(ctx, commit); err != nil {
		return ErrTimeout
	}
	return nil
}

// ReadIndex returns, on the leader, an index that every write
// acknowledged before the call is at or below: the commit index, once a
// quorum has confirmed that this node still leads (VerifyLeader). A read
// of a store that has applied it is linearizable.
//
// The whole call must happen in one term in which this node applied its
// barrier: a node that lost leadership and won it back while the quorum
// round ran would otherwise pass that round with a commit index taken
// before the other leader's writes.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	term := n.raft.CurrentTerm()
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	if n.readyTerm.Load() != term {
		return 0, ErrNoLeader // elected, but still applying earlier terms' entries
	}
	commit := n.raft.CommitIndex()
	if err := n.verifyLeader(ctx); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term {
		return 0, ErrNotLeader
	}
	return commit, nil
}

// verifyRound is one VerifyLeader call shared by every consistent read that
// asked for confirmation before it started.
type verifyRound struct {
	done chan struct{}
	err  error
}

// verifyLeader confirms leadership with a quorum. Callers that arrive while
// a round is in flight share the next round, so many concurrent consistent
// reads cost one heartbeat round, not one each. A round that started before
// the caller arrived is never reused: its quorum may predate the read.
func (n *Node) verifyLeader(ctx context.Context) error {
	n.verifyMu.Lock()
	r := n.nextVerify
	if r == nil {
		r = &verifyRound{done: make(chan struct{})}
		n.nextVerify = r
		if !n.verifyRunning {
			n.verifyRunning = true
			go n.runVerifyRounds()
		}
	}
	n.verifyMu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ErrTimeout
	}
}

// runVerifyRounds runs queued rounds one after another until none is left.
func (n *Node) runVerifyRounds() {
	for {
		n.verifyMu.Lock()
		r := n.nextVerify
		n.nextVerify = nil
		if r == nil {
			n.verifyRunning = false
			n.verifyMu.Unlock()
			return
		}
		n.verifyMu.Unlock()
		r.err = translate(n.raft.VerifyLeader().Error())
		close(r.done)
	}
}

// IsLeader reports whether this node leads its zone.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the zone leader's id and HTTP URL as this node knows them;
// both are empty while there is no leader, and the URL is empty while the
// leader's address is not known yet.
func (n *Node) Leader() (id, httpURL string) {
	_, lid := n.raft.LeaderWithID()
	id = NodeIDOf(string(lid))
	if id == "" {
		return "", ""
	}
	if id == n.cfg.NodeID {
		return id, n.cfg.HTTPURL
	}
	n.mu.RLock()
	resolve := n.peerHTTP
	n.mu.RUnlock()
	if resolve != nil {
		httpURL = resolve(id)
	}
	return id, httpURL
}

// Status is a node's view of itself and its zone.
type Status struct {
	NodeID string `json:"node_id"`
	// RaftID is the node's Raft server id, bound to its data dir.
	RaftID string `json:"raft_id"`
	Zone   string `json:"zone"`
	// ZoneID is the zone's identity, written by its first leader ("" until
	// this node has applied it).
	ZoneID       string `json:"zone_id"`
	State        string `json:"state"`
	LeaderID     string `json:"leader_id"`
	LeaderHTTP   string `json:"leader_http"`
	Term         uint64 `json:"term"`
	LastIndex    uint64 `json:"last_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// StoreIndex is the index of the last command the store applied; it
	// trails AppliedIndex only by entries that carry no command.
	StoreIndex uint64 `json:"store_index"`
	// LastContactMS is how long ago this node heard from the leader (0 on
	// the leader itself, -1 if never).
	LastContactMS     int64  `json:"last_contact_ms"`
	LastSnapshotIndex uint64 `json:"last_snapshot_index"`
	RaftAddr          string `json:"raft_addr"`
	HTTPURL           string `json:"http_url"`
	Voters            int    `json:"voters"`
	// Voter says whether this node is a voter in its latest configuration.
	Voter bool `json:"voter"`
	// RestoreFailed is set while the last snapshot install failed.
	RestoreFailed bool `json:"restore_failed,omitempty"`
	// DiskFault names the failed write of Raft state that took this node
	// out of the zone until it is restarted (ErrDiskFault); "" for none.
	DiskFault string `json:"disk_fault,omitempty"`
	// StoreDigest is a digest of the whole store, taken at
	// StoreDigestIndex (StatusWithDigest only): replicas at the same index
	// have the same digest.
	StoreDigest      string `json:"store_digest,omitempty"`
	StoreDigestIndex uint64 `json:"store_digest_index,omitempty"`
}

// StatusWithDigest is Status with a digest of the whole store, to compare
// replicas. It reads every resource: not for hot paths.
func (n *Node) StatusWithDigest() Status {
	st := n.Status()
	v := n.store.View() // one view: the digest and its index agree
	st.StoreDigest, st.StoreDigestIndex = v.Digest(), v.Index()
	return st
}

// Status reports the node's Raft state.
func (n *Node) Status() Status {
	id, leaderHTTP := n.Leader()
	st := Status{
		NodeID:        n.cfg.NodeID,
		RaftID:        n.raftID,
		Zone:          n.cfg.Zone,
		ZoneID:        n.ZoneID(),
		State:         n.raft.State().String(),
		LeaderID:      id,
		LeaderHTTP:    leaderHTTP,
		Term:          n.raft.CurrentTerm(),
		LastIndex:     n.raft.LastIndex(),
		CommitIndex:   n.raft.CommitIndex(),
		AppliedIndex:  n.raft.AppliedIndex(),
		StoreIndex:    n.store.Index(),
		LastContactMS: n.LastContact().Milliseconds(),
		RaftAddr:      n.RaftAddr(),
		HTTPURL:       n.cfg.HTTPURL,
		RestoreFailed: n.restoreFailed.Load(),
		DiskFault:     n.diskFaultText(),
	}
	if st.State == raft.Leader.String() {
		st.LastContactMS = 0
	}
	var snapIdx uint64
	fmt.Sscan(n.raft.Stats()["last_snapshot_index"], &snapIdx)
	st.LastSnapshotIndex = snapIdx
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				st.Voters++
				st.Voter = st.Voter || string(s.ID) == n.raftID
			}
		}
	}
	return st
}

// LastContact returns how long ago the leader was last heard from: 0 on the
// leader, -1ms if never.
func (n *Node) LastContact() time.Duration {
	if n.IsLeader() {
		return 0
	}
	t := n.raft.LastContact()
	if t.IsZero() {
		return -time.Millisecond
	}
	return time.Since(t)
}

// ReadyMaxLag is how many committed entries the store may have left to
// apply while the node still counts as ready. Under write load a commit
// is always a few entries ahead of apply on every node, the leader
// included (the FSM goroutine applies what the commit has just handed it):
// demanding none made /ready fail on every node at once. The bound is in
// entries, not time, so it holds whatever the write rate: 1,000 is far
// past what a pipelined commit runs ahead of apply (a batch of in-flight
// writes, 64 at the bench's highest concurrency), and far short of a node
// that really lags. A node further behind, or one that has not caught up
// once since it started (replaying its log, installing a snapshot), is not
// ready.
const ReadyMaxLag = 1000

// Ready reports whether the node can serve: it knows a leader, has caught
// up with the commit index once since it started, and is at most
// ReadyMaxLag entries behind it now. The reason says why not.
func (n *Node) Ready() (bool, string) {
	if err := n.DiskFault(); err != nil {
		return false, err.Error()
	}
	if id, _ := n.Leader(); id == "" {
		return false, ErrNoLeader.Error()
	}
	if n.restoreFailed.Load() {
		return false, "the last snapshot from the leader could not be installed"
	}
	if n.IsLeader() && n.readyTerm.Load() != n.raft.CurrentTerm() {
		return false, "elected leader, still applying the entries of earlier terms"
	}
	// The store's index, not raft.AppliedIndex: raft advances the latter when
	// it hands entries to the FSM goroutine, before they are applied. Every
	// entry but a term's opening no-op reaches the store, and the leader
	// commits its barrier command right after that no-op, so a caught-up
	// node's store index equals the commit index.
	commit, applied := n.raft.CommitIndex(), n.store.Index()
	if applied >= commit {
		n.caughtUp.Store(true)
		return true, ""
	}
	if !n.caughtUp.Load() {
		if target := n.catchUpTarget.Load(); target != 0 && applied >= target {
			n.caughtUp.Store(true)
		}
	}
	if !n.caughtUp.Load() {
		n.catchUpTarget.CompareAndSwap(0, commit)
		return false, fmt.Sprintf("the store has applied index %d, behind commit index %d, and has not caught up since the node started", applied, commit)
	}
	if commit-applied > ReadyMaxLag {
		return false, fmt.Sprintf("the store has applied index %d, %d entries behind commit index %d (the bound is %d)", applied, commit-applied, commit, ReadyMaxLag)
	}
	return true, ""
}

// Snapshot takes a Raft snapshot now.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return translate(err)
}

// OnLeadership registers task to run, in its own goroutine, each time this
// node becomes leader and has applied every earlier entry; its context is
// cancelled when leadership is lost or the node closes. Registered while
// this node already leads, it starts at once.
func (n *Node) OnLeadership(task func(ctx context.Context)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leaderTasks = append(n.leaderTasks, task)
	if n.termCtx != nil {
		n.runTask(task)
	}
}

// startLeaderTasks starts every registered task under a new term context.
func (n *Node) startLeaderTasks() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.termCtx, n.termCancel = context.WithCancel(context.Background())
	for _, task := range n.leaderTasks {
		n.runTask(task)
	}
}

// runTask runs task under the current term; n.mu must be held.
func (n *Node) runTask(task func(context.Context)) {
	ctx := n.termCtx
	n.termTasks.Add(1)
	go func() {
		defer n.termTasks.Done()
		task(ctx)
	}()
}

// stopLeaderTasks cancels the term's tasks and waits for them to return.
func (n *Node) stopLeaderTasks() {
	n.mu.Lock()
	cancel := n.termCancel
	n.termCtx, n.termCancel = nil, nil
	n.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	n.termTasks.Wait()
}

func (n *Node) updateOwnAddress() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	self := n.transport.LocalAddr()
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.raftID) && s.Address != self {
			n.log.Info("updating own raft address in the configuration", "old", s.Address, "new", self)
			if err := n.raft.AddVoter(s.ID, self, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				n.log.Warn("could not update own raft address", "err", err)
			}
		}
	}
}

// Close shuts Raft down and closes the log store. It is safe to call more
// than once.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closed)
		<-n.loopDone
		n.background.Wait()
		err = translate(n.raft.Shutdown().Error())
		if n.commands != nil {
			n.commands.close()
		}
		n.closeStores()
	})
	return err
}

func (n *Node) closeStores() {
	if n.transport != nil {
		n.transport.Close()
	}
	if n.stores != nil {
		n.stores.Close()
	}
}
