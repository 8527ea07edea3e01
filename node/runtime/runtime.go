// Package settings (folder node/runtime, named so as not to shadow the
// standard runtime package) is one node's changeable settings — log level, HTTP
// request limits, Raft snapshot tuning — as named resources with typed
// attributes, and the loop that keeps them equal to the zone's stored
// values.
//
// It has one purpose: to own what a runtime setting is (its name, type and
// bounds), how its live value is read and changed in this process, and how
// a zone-wide value is stored in the replicated store (kind "cairn.runtime",
// id = resource name, body = the attributes set zone-wide). A zone-wide
// change is a Raft write like any other; every member's Follow loop sees it
// in its own store (a blocking wait on the store's index, no polling) and
// applies it to itself, so one request changes the whole zone. Operations
// (a snapshot on every member) are stored as kind "cairn.runtime.op", id
// "<resource>.<operation>"; each write gives it a new version (its Raft
// index), and a member executes each version it sees once.
//
// The HTTP dialect that exposes these resources (http/mrf) sees only
// JSON-ready values and fsm commands; it never learns the stored format.
package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"cairn/fsm"
	"cairn/node"
)

// Kind is the store kind of a zone-wide runtime resource.
const Kind = "cairn.runtime"

// OpKind is the store kind of a zone-wide runtime operation.
const OpKind = "cairn.runtime.op"

// Kinds declares the runtime kinds for the composition root's fsm.Schema.
// They are owned by the zone runtime API (MRF's /management/zone/runtime),
// which validates every value; a generic API must not write them, and
// with them the whole "cairn." namespace is closed to it.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{{Kind: Kind, Owner: "runtime"}, {Kind: OpKind, Owner: "runtime"}}
}

// ErrUnknownResource means no runtime resource has the name asked for.
var ErrUnknownResource = errors.New("unknown runtime resource")

// ErrUnknownOperation means the resource has no operation of that name.
var ErrUnknownOperation = errors.New("unknown runtime operation")

// ErrInvalid means a new value was refused: not a JSON object, an unknown
// attribute, a wrong type or a value out of bounds. The message names the
// attribute.
var ErrInvalid = errors.New("invalid runtime value")

// Level is the log level this process logs at (slog.LevelVar has it).
type Level interface {
	Level() slog.Level
	Set(slog.Level)
}

// HTTPLimits are the HTTP server's live request limits.
type HTTPLimits interface {
	MaxBodyBytes() int64
	RequestTimeout() time.Duration
	MaxConcurrentRequests() int64
	SetMaxBodyBytes(int64)
	SetRequestTimeout(time.Duration)
	SetMaxConcurrentRequests(int64)
}

// Raft is the node's changeable Raft tuning and its snapshot operation.
type Raft interface {
	RaftTuning() node.RaftTuning
	SetRaftTuning(node.RaftTuning) error
	Snapshot() error
}

// Store is the replicated store the zone's values are read from.
type Store interface {
	View() *fsm.View
	WaitIndex(ctx context.Context, index uint64) error
}

// Settings are this process's runtime resources.
type Settings struct {
	level Level
	http  HTTPLimits
	raft  Raft
	log   *slog.Logger

	mu      sync.Mutex // serialises changes, so a resource's attributes change together
	applied map[string]uint64
	opsRun  map[string]uint64
	// flags are the values the process started with, by resource: what an
	// attribute returns to when the zone no longer sets it.
	flags map[string]map[string]any
}

// New returns the settings acting on level, limits and raft.
func New(level Level, limits HTTPLimits, raft Raft, log *slog.Logger) *Settings {
	if log == nil {
		log = slog.Default()
	}
	s := &Settings{level: level, http: limits, raft: raft, log: log.With("component", "runtime"),
		applied: map[string]uint64{}, opsRun: map[string]uint64{}, flags: map[string]map[string]any{}}
	for _, name := range s.Resources() {
		s.flags[name], _ = s.Live(name)
	}
	return s
}

// Resources lists the resource names, sorted.
func (s *Settings) Resources() []string {
	out := make([]string, 0, len(resources))
	for name := range resources {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Operations lists the operations a resource offers.
func (s *Settings) Operations(resource string) []string {
	return resources[resource].ops
}

// Live returns this process's current values of resource, JSON-ready.
func (s *Settings) Live(resource string) (map[string]any, bool) {
	def, ok := resources[resource]
	if !ok {
		return nil, false
	}
	out := map[string]any{}
	for _, a := range def.attrs {
		out[a.name] = a.get(s)
	}
	return out, true
}

// Zone returns the zone's values of resource as stored in v, over this
// process's live values for attributes never set zone-wide.
func (s *Settings) Zone(v *fsm.View, resource string) (map[string]any, bool) {
	out, ok := s.Live(resource)
	if !ok {
		return nil, false
	}
	for k, val := range stored(v, resource) {
		out[k] = val
	}
	return out, true
}

// stored returns the zone-wide attributes of resource in v.
func stored(v *fsm.View, resource string) map[string]any {
	r := v.Get(Kind, resource)
	if r == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil
	}
	return m
}

// SetCommand validates body (a JSON object of attributes) as a change to
// resource and returns the command that stores it zone-wide, merged over
// the attributes already stored in v and conditional on their version.
// Errors wrap ErrUnknownResource or ErrInvalid.
func (s *Settings) SetCommand(v *fsm.View, resource string, body []byte, now time.Time) (fsm.Command, error) {
	vals, err := Validate(resource, body)
	if err != nil {
		return fsm.Command{}, err
	}
	merged := stored(v, resource)
	if merged == nil {
		merged = map[string]any{}
	}
	for k, val := range vals {
		merged[k] = val
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return fsm.Command{}, err
	}
	op := fsm.Op{Type: fsm.OpPut, Kind: Kind, ID: resource, Body: b, Require: fsm.RequireAbsent}
	if cur := v.Get(Kind, resource); cur != nil {
		op.Require, op.Version = fsm.RequireVersion, cur.Version
	}
	return fsm.Command{Ops: []fsm.Op{op}, Time: now}, nil
}

// ResetCommand returns the command that deletes the zone's stored values of
// resource, conditional on their version in v, so that every member returns
// to its flags; ok is false when the zone stores none.
func (s *Settings) ResetCommand(v *fsm.View, resource string, now time.Time) (cmd fsm.Command, ok bool, err error) {
	if _, known := resources[resource]; !known {
		return fsm.Command{}, false, fmt.Errorf("%w: %q", ErrUnknownResource, resource)
	}
	cur := v.Get(Kind, resource)
	if cur == nil {
		return fsm.Command{}, false, nil
	}
	return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpDelete, Kind: Kind, ID: resource, Require: fsm.RequireVersion, Version: cur.Version}}, Time: now}, true, nil
}

// InvokeCommand returns the command that asks every member of the zone to
// run operation op of resource once. by names the node that proposed it.
func (s *Settings) InvokeCommand(resource, op, by string, now time.Time) (fsm.Command, error) {
	def, ok := resources[resource]
	if !ok {
		return fsm.Command{}, fmt.Errorf("%w: %q", ErrUnknownResource, resource)
	}
	found := false
	for _, o := range def.ops {
		found = found || o == op
	}
	if !found {
		return fsm.Command{}, fmt.Errorf("%w: %s has no operation %q", ErrUnknownOperation, resource, op)
	}
	b, _ := json.Marshal(map[string]any{"resource": resource, "operation": op, "requestedBy": by, "requested": now.UTC()})
	return fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: OpKind, ID: resource + "." + op, Body: b}}, Time: now}, nil
}

// Validate checks body as new values of resource and returns them
// JSON-ready (integers, duration strings, level names).
func Validate(resource string, body []byte) (map[string]any, error) {
	def, ok := resources[resource]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownResource, resource)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("%w: the body must be a JSON object of %s's attributes (%s)", ErrInvalid, resource, def.names())
	}
	out := map[string]any{}
	for k, v := range raw {
		a, ok := def.attr(k)
		if !ok {
			return nil, fmt.Errorf("%w: unknown attribute %q of %s (it has %s)", ErrInvalid, k, resource, def.names())
		}
		if string(v) == "null" {
			// encoding/json reads null as the zero value, which each
			// parser would report as a wrong value ("got \"\"").
			return nil, fmt.Errorf("%w: attribute %q of %s is null; give it a value", ErrInvalid, k, resource)
		}
		val, err := a.parse(v)
		if err != nil {
			return nil, fmt.Errorf("%w: attribute %q of %s: %v", ErrInvalid, k, resource, err)
		}
		out[k] = val
	}
	return out, nil
}

// apply sets this process's values from JSON-ready vals (already valid).
func (s *Settings) apply(resource string, vals map[string]any) error {
	def, ok := resources[resource]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownResource, resource)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return def.set(s, vals)
}

// Set validates body and applies it to this process only (tests, and the
// zone loop through apply).
func (s *Settings) Set(resource string, body []byte) error {
	vals, err := Validate(resource, body)
	if err != nil {
		return err
	}
	return s.apply(resource, vals)
}

// Follow applies the zone's stored values to this process whenever they
// change, starting with those already stored (a restarted member takes the
// zone's values over its flags), and runs each new operation once. It
// blocks on the store's index between changes and returns when ctx ends.
func (s *Settings) Follow(ctx context.Context, st Store) {
	for {
		v := st.View()
		s.catchUp(v)
		if err := st.WaitIndex(ctx, v.Index()+1); err != nil {
			return
		}
	}
}

// catchUp applies what changed in v since the last call.
func (s *Settings) catchUp(v *fsm.View) {
	for _, name := range s.Resources() {
		r := v.Get(Kind, name)
		if r == nil {
			if s.applied[name] != 0 {
				// The zone's value was deleted: back to the flags.
				delete(s.applied, name)
				if err := s.apply(name, s.flags[name]); err != nil {
					s.log.Warn("could not return to the flags' runtime values", "resource", name, "err", err)
				} else {
					s.log.Info("the zone's runtime value was deleted; back to the flags' values", "resource", name)
				}
			}
			continue
		}
		if s.applied[name] == r.Version {
			continue
		}
		s.applied[name] = r.Version
		stored, err := Validate(name, r.Body)
		if err == nil {
			// Attributes the zone does not set keep the flags' values.
			vals := map[string]any{}
			for k, v := range s.flags[name] {
				vals[k] = v
			}
			for k, v := range stored {
				vals[k] = v
			}
			err = s.apply(name, vals)
		}
		if err != nil {
			s.log.Warn("could not apply the zone's runtime value", "resource", name, "version", r.Version, "err", err)
			continue
		}
		s.log.Info("applied the zone's runtime value", "resource", name, "version", r.Version, "values", string(r.Body))
	}
	for _, name := range s.Resources() {
		for _, op := range resources[name].ops {
			id := name + "." + op
			r := v.Get(OpKind, id)
			if r == nil || s.opsRun[id] >= r.Version {
				continue
			}
			s.opsRun[id] = r.Version
			err := resources[name].run(s, op)
			if err != nil {
				s.log.Warn("runtime operation failed", "operation", id, "version", r.Version, "err", err)
				continue
			}
			s.log.Info("ran runtime operation", "operation", id, "version", r.Version)
		}
	}
}

// attribute is one typed setting of a resource.
type attribute struct {
	name  string
	parse func(json.RawMessage) (any, error)
	get   func(*Settings) any
}

// resource is one named group of attributes that change together.
type resource struct {
	attrs []attribute
	set   func(s *Settings, vals map[string]any) error
	ops   []string
	run   func(s *Settings, op string) error
}

func (r resource) attr(name string) (attribute, bool) {
	for _, a := range r.attrs {
		if a.name == name {
			return a, true
		}
	}
	return attribute{}, false
}

func (r resource) names() string {
	n := make([]string, len(r.attrs))
	for i, a := range r.attrs {
		n[i] = a.name
	}
	return strings.Join(n, ", ")
}
