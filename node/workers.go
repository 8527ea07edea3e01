package node

import (
	"sync"
	"sync/atomic"
)

// workerPool runs functions on goroutines it keeps between them, starting
// another only when none is free, so any number run at once. A command
// connection serves each request on one (commandService.serveConn): a
// forwarded command's Apply runs deep into Raft's code, and a goroutine
// started for each request grew its stack from the smallest size every
// time (runtime.newstack was about a fifth of the leader's CPU for those
// requests at c=64). At most maxIdle goroutines wait for work; the rest
// end when they finish.
type workerPool struct {
	work    chan func() // unbuffered: a send succeeds only when a worker waits
	stop    chan struct{}
	once    sync.Once
	wg      *sync.WaitGroup // counts the workers
	idle    atomic.Int32    // workers waiting on work
	maxIdle int32
}

func newWorkerPool(maxIdle int, wg *sync.WaitGroup) *workerPool {
	return &workerPool{work: make(chan func()), stop: make(chan struct{}), wg: wg, maxIdle: int32(maxIdle)}
}

// run runs f on a waiting worker, or on a new one when none waits.
func (p *workerPool) run(f func()) {
	select {
	case p.work <- f:
	default:
		p.wg.Add(1)
		go p.worker(f)
	}
}

func (p *workerPool) worker(f func()) {
	defer p.wg.Done()
	for {
		f()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		select {
		case f = <-p.work:
			p.idle.Add(-1)
		case <-p.stop:
			p.idle.Add(-1)
			return
		}
	}
}

// close ends the waiting workers, and each busy one once it finishes.
func (p *workerPool) close() { p.once.Do(func() { close(p.stop) }) }
