package maxscale

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"cairn/fsm"
)

// The kinds this dialect stores.
const (
	KindServer  = "maxscale.server"
	KindService = "maxscale.service"
	KindMonitor = "maxscale.monitor"
	// KindFilter and KindListener are recorded as MaxScale records them;
	// Cairn runs neither (it routes no SQL).
	KindFilter   = "maxscale.filter"
	KindListener = "maxscale.listener"
	// KindUser is the legacy kind of MaxScale users (auth.LegacyMaxScaleUserKind).
	KindUser = "maxscale.user"
)

// owner is this API's name as the owner of its kinds (fsm.KindSchema).
const owner = "maxscale"

// Kinds declares the indexes the dialect looks relationships up by. Each
// relationship is stored on one side only and found from the other by
// index, so the two sides can never disagree:
//   - a service stores its servers, services and monitors (lists);
//   - a server stores its monitor (one at most, by construction);
//   - a service stores its filters (an ordered chain);
//   - a listener stores its service (exactly one).
//
// Every kind is owned by this API: only it writes them, through its schema.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{
		{Kind: KindServer, Owner: owner, Indexes: []fsm.Index{
			fsm.FieldIndex("monitor", "monitor", false),
			fsm.FieldIndex("endpoint", "endpoint", true),
		}},
		{Kind: KindService, Owner: owner, Indexes: []fsm.Index{
			fsm.ListIndex("servers", "servers"),
			fsm.ListIndex("services", "services"),
			fsm.ListIndex("monitors", "monitors"),
			fsm.ListIndex("filters", "filters"),
		}},
		{Kind: KindMonitor, Owner: owner},
		{Kind: KindFilter, Owner: owner},
		{Kind: KindGlobal, Owner: owner},
		{Kind: KindListener, Owner: owner, Indexes: []fsm.Index{
			fsm.FieldIndex("service", "service", false),
			fsm.FieldIndex("endpoint", "endpoint", true),
		}},
		// Users this API stored before users were Cairn's (node/auth
		// moves them into auth.UserKind): kept so old logs still apply.
		{Kind: KindUser, Owner: owner, Secret: true},
	}
}

// object is the stored body of a server, service or monitor. The fields a
// kind does not use stay empty.
type object struct {
	Name       string         `json:"name"`
	Router     string         `json:"router,omitempty"` // service
	Module     string         `json:"module,omitempty"` // monitor, filter
	Parameters map[string]any `json:"parameters"`
	// Status holds a server's state bits (statusOrder names them).
	Status []string `json:"status,omitempty"`
	// LastEvent and TriggeredAt are the last event the server's monitor
	// saw (MaxScale's event names: server_up, server_down) and when.
	LastEvent   string `json:"last_event,omitempty"`
	TriggeredAt string `json:"triggered_at,omitempty"`
	// Stopped is set on a stopped service or monitor.
	Stopped bool `json:"stopped,omitempty"`
	// Endpoint is a server's address and port, or socket (endpointOf),
	// kept for its unique index.
	Endpoint string `json:"endpoint,omitempty"`
	// Service is the canonical id of a listener's service.
	Service string `json:"service,omitempty"`
	// Monitor is the canonical id of the monitor of a server.
	Monitor string `json:"monitor,omitempty"`
	// Servers, Services, Monitors and Filters are a service's targets, by
	// canonical id, in the order they were linked.
	Servers  []string `json:"servers,omitempty"`
	Services []string `json:"services,omitempty"`
	Monitors []string `json:"monitors,omitempty"`
	Filters  []string `json:"filters,omitempty"`

	kind    string
	id      string
	version uint64 // 0: created by this transaction
	// createIndex orders objects by creation, as MaxScale lists them.
	createIndex uint64
	created     time.Time
	updated     time.Time
}

// canon turns a name into the id it is stored under: MaxScale's names are
// case-insensitive and whitespace in them is written as a hyphen in paths.
func canon(name string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(name) {
		if unicode.IsSpace(r) {
			r = '-'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// pathName is how a name appears in a URL: whitespace replaced by
// hyphens, then percent-encoded as one path segment, so a name holding
// '?', '#', '%' or non-ASCII links to itself and nothing else.
func pathName(name string) string {
	return url.PathEscape(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '-'
		}
		return r
	}, name))
}

func decodeObject(r *fsm.Resource) (*object, error) {
	o := &object{}
	d := json.NewDecoder(strings.NewReader(string(r.Body)))
	d.UseNumber()
	if err := d.Decode(o); err != nil {
		return nil, fmt.Errorf("%w: stored %s %q: %w", errCorrupt, r.Kind, r.ID, err)
	}
	if o.Parameters == nil {
		o.Parameters = map[string]any{}
	}
	o.kind, o.id, o.version, o.createIndex, o.created, o.updated = r.Kind, r.ID, r.Version, r.CreateIndex, r.Created, r.Updated
	return o, nil
}

// txn gathers a write: every object it read, and what it changes. commit
// turns it into ONE command in which every object read carries a version
// precondition, so a concurrent write to any of them makes the command
// conflict rather than break an invariant.
type txn struct {
	view    *fsm.View
	objs    map[string]*object // by kind+"/"+id; nil value: read as absent
	order   []string
	dirty   map[string]bool
	deleted map[string]bool
	// extra are operations added as they are (admin users).
	extra []fsm.Op
	// skipDefault: the command itself writes the default admin.
	skipDefault bool
}

func newTxn(v *fsm.View) *txn {
	return &txn{view: v, objs: map[string]*object{}, dirty: map[string]bool{}, deleted: map[string]bool{}}
}

func key(kind, id string) string { return kind + "/" + id }

// get returns kind/id, or nil if it does not exist.
func (t *txn) get(kind, id string) (*object, error) {
	k := key(kind, id)
	if o, ok := t.objs[k]; ok {
		return o, nil
	}
	var o *object
	if r := t.view.Get(kind, id); r != nil {
		var err error
		if o, err = decodeObject(r); err != nil {
			return nil, err
		}
	}
	t.objs[k] = o
	t.order = append(t.order, k)
	return o, nil
}

// mustGet is get with a missing object reported as errNotFound.
func (t *txn) mustGet(kind, name string) (*object, error) {
	o, err := t.get(kind, canon(name))
	if err == nil && o == nil {
		err = errNotFound
	}
	return o, err
}

// lookup returns the objects of kind whose index holds value.
func (t *txn) lookup(kind, index, value string) ([]*object, error) {
	rs, err := t.view.Lookup(kind, index, value)
	if err != nil {
		return nil, err
	}
	out := make([]*object, 0, len(rs))
	for _, r := range rs {
		o, err := t.get(r.Kind, r.ID)
		if errors.Is(err, errCorrupt) {
			continue // a corrupt record relates to nothing: lists skip it
		}
		if err != nil {
			return nil, err
		}
		// The cached copy may have been changed by this transaction.
		if o != nil && !t.deleted[key(o.kind, o.id)] {
			out = append(out, o)
		}
	}
	// In creation order, as MaxScale iterates its objects (one created by
	// this transaction last).
	order := func(o *object) uint64 {
		if o.createIndex == 0 {
			return math.MaxUint64
		}
		return o.createIndex
	}
	slices.SortStableFunc(out, func(x, y *object) int { return cmp.Compare(order(x), order(y)) })
	return out, nil
}

// create adds a new object; put and commit refuse a clash.
func (t *txn) create(o *object) {
	k := key(o.kind, o.id)
	if _, ok := t.objs[k]; !ok {
		t.order = append(t.order, k)
	}
	t.objs[k] = o
	t.dirty[k] = true
}

// touch marks o as written by this transaction. Both sides of a changed
// relationship are touched even when only one stores it, so that any
// concurrent write that read either side conflicts.
func (t *txn) touch(o *object) { t.dirty[key(o.kind, o.id)] = true }

// remove deletes o.
func (t *txn) remove(o *object) { t.deleted[key(o.kind, o.id)] = true }

// command builds the one command of this transaction.
func (t *txn) command(now time.Time) (fsm.Command, error) {
	cmd := fsm.Command{Time: now}
	for _, k := range t.order {
		kind, id, _ := strings.Cut(k, "/")
		o := t.objs[k]
		switch {
		case t.deleted[k] && o != nil:
			cmd.Ops = append(cmd.Ops, fsm.Op{Type: fsm.OpDelete, Kind: kind, ID: id, Require: fsm.RequireVersion, Version: o.version})
		case t.dirty[k] && o != nil:
			switch o.kind {
			case KindServer:
				o.Endpoint = t.uniqueEndpoint(o, endpointOf(o))
			case KindListener:
				o.Endpoint = t.uniqueEndpoint(o, listenerEndpoint(o))
			}
			body, err := json.Marshal(o)
			if err != nil {
				return cmd, err
			}
			op := fsm.Op{Type: fsm.OpPut, Kind: kind, ID: id, Body: body, Require: fsm.RequireAbsent}
			if o.version != 0 {
				op.Require, op.Version = fsm.RequireVersion, o.version
			}
			cmd.Ops = append(cmd.Ops, op)
		case o == nil:
			cmd.Ops = append(cmd.Ops, fsm.Op{Type: fsm.OpCheck, Kind: kind, ID: id, Require: fsm.RequireAbsent})
		default:
			cmd.Ops = append(cmd.Ops, fsm.Op{Type: fsm.OpCheck, Kind: kind, ID: id, Require: fsm.RequireVersion, Version: o.version})
		}
	}
	cmd.Ops = append(cmd.Ops, t.extra...)
	return cmd, nil
}

// uniqueEndpoint is the value o's unique endpoint index gets: ep, unless
// another object already holds it. Validation refuses a new clash; one
// stored before the rule existed leaves the later object out of the index
// rather than make every write to it conflict. Two racing writes both see
// it free, and the index refuses the second.
func (t *txn) uniqueEndpoint(o *object, ep string) string {
	rs, err := t.view.Lookup(o.kind, "endpoint", ep)
	if err != nil {
		return ep
	}
	for _, r := range rs {
		if r.ID != o.id {
			return ""
		}
	}
	return ep
}

// setList returns cur changed to hold exactly the ids of want: ids kept
// keep their place, new ones are appended in want's order, duplicates
// collapse (MaxScale's update_object_relations computes set differences).
func setList(cur, want []string) (out, added, removed []string) {
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = true
	}
	have := map[string]bool{}
	for _, id := range cur {
		if wantSet[id] {
			out = append(out, id)
			have[id] = true
		} else {
			removed = append(removed, id)
		}
	}
	for _, id := range want {
		if !have[id] {
			out = append(out, id)
			added = append(added, id)
			have[id] = true
		}
	}
	return out, added, removed
}

func without(list []string, id string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == id })
}

func with(list []string, id string) []string {
	if slices.Contains(list, id) {
		return list
	}
	return append(slices.Clone(list), id)
}
