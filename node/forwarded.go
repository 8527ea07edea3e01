package node

import "sync/atomic"

// Forwarded is what a follower forwarded to its leader, kept so that what
// it serves itself afterwards agrees with the leader's answers: a client
// that writes through a follower and reads there sees its write, and a
// client whose read the leader served never sees an older state next.
type Forwarded struct {
	// writeIndex is the highest index the leader applied a forwarded
	// write at; readIndex the highest index it served a forwarded read at.
	writeIndex, readIndex atomic.Uint64
	// writing counts the writes being forwarded now.
	writing atomic.Int64
}

// NoteWrite records that the leader applied a forwarded write at index.
func (f *Forwarded) NoteWrite(index uint64) { raiseTo(&f.writeIndex, index) }

// NoteRead records that the leader served a forwarded read at index.
func (f *Forwarded) NoteRead(index uint64) { raiseTo(&f.readIndex, index) }

// WriteIndex is the highest index NoteWrite recorded.
func (f *Forwarded) WriteIndex() uint64 { return f.writeIndex.Load() }

// Floor is the index a read served here must have applied: every
// recorded write's and read's.
func (f *Forwarded) Floor() uint64 { return max(f.writeIndex.Load(), f.readIndex.Load()) }

// StartWrite counts a write being forwarded until done is called.
func (f *Forwarded) StartWrite() (done func()) {
	f.writing.Add(1)
	return func() { f.writing.Add(-1) }
}

// Writing reports whether a forwarded write is awaiting the leader's
// answer: its entry, and with it the news of earlier commits, is then on
// its way to this follower.
func (f *Forwarded) Writing() bool { return f.writing.Load() > 0 }

// raiseTo sets v to index if that is higher.
func raiseTo(v *atomic.Uint64, index uint64) {
	for {
		cur := v.Load()
		if index <= cur || v.CompareAndSwap(cur, index) {
			return
		}
	}
}
