package node

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cairn/fsm"
	"cairn/internal/binfield"
)

// The command connection's frames (commands.go): each encoder returns the
// whole frame, its length in front.

func encodeCommandRequest(id uint64, kind byte, timeout time.Duration, data []byte) []byte {
	w := newWireWriter(3*binary.MaxVarintLen64 + 1 + len(data))
	w.uvarint(id)
	w.byte1(kind)
	w.uvarint(uint64(timeout.Milliseconds()))
	w.bytes(data)
	return w.frame()
}

func decodeCommandRequest(p []byte) (id uint64, kind byte, timeout time.Duration, data []byte, err error) {
	r := binfield.NewReader(p, errShortFrame)
	id = r.Uvarint()
	kind = r.Byte()
	timeout = time.Duration(r.Uvarint()) * time.Millisecond
	data = r.Bytes()
	return id, kind, timeout, data, endOfFrame(r)
}

// encodeCommandResponse encodes a's result (statusResult), its index alone
// (statusIndex: a read index), or its error.
func encodeCommandResponse(id uint64, a commandAnswer) []byte {
	index, res, err := a.index, a.res, a.err
	w := newWireWriter(resultSize(res) + 64)
	w.uvarint(id)
	if res != nil {
		w.byte1(statusResult)
		w.uvarint(index)
		encodeResult(&w, res)
		return w.frame()
	}
	if err == nil {
		w.byte1(statusIndex)
		w.uvarint(index)
		return w.frame()
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
	w.bytes([]byte(err.Error()))
	return w.frame()
}

func decodeCommandResponse(p []byte) (uint64, commandAnswer, error) {
	r := binfield.NewReader(p, errShortFrame)
	id := r.Uvarint()
	var a commandAnswer
	switch status := r.Byte(); status {
	case statusResult:
		a.index = r.Uvarint()
		a.res = decodeResult(r)
	case statusIndex:
		a.index = r.Uvarint()
	case statusError:
		a.index = r.Uvarint()
		kind := int(r.Byte())
		re := &remoteError{notApplied: r.Byte() == 1, msg: string(r.Bytes())}
		if kind < len(remoteErrorKinds) {
			re.kind = remoteErrorKinds[kind]
		}
		a.err = re
	default:
		r.Fail(fmt.Errorf("unknown command response status %d", status))
	}
	return id, a, endOfFrame(r)
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

func decodeResult(r *binfield.Reader) *fsm.Result {
	res := &fsm.Result{Index: r.Uvarint()}
	if c := r.Bytes(); len(c) > 0 {
		res.Conflict = new(fsm.Conflict)
		if err := json.Unmarshal(c, res.Conflict); err != nil {
			r.Fail(err)
		}
	}
	res.Invalid = string(r.Bytes())
	n := r.Count(1)
	res.Resources = make([]*fsm.Resource, 0, n)
	for range n {
		if r.Byte() == 0 {
			res.Resources = append(res.Resources, nil)
			continue
		}
		res.Resources = append(res.Resources, &fsm.Resource{
			Kind: string(r.Bytes()), ID: string(r.Bytes()), Version: r.Uvarint(), CreateIndex: r.Uvarint(),
			Created: readTime(r), Updated: readTime(r), Body: json.RawMessage(r.Bytes()),
		})
	}
	n = r.Count(1)
	res.Existed = make([]bool, 0, n)
	for range n {
		res.Existed = append(res.Existed, r.Byte() == 1)
	}
	return res
}

// resultSize is about how many bytes encodeResult writes for res.
func resultSize(res *fsm.Result) int {
	if res == nil {
		return 0
	}
	n := 32 + len(res.Invalid) + len(res.Existed)
	if res.Conflict != nil {
		n += 256
	}
	for _, r := range res.Resources {
		if r != nil {
			n += len(r.Kind) + len(r.ID) + len(r.Body) + 2*16 + 6*binary.MaxVarintLen64
		}
	}
	return n
}

// wireWriter builds a frame's payload after room for its length
// (newWireWriter), so that frame puts the length in front without a copy.
type wireWriter struct{ b []byte }

// newWireWriter returns a writer with room for a payload of about size
// bytes.
func newWireWriter(size int) wireWriter {
	return wireWriter{b: make([]byte, binary.MaxVarintLen64, binary.MaxVarintLen64+size)}
}

// frame returns the whole frame: the payload's length, then the payload.
func (w *wireWriter) frame() []byte {
	n := len(w.b) - binary.MaxVarintLen64
	var length [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(length[:], uint64(n))
	start := binary.MaxVarintLen64 - l
	copy(w.b[start:], length[:l])
	return w.b[start:]
}

func (w *wireWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *wireWriter) byte1(v byte)     { w.b = append(w.b, v) }
func (w *wireWriter) bytes(p []byte)   { w.b = binfield.AppendBytes(w.b, p) }
func (w *wireWriter) time(t time.Time) {
	var buf [16]byte
	p, _ := t.AppendBinary(buf[:0])
	w.bytes(p)
}

var errShortFrame = errors.New("command frame is truncated")

func readTime(r *binfield.Reader) time.Time {
	var t time.Time
	if err := t.UnmarshalBinary(r.Bytes()); err != nil {
		r.Fail(err)
	}
	return t
}

// endOfFrame is r's error, or one for bytes left over.
func endOfFrame(r *binfield.Reader) error {
	if r.Len() > 0 {
		r.Fail(fmt.Errorf("command frame has %d bytes too many", r.Len()))
	}
	return r.Err()
}
