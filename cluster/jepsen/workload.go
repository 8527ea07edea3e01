package jepsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

// The kinds the workload writes: registers checked for linearizability,
// and a grow-only set whose acknowledged members must all survive.
const (
	registerKind = "jepsen"
	setKind      = "jepsenset"
)

// History is everything the clients did, as porcupine operations (the
// registers) and set additions.
type History struct {
	mu       sync.Mutex
	start    time.Time
	ops      []porcupine.Operation
	adds     map[string]Outcome // set member id -> what its PUT returned
	nextProc int
	counts   map[string]int // outcome tallies by op kind, for the report
	odd      []string       // replies the workload never expects (first 20)
	// sessionBreaks are plain reads that showed a client less than it
	// had written or read through the same node (first 20).
	sessionBreaks []string
	unknown       map[string]int // why writes ended of unknown outcome
}

func newHistory() *History {
	return &History{start: time.Now(), adds: map[string]Outcome{}, counts: map[string]int{}, unknown: map[string]int{}}
}

func (h *History) now() int64 { return time.Since(h.start).Nanoseconds() }

// newProcess returns a fresh porcupine process id: a client whose
// operation's outcome is unknown goes on as a new process, since that
// operation may still take effect at any later time.
func (h *History) newProcess() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextProc++
	return h.nextProc - 1
}

// record adds op to the history; a refused one is only counted.
func (h *History) record(op porcupine.Operation) {
	in, out := op.Input.(RegisterInput), op.Output.(RegisterOutput)
	h.mu.Lock()
	if out.Outcome != Refused {
		h.ops = append(h.ops, op)
	}
	h.counts[string(in.Kind)+" "+string(out.Outcome)]++
	h.mu.Unlock()
}

func (h *History) recordAdd(id string, o Outcome) {
	h.mu.Lock()
	h.adds[id] = o
	h.counts["add "+string(o)]++
	h.mu.Unlock()
}

// Operations returns the register history, the return time of every
// operation of unknown outcome moved past the end: it may have taken
// effect at any time after its call.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var end int64
	for _, op := range h.ops {
		end = max(end, op.Return)
	}
	out := append([]porcupine.Operation(nil), h.ops...)
	for i := range out {
		if out[i].Output.(RegisterOutput).Outcome == Unknown {
			out[i].Return = end + 1
		}
	}
	return out
}

// keys returns every register key the history touches, sorted.
func (h *History) keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, op := range h.ops {
		if k := op.Input.(RegisterInput).Key; !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// cached is what a client last learnt of a key: its value and version.
type cached struct {
	value   string // "" absent
	version uint64
}

// client issues one request at a time against random nodes.
type client struct {
	id    int // for values and set ids; stable across process changes
	proc  int
	h     *History
	zone  *Zone
	rng   *rand.Rand
	http  *http.Client
	keys  int // registers in use at a time
	known map[string]cached
	seq   int
}

// keyEpoch is how long a set of keys is in use before the clients move on
// to fresh ones (Jepsen's "independent" keys). It keeps each key's history
// short, and with it the operations of unknown outcome that stay pending on
// one key, which porcupine's search is exponential in.
const keyEpoch = 4 * time.Second

// run issues operations until ctx ends.
// appliedHeader is the native API's "certainly not applied" header
// (X-Cairn-Applied: false); the harness is a black-box client of the API
// and names it as any client would.
const appliedHeader = "X-Cairn-Applied"

// caughtUpHeader is the answer's X-Cairn-Caught-Up: false of a node that
// served a read before it had applied what it forwarded (it waited 5 s).
const caughtUpHeader = "X-Cairn-Caught-Up"

func (c *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		epoch := c.h.now() / int64(keyEpoch)
		key := fmt.Sprintf("e%d-k%d", epoch, c.rng.IntN(c.keys))
		switch r := c.rng.Float64(); {
		case r < 0.30:
			c.read(ctx, c.node(), key)
		case r < 0.40:
			c.session(ctx, key)
		case r < 0.65:
			c.write(ctx, c.node(), key)
		case r < 0.90:
			if _, ok := c.known[key]; ok {
				c.cas(ctx, key)
			} else {
				c.read(ctx, c.node(), key)
			}
		default:
			c.add(ctx)
		}
	}
}

func (c *client) node() *Node { return c.zone.Nodes[c.rng.IntN(len(c.zone.Nodes))] }

func (c *client) nextValue() string {
	c.seq++
	return fmt.Sprintf("c%d-%d", c.id, c.seq)
}

// reply is an HTTP answer, or the error that stood for one.
type reply struct {
	code    int
	body    []byte
	etag    uint64
	err     error
	refused bool // the connection was refused: the request never left
	// notApplied is Cairn saying the write was certainly not applied
	// (X-Cairn-Applied: false).
	notApplied bool
	// notCaughtUp is a node saying it served a read before it could apply
	// what it forwarded (X-Cairn-Caught-Up: false).
	notCaughtUp bool
}

// do sends a request to a random node.
func (c *client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) reply {
	return c.doAt(ctx, c.node(), method, path, body, hdr)
}

func (c *client) doAt(ctx context.Context, nd *Node, method, path string, body []byte, hdr map[string]string) reply {
	req, err := http.NewRequestWithContext(ctx, method, nd.HTTP+path, bytes.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err, refused: errors.Is(err, syscall.ECONNREFUSED)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	r := reply{code: resp.StatusCode, body: b, notApplied: resp.Header.Get(appliedHeader) == "false",
		notCaughtUp: resp.Header.Get(caughtUpHeader) == "false"}
	if et := resp.Header.Get("ETag"); len(et) > 2 {
		r.etag, _ = strconv.ParseUint(et[1:len(et)-1], 10, 64)
	}
	return r
}

// writeOutcome classifies the reply to a write.
func writeOutcome(r reply) Outcome {
	switch {
	case r.err == nil && (r.code == http.StatusOK || r.code == http.StatusCreated):
		return OK
	case r.err == nil && r.code == http.StatusPreconditionFailed:
		return Fail
	case r.refused, r.err == nil && (r.notApplied || r.code >= 400 && r.code < 500):
		return Refused // never sent, or refused before any change
	}
	return Unknown
}

type resourceDoc struct {
	Version uint64 `json:"version"`
	Body    struct {
		V string `json:"v"`
	} `json:"body"`
}

// read reads key through nd, consistently; false if it got no answer to
// record.
func (c *client) read(ctx context.Context, nd *Node, key string) bool {
	call := c.h.now()
	r := c.doAt(ctx, nd, http.MethodGet, "/cairn/v1/resources/"+registerKind+"/"+key+"?consistent", nil, nil)
	ret := c.h.now()
	var out RegisterOutput
	switch {
	case r.err == nil && r.code == http.StatusOK:
		var doc resourceDoc
		if err := json.Unmarshal(r.body, &doc); err != nil || doc.Body.V == "" {
			c.h.recordOdd(fmt.Sprintf("read %s: unreadable 200 body %q", key, r.body))
			return false
		}
		out = RegisterOutput{Outcome: OK, Value: doc.Body.V}
		c.known[key] = cached{value: doc.Body.V, version: doc.Version}
	case r.err == nil && r.code == http.StatusNotFound:
		out = RegisterOutput{Outcome: OK}
		c.known[key] = cached{}
	default:
		return false // a failed read has no effect: nothing to check
	}
	c.h.record(porcupine.Operation{ClientId: c.proc, Input: RegisterInput{Kind: OpRead, Key: key}, Call: call, Output: out, Return: ret})
	return true
}

// write writes a new value to key through nd and reports the outcome.
func (c *client) write(ctx context.Context, nd *Node, key string) Outcome {
	v := c.nextValue()
	body, _ := json.Marshal(map[string]string{"v": v})
	return c.put(ctx, nd, RegisterInput{Kind: OpWrite, Key: key, Value: v}, body, nil)
}

func (c *client) cas(ctx context.Context, key string) {
	k := c.known[key]
	v := c.nextValue()
	body, _ := json.Marshal(map[string]string{"v": v})
	hdr := map[string]string{"If-None-Match": "*"}
	if k.value != "" {
		hdr = map[string]string{"If-Match": `"` + strconv.FormatUint(k.version, 10) + `"`}
	}
	c.put(ctx, c.node(), RegisterInput{Kind: OpCAS, Key: key, Value: v, Expect: k.value}, body, hdr)
}

// put writes through nd and reports the outcome.
func (c *client) put(ctx context.Context, nd *Node, in RegisterInput, body []byte, hdr map[string]string) Outcome {
	call := c.h.now()
	r := c.doAt(ctx, nd, http.MethodPut, "/cairn/v1/resources/"+registerKind+"/"+in.Key, body, hdr)
	ret := c.h.now()
	o := writeOutcome(r)
	if o == Refused && !r.refused && !r.notApplied || o == Fail && in.Kind != OpCAS {
		c.h.recordOdd(fmt.Sprintf("%s %s: %d %s", in.Kind, in.Key, r.code, r.body))
	}
	c.h.record(porcupine.Operation{ClientId: c.proc, Input: in, Call: call, Output: RegisterOutput{Outcome: o}, Return: ret})
	if o == Unknown {
		c.h.recordUnknown(r)
	}
	switch o {
	case OK:
		c.known[in.Key] = cached{value: in.Value, version: r.etag}
	case Fail, Refused:
		delete(c.known, in.Key)
	case Unknown:
		delete(c.known, in.Key)
		c.proc = c.h.newProcess()
	}
	return o
}

// session checks what one node promises a client across its requests
// (read your writes, monotonic reads: README, "Writes go to any node"):
// through one node it writes key, reads it plainly, reads it ?consistent
// and plainly again. Each plain read must show at least the version the
// client last wrote or read there, unless the node said it served the read
// before catching up (X-Cairn-Caught-Up: false, after 5 s of waiting) or
// restarted meanwhile (a node keeps what it forwarded in memory). The
// write and the ?consistent read go into the register history too.
func (c *client) session(ctx context.Context, key string) {
	nd := c.node()
	starts := nd.Starts()
	if c.write(ctx, nd, key) != OK {
		return
	}
	floor := c.known[key].version
	plainRead := func(after string) bool {
		r := c.doAt(ctx, nd, http.MethodGet, "/cairn/v1/resources/"+registerKind+"/"+key, nil, nil)
		if r.err != nil || r.code != http.StatusOK && r.code != http.StatusNotFound {
			return false // no answer: nothing to check
		}
		if r.etag < floor && !r.notCaughtUp && nd.Starts() == starts {
			c.h.recordSessionBreak(fmt.Sprintf("plain read of %s through %s after %s: version %d (status %d), the client had seen %d there",
				key, nd.ID, after, r.etag, r.code, floor))
			return false
		}
		floor = max(floor, r.etag)
		return true
	}
	c.h.count("session")
	if !plainRead("its write") || !c.read(ctx, nd, key) {
		return
	}
	floor = max(floor, c.known[key].version)
	plainRead("a ?consistent read")
}

// add creates a new member of the set.
func (c *client) add(ctx context.Context) {
	c.seq++
	id := fmt.Sprintf("c%d-%d", c.id, c.seq)
	r := c.do(ctx, http.MethodPut, "/cairn/v1/resources/"+setKind+"/"+id, []byte(`{}`), map[string]string{"If-None-Match": "*"})
	o := writeOutcome(r)
	if o == Fail || o == Refused && !r.refused && !r.notApplied {
		c.h.recordOdd(fmt.Sprintf("add %s: %d %s", id, r.code, r.body))
	}
	c.h.recordAdd(id, o)
	if o == Unknown {
		c.h.recordUnknown(r)
	}
}

// recordSessionBreak notes a plain read that went back on what its node
// had shown the client.
func (h *History) recordSessionBreak(what string) { h.keep("session break", &h.sessionBreaks, what) }

// keep counts an anomaly under name and keeps the first 20 descriptions
// of its kind in list.
func (h *History) keep(name string, list *[]string, what string) {
	h.mu.Lock()
	h.counts[name]++
	if len(*list) < 20 {
		*list = append(*list, what)
	}
	h.mu.Unlock()
}

// count tallies one operation of kind what, for the report.
func (h *History) count(what string) {
	h.mu.Lock()
	h.counts[what]++
	h.mu.Unlock()
}

// recordUnknown tallies why a write's outcome is unknown.
func (h *History) recordUnknown(r reply) {
	why := "no answer"
	switch {
	case r.err != nil && errors.Is(r.err, context.DeadlineExceeded) || os.IsTimeout(r.err):
		why = "client timeout"
	case r.err != nil:
		why = "connection lost"
	default:
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(r.body, &e)
		why = fmt.Sprintf("%d %s", r.code, firstWords(e.Error, 6))
	}
	h.mu.Lock()
	h.unknown[why]++
	h.mu.Unlock()
}

// firstWords returns s up to its n-th word, digits dropped (no ids or addresses).
func firstWords(s string, n int) string {
	var out []string
	for _, w := range strings.Fields(s) {
		if strings.ContainsAny(w, "0123456789") {
			continue
		}
		if out = append(out, w); len(out) == n {
			break
		}
	}
	return strings.Join(out, " ")
}

// recordOdd notes a reply the workload never expects (a 400, say): a bug
// in the harness or in Cairn, reported as an anomaly.
func (h *History) recordOdd(what string) { h.keep("odd", &h.odd, what) }
