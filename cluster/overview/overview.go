// Package overview runs the gathering behind the native API's live view of
// the domain (GET /cairn/v1/overview/events, which the web console
// draws): a loop that gathers the overview every interval while at least
// one event stream watches it, once for all of them, and wakes the
// streams when it changes. It runs only while someone watches: the first
// watcher starts it and the last one stops it.
//
// What an overview holds, and how it is read (each member's status), is
// the native API's: it gives the Hub a Gather func; the Hub knows only
// intervals, watchers and bytes.
package overview

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Gather makes one overview, as the bytes the streams send. An error
// keeps the previous overview.
type Gather func(ctx context.Context) ([]byte, error)

// Hub gathers while watched and tells the watchers when the overview
// changes.
type Hub struct {
	every  time.Duration
	gather Gather

	mu       sync.Mutex
	watchers int
	stop     chan struct{} // closed when the last watcher goes
	cur      []byte        // the latest overview
	changed  chan struct{} // closed and replaced when cur changes
}

// NewHub returns a hub that calls gather every interval while watched.
func NewHub(every time.Duration, gather Gather) *Hub {
	return &Hub{every: every, gather: gather, changed: make(chan struct{})}
}

// Watch adds a watcher, starting the gathering for the first; the
// returned func removes it, stopping the gathering after the last.
func (h *Hub) Watch() (unwatch func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers++
	if h.watchers == 1 {
		h.stop = make(chan struct{})
		h.cur = nil
		go h.run(h.stop)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.watchers--; h.watchers == 0 {
				close(h.stop)
			}
		})
	}
}

// Latest returns the current overview (nil before the first gathering
// of this watch) and a channel closed when it changes.
func (h *Hub) Latest() ([]byte, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.changed
}

// run gathers at once and then every interval until stop closes. A
// gathering slower than the interval is followed by the next at once
// (the ticker drops the ticks it missed), never by two.
func (h *Hub) run(stop chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		b, err := h.gather(ctx)
		if err == nil && ctx.Err() == nil {
			h.mu.Lock()
			// A watch that stopped and started again meanwhile has a run
			// of its own: this one's result is stale.
			if h.stop == stop && !bytes.Equal(b, h.cur) {
				h.cur = b
				close(h.changed)
				h.changed = make(chan struct{})
			}
			h.mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
