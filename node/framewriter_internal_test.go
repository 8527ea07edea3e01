package node

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
)

// Frames sent from many goroutines at once arrive whole, each once, in
// each sender's order, however the writer groups them into writes.
func Test_FrameWriter_ConcurrentSenders_EveryFrameArrivesWholeInOrder(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	w := newFrameWriter(client)
	defer w.close()

	const senders, each = 8, 500
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.send(frame(fmt.Appendf(nil, "%d:%d", s, i)))
			}
		}()
	}
	next := make([]int, senders)
	br := bufio.NewReader(server)
	for range senders * each {
		p, err := readFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		var s, i int
		if _, err := fmt.Sscanf(string(p), "%d:%d", &s, &i); err != nil || s < 0 || s >= senders {
			t.Fatalf("frame %q: not one that was sent", p)
		}
		if i != next[s] {
			t.Fatalf("sender %d: frame %d arrived where %d was due", s, i, next[s])
		}
		next[s]++
	}
	wg.Wait()

	w.close()
	w.send(frame([]byte("after close"))) // must not block
}

// frame returns payload with its length in front.
func frame(payload []byte) []byte {
	w := newWireWriter(len(payload))
	w.b = append(w.b, payload...)
	return w.frame()
}
