package node

import (
	"log/slog"
	"time"

	"cairn/node/tlsconfig"
)

// Config is what one node needs to run. Zero values take the defaults in
// DefaultConfig.
type Config struct {
	NodeID  string
	Zone    string
	DataDir string

	// RaftAddr is the address the Raft TCP transport binds; RaftAdvertise,
	// if set, is the address other nodes dial (needed when binding 0.0.0.0).
	RaftAddr      string
	RaftAdvertise string
	// TLS, if set, puts Raft's connections under TLS (mutual when it has
	// a CA); nil is plain TCP.
	TLS *tlsconfig.Config
	// HTTPURL is this node's advertised HTTP base URL (http://host:port),
	// reported as leader_http when this node leads.
	HTTPURL string

	// Bootstrap makes a node whose data dir holds no Raft state found a
	// single-node zone of its own. An existing data dir always resumes.
	Bootstrap bool

	// LogStore is where a new data dir keeps its Raft log: LogStoreWAL or
	// LogStoreBolt ("": DefaultLogStore). An existing data dir keeps the
	// one it has; asking for the other is an error.
	LogStore string

	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// ApplyTimeout bounds Apply when the caller's context has no deadline.
	ApplyTimeout time.Duration

	// MaxApplyInFlight bounds the commands this node has proposed and not
	// yet seen applied; one more is refused at once with ErrOverloaded
	// (certainly not applied: a 503 the client may retry) rather than
	// queued without bound. 0: DefaultMaxApplyInFlight; negative: no bound.
	MaxApplyInFlight int

	// Build identifies the code this node runs (the agent sets a digest of
	// its executable). A leader proposes a command forwarded by a follower
	// of the same non-empty Build as the follower prepared it: the same
	// code checked, canonicalised and indexed it. A command from any other
	// follower (another version, or either Build empty) is prepared again
	// by the leader, whose schema is the one that counts.
	Build string

	Logger *slog.Logger
}

// DefaultConfig returns the embedded defaults of a single-node install.
func DefaultConfig() Config {
	return Config{
		Zone:              "default",
		DataDir:           "data",
		RaftAddr:          "127.0.0.1:8181",
		HTTPURL:           "http://127.0.0.1:8180",
		Bootstrap:         true,
		SnapshotThreshold: 8192,
		SnapshotInterval:  2 * time.Minute,
		TrailingLogs:      10240,
		// LAN timings: a follower calls an election 250-500ms after the
		// leader's last heartbeat, so a leader's death costs about half a
		// second of writes (measured median 549ms over 15 kills; raft's own
		// 1s defaults cost about 2.5s). The lease equals the heartbeat
		// timeout, its maximum, so a leader stalled briefly under load (a
		// 100ms lease stepped down in tests) does not step down.
		HeartbeatTimeout:   250 * time.Millisecond,
		ElectionTimeout:    250 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
		MaxApplyInFlight:   DefaultMaxApplyInFlight,
	}
}

// DefaultMaxApplyInFlight is the default bound of commands in flight: a
// quarter above the 64 concurrent writers at which a 3-node zone here
// reaches its throughput (make bench-cluster). More in flight adds only
// queueing: under 1,000 writers (make bench-overload) the admitted writes'
// p99 was 194 ms with a bound of 128, 128 ms with 80, against 35 ms
// unloaded; 48 refused writes at c=64 already.
const DefaultMaxApplyInFlight = 80
