package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/raft"
)

// Test kinds: kindHost declares a unique field index, a list index and a
// unique compound index; kindJob is declared without indexes; kindBlob is
// not declared at all.
const (
	kindHost = "t.host"
	kindJob  = "t.job"
	kindBlob = "t.blob"
)

var testKinds = []string{kindHost, kindJob, kindBlob}

// hostIndexes is kindHost's index declaration order, which is also the order
// in which the store checks unique indexes.
var hostIndexes = []struct {
	name   string
	unique bool
}{{"name", true}, {"tags", false}, {"addr", true}}

// testIDs is the random tests' key space, plus ids the generator never uses
// (probes for Get of absent resources).
var testIDs = func() []string {
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("id-%02d", i))
	}
	return ids
}()

var probeIDs = append(slices.Clone(testIDs), "nope", "id-0", "id-000")

func mustSchema(tb testing.TB) Schema {
	tb.Helper()
	s, err := NewSchema(
		KindSchema{Kind: kindHost, Indexes: []Index{
			FieldIndex("name", "name", true),
			ListIndex("tags", "tags"),
			CompoundIndex("addr", true, "host", "port"),
		}},
		KindSchema{Kind: kindJob},
	)
	if err != nil {
		tb.Fatalf("NewSchema: %v", err)
	}
	return s
}

func newTestStore(tb testing.TB) *Store {
	tb.Helper()
	return NewStore(mustSchema(tb))
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discardWriter{}, nil))
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// testSeed returns the seed for a randomized test: CAIRN_FSM_SEED if set,
// else the clock. It is logged so a failure can be replayed.
func testSeed(tb testing.TB) int64 {
	tb.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("CAIRN_FSM_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("CAIRN_FSM_SEED=%q: %v", s, err)
		}
		seed = n
	}
	tb.Logf("seed %d (replay with CAIRN_FSM_SEED=%d)", seed, seed)
	return seed
}

var baseTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func timeAt(index uint64) time.Time { return baseTime.Add(time.Duration(index) * time.Second) }

func put(kind, id, body string) Op {
	return Op{Type: OpPut, Kind: kind, ID: id, Body: json.RawMessage(body)}
}

func del(kind, id string) Op { return Op{Type: OpDelete, Kind: kind, ID: id} }

func check(kind, id string, req Require, version uint64) Op {
	return Op{Type: OpCheck, Kind: kind, ID: id, Require: req, Version: version}
}

func withRequire(op Op, req Require, version uint64) Op {
	op.Require, op.Version = req, version
	return op
}

// mustApply applies ops at index and fails the test unless the batch applied.
func mustApply(tb testing.TB, s *Store, index uint64, ops ...Op) *Result {
	tb.Helper()
	res := s.Apply(index, Command{Ops: ops, Time: timeAt(index)})
	if err := res.Err(); err != nil {
		tb.Fatalf("Apply(%d): %v", index, err)
	}
	return res
}

// mustRefuse applies ops at index and fails the test if the batch applied
// or did not leave the store as it was (except for the index).
func mustRefuse(tb testing.TB, s *Store, index uint64, ops ...Op) *Result {
	tb.Helper()
	before := s.View()
	res := s.Apply(index, Command{Ops: ops, Time: timeAt(index)})
	if res.Err() == nil {
		tb.Fatalf("Apply(%d) applied; want it refused", index)
	}
	if res.Resources != nil || res.Existed != nil {
		tb.Fatalf("refused Apply(%d) returned Resources %v / Existed %v", index, res.Resources, res.Existed)
	}
	if got := s.Index(); got != index {
		tb.Fatalf("after refused Apply(%d): Index() = %d; want %d", index, got, index)
	}
	mustSameContents(tb, before, s.View())
	return res
}

// mustSameContents fails unless two views hold identical resources (the
// indexes of the views may differ).
func mustSameContents(tb testing.TB, want, got *View) {
	tb.Helper()
	if w, g := want.Digest(), got.Digest(); w != g {
		tb.Fatalf("digest changed: %s -> %s", w, g)
	}
	var wantAll, gotAll []*Resource
	want.each(func(r *Resource) bool { wantAll = append(wantAll, r); return true })
	got.each(func(r *Resource) bool { gotAll = append(gotAll, r); return true })
	if len(wantAll) != len(gotAll) {
		tb.Fatalf("resource count changed: %d -> %d", len(wantAll), len(gotAll))
	}
	for i := range wantAll {
		if d := diffResource(gotAll[i], wantAll[i]); d != "" {
			tb.Fatalf("resource %d changed: %s", i, d)
		}
	}
}

func mustSnapshot(tb testing.TB, v *View) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := v.WriteSnapshot(&buf); err != nil {
		tb.Fatalf("WriteSnapshot: %v", err)
	}
	return buf.Bytes()
}

func mustRestore(tb testing.TB, s *Store, snap []byte) {
	tb.Helper()
	if err := s.Restore(bytes.NewReader(snap)); err != nil {
		tb.Fatalf("Restore: %v", err)
	}
}

func mustLookup(tb testing.TB, v *View, kind, index, value string) []*Resource {
	tb.Helper()
	rs, err := v.Lookup(kind, index, value)
	if err != nil {
		tb.Fatalf("Lookup(%s, %s, %q): %v", kind, index, value, err)
	}
	return rs
}

func ids(rs []*Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// diffResource describes how got differs from want, or returns "".
// Timestamps compare as instants (a snapshot may change their zone).
func diffResource(got, want *Resource) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil:
		return fmt.Sprintf("missing %s/%s", want.Kind, want.ID)
	case want == nil:
		return fmt.Sprintf("unexpected %s/%s", got.Kind, got.ID)
	}
	var d []string
	if got.Kind != want.Kind || got.ID != want.ID {
		d = append(d, fmt.Sprintf("key %s/%q, want %s/%q", got.Kind, got.ID, want.Kind, want.ID))
	}
	if got.Version != want.Version {
		d = append(d, fmt.Sprintf("version %d, want %d", got.Version, want.Version))
	}
	if got.CreateIndex != want.CreateIndex {
		d = append(d, fmt.Sprintf("create_index %d, want %d", got.CreateIndex, want.CreateIndex))
	}
	if !got.Created.Equal(want.Created) {
		d = append(d, fmt.Sprintf("created %v, want %v", got.Created, want.Created))
	}
	if !got.Updated.Equal(want.Updated) {
		d = append(d, fmt.Sprintf("updated %v, want %v", got.Updated, want.Updated))
	}
	if !bytes.Equal(got.Body, want.Body) {
		d = append(d, fmt.Sprintf("body %s, want %s", got.Body, want.Body))
	}
	if d == nil {
		return ""
	}
	return fmt.Sprintf("%s/%q: %s", want.Kind, want.ID, strings.Join(d, "; "))
}

// ---------------------------------------------------------------------------
// The model: a plain map implementing the store's semantics independently.

type mkey struct{ kind, id string }

type mres struct {
	r    *Resource
	vals map[string][]string // index name -> values (unique indexes: at most one)
}

type model struct {
	index uint64
	res   map[mkey]mres
}

func newModel() *model { return &model{res: map[mkey]mres{}} }

type modelResult struct {
	invalidOp int // the first malformed op, or -1
	conflict  *Conflict
	written   []*Resource
	existed   []bool
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

func modelValidID(id string) bool {
	return id != "" && len(id) <= 512 && utf8.ValidString(id) && strings.IndexFunc(id, unicode.IsControl) < 0
}

// modelCanonical is the body as the store keeps it: compact, HTML-escaped.
func modelCanonical(body []byte) []byte {
	var c, h bytes.Buffer
	if err := json.Compact(&c, body); err != nil {
		panic(err)
	}
	json.HTMLEscape(&h, c.Bytes())
	return h.Bytes()
}

// modelScalar mirrors "a string, number or boolean".
func modelScalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// modelValues computes a body's index values for kind by decoding it into
// generic Go values; an error means the body is malformed for the kind.
func modelValues(kind string, body []byte) (map[string][]string, error) {
	if kind != kindHost {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	obj, _ := v.(map[string]any)
	out := map[string][]string{}
	if x := obj["name"]; x != nil {
		s, ok := modelScalar(x)
		if !ok {
			return nil, errors.New("name is not a scalar")
		}
		out["name"] = []string{s}
	}
	if x := obj["tags"]; x != nil {
		arr, ok := x.([]any)
		if !ok {
			return nil, errors.New("tags is not an array")
		}
		set := map[string]bool{}
		for _, el := range arr {
			s, ok := modelScalar(el)
			if !ok {
				return nil, errors.New("tag is not a scalar")
			}
			set[s] = true
		}
		out["tags"] = slices.Sorted(maps.Keys(set))
	}
	// host, then port: the value exists only if both do; a missing host
	// hides whatever port is.
	var parts []string
	for _, f := range []string{"host", "port"} {
		x := obj[f]
		if x == nil {
			parts = nil
			break
		}
		s, ok := modelScalar(x)
		if !ok {
			return nil, fmt.Errorf("%s is not a scalar", f)
		}
		parts = append(parts, s)
	}
	if parts != nil {
		out["addr"] = []string{parts[0] + ":" + parts[1]}
	}
	return out, nil
}

func modelValidOp(op Op) bool {
	if !kindRE.MatchString(op.Kind) || !modelValidID(op.ID) {
		return false
	}
	switch op.Require {
	case RequireNothing, RequireAbsent, RequireExists, RequireVersion:
	default:
		return false
	}
	switch op.Type {
	case OpCheck, OpDelete:
		return true
	case OpPut:
		// The store's limits (CheckBody) also refuse invalid UTF-8,
		// which json.Valid takes.
		if len(op.Body) == 0 || !json.Valid(op.Body) || !utf8.Valid(op.Body) {
			return false
		}
		_, err := modelValues(op.Kind, op.Body)
		return err == nil
	}
	return false
}

func (m *model) valid(cmd Command) bool {
	for _, op := range cmd.Ops {
		if !modelValidOp(op) {
			return false
		}
	}
	return true
}

func (m *model) apply(index uint64, cmd Command) modelResult {
	m.index = index
	out := modelResult{invalidOp: -1}
	for i, op := range cmd.Ops {
		if !modelValidOp(op) {
			out.invalidOp = i
			return out
		}
	}
	work := maps.Clone(m.res)
	written := make([]*Resource, len(cmd.Ops))
	existed := make([]bool, len(cmd.Ops))
	for i, op := range cmd.Ops {
		k := mkey{op.Kind, op.ID}
		cur, exists := work[k]
		existed[i] = exists
		var curVersion uint64
		if exists {
			curVersion = cur.r.Version
		}
		ok := true
		switch op.Require {
		case RequireAbsent:
			ok = !exists
		case RequireExists:
			ok = exists
		case RequireVersion:
			ok = exists && curVersion == op.Version
		}
		if !ok {
			out.conflict = &Conflict{Kind: op.Kind, ID: op.ID, Version: curVersion, Require: op.Require}
			return out
		}
		switch op.Type {
		case OpDelete:
			delete(work, k)
		case OpPut:
			r := &Resource{Kind: op.Kind, ID: op.ID, Version: index, CreateIndex: index,
				Created: cmd.Time, Updated: cmd.Time, Body: modelCanonical(op.Body)}
			if exists {
				r.CreateIndex, r.Created = cur.r.CreateIndex, cur.r.Created
			}
			vals, _ := modelValues(op.Kind, op.Body)
			if c := m.clash(work, r, vals); c != nil {
				c.Version = curVersion
				out.conflict = c
				return out
			}
			work[k] = mres{r: r, vals: vals}
			written[i] = r
		}
	}
	m.res = work
	out.written, out.existed = written, existed
	return out
}

func (m *model) clash(work map[mkey]mres, r *Resource, vals map[string][]string) *Conflict {
	if r.Kind != kindHost {
		return nil
	}
	for _, ix := range hostIndexes {
		if !ix.unique {
			continue
		}
		for _, v := range vals[ix.name] {
			var holders []string
			for k, other := range work {
				if k.kind == r.Kind && k.id != r.ID && slices.Contains(other.vals[ix.name], v) {
					holders = append(holders, k.id)
				}
			}
			if len(holders) > 0 {
				slices.Sort(holders)
				return &Conflict{Kind: r.Kind, ID: r.ID, Index: ix.name, Value: v, HolderID: holders[0]}
			}
		}
	}
	return nil
}

// list returns the model's resources of kind in id order.
func (m *model) list(kind string) []*Resource {
	var out []*Resource
	for k, v := range m.res {
		if k.kind == kind {
			out = append(out, v.r)
		}
	}
	slices.SortFunc(out, func(a, b *Resource) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// lookup computes an index look-up by scanning.
func (m *model) lookup(kind, index, value string) []string {
	var out []string
	for k, v := range m.res {
		if k.kind == kind && slices.Contains(v.vals[index], value) {
			out = append(out, k.id)
		}
	}
	slices.Sort(out)
	return out
}

// indexValues returns every value the model holds in kind's index, plus the
// given probes.
func (m *model) indexValues(kind, index string, probes ...string) []string {
	set := map[string]bool{}
	for _, p := range probes {
		set[p] = true
	}
	for k, v := range m.res {
		if k.kind == kind {
			for _, x := range v.vals[index] {
				set[x] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// ---------------------------------------------------------------------------
// The harness: a store (with its raft adapter) and the model side by side.

type harness struct {
	tb    testing.TB
	store *Store
	fsm   *FSM
	model *model
}

func newHarness(tb testing.TB) *harness {
	s := newTestStore(tb)
	return &harness{tb: tb, store: s, fsm: NewFSM(s, quietLogger()), model: newModel()}
}

// apply applies cmd at index to the store, through the raft adapter when
// viaRaft is set and the command can be encoded, and to the model, and
// compares the results.
func (h *harness) apply(index uint64, cmd Command, viaRaft bool) *Result {
	h.tb.Helper()
	var got *Result
	if viaRaft && h.model.valid(cmd) {
		if index%3 == 0 { // as a zone at FormatPrepared proposes it
			prepared, err := PrepareCommand(h.store.Schema(), cmd)
			if err != nil {
				h.tb.Fatalf("PrepareCommand of a valid command: %v", err)
			}
			cmd = prepared
		}
		data, err := EncodeCommand(cmd)
		if err != nil {
			h.tb.Fatalf("EncodeCommand: %v", err)
		}
		r, ok := h.fsm.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}).(*Result)
		if !ok {
			h.tb.Fatalf("FSM.Apply(%d) did not return a *Result", index)
		}
		got = r
	} else {
		got = h.store.Apply(index, cmd)
	}
	want := h.model.apply(index, cmd)
	h.compareResult(index, cmd, got, want)
	if gi := h.store.Index(); gi != index {
		h.tb.Fatalf("after Apply(%d): Index() = %d", index, gi)
	}
	return got
}

func (h *harness) skip(index uint64) {
	h.tb.Helper()
	if index%2 == 0 {
		h.store.SkipIndex(index)
	} else {
		// A non-command raft entry goes the same way.
		if r := h.fsm.Apply(&raft.Log{Index: index, Type: raft.LogNoop}); r != nil {
			h.tb.Fatalf("FSM.Apply(noop) = %v; want nil", r)
		}
	}
	h.model.index = index
	if gi := h.store.Index(); gi != index {
		h.tb.Fatalf("after SkipIndex(%d): Index() = %d", index, gi)
	}
}

func describeCmd(cmd Command) string {
	b, _ := json.Marshal(cmd.Ops)
	return string(b)
}

func (h *harness) compareResult(index uint64, cmd Command, got *Result, want modelResult) {
	h.tb.Helper()
	fail := func(format string, args ...any) {
		h.tb.Helper()
		h.tb.Fatalf("Apply(%d) %s: %s", index, describeCmd(cmd), fmt.Sprintf(format, args...))
	}
	if got.Index != index {
		fail("Result.Index = %d", got.Index)
	}
	err := got.Err()
	switch {
	case want.invalidOp >= 0:
		if got.Invalid == "" || got.Conflict != nil {
			fail("got conflict=%v invalid=%q; want invalid op %d", got.Conflict, got.Invalid, want.invalidOp)
		}
		if p := fmt.Sprintf("op %d:", want.invalidOp); !strings.HasPrefix(got.Invalid, p) {
			fail("Invalid = %q; want it to start with %q", got.Invalid, p)
		}
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) {
			fail("Err() = %v; want it to wrap ErrInvalid only", err)
		}
	case want.conflict != nil:
		if got.Conflict == nil || got.Invalid != "" {
			fail("got conflict=%v invalid=%q; want conflict %+v", got.Conflict, got.Invalid, *want.conflict)
		}
		if *got.Conflict != *want.conflict {
			fail("Conflict = %+v; want %+v", *got.Conflict, *want.conflict)
		}
		if !errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
			fail("Err() = %v; want it to wrap ErrConflict only", err)
		}
	default:
		if err != nil {
			fail("refused (%v); want it applied", err)
		}
		if len(got.Resources) != len(cmd.Ops) || len(got.Existed) != len(cmd.Ops) {
			fail("%d resources / %d existed for %d ops", len(got.Resources), len(got.Existed), len(cmd.Ops))
		}
		touched := map[mkey]bool{}
		for i, op := range cmd.Ops {
			if d := diffResource(got.Resources[i], want.written[i]); d != "" {
				fail("Resources[%d]: %s", i, d)
			}
			// Existed is checked where the op is the batch's first touch
			// of its resource, where "before the batch" is unambiguous.
			k := mkey{op.Kind, op.ID}
			if !touched[k] && got.Existed[i] != want.existed[i] {
				fail("Existed[%d] = %v; want %v", i, got.Existed[i], want.existed[i])
			}
			touched[k] = true
		}
		return
	}
	if got.Resources != nil || got.Existed != nil {
		fail("refused batch returned Resources/Existed")
	}
}

// Probe values for look-ups that the model may not hold.
var (
	probeNames = []string{"n0", "n1", "zz", "", "7", "true"}
	probeTags  = []string{"a", "b", "zz", ""}
	probeAddrs = []string{"h0:1", "h1:80", "zz:1"}
)

// checkState compares the whole of store s with the model: Index, every
// kind's List and Count, Get of every key, and every index look-up.
func (h *harness) checkState(s *Store) {
	h.tb.Helper()
	v := s.View()
	if got := v.Index(); got != h.model.index {
		h.tb.Fatalf("Index() = %d; model %d", got, h.model.index)
	}
	for _, kind := range testKinds {
		want := h.model.list(kind)
		got, more := v.List(kind, "", "", 0)
		if more {
			h.tb.Fatalf("List(%s) without limit reports more", kind)
		}
		if len(got) != len(want) {
			h.tb.Fatalf("List(%s) = %v; model %v", kind, ids(got), ids(want))
		}
		for i := range want {
			if d := diffResource(got[i], want[i]); d != "" {
				h.tb.Fatalf("List(%s)[%d]: %s", kind, i, d)
			}
		}
		if n := v.Count(kind); n != len(want) {
			h.tb.Fatalf("Count(%s) = %d; model %d", kind, n, len(want))
		}
		for _, id := range probeIDs {
			var w *Resource
			if mr, ok := h.model.res[mkey{kind, id}]; ok {
				w = mr.r
			}
			if d := diffResource(v.Get(kind, id), w); d != "" {
				h.tb.Fatalf("Get(%s, %s): %s", kind, id, d)
			}
		}
	}
	// Every resource, including those outside testKinds and testIDs (the
	// fuzz test makes some), is where the model says.
	n := 0
	v.each(func(*Resource) bool { n++; return true })
	if n != len(h.model.res) {
		h.tb.Fatalf("store holds %d resources; model %d", n, len(h.model.res))
	}
	for k, mr := range h.model.res {
		if d := diffResource(v.Get(k.kind, k.id), mr.r); d != "" {
			h.tb.Fatalf("Get(%s, %q): %s", k.kind, k.id, d)
		}
	}
	probes := map[string][]string{"name": probeNames, "tags": probeTags, "addr": probeAddrs}
	for _, ix := range hostIndexes {
		for _, val := range h.model.indexValues(kindHost, ix.name, probes[ix.name]...) {
			got := mustLookup(h.tb, v, kindHost, ix.name, val)
			want := h.model.lookup(kindHost, ix.name, val)
			if !slices.Equal(ids(got), want) {
				h.tb.Fatalf("Lookup(%s, %s, %q) = %q; model %q", kindHost, ix.name, val, ids(got), want)
			}
			if ix.unique && len(got) > 1 {
				h.tb.Fatalf("unique index %s holds %q for %q", ix.name, val, ids(got))
			}
			for _, r := range got {
				if d := diffResource(r, h.model.res[mkey{kindHost, r.ID}].r); d != "" {
					h.tb.Fatalf("Lookup(%s, %q): %s", ix.name, val, d)
				}
			}
		}
	}
	if _, err := v.Lookup(kindJob, "name", "n0"); !errors.Is(err, ErrNoIndex) {
		h.tb.Fatalf("Lookup on an undeclared index: err = %v; want ErrNoIndex", err)
	}
}

// ---------------------------------------------------------------------------
// Random commands.

type gen struct {
	r *rand.Rand
}

func (g *gen) pick(n int) int { return g.r.Intn(n) }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// command returns a batch of 1 to 5 random ops; about one command in
// twenty has a malformed op.
func (g *gen) command(m *model, index uint64) Command {
	n := 1 + g.pick(5)
	cmd := Command{Time: timeAt(index).Add(time.Duration(g.pick(1000)) * time.Nanosecond)}
	if g.chance(0.1) {
		cmd.Time = cmd.Time.In(time.FixedZone("east", 5*3600))
	}
	for range n {
		cmd.Ops = append(cmd.Ops, g.op(m))
	}
	return cmd
}

func (g *gen) op(m *model) Op {
	kind := testKinds[g.pick(len(testKinds))]
	if g.chance(0.5) {
		kind = kindHost // most of the action is on the indexed kind
	}
	op := Op{Kind: kind, ID: testIDs[g.pick(len(testIDs))]}
	switch x := g.pick(100); {
	case x < 55:
		op.Type, op.Body = OpPut, g.body(kind)
	case x < 80:
		op.Type = OpDelete
	default:
		op.Type = OpCheck
	}
	switch x := g.pick(100); {
	case x < 55:
	case x < 67:
		op.Require = RequireAbsent
	case x < 80:
		op.Require = RequireExists
	default:
		op.Require = RequireVersion
		cur, ok := m.res[mkey{op.Kind, op.ID}]
		switch {
		case ok && g.chance(0.75):
			op.Version = cur.r.Version
		case ok && g.chance(0.5):
			op.Version = cur.r.Version + 1
		case g.chance(0.3):
			op.Version = 0
		default:
			op.Version = uint64(g.pick(int(m.index) + 2))
		}
	}
	if g.chance(0.015) {
		g.spoil(&op)
	}
	return op
}

// spoil makes op malformed in one of several ways.
func (g *gen) spoil(op *Op) {
	switch g.pick(9) {
	case 0:
		op.Kind = []string{"", "Bad", "9lives", "t host"}[g.pick(4)]
	case 1:
		op.ID = []string{"", "a\x01b", strings.Repeat("x", MaxIDBytes+1), "bad\xffutf8"}[g.pick(4)]
	case 2:
		op.Type = "frob"
	case 3:
		op.Require = "maybe"
	case 4:
		op.Type, op.Body = OpPut, json.RawMessage(`{"name":`)
	case 5:
		op.Type, op.Body = OpPut, nil
	case 6:
		op.Type, op.Kind, op.Body = OpPut, kindHost, json.RawMessage(`{"name":"n1","tags":"a"}`)
	case 7:
		op.Type, op.Kind, op.Body = OpPut, kindHost, json.RawMessage(`{"tags":["a",{"x":1}]}`)
	case 8:
		op.Type, op.Kind, op.Body = OpPut, kindHost, json.RawMessage(`{"name":{"first":"n"}}`)
	}
}

// body returns a random JSON body; for kindHost it uses a small space of
// names, tags and addresses so that unique indexes clash now and then.
func (g *gen) body(kind string) json.RawMessage {
	if kind != kindHost && g.chance(0.15) {
		return json.RawMessage([]string{`[1,2]`, `"s"`, `null`, `42`, `{"tags":"not indexed here"}`}[g.pick(5)])
	}
	b := map[string]any{}
	switch x := g.pick(100); {
	case x < 70:
		b["name"] = fmt.Sprintf("n%d", g.pick(30))
	case x < 74:
		b["name"] = nil
	case x < 78:
		b["name"] = g.pick(3) // a number indexes as its text
	case x < 80:
		b["name"] = true
	}
	if g.chance(0.6) {
		var tags []string
		for range g.pick(4) {
			tags = append(tags, string(rune('a'+g.pick(5))))
		}
		b["tags"] = tags
		if tags == nil && g.chance(0.5) {
			b["tags"] = []string{}
		}
	}
	if g.chance(0.5) {
		b["host"] = fmt.Sprintf("h%d", g.pick(4))
		if g.chance(0.85) {
			port := 1 + g.pick(4)
			if g.chance(0.3) {
				b["port"] = strconv.Itoa(port) // "1" and 1 index alike
			} else {
				b["port"] = port
			}
		}
	}
	if g.chance(0.1) {
		b["note"] = "a < b && c > d"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if g.chance(0.1) {
		enc.SetIndent("", "  ") // not canonical: the store compacts it
	}
	if err := enc.Encode(b); err != nil {
		panic(err)
	}
	return json.RawMessage(buf.Bytes())
}

// run applies n random commands to the harness starting after its index
// (with an occasional skipped log entry), checking the whole state every
// checkEvery commands.
func (h *harness) run(g *gen, n, checkEvery int) {
	h.tb.Helper()
	for i := range n {
		index := h.model.index + 1
		if g.chance(0.03) {
			h.skip(index)
			index++
		}
		h.apply(index, g.command(h.model, index), g.chance(0.3))
		if checkEvery > 0 && (i+1)%checkEvery == 0 {
			h.checkState(h.store)
		}
	}
}

func raftLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}
