// Package failpoint is Cairn's crash points, in the manner of etcd's gofail:
// named places in the write, snapshot and restore paths where a test can make
// a node panic, exit or stall, to check that what Raft acknowledged survives a
// crash at exactly that point.
//
// They exist only in a binary built with the tag "failpoints"
// (go build -tags failpoints); in every other build Inject is an empty
// function the compiler removes, and nothing can arm them. In a failpoints
// build they are armed
//
//   - at start, from the environment: CAIRN_FAILPOINTS="name=action;name=action"
//   - while running, over HTTP on the main listener: PUT /debug/failpoints/{name}
//     with the action as the body, DELETE /debug/failpoints/{name} to disarm,
//     GET /debug/failpoints to list what is armed.
//
// An action is [P%][N*]kind: kind is panic, exit (os.Exit(2) without any
// cleanup, like kill -9), sleep(DURATION), error(ERRNO) or off; P% fires
// with that probability, N* fires at most N times and then disarms itself.
// Examples: "panic", "10%exit", "1*sleep(3s)", "error(ENOSPC)". error(ERRNO)
// (ENOSPC, EIO, EROFS) makes the disk write at that point fail with that
// errno, as a full or failing disk would; only the points in ErrorNames
// take it.
package failpoint

// The named failpoints, in the order a write meets them.
const (
	// LogBeforeStore fires before Raft writes entries to its log store.
	LogBeforeStore = "raft-log-before-store"
	// LogAfterStore fires after the log store wrote (and fsync'd) entries,
	// before Raft goes on.
	LogAfterStore = "raft-log-after-store"
	// ApplyBeforeReply fires after a write is committed and applied here,
	// before its result returns to the HTTP handler.
	ApplyBeforeReply = "apply-before-reply"
	// SnapshotPersist fires in the middle of writing an FSM snapshot.
	SnapshotPersist = "snapshot-persist"
	// SnapshotRestore fires in the middle of restoring an FSM snapshot.
	SnapshotRestore = "snapshot-restore"
	// LogStoreError fires as Raft writes to its log or stable store (log
	// entries, a term, a vote), before the write; error(ERRNO) makes the
	// write fail, as a full or failing disk would.
	LogStoreError = "raft-log-store-error"
	// SnapshotWriteError fires as a snapshot's bytes are written to disk
	// (one taken here or one installed from the leader) and as it is
	// closed; error(ERRNO) makes the write fail.
	SnapshotWriteError = "snapshot-write-error"
)

// Names lists every failpoint.
var Names = []string{LogBeforeStore, LogAfterStore, ApplyBeforeReply, SnapshotPersist, SnapshotRestore,
	LogStoreError, SnapshotWriteError}

// ErrorNames lists the failpoints that can return an error
// (error(ERRNO)): the ones at a disk write.
var ErrorNames = []string{LogStoreError, SnapshotWriteError}

// EnvVar is the environment variable a failpoints build arms from at start.
const EnvVar = "CAIRN_FAILPOINTS"

// HTTPPrefix is where a failpoints build serves its arming endpoint.
const HTTPPrefix = "/debug/failpoints"
