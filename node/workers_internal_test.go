package node

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

// goroutineID is the running goroutine's number, from its stack's header.
func goroutineID() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	return string(bytes.Fields(b)[1])
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 5 s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Functions run one after another run on the same goroutine: the one
// that ran the first waits for the next.
func Test_WorkerPool_OneAfterAnother_SameGoroutine(t *testing.T) {
	var wg sync.WaitGroup
	p := newWorkerPool(4, &wg)
	ids := map[string]bool{}
	for range 20 {
		ran := make(chan string)
		p.run(func() { ran <- goroutineID() })
		ids[<-ran] = true
		waitFor(t, "the worker waits for work", func() bool { return p.idle.Load() == 1 })
	}
	if len(ids) != 1 {
		t.Fatalf("20 functions in turn ran on %d goroutines, want 1", len(ids))
	}
	p.close()
	wg.Wait()
}

// Any number run at once: none waits for another to finish. Once they
// have, maxIdle workers wait for more and the rest have ended; close ends
// those that wait.
func Test_WorkerPool_ManyAtOnce_AllRun_IdleBounded(t *testing.T) {
	var wg sync.WaitGroup
	const maxIdle, n = 3, 10
	p := newWorkerPool(maxIdle, &wg)
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	for range n {
		p.run(func() {
			started.Done()
			<-release // each holds its worker until all n have started
		})
	}
	started.Wait()
	close(release)
	waitFor(t, "maxIdle workers wait", func() bool { return p.idle.Load() == maxIdle })
	time.Sleep(20 * time.Millisecond)
	if got := p.idle.Load(); got != maxIdle {
		t.Fatalf("%d workers wait for work, want at most %d", got, maxIdle)
	}
	p.close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("workers still running 5 s after close")
	}
}
