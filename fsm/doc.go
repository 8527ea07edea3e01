// Package fsm is Cairn's deterministic state machine: the replicated resource
// store and the thin hashicorp/raft FSM adapter that feeds it committed
// commands.
//
// Everything a Cairn zone manages is a Resource of some Kind. A Command is a
// batch of put, delete and check operations with optional preconditions; the
// Store applies a batch atomically (a go-memdb write transaction that is
// committed only when every operation succeeded) and reports the first failed
// precondition or unique-index clash as a Conflict.
//
// Apply is deterministic: it reads no clock, draws no random numbers and does
// no I/O. Timestamps and generated ids travel inside the Command, made by the
// node that proposed it.
//
// Reads use immutable go-memdb views (radix trees), so a snapshot or a long
// list never blocks Apply: the same technique Consul and Nomad use.
package fsm
