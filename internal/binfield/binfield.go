// Package binfield reads and writes the fields Cairn's binary encodings
// are made of (fsm's log entries, node's command frames): uvarints,
// single bytes, and byte strings with their length in front.
package binfield

import "encoding/binary"

// AppendBytes appends b with its length in front (a uvarint).
func AppendBytes(out, b []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

// Reader reads fields in order. The first error sticks: later reads
// return zero values, and Err says what went wrong.
type Reader struct {
	data  []byte
	err   error
	short error
}

// NewReader reads data; a field it cuts short is the error short.
func NewReader(data []byte, short error) *Reader {
	return &Reader{data: data, short: short}
}

// Err is the first error, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records err unless an error came first.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Len is how many bytes are left.
func (r *Reader) Len() int { return len(r.data) }

// Uvarint reads a uvarint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.err = r.short
		return 0
	}
	r.data = r.data[n:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.data) == 0 {
		r.err = r.short
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

// Bytes reads a field with its length in front; it shares data's memory.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.data)) {
		r.err = r.short
		return nil
	}
	b := r.data[:n:n]
	r.data = r.data[n:]
	return b
}

// Count reads a number of items that each take at least min bytes: a
// number larger than what is left can hold is the error short, not an
// allocation.
func (r *Reader) Count(min int) int {
	n := r.Uvarint()
	if r.err == nil && n > uint64(len(r.data)/max(min, 1)) {
		r.err = r.short
		return 0
	}
	return int(n)
}
