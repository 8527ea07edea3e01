package node

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cairn/fsm"
)

// The command connection's frames (commands.go): each encoder returns the
// whole frame, its length in front.

func encodeCommandRequest(id uint64, timeout time.Duration, data []byte) []byte {
	var w wireWriter
	w.uvarint(id)
	w.uvarint(uint64(timeout.Milliseconds()))
	w.bytes(data)
	return frame(w.b)
}

func decodeCommandRequest(p []byte) (id uint64, timeout time.Duration, data []byte, err error) {
	r := wireReader{b: p}
	id = r.uvarint()
	timeout = time.Duration(r.uvarint()) * time.Millisecond
	data = r.bytes()
	return id, timeout, data, r.end()
}

func encodeCommandResponse(id, index uint64, res *fsm.Result, err error) []byte {
	var w wireWriter
	w.uvarint(id)
	if res != nil {
		w.byte1(statusResult)
		w.uvarint(index)
		encodeResult(&w, res)
		return frame(w.b)
	}
	w.byte1(statusError)
	w.uvarint(index)
	kind := 0
	for i, k := range remoteErrorKinds {
		if k != nil && errors.Is(err, k) {
			kind = i
			break
		}
	}
	w.byte1(byte(kind))
	notApplied := byte(0)
	if NotApplied(err) {
		notApplied = 1
	}
	w.byte1(notApplied)
	msg := "no answer"
	if err != nil {
		msg = err.Error()
	}
	w.bytes([]byte(msg))
	return frame(w.b)
}

func decodeCommandResponse(p []byte) (uint64, commandAnswer, error) {
	r := wireReader{b: p}
	id := r.uvarint()
	var a commandAnswer
	switch status := r.byte1(); status {
	case statusResult:
		a.index = r.uvarint()
		a.res = decodeResult(&r)
	case statusError:
		a.index = r.uvarint()
		kind := int(r.byte1())
		re := &remoteError{notApplied: r.byte1() == 1, msg: string(r.bytes())}
		if kind < len(remoteErrorKinds) {
			re.kind = remoteErrorKinds[kind]
		}
		a.err = re
	default:
		if r.err == nil {
			r.err = fmt.Errorf("unknown command response status %d", status)
		}
	}
	return id, a, r.end()
}

// encodeResult writes what a follower needs of a result to answer its
// client: the conflict or refusal, and the resources as written.
func encodeResult(w *wireWriter, res *fsm.Result) {
	w.uvarint(res.Index)
	var conflict []byte
	if res.Conflict != nil {
		conflict, _ = json.Marshal(res.Conflict)
	}
	w.bytes(conflict)
	w.bytes([]byte(res.Invalid))
	w.uvarint(uint64(len(res.Resources)))
	for _, r := range res.Resources {
		if r == nil {
			w.byte1(0)
			continue
		}
		w.byte1(1)
		w.bytes([]byte(r.Kind))
		w.bytes([]byte(r.ID))
		w.uvarint(r.Version)
		w.uvarint(r.CreateIndex)
		w.time(r.Created)
		w.time(r.Updated)
		w.bytes(r.Body)
	}
	w.uvarint(uint64(len(res.Existed)))
	for _, e := range res.Existed {
		b := byte(0)
		if e {
			b = 1
		}
		w.byte1(b)
	}
}

func decodeResult(r *wireReader) *fsm.Result {
	res := &fsm.Result{Index: r.uvarint()}
	if c := r.bytes(); len(c) > 0 {
		res.Conflict = new(fsm.Conflict)
		if err := json.Unmarshal(c, res.Conflict); err != nil && r.err == nil {
			r.err = err
		}
	}
	res.Invalid = string(r.bytes())
	n := r.count()
	res.Resources = make([]*fsm.Resource, 0, n)
	for range n {
		if r.byte1() == 0 {
			res.Resources = append(res.Resources, nil)
			continue
		}
		res.Resources = append(res.Resources, &fsm.Resource{
			Kind: string(r.bytes()), ID: string(r.bytes()), Version: r.uvarint(), CreateIndex: r.uvarint(),
			Created: r.time(), Updated: r.time(), Body: json.RawMessage(r.bytes()),
		})
	}
	n = r.count()
	res.Existed = make([]bool, 0, n)
	for range n {
		res.Existed = append(res.Existed, r.byte1() == 1)
	}
	return res
}

type wireWriter struct{ b []byte }

func (w *wireWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *wireWriter) byte1(v byte)     { w.b = append(w.b, v) }
func (w *wireWriter) bytes(p []byte)   { w.uvarint(uint64(len(p))); w.b = append(w.b, p...) }
func (w *wireWriter) time(t time.Time) {
	p, _ := t.MarshalBinary()
	w.bytes(p)
}

// wireReader reads fields; the first error sticks and later reads give
// zero values.
type wireReader struct {
	b   []byte
	err error
}

var errShortFrame = errors.New("command frame is truncated")

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortFrame
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		if r.err == nil {
			r.err = errShortFrame
		}
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// bytes returns a field; it shares the frame's memory.
func (r *wireReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = errShortFrame
		}
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// count reads a number of items, each at least a byte: a count larger
// than what is left is an error, not an allocation.
func (r *wireReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = errShortFrame
		}
		return 0
	}
	return int(n)
}

func (r *wireReader) time() time.Time {
	var t time.Time
	if err := t.UnmarshalBinary(r.bytes()); err != nil && r.err == nil {
		r.err = err
	}
	return t
}

func (r *wireReader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("command frame has %d bytes too many", len(r.b))
	}
	return r.err
}
