package fsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
)

// Snapshot format: one JSON header line, which counts the resources, then
// one JSON line per resource in key order. Version 2 (zones at
// FormatLegacy) writes no index keys: Restore computes them from the
// bodies with this binary's schema. Version 3 (zones at FormatPrepared)
// writes each resource's keys as they were computed when it was written,
// and the zone's log format.
const snapshotFormat = "cairn-fsm-snapshot"

// Snapshot versions; Restore refuses others.
const (
	snapshotVersionLegacy = 2
	snapshotVersionKeys   = 3
	// LatestSnapshotVersion is the newest snapshot version this binary
	// reads (and writes, in zones at FormatPrepared).
	LatestSnapshotVersion = snapshotVersionKeys
)

// ErrNewer means a snapshot or a log entry was written by a newer Cairn
// than this binary, which refuses it rather than misread it.
var ErrNewer = errors.New("written by a newer Cairn")

type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	// Count is the number of resource lines that follow, so that a
	// snapshot cut short at a line boundary is refused.
	Count int `json:"count"`
	// LogFormat is the zone's log format (version 3 only).
	LogFormat int `json:"log_format,omitempty"`
}

// snapshotResource is one resource line: the resource and, from version 3
// on, its index keys.
type snapshotResource struct {
	*Resource
	Keys []IndexKey `json:"keys,omitempty"`
}

// WriteSnapshot streams the view to w in the snapshot format.
func (v *View) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	count := 0
	v.each(func(*Resource) bool { count++; return true })
	h := snapshotHeader{Format: snapshotFormat, Version: snapshotVersionLegacy, Index: v.Index(), Count: count}
	if f := v.LogFormat(); f >= FormatPrepared {
		h.Version, h.LogFormat = snapshotVersionKeys, f
	}
	if err := enc.Encode(h); err != nil {
		return err
	}
	var err error
	v.each(func(r *Resource) bool {
		line := snapshotResource{Resource: r}
		if h.Version == snapshotVersionKeys {
			line.Keys = r.keys
		}
		err = enc.Encode(line)
		return err == nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the store's state wholly with the snapshot read from r.
// The new state is built aside and swapped in only when complete, so a
// broken snapshot leaves the store as it was. A resource that cannot be
// read is named (kind and id) in the error, and every failure is counted
// (RestoreFailures).
//
// Restore reads each line on its own, with encoding/json's own limits and
// not CheckBody's: the limits are enforced where data enters the store
// (the dialects and Apply), and a restore that refused what an older
// binary stored would turn the limit into an outage.
func (s *Store) Restore(r io.Reader) error {
	err := s.restore(r)
	if err != nil {
		s.restoreFailures.Add(1)
	}
	return err
}

// RestoreFailures counts the snapshots this store failed to restore.
func (s *Store) RestoreFailures() uint64 { return s.restoreFailures.Load() }

func (s *Store) restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	line, err := readLine(br)
	if err != nil {
		return fmt.Errorf("read snapshot header: %w", err)
	}
	var h snapshotHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("read snapshot header: %w", err)
	}
	if h.Format == snapshotFormat && h.Version > LatestSnapshotVersion {
		return fmt.Errorf("the snapshot is of version %d, %w; this node reads versions up to %d: upgrade this node", h.Version, ErrNewer, LatestSnapshotVersion)
	}
	if h.Format != snapshotFormat || h.Version != snapshotVersionLegacy && h.Version != snapshotVersionKeys {
		return fmt.Errorf("unsupported snapshot %q version %d", h.Format, h.Version)
	}
	if h.LogFormat > LatestFormat {
		return fmt.Errorf("the snapshot is of log format %d, %w; this node's is %d: upgrade this node", h.LogFormat, ErrNewer, LatestFormat)
	}
	t := newTrees()
	prev := ""
	counts := map[string]int{}
	names := map[string]string{} // kinds and index names, stored once
	intern := func(s string) string {
		if v, ok := names[s]; ok {
			return v
		}
		names[s] = s
		return s
	}
	lines := decodeLines(br)
	defer lines.stop()
	for n := 0; ; n++ {
		d, err := lines.next()
		if err == io.EOF {
			if n != h.Count {
				return fmt.Errorf("snapshot ends after %d of %d resources", n, h.Count)
			}
			break
		}
		res := d.res
		if err == nil {
			err = d.err
		}
		if err == nil {
			err = ValidateKind(res.Kind)
		}
		if err == nil {
			err = ValidateID(res.ID)
		}
		if err == nil {
			if key := resourceKey(res.Kind, res.ID); key > prev {
				prev = key
			} else {
				err = fmt.Errorf("%s %q is out of order or repeated", res.Kind, res.ID)
			}
		}
		if err != nil {
			return fmt.Errorf("read snapshot resource %d: %w", n, err)
		}
		res.Kind = intern(res.Kind)
		if h.Version == snapshotVersionKeys {
			res.keys = d.keys
			for i := range res.keys {
				res.keys[i].Index = intern(res.keys[i].Index)
			}
		} else {
			// Keys that no longer compute (a schema change between
			// versions) are left out rather than failing the restore;
			// every replica running this binary leaves out the same ones.
			keys, err := indexKeys(s.schema, res.Kind, res.Body)
			res.keys = keys
			if err != nil || uniqueClash(t, res) != nil {
				res.keys = nil
			}
		}
		insertResource(t, res)
		counts[res.Kind]++
	}
	t.meta = meta{Index: h.Index, Format: h.LogFormat}

	s.countsMu.Lock()
	s.counts = counts
	s.countsMu.Unlock()
	s.install(t)
	s.advanced()
	// A restore leaves as much garbage as it kept (every line read and
	// decoded): hand it back to the OS now rather than hold twice the
	// store's size until the scavenger gets to it. Restores are rare (a
	// start, a snapshot from the leader).
	debug.FreeOSMemory()
	return nil
}

// decodedLine is one resource line of a snapshot, decoded.
type decodedLine struct {
	res  *Resource
	keys []IndexKey // version 3's keys, exactly as long as they are
	err  error      // the line does not decode (names the resource if it can)
}

// lineDecoder decodes a snapshot's resource lines on every CPU while
// Restore inserts them, in order: JSON decoding is most of a restore's
// time. Lines go in batches; each batch's answer channel is queued in
// order, so the reader gets them back in the order they were read.
type lineDecoder struct {
	order   chan chan lineBatch
	quit    chan struct{}
	current lineBatch
	pos     int
}

type lineBatch struct {
	lines []decodedLine
	err   error // the read error after the batch's lines (io.EOF at the end)
}

const decodeBatch = 256

func decodeLines(br *bufio.Reader) *lineDecoder {
	workers := max(runtime.GOMAXPROCS(0), 1)
	d := &lineDecoder{order: make(chan chan lineBatch, 2*workers), quit: make(chan struct{})}
	type job struct {
		lines [][]byte
		arena *[]byte // the memory lines are in
		err   error
		out   chan lineBatch
	}
	jobs := make(chan job, workers)
	for range workers {
		go func() {
			var keys []IndexKey
			for j := range jobs {
				b := lineBatch{lines: make([]decodedLine, len(j.lines)), err: j.err}
				for i, line := range j.lines {
					b.lines[i], keys = decodeLine(line, keys)
					if d := &b.lines[i]; d.err == nil {
						d.res.Body = canonicalBody(d.res.Body)
					}
				}
				lineArenas.Put(j.arena)
				j.out <- b
			}
		}()
	}
	go func() {
		defer close(d.order)
		defer close(jobs)
		for {
			j := job{out: make(chan lineBatch, 1), arena: lineArenas.Get().(*[]byte)}
			buf, ends := (*j.arena)[:0], make([]int, 0, decodeBatch)
			for len(ends) < decodeBatch {
				var err error
				if buf, err = appendLine(buf, br); err != nil {
					j.err = err
					break
				}
				ends = append(ends, len(buf))
			}
			// The lines are cut only now: buf may have moved as it grew.
			j.lines = make([][]byte, len(ends))
			start := 0
			for i, end := range ends {
				j.lines[i], start = buf[start:end], end
			}
			*j.arena = buf
			select {
			case jobs <- j:
			case <-d.quit:
				return
			}
			select {
			case d.order <- j.out:
			case <-d.quit:
				return
			}
			if j.err != nil {
				return
			}
		}
	}()
	return d
}

// next returns the next decoded line, or the read error that ends them.
func (d *lineDecoder) next() (decodedLine, error) {
	for d.pos == len(d.current.lines) {
		if d.current.err != nil {
			return decodedLine{}, d.current.err
		}
		out, ok := <-d.order
		if !ok {
			return decodedLine{}, io.ErrUnexpectedEOF
		}
		d.current, d.pos = <-out, 0
	}
	d.pos++
	return d.current.lines[d.pos-1], nil
}

// stop ends the reader and the workers (Restore is done or failed).
func (d *lineDecoder) stop() { close(d.quit) }

// decodeLine decodes one resource line with encoding/json/v2's decoder
// (go-json-experiment), 2.6 times faster than v1's here; a line it
// refuses is decoded again by v1, whose rules (invalid UTF-8 replaced,
// duplicate names allowed) decide as they always did, so nothing an older
// binary wrote and restored stops restoring.
//
// v2 takes only members it knows by their exact names: v1 matches names
// case-insensitively ("KIND" is kind to v1, an unknown member to v2), so
// a line with any other member is left to v1 as well.
//
// scratch is memory for the keys while they are decoded (the line's keep
// an exact copy); decodeLine returns it, grown as needed, for the next
// line.
func decodeLine(line []byte, scratch []IndexKey) (decodedLine, []IndexKey) {
	res := new(Resource)
	rec := snapshotResource{Resource: res, Keys: scratch[:0]}
	if jsonv2.Unmarshal(line, &rec, jsonv2.RejectUnknownMembers(true)) == nil {
		return decodedLine{res: res, keys: exactKeys(rec.Keys)}, rec.Keys
	}
	res = new(Resource)
	rec = snapshotResource{Resource: res}
	if err := json.Unmarshal(line, &rec); err != nil {
		kind, id := lineResource(line)
		return decodedLine{res: res, err: fmt.Errorf("%s %q: %w", kind, id, err)}, scratch
	}
	return decodedLine{res: res, keys: exactKeys(rec.Keys)}, scratch
}

// exactKeys copies keys into a slice exactly as long, nil if none (the
// decoder's scratch is not kept, nor any of its spare room).
func exactKeys(keys []IndexKey) []IndexKey {
	if len(keys) == 0 {
		return nil
	}
	return slices.Clone(keys)
}

// canonicalBody returns body in the form Apply stores every body in
// (prepareBody: json.Marshal's, compact and HTML-escaped; an absent body
// is null), which is also the form WriteSnapshot writes it in. A snapshot
// WriteSnapshot made holds only such bodies, so this copies nothing; a
// body in another form, restored as it came, would give this store a
// digest that a store restored from its snapshot does not have.
func canonicalBody(body json.RawMessage) json.RawMessage {
	if len(body) > 0 && isCanonical(body) {
		return body
	}
	c, err := json.Marshal(body)
	if err != nil {
		return body // not reached: the line's decoder checked the syntax
	}
	return c
}

// notCanonicalBytes are the bytes a body that is not canonical holds
// (0xE2 begins U+2028 and U+2029).
var notCanonicalBytes = [...]byte{' ', '\n', '<', '>', '&', 0xE2, '\t', '\r'}

// isCanonical reports whether a valid JSON value is compact and
// HTML-escaped: no whitespace between tokens, and no <, >, &, U+2028 or
// U+2029 in its strings.
func isCanonical(b []byte) bool {
	// The common case, a body without any of those bytes, in a few
	// vectorised scans (a byte loop over every body would add a tenth
	// to a large restore).
	found := false
	for _, c := range notCanonicalBytes {
		if bytes.IndexByte(b, c) >= 0 {
			found = true
			break
		}
	}
	if !found {
		return true
	}
	inString, escaped := false, false
	for i, c := range b {
		if !inString {
			switch c {
			case ' ', '\t', '\r', '\n':
				return false
			case '"':
				inString = true
			}
			continue
		}
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inString = false
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
			return false
		}
	}
	return true
}

// readLine returns the next line of a snapshot without its newline; io.EOF
// only at the end of the stream. WriteSnapshot's lines are compact JSON,
// which holds no raw newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	return appendLine(nil, br)
}

// appendLine appends the next line of a snapshot to dst, as readLine
// returns it.
func appendLine(dst []byte, br *bufio.Reader) ([]byte, error) {
	start := len(dst)
	for {
		chunk, err := br.ReadSlice('\n')
		dst = append(dst, chunk...)
		switch {
		case err == nil:
			return dst[:len(dst)-1], nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(dst) > start:
			return dst[:start], io.ErrUnexpectedEOF // cut short inside a line
		default:
			return dst[:start], err
		}
	}
}

// lineArenas recycles the memory a batch of resource lines is read into:
// the decoders copy what they keep, so a batch is garbage once decoded,
// and a line read into memory of its own was a restore's largest garbage
// (with the keys' growing slices, most of it), which the GC let grow to
// half again the restored store before collecting it.
var lineArenas = sync.Pool{New: func() any { return new([]byte) }}

// lineResource reads the kind and id at the head of a resource line that
// does not decode as a whole (a body nested past encoding/json's limit,
// say), so the error can name the resource. Tokens are read one at a time,
// so the fault further on does not stop it; "?" stands for what it cannot
// read.
func lineResource(line []byte) (kind, id string) {
	kind, id = "?", "?"
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return kind, id
	}
	for i := 0; i < 2; i++ {
		k, err := dec.Token()
		if err != nil {
			return kind, id
		}
		v, err := dec.Token()
		if err != nil {
			return kind, id
		}
		if sv, ok := v.(string); ok {
			switch k {
			case "kind":
				kind = sv
			case "id":
				id = sv
			}
		}
	}
	return kind, id
}
