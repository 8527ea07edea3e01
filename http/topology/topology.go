// Package topology serves the API Gateway (Axway, ex-Vordel) Node Manager
// Topology API under /api/topology: hosts, groups, and the services (API
// Gateway instances and Node Managers) in them. It only translates: the
// topology is kept in the zone's store (kinds.go), and every check a
// write depends on travels with it as a precondition of the same Raft
// command (a unique name index, a management port claim that must be
// absent, the version of the host and group it touches), so two
// concurrent requests, through any nodes, can never both take one name or
// one port; a write that loses such a race is rebuilt from fresh state and
// answered from it.
//
// Every success body is {"result": ...}; every error is
// {"errors":[{"code":<status>,"message":"..."}]} (errors.go). Ids are
// assigned here: host-N, group-N, instance-N, nodemanager-N, never
// reused.
//
// A host is a Cairn node: its name is the node's id. Adding an API
// Gateway instance writes its directory on the node its host names
// (node/topology) before the instance is committed; when that fails the
// answer is 500 and the topology is unchanged.
package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/http/httpx"
	nodetopo "cairn/node/topology"

	"github.com/gorilla/mux"
)

// ProductVersion is the API Gateway version the topology reports.
const ProductVersion = "7.2.0"

// Node is what the Topology API needs of the node it runs on.
type Node interface {
	// ID is this node's id: the name of its host in the topology.
	ID() string
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	// WaitIndex blocks until the local store has applied index.
	WaitIndex(ctx context.Context, index uint64) error
}

// Membership is what the API needs of gossip: the domain's members, to
// find the node a host names.
type Membership interface {
	Members() []cluster.Member
}

// Deps are what Register and NodeLocal need. Membership may be nil (a
// node without gossip reaches only itself).
type Deps struct {
	Node       Node
	Membership Membership
	// Files writes this node's instances' files.
	Files *nodetopo.Files
	// Client calls other nodes' NodeLocal endpoints; nil means a client
	// with a 30 s timeout.
	Client *http.Client
	Logger *slog.Logger
}

// api holds the handlers' dependencies.
type api struct {
	Deps
	now func() time.Time
	log *slog.Logger
	// writeMu makes this node's topology writes take turns from reading
	// the state to applying the command. Only for throughput: every write
	// reaches the zone leader, and without turns n concurrent writes to
	// one host or counter cost O(n²) attempts (each round only one wins).
	// Correctness rests on the preconditions, which also hold across a
	// change of leader, when two nodes may write at once.
	writeMu sync.Mutex
}

func newAPI(d Deps) *api {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 30 * time.Second}
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	return &api{Deps: d, now: time.Now, log: log.With("component", "topology")}
}

// Prefix is where the API is mounted.
const Prefix = "/api/topology"

// Register mounts the Topology API's routes on r. Full paths rather than
// a subrouter: gorilla/mux answers 404 instead of 405 for a method
// mismatch inside a subrouter.
func Register(r *mux.Router, d Deps) {
	a := newAPI(d)
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc(Prefix, a.getTopology).Methods(get...)
	r.HandleFunc(Prefix+"/hosts", a.listHosts).Methods(get...)
	r.HandleFunc(Prefix+"/hosts", a.createHost).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/hosts", a.updateHost).Methods(http.MethodPut)
	r.HandleFunc(Prefix+"/hosts/{hostID}", a.getHost).Methods(get...)
	r.HandleFunc(Prefix+"/hosts/{hostID}", a.deleteHost).Methods(http.MethodDelete)
	r.HandleFunc(Prefix+"/groups", a.listGroups).Methods(get...)
	r.HandleFunc(Prefix+"/groups", a.createGroup).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/groups", a.updateGroup).Methods(http.MethodPut)
	r.HandleFunc(Prefix+"/groups/id", a.groupIDByName).Methods(get...)
	r.HandleFunc(Prefix+"/groups/{groupID}", a.getGroup).Methods(get...)
	r.HandleFunc(Prefix+"/groups/{groupID}", a.deleteGroup).Methods(http.MethodDelete)
	r.HandleFunc(Prefix+"/services/id/{groupID}", a.serviceIDByName).Methods(get...)
	r.HandleFunc(Prefix+"/services/{groupID}", a.listServices).Methods(get...)
	r.HandleFunc(Prefix+"/services/{groupID}", a.createService).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/services/{groupID}", a.updateService).Methods(http.MethodPut)
	r.HandleFunc(Prefix+"/services/{groupID}/{serviceID}", a.getService).Methods(get...)
	r.HandleFunc(Prefix+"/services/{groupID}/{serviceID}", a.deleteService).Methods(http.MethodDelete)
}

// illegalNameChars are the characters a host, group or service name may
// not hold [src post_groups, put_groups, put_services].
const illegalNameChars = "/`?*\\<>|\":\n\r"

// checkName refuses an empty name or one with an illegal character.
func checkName(what, name string) error {
	if strings.TrimSpace(name) == "" {
		return badRequest("Invalid %s: a name is required", what)
	}
	if i := strings.IndexAny(name, illegalNameChars); i >= 0 {
		return badRequest("Invalid %s name %q: it contains the illegal character %q (illegal: / ` ? * \\ < > | \" : and newline)", what, name, name[i:i+1])
	}
	if len(name) > 255 {
		return badRequest("Invalid %s name: longer than 255 bytes", what)
	}
	return nil
}

// maxAttempts bounds how often a write lost to a concurrent one is
// rebuilt from fresh state before the client is told to retry.
const maxAttempts = 20

// write builds a command from the current state with build and applies
// it; a command refused because another write got in first (a
// precondition failed) is built again from the state that write left,
// so the answer (success, or the 400 that state calls for) is always
// the one the state the write applied to deserves. build's command must
// carry, as preconditions, every value of the view it depends on.
func (a *api) write(ctx context.Context, build func(v *fsm.View) (fsm.Command, error)) (uint64, *fsm.Result, error) {
	var last error
	for range maxAttempts {
		index, res, err := a.writeOnce(ctx, build)
		if err == nil {
			return index, res, nil
		}
		if !errors.Is(err, fsm.ErrConflict) || index == 0 {
			return 0, nil, err
		}
		last = err
		// Build again once the local store has applied the write that
		// beat this one (it was ordered first).
		if err := a.Node.WaitIndex(ctx, index); err != nil {
			return 0, nil, err
		}
	}
	return 0, nil, newError(errUnavailable, "the topology changed under this request %d times; retry (%v)", maxAttempts, last)
}

// writeOnce builds the command from the current state and applies it,
// in turn with this node's other writes.
func (a *api) writeOnce(ctx context.Context, build func(v *fsm.View) (fsm.Command, error)) (uint64, *fsm.Result, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	v := a.Node.View()
	cmd, err := build(v)
	if err != nil {
		return 0, nil, err
	}
	cmd.Time = a.now()
	cmd.Ops = append(cmd.Ops, metaOp(v))
	return a.Node.Apply(ctx, cmd)
}

// metaOp rewrites the topology's identity, so its version (the meta
// resource's Raft index) moves with every write. It keeps the id: created
// once (required absent), then rewritten only while it exists.
func metaOp(v *fsm.View) fsm.Op {
	if r := v.Get(KindMeta, metaID); r != nil {
		return fsm.Op{Type: fsm.OpPut, Kind: KindMeta, ID: metaID, Body: r.Body, Require: fsm.RequireExists}
	}
	return fsm.Op{Type: fsm.OpPut, Kind: KindMeta, ID: metaID, Body: mustJSON(meta{ID: newUUID()}), Require: fsm.RequireAbsent}
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// allocate takes the next id of prefix ("host" → "host-3") in a command
// of its own, preconditioned on the counter's version, so two nodes never
// hand out one id. A request that then fails leaves a gap; ids are never
// reused.
func (a *api) allocate(ctx context.Context, prefix string) (string, error) {
	for range maxAttempts {
		index, id, err := a.allocateOnce(ctx, prefix)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, fsm.ErrConflict) || index == 0 {
			return "", err
		}
		if err := a.Node.WaitIndex(ctx, index); err != nil {
			return "", err
		}
	}
	return "", newError(errUnavailable, "could not take a new %s id; retry", prefix)
}

// allocateOnce reads the counter of prefix and applies its increment, in
// turn with this node's other writes.
func (a *api) allocateOnce(ctx context.Context, prefix string) (uint64, string, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	v := a.Node.View()
	next := uint64(1)
	op := fsm.Op{Type: fsm.OpPut, Kind: KindCounter, ID: prefix, Require: fsm.RequireAbsent}
	if r := v.Get(KindCounter, prefix); r != nil {
		var c counter
		if err := decode(r, &c); err != nil {
			return 0, "", fmt.Errorf("counter %s: %w", prefix, err)
		}
		next = c.Next
		op.Require, op.Version = fsm.RequireVersion, r.Version
	}
	op.Body = mustJSON(counter{Next: next + 1})
	index, _, err := a.Node.Apply(ctx, fsm.Command{Ops: []fsm.Op{op}, Time: a.now()})
	return index, prefix + "-" + strconv.FormatUint(next, 10), err
}

// setIndex tells the client (and a forwarding follower) which index the
// answer reflects.
func setIndex(w http.ResponseWriter, index uint64) {
	w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
}

// writeResult writes a success: {"result": v}.
func writeResult(w http.ResponseWriter, status int, v any) {
	httpx.WriteJSON(w, status, map[string]any{"result": v})
}
