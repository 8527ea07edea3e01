package overview_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cairn/cluster/overview"
)

// counting gathers "n" with n the number of gatherings so far, so every
// gathering is a change.
func counting(n *atomic.Int64) overview.Gather {
	return func(ctx context.Context) ([]byte, error) {
		return []byte(fmt.Sprint(n.Add(1))), nil
	}
}

func mustChange(t *testing.T, h *overview.Hub, after []byte) []byte {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		cur, changed := h.Latest()
		if cur != nil && string(cur) != string(after) {
			return cur
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no overview after %q within 5s", after)
		}
	}
}

func Test_Hub_GathersOnlyWhileWatched_OnceForAll(t *testing.T) {
	var n atomic.Int64
	h := overview.NewHub(20*time.Millisecond, counting(&n))
	time.Sleep(60 * time.Millisecond)
	if got := n.Load(); got != 0 {
		t.Fatalf("%d gatherings with nobody watching", got)
	}
	if cur, _ := h.Latest(); cur != nil {
		t.Fatalf("an overview %q before any watch", cur)
	}

	unwatch := []func(){h.Watch(), h.Watch(), h.Watch()}
	first := mustChange(t, h, nil)
	second := mustChange(t, h, first)
	unwatch[0]()
	unwatch[0]() // twice is once
	mustChange(t, h, second)
	unwatch[1]()
	unwatch[2]()
	stopped := n.Load()
	time.Sleep(100 * time.Millisecond)
	if got := n.Load(); got > stopped+1 {
		t.Fatalf("%d more gatherings after the last watcher left", got-stopped)
	}

	// Watched again: a fresh start, nothing stale from before.
	defer h.Watch()()
	if cur, _ := h.Latest(); cur != nil {
		// Possible only if the new run has gathered already.
		t.Logf("overview %q right after watching again", cur)
	}
	mustChange(t, h, nil)
}

func Test_Hub_GatherError_KeepsThePrevious(t *testing.T) {
	var calls atomic.Int64
	h := overview.NewHub(10*time.Millisecond, func(ctx context.Context) ([]byte, error) {
		if calls.Add(1) == 1 {
			return []byte("one"), nil
		}
		return nil, fmt.Errorf("members unreachable")
	})
	defer h.Watch()()
	if got := mustChange(t, h, nil); string(got) != "one" {
		t.Fatalf("first overview %q", got)
	}
	for calls.Load() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	if cur, _ := h.Latest(); string(cur) != "one" {
		t.Fatalf("after failed gatherings the overview is %q, want the previous one", cur)
	}
}
