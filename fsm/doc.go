// Package fsm is Cairn's deterministic state machine: the replicated resource
// store and the thin hashicorp/raft FSM adapter that feeds it committed
// commands.
//
// Everything a Cairn zone manages is a Resource of some Kind. A Command is a
// batch of put, delete and check operations with optional preconditions; the
// Store applies a batch atomically (on its own copy-on-write version of the
// trees, published only when every operation succeeded, else dropped) and
// reports the first failed precondition or unique-index clash as a Conflict.
//
// Apply is deterministic: it reads no clock, draws no random numbers and does
// no I/O. Timestamps and generated ids travel inside the Command, made by the
// node that proposed it.
//
// Reads use immutable versions of copy-on-write B-trees (google/btree), so a
// snapshot or a long list never blocks Apply: the MVCC technique Consul and
// Nomad use with go-memdb, which Cairn used until its radix nodes' watch
// channels cost more memory than the resources themselves.
package fsm
