package binfield_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"cairn/internal/binfield"
)

var errShort = errors.New("short")

func TestReader_ReadsWhatWasAppended(t *testing.T) {
	var b []byte
	b = binary.AppendUvarint(b, 300)
	b = append(b, 7)
	b = binfield.AppendBytes(b, []byte("hello"))
	b = binfield.AppendBytes(b, nil)
	b = binary.AppendUvarint(b, 2)
	b = append(b, 1, 0)
	r := binfield.NewReader(b, errShort)
	if v := r.Uvarint(); v != 300 {
		t.Errorf("Uvarint = %d, want 300", v)
	}
	if v := r.Byte(); v != 7 {
		t.Errorf("Byte = %d, want 7", v)
	}
	if v := r.Bytes(); string(v) != "hello" || cap(v) != 5 {
		t.Errorf("Bytes = %q (cap %d), want hello with its own capacity", v, cap(v))
	}
	if v := r.Bytes(); len(v) != 0 {
		t.Errorf("empty Bytes = %q", v)
	}
	if n := r.Count(1); n != 2 || r.Byte() != 1 || r.Byte() != 0 {
		t.Errorf("Count = %d or its items are wrong", n)
	}
	if r.Err() != nil || r.Len() != 0 {
		t.Errorf("after reading everything: err %v, %d bytes left", r.Err(), r.Len())
	}
}

// A field cut short, or a count the rest cannot hold, is the reader's
// short error; it sticks, and later reads give zero values.
func TestReader_Truncated_FirstErrorSticks(t *testing.T) {
	whole := binfield.AppendBytes(nil, []byte("hello"))
	for n := 0; n < len(whole); n++ {
		r := binfield.NewReader(whole[:n], errShort)
		if v := r.Bytes(); v != nil || !errors.Is(r.Err(), errShort) {
			t.Errorf("%d of %d bytes: Bytes = %q, err %v; want nil and the short error", n, len(whole), v, r.Err())
		}
		r.Fail(errors.New("later"))
		if !errors.Is(r.Err(), errShort) || r.Uvarint() != 0 || r.Byte() != 0 {
			t.Errorf("%d bytes: the first error did not stick (%v)", n, r.Err())
		}
	}
	r := binfield.NewReader(binary.AppendUvarint(nil, 1<<40), errShort)
	if n := r.Count(1); n != 0 || !errors.Is(r.Err(), errShort) {
		t.Errorf("a count of 2^40 items in 0 bytes = %d, err %v; want 0 and the short error", n, r.Err())
	}
	r = binfield.NewReader(append(binary.AppendUvarint(nil, 3), 1, 2, 3, 4, 5), errShort)
	if n := r.Count(2); n != 0 || !errors.Is(r.Err(), errShort) {
		t.Errorf("3 items of at least 2 bytes in 5 = %d, err %v; want the short error", n, r.Err())
	}
}
