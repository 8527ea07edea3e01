package workload

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// reporter sends instance states to the zone, the latest per instance
// and only when it differs from what was last sent: an instance that
// flaps between two reports costs at most one Raft entry per change that
// is still current when the reporter gets to it.
type reporter struct {
	send ReportFunc
	log  *slog.Logger

	mu      sync.Mutex
	pending map[string]Status
	sent    map[string]Status
	wake    chan struct{}
}

func newReporter(send ReportFunc, log *slog.Logger) *reporter {
	return &reporter{send: send, log: log, pending: map[string]Status{}, sent: map[string]Status{}, wake: make(chan struct{}, 1)}
}

// set records id's new state for sending.
func (r *reporter) set(id string, st Status) {
	r.mu.Lock()
	if last, ok := r.sent[id]; ok && last.Same(st) {
		delete(r.pending, id)
	} else {
		r.pending[id] = st
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run sends pending states until ctx ends, retrying failures with a
// growing pause.
func (r *reporter) run(ctx context.Context) {
	if r.send == nil {
		return
	}
	pause := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(max(pause, 50*time.Millisecond)):
		}
		r.mu.Lock()
		ids := make([]string, 0, len(r.pending))
		for id := range r.pending {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		sort.Strings(ids)
		failed := false
		for _, id := range ids {
			r.mu.Lock()
			st, ok := r.pending[id]
			r.mu.Unlock()
			if !ok {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := r.send(cctx, st)
			cancel()
			if err != nil && !errors.Is(err, ErrStale) {
				if ctx.Err() == nil {
					r.log.Info("reporting an instance's state failed; will retry", "instance", id, "state", st.State, "err", err)
				}
				failed = true
				break
			}
			r.mu.Lock()
			if cur, ok := r.pending[id]; ok && cur.Same(st) {
				delete(r.pending, id)
			}
			r.sent[id] = st
			r.mu.Unlock()
		}
		if failed {
			pause = min(max(2*pause, 100*time.Millisecond), 2*time.Second)
		} else {
			pause = 0
		}
	}
}
