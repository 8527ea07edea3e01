// Package arm serves Runtime Manager's (Anypoint ARM) hybrid API under
// /hybrid/api/v1, and the accounts calls its clients make first under
// /accounts, as ../shared/seeds/arm-runtime-manager.txt and section B of
// ../shared/reference/dialects.md describe them. It only translates:
//
//   - a server is a Cairn node (its muleLabel is the node's id), RUNNING
//     while that node is alive in the zone's gossip; its certificate
//     request is signed by a CA kept in the store (node/pki);
//   - server groups and clusters are sets of servers kept in the store;
//   - an application is one workload per server of its target
//     (node/workload runs them, cluster/scheduler places each on the node
//     its server names), and its lastReportedStatus is read from those
//     workloads' instance states.
//
// Every write is one Raft command built from the state it read, with what
// it read as preconditions (the servers, group or cluster it changes, the
// id counter), rebuilt when another write got in first. Numeric ids come
// from counters taken in the same command. Every success body is
// {"data": ...}; every error {"message": "..."} (errors.go).
package arm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// Node is what the API needs of the node it runs on.
type Node interface {
	// ID is this node's id; Zone its zone's name.
	ID() string
	Zone() string
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	// WaitIndex blocks until the local store has applied index.
	WaitIndex(ctx context.Context, index uint64) error
}

// Membership is what the API needs of gossip: which nodes are alive,
// for the servers' status and addresses.
type Membership interface {
	Members() []cluster.Member
}

// Deps are what Register needs. Membership may be nil (only this node is
// then alive).
type Deps struct {
	Node       Node
	Membership Membership
	// Auth checks the login calls' credentials; nil: one on Node's store.
	Auth *auth.Authenticator
	// TokenTTL is how long a login's token lasts (0: an hour).
	TokenTTL time.Duration
	// MaxArtifactBytes bounds an application's file (0: 256 MiB); the
	// request body limit applies too.
	MaxArtifactBytes int64
	Logger           *slog.Logger
}

// api holds the handlers' dependencies.
type api struct {
	Deps
	now func() time.Time
	log *slog.Logger
	// writeMu makes this node's writes take turns from reading the state
	// to applying the command: only for throughput (every write reaches
	// the leader, where n racing writes would otherwise cost O(n²)
	// attempts). Correctness rests on the preconditions.
	writeMu sync.Mutex
}

// Paths of the API.
const (
	// Prefix is where the hybrid API is mounted.
	Prefix = "/hybrid/api/v1"
	// LoginPath and TokenPath answer without credentials: they hand them
	// out.
	LoginPath    = "/accounts/login"
	TokenPath    = "/accounts/api/v2/oauth2/token"
	accountsBase = "/accounts"
)

// Register mounts the API's routes on r. Full paths rather than a
// subrouter: gorilla/mux answers 404 instead of 405 for a method mismatch
// inside a subrouter.
func Register(r *mux.Router, d Deps) {
	if d.TokenTTL <= 0 {
		d.TokenTTL = time.Hour
	}
	if d.MaxArtifactBytes <= 0 {
		d.MaxArtifactBytes = 256 << 20
	}
	if d.Auth == nil {
		d.Auth = auth.NewAuthenticator(d.Node.View)
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &api{Deps: d, now: time.Now, log: log.With("component", "arm")}
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc(LoginPath, a.login).Methods(http.MethodPost)
	r.HandleFunc(TokenPath, a.oauthToken).Methods(http.MethodPost)
	r.HandleFunc(accountsBase+"/api/users/me", a.me).Methods(get...)
	r.HandleFunc(accountsBase+"/api/me", a.meWrapped).Methods(get...)
	r.HandleFunc(accountsBase+"/api/organizations/{org}/environments", a.environments).Methods(get...)

	r.HandleFunc(Prefix+"/servers", a.listServers).Methods(get...)
	r.HandleFunc(Prefix+"/servers", a.registerServer).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/servers/registrationToken", a.registrationToken).Methods(get...)
	r.HandleFunc(Prefix+"/servers/{id}", a.getServer).Methods(get...)
	r.HandleFunc(Prefix+"/servers/{id}", a.renameServer).Methods(http.MethodPatch)
	r.HandleFunc(Prefix+"/servers/{id}", a.deleteServer).Methods(http.MethodDelete)

	r.HandleFunc(Prefix+"/serverGroups", a.listGroups).Methods(get...)
	r.HandleFunc(Prefix+"/serverGroups", a.createGroup).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/serverGroups/{id}", a.getGroup).Methods(get...)
	r.HandleFunc(Prefix+"/serverGroups/{id}", a.renameGroup).Methods(http.MethodPatch)
	r.HandleFunc(Prefix+"/serverGroups/{id}", a.deleteGroup).Methods(http.MethodDelete)
	r.HandleFunc(Prefix+"/serverGroups/{id}/servers/{serverId}", a.addGroupServer).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/serverGroups/{id}/servers/{serverId}", a.removeGroupServer).Methods(http.MethodDelete)

	r.HandleFunc(Prefix+"/clusters", a.listClusters).Methods(get...)
	r.HandleFunc(Prefix+"/clusters", a.createCluster).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/clusters/{id}", a.getCluster).Methods(get...)
	r.HandleFunc(Prefix+"/clusters/{id}", a.renameCluster).Methods(http.MethodPatch)
	r.HandleFunc(Prefix+"/clusters/{id}", a.deleteCluster).Methods(http.MethodDelete)
	r.HandleFunc(Prefix+"/clusters/{id}/servers", a.addClusterServer).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/clusters/{id}/servers/{serverId}", a.removeClusterServer).Methods(http.MethodDelete)

	r.HandleFunc(Prefix+"/applications", a.listApplications).Methods(get...)
	r.HandleFunc(Prefix+"/applications", a.deployApplication).Methods(http.MethodPost)
	r.HandleFunc(Prefix+"/applications/{id}", a.getApplication).Methods(get...)
	r.HandleFunc(Prefix+"/applications/{id}/artifact", a.applicationArtifact).Methods(get...)
	r.HandleFunc(Prefix+"/applications/{id}", a.patchApplication).Methods(http.MethodPatch)
	r.HandleFunc(Prefix+"/applications/{id}", a.deleteApplication).Methods(http.MethodDelete)
}

// maxAttempts bounds how often a write lost to a concurrent one is
// rebuilt from fresh state before the client is told to retry.
const maxAttempts = 20

// write builds a command from the current state with build and applies
// it; a command refused because another write got in first is built
// again from the state that write left, so the answer is always the one
// the state the write applied to deserves. build's operations must carry,
// as preconditions, every value of the view they depend on.
func (a *api) write(ctx context.Context, build func(v *fsm.View) ([]fsm.Op, error)) (uint64, *fsm.Result, error) {
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
		if err := a.Node.WaitIndex(ctx, index); err != nil {
			return 0, nil, err
		}
	}
	return 0, nil, newError(errUnavailable, "the state changed under this request %d times; retry (%v)", maxAttempts, last)
}

func (a *api) writeOnce(ctx context.Context, build func(v *fsm.View) ([]fsm.Op, error)) (uint64, *fsm.Result, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	ops, err := build(a.Node.View())
	if err != nil {
		return 0, nil, err
	}
	ops = dedupeTouches(ops)
	if len(ops) == 0 {
		return a.Node.View().Index(), &fsm.Result{}, nil
	}
	return a.Node.Apply(ctx, fsm.Command{Ops: ops, Time: a.now()})
}

// takeID returns the next number of counter name ("target": servers,
// groups and clusters, which share one space since clients look a target
// up by id among all three; "application") and the operation that takes
// it, preconditioned on the counter's version: it goes into the same
// command as the resource it names, so two writes never get one id.
func takeID(v *fsm.View, name string) (int64, fsm.Op, error) {
	next := int64(1)
	op := fsm.Op{Type: fsm.OpPut, Kind: KindCounter, ID: name, Require: fsm.RequireAbsent}
	if r := v.Get(KindCounter, name); r != nil {
		var c counter
		if err := json.Unmarshal(r.Body, &c); err != nil {
			return 0, fsm.Op{}, fmt.Errorf("counter %s: %w", name, err)
		}
		next = c.Next
		op.Require, op.Version = fsm.RequireVersion, r.Version
	}
	op.Body = mustJSON(counter{Next: next + 1})
	return next, op, nil
}

// writeData answers {"data": v} with the index the answer reflects, so
// that a follower that forwarded the write waits for it before answering.
func writeData(w http.ResponseWriter, status int, index uint64, v any) {
	if index > 0 {
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	httpx.WriteJSON(w, status, map[string]any{"data": v})
}

// noContent answers 204 after a write at index.
func noContent(w http.ResponseWriter, index uint64) {
	if index > 0 {
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	w.WriteHeader(http.StatusNoContent)
}

// pathID reads the numeric id {name} of the path; a non-number is a
// resource that does not exist (404): clients look an application up by
// name first and fall back to listing on that 404.
func pathID(r *http.Request, name, what string) (int64, error) {
	s := mux.Vars(r)[name]
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, notFound("%s %s does not exist", what, s)
	}
	return n, nil
}

// key is the store id of numeric id n.
func key(n int64) string { return strconv.FormatInt(n, 10) }

// sortedInts returns ns sorted, without duplicates.
func sortedInts(ns []int64) []int64 {
	out := append([]int64(nil), ns...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	j := 0
	for i, n := range out {
		if i == 0 || n != out[j-1] {
			out[j] = n
			j++
		}
	}
	return out[:j]
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only this package's plain structs are marshalled
	}
	return b
}

// millis is t in epoch milliseconds, as Runtime Manager writes times.
func millis(t time.Time) int64 { return t.UnixMilli() }
