// Package jepsen is Cairn's fault-injection harness, in the manner of
// Jepsen's analyses and etcd's robustness tests: it runs a zone of 3 or 5
// real `cairn agent` processes (a binary built with -tags failpoints),
// drives concurrent clients against it through random nodes while a
// nemesis injects faults drawn from a printed seed, heals, and checks that
// nothing acknowledged was lost and that the history is linearizable.
//
// # Workload
//
// Every client issues one request at a time over the native API, to a
// random node, and is one process of the history: consistent reads
// (GET ?consistent), blind writes (PUT), and compare-and-set (PUT with
// If-Match: "<version>" from the client's last read or write of the key, or
// If-None-Match: * while it saw none). Every write carries a value no other
// write uses, so a version names exactly one value and the register model
// (model.go) can check a CAS by value. An answer the client did not get
// (a timeout, a connection lost after sending, a 5xx) is of unknown
// outcome: the model lets it take effect at any later time or never, and
// the client goes on as a new process. A refused connection or a 4xx other
// than 412 changed nothing and is left out, as is a 5xx that Cairn marks
// X-Cairn-Applied: false (the write was certainly not applied). The keys in use change every
// few seconds (Jepsen's independent keys), which keeps each key's history,
// and porcupine's search, small. Besides the registers, clients add members
// to a grow-only set (PUT If-None-Match: *); each acknowledged one must be
// present on every node at the end. And a tenth of the operations check
// what one node promises a client across requests: a write through a node,
// then a plain read there (it must show the write), a ?consistent read and
// another plain read (it must not show less than the ?consistent one did),
// unless the node answered X-Cairn-Caught-Up: false or restarted meanwhile.
//
// # Faults
//
// For a few seconds each, with calm in between, mostly one at a time and
// every third round two at once (a kill during a partition): kill -9 of a
// node (the leader half the time) and its restart; SIGSTOP/SIGCONT pauses
// of 2-6 s (of the leader half the time or more), far past the election timeout and
// the leader lease (LeaderLease, 250 ms, given to the nodes explicitly), so
// that a leader wakes from a pause deposed while reads and writes queued on
// it are answered; network partitions (a majority and a
// minority, an isolated leader, or a bridge node that sees two sides which
// cannot see each other); a member leaving the zone (SIGTERM: leadership
// transfer, then removal from the Raft configuration) and rejoining; and
// crash points: a failpoint (node/failpoint) armed on a node to panic,
// exit or stall before or after the log store's write, while a snapshot
// is persisted, between Raft's apply and the HTTP reply, or during the
// restore of a snapshot at start.
//
// Partitions are made by a fault-injecting TCP and UDP proxy (proxy.go) in
// front of every node's Raft and gossip ports; the nodes advertise the
// proxies' addresses. Each node binds and dials from a loopback address of
// its own (127.0.0.11, .12, ...), which Cairn's transports do (they dial
// from the IP they bind), so a proxy tells the sender of every connection
// and datagram by its source IP and drops (UDP) or stalls (TCP) what
// crosses a cut link, in both directions. The proxy was chosen over network
// namespaces with veth pairs and tc/iptables because it needs no
// privileges, no packages beyond Go and no clean-up of kernel state when a
// run dies, runs the same on a developer's machine and in CI, and can cut
// links one direction at a time; a namespace setup would test the kernel's
// handling of the links more faithfully (SYN timeouts rather than stalled
// connections), which the stall imitates well enough for Raft's and
// memberlist's timeouts. HTTP between nodes and from clients is not cut.
//
// # Checks
//
// After the run the harness heals every link, resumes and restarts every
// node, and checks: every node accepts a write within a bound; all nodes
// converge to the same store (GET /cairn/v1/status?digest: equal index and
// digest); no node exited without the harness killing it (a crash or a
// crash loop); every acknowledged set member is present, and nothing no
// client added; no session check found a node going back on what it had
// shown a client; and porcupine finds the register history linearizable.
// When a check fails, the run's directory is kept with the nodes' data and
// logs, history.json and porcupine's history.html, and the report names it
// and the seed.
//
// Every run ends with one line "JEPSEN-SUMMARY {json}" (Summary: seed,
// nodes, register ops, those of unknown outcome, acknowledged set
// additions, the consistent reads answered during leader pauses, the
// anomalies, PASS or FAIL), also appended to the file CAIRN_JEPSEN_SUMMARY
// names; `make jepsen-campaign` runs many seeds (campaign.sh) and prints
// their table (campaigntable).
//
// The seed fixes every random choice of the harness (ports, faults and
// their victims and durations, each client's operations); timing does not
// repeat exactly, so a rerun with the same seed repeats the schedule, not
// the interleaving.
//
// `make test` runs Test_Jepsen_Short (3 nodes, a fixed seed, under two
// minutes); `make jepsen DURATION=60s NODES=5 SEED=42` runs a campaign.
package jepsen
