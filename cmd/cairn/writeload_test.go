package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeLoad is writers putting new resources of one kind as fast as they
// can until stopped, recording every write attempted, the ones
// acknowledged (201, at the version their ETag gave) and the ones
// answered not applied (503 with X-Cairn-Applied: false): what a fault
// test then checks the nodes against (mustHoldAcked).
type writeLoad struct {
	t    *testing.T
	kind string
	// unavailableOK says a 503 is an answer to expect (a leader is
	// killed); else it is an unexpected answer, as any but 201 is.
	unavailableOK bool

	mu         sync.Mutex
	attempted  map[string][]byte
	acked      map[string]uint64
	notApplied map[string]bool
	nAcked     atomic.Int64
	bad        atomic.Value // the first unexpected answer
	stop       chan struct{}
	wg         sync.WaitGroup
	stopOnce   sync.Once
}

// startWriteLoad starts writers goroutines; writer g sends its i-th write,
// body(id, g, i), to target(g). They stop at stopWriters or the test's end.
func startWriteLoad(t *testing.T, kind string, writers int, unavailableOK bool, target func(g int) *agent, body func(id string, g, i int) []byte) *writeLoad {
	l := &writeLoad{t: t, kind: kind, unavailableOK: unavailableOK, attempted: map[string][]byte{}, acked: map[string]uint64{},
		notApplied: map[string]bool{}, stop: make(chan struct{})}
	for g := range writers {
		l.wg.Add(1)
		go l.write(g, target(g), body)
	}
	t.Cleanup(l.stopWriters)
	return l
}

func (l *writeLoad) write(g int, a *agent, body func(id string, g, i int) []byte) {
	defer l.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		id := fmt.Sprintf("w%02d-%06d", g, i)
		b := body(id, g, i)
		l.mu.Lock()
		l.attempted[id] = b
		l.mu.Unlock()
		r, err := a.do(http.MethodPut, resPath(l.kind, id), b, nil)
		switch {
		case err != nil:
			time.Sleep(20 * time.Millisecond) // the node is gone or going: unknown outcome
		case r.status == http.StatusCreated:
			v, err := strconv.ParseUint(strings.Trim(r.header.Get("ETag"), `"`), 10, 64)
			if err != nil || v == 0 {
				l.bad.CompareAndSwap(nil, fmt.Sprintf("PUT %s: 201 with ETag %q", id, r.header.Get("ETag")))
				continue
			}
			l.mu.Lock()
			l.acked[id] = v
			l.mu.Unlock()
			l.nAcked.Add(1)
		case r.status == http.StatusServiceUnavailable && l.unavailableOK:
			if r.header.Get("X-Cairn-Applied") == "false" {
				l.mu.Lock()
				l.notApplied[id] = true
				l.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		default:
			l.bad.CompareAndSwap(nil, fmt.Sprintf("PUT %s: %d %s", id, r.status, bytes.TrimSpace(r.body)))
		}
	}
}

// mustNoUnexpected fails the test on the first unexpected answer.
func (l *writeLoad) mustNoUnexpected() {
	l.t.Helper()
	if s := l.bad.Load(); s != nil {
		l.t.Fatalf("unexpected answer: %s", s)
	}
}

// waitAcked waits until n writes have been acknowledged in all.
func (l *writeLoad) waitAcked(n int64, within time.Duration) {
	l.t.Helper()
	waitFor(l.t, fmt.Sprintf("%d acknowledged writes", n), within, func() bool {
		l.mustNoUnexpected()
		return l.nAcked.Load() >= n
	}, func() string { return fmt.Sprintf("%d acknowledged", l.nAcked.Load()) })
}

// stopWriters stops the writers and waits for them; the maps are then
// the writers' final record.
func (l *writeLoad) stopWriters() {
	l.stopOnce.Do(func() { close(l.stop); l.wg.Wait() })
}

// lastAcked is the acknowledged write with the highest version.
func (l *writeLoad) lastAcked() (id string, version uint64) {
	for k, v := range l.acked {
		if v > version {
			id, version = k, v
		}
	}
	return id, version
}

// mustHoldAcked checks a's resources of the kind after the writers have
// stopped: every acknowledged write at the version its ETag gave, with the
// body sent; none answered not applied; none never written; an
// unacknowledged one, if present, with the body sent.
func (l *writeLoad) mustHoldAcked(a *agent) {
	l.t.Helper()
	got := a.mustList(l.kind)
	for id, v := range l.acked {
		r, ok := got[id]
		switch {
		case !ok:
			l.t.Errorf("%s: acknowledged write %s (version %d) is missing", a.id(), id, v)
		case r.Version != v || !bytes.Equal(r.Body, l.attempted[id]):
			l.t.Errorf("%s: %s at version %d with %s; acknowledged at %d with %s", a.id(), id, r.Version, r.Body, v, l.attempted[id])
		}
	}
	for id, r := range got {
		body, ok := l.attempted[id]
		switch {
		case !ok:
			l.t.Errorf("%s: %s is stored but was never written", a.id(), id)
		case l.notApplied[id]:
			l.t.Errorf("%s: %s was answered not applied (503, X-Cairn-Applied: false) but is stored", a.id(), id)
		case !bytes.Equal(r.Body, body):
			l.t.Errorf("%s: unacknowledged %s is stored with %s, not the body sent, %s", a.id(), id, r.Body, body)
		}
	}
	l.t.Logf("%s holds %d of the %d writes attempted; %d acknowledged, %d answered not applied", a.id(), len(got), len(l.attempted), len(l.acked), len(l.notApplied))
}
