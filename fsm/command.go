package fsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cairn/internal/binfield"
)

// OpType says what an operation does.
type OpType string

const (
	// OpPut creates or replaces a resource's body.
	OpPut OpType = "put"
	// OpDelete removes a resource; deleting an absent resource is a no-op
	// unless a precondition says otherwise.
	OpDelete OpType = "delete"
	// OpCheck only tests its precondition; it lets a batch depend on
	// resources it does not write (for example "the service I link still
	// exists").
	OpCheck OpType = "check"
	// OpSetFormat moves the zone to log format Op.Version (never back):
	// the one way a zone's format changes (see FormatPrepared).
	OpSetFormat OpType = "set-format"
)

// Require names the state a resource must be in for an operation to apply.
type Require string

const (
	// RequireNothing applies the operation whatever the resource's state.
	RequireNothing Require = ""
	// RequireAbsent applies only if the resource does not exist.
	RequireAbsent Require = "absent"
	// RequireExists applies only if the resource exists.
	RequireExists Require = "exists"
	// RequireVersion applies only if the resource exists at exactly
	// Op.Version (compare-and-set).
	RequireVersion Require = "version"
)

// Op is one operation of a Command.
type Op struct {
	Type    OpType          `json:"op"`
	Kind    string          `json:"kind"`
	ID      string          `json:"id"`
	Body    json.RawMessage `json:"body,omitempty"`
	Require Require         `json:"require,omitempty"`
	Version uint64          `json:"version,omitempty"`
	// Keys are a put's index keys, computed by the proposer in a prepared
	// command (PrepareCommand).
	Keys []IndexKey `json:"keys,omitempty"`
}

// Command is the unit the Raft log carries: a batch of operations applied
// all or nothing. Time is the proposer's clock, used for Created and Updated
// so that every replica stores the same timestamps.
type Command struct {
	Ops  []Op      `json:"ops"`
	Time time.Time `json:"time"`
	// Prepared says the proposer validated the command, canonicalised its
	// bodies and computed its index keys (PrepareCommand): Apply trusts
	// it. It travels as the entry's format (entryCommandPrepared).
	Prepared bool `json:"-"`
}

// Conflict says why a Command was not applied: the resource an operation or
// a unique index clashed with, and its current version (0 if absent).
type Conflict struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	// Require is the precondition that failed, or empty for an index clash.
	Require Require `json:"require,omitempty"`
	// Index, Value and HolderID describe a unique-index clash: HolderID
	// already holds Value in Index.
	Index    string `json:"index,omitempty"`
	Value    string `json:"value,omitempty"`
	HolderID string `json:"holder_id,omitempty"`
}

// Error describes the conflict in a sentence a client can act on.
func (c *Conflict) Error() string {
	if c.Index != "" {
		return fmt.Sprintf("%s %q: %s %q is already used by %s %q", c.Kind, c.ID, c.Index, c.Value, c.Kind, c.HolderID)
	}
	switch c.Require {
	case RequireAbsent:
		return fmt.Sprintf("%s %q already exists (version %d)", c.Kind, c.ID, c.Version)
	case RequireExists:
		return fmt.Sprintf("%s %q does not exist", c.Kind, c.ID)
	default:
		if c.Version == 0 {
			return fmt.Sprintf("%s %q does not exist", c.Kind, c.ID)
		}
		return fmt.Sprintf("%s %q is at version %d", c.Kind, c.ID, c.Version)
	}
}

// Result is what applying a Command produced. Exactly one of Conflict and
// Invalid is set when the batch was refused; otherwise Resources holds, per
// operation, the resource as written (nil for deletes of absent resources
// and for checks).
type Result struct {
	Index     uint64      `json:"index"`
	Conflict  *Conflict   `json:"conflict,omitempty"`
	Invalid   string      `json:"invalid,omitempty"`
	Resources []*Resource `json:"resources,omitempty"`
	// Existed reports, per operation, whether the resource existed before
	// the batch touched it (a put that created it reports false).
	Existed []bool `json:"existed,omitempty"`
}

// Err returns the batch's refusal as an error wrapping ErrConflict or
// ErrInvalid, or nil when it applied.
func (r *Result) Err() error {
	switch {
	case r.Conflict != nil:
		return fmt.Errorf("%w: %w", ErrConflict, r.Conflict)
	case r.Invalid != "":
		return fmt.Errorf("%w: %s", ErrInvalid, r.Invalid)
	}
	return nil
}

// ErrConflict means a precondition or a unique index refused the batch.
var ErrConflict = errors.New("conflict")

// ErrInvalid means the batch was malformed (unknown operation, bad kind or
// id, a body that is not JSON); the proposer should have caught it.
var ErrInvalid = errors.New("invalid command")

// Log entry formats. The first byte of every Raft log entry Cairn writes
// names its encoding, so that later formats can be added without breaking
// replay of old logs.
const (
	// entryCommandJSON is the Command as JSON. Logs written before
	// entryCommandBinary hold it; DecodeCommand still reads it.
	entryCommandJSON byte = 1
	// entryCommandBinary is the Command in the length-prefixed binary
	// layout of appendCommandBinary. It replaced JSON because decoding JSON
	// scans every body twice on every replica (profiled: 7% of the leader's
	// CPU under a 1 KiB put load).
	entryCommandBinary byte = 2
	// entryCommandPrepared is entryCommandBinary followed, per operation,
	// by its index keys: a prepared command (Command.Prepared), written
	// only in zones at FormatPrepared.
	entryCommandPrepared byte = 3
	// LatestEntryFormat is the newest log entry format this binary reads.
	LatestEntryFormat = entryCommandPrepared
)

// EncodeCommand serialises a Command for the Raft log. Bodies are stored in
// the canonical form json.Marshal gives them (compact, HTML-escaped), as
// the JSON format did; a body that is not JSON is an error. A prepared
// command's bodies are canonical already and written as they are.
func EncodeCommand(c Command) ([]byte, error) {
	bodies := make([][]byte, len(c.Ops))
	size := 1 + 16 + binary.MaxVarintLen64
	for i, op := range c.Ops {
		if c.Prepared { // PrepareCommand canonicalised the bodies
			bodies[i] = op.Body
		} else if len(op.Body) > 0 {
			b, err := json.Marshal(op.Body)
			if err != nil {
				return nil, fmt.Errorf("op %d: body: %w", i, err)
			}
			bodies[i] = b
		}
		size += 6*binary.MaxVarintLen64 + len(op.Type) + len(op.Kind) + len(op.ID) + len(op.Require) + len(bodies[i])
	}
	t, err := c.Time.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("time: %w", err)
	}
	format := entryCommandBinary
	if c.Prepared {
		format = entryCommandPrepared
		for _, op := range c.Ops {
			for _, k := range op.Keys {
				size += 2*binary.MaxVarintLen64 + 1 + len(k.Index) + len(k.Value)
			}
		}
	}
	out := make([]byte, 0, size+len(t))
	out = append(out, format)
	out = binfield.AppendBytes(out, t)
	out = binary.AppendUvarint(out, uint64(len(c.Ops)))
	for i, op := range c.Ops {
		out = binfield.AppendBytes(out, []byte(op.Type))
		out = binfield.AppendBytes(out, []byte(op.Kind))
		out = binfield.AppendBytes(out, []byte(op.ID))
		out = binfield.AppendBytes(out, bodies[i])
		out = binfield.AppendBytes(out, []byte(op.Require))
		out = binary.AppendUvarint(out, op.Version)
		if c.Prepared {
			out = binary.AppendUvarint(out, uint64(len(op.Keys)))
			for _, k := range op.Keys {
				out = binfield.AppendBytes(out, []byte(k.Index))
				out = binfield.AppendBytes(out, []byte(k.Value))
				unique := byte(0)
				if k.Unique {
					unique = 1
				}
				out = append(out, unique)
			}
		}
	}
	return out, nil
}

// DecodeCommand is the inverse of EncodeCommand; it also reads entries of
// the older JSON format.
func DecodeCommand(data []byte) (Command, error) {
	var c Command
	if len(data) == 0 {
		return c, fmt.Errorf("%w: empty log entry", ErrInvalid)
	}
	switch data[0] {
	case entryCommandBinary, entryCommandPrepared:
		c, err := decodeCommandBinary(data[1:], data[0] == entryCommandPrepared)
		if err != nil {
			return Command{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return c, nil
	case entryCommandJSON:
		if err := json.Unmarshal(data[1:], &c); err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return c, nil
	default:
		if data[0] > LatestEntryFormat {
			return c, fmt.Errorf("%w: log entry format %d, %w; this node reads formats up to %d: upgrade this node", ErrInvalid, data[0], ErrNewer, LatestEntryFormat)
		}
		return c, fmt.Errorf("%w: unknown log entry format %d", ErrInvalid, data[0])
	}
}

// errTruncated reports a binary entry that ends in the middle of a field.
var errTruncated = errors.New("binary command is truncated")

func decodeCommandBinary(data []byte, prepared bool) (Command, error) {
	c := Command{Prepared: prepared}
	r := binfield.NewReader(data, errTruncated)
	t := r.Bytes()
	if r.Err() != nil {
		return c, r.Err()
	}
	if err := c.Time.UnmarshalBinary(t); err != nil {
		return c, fmt.Errorf("time: %w", err)
	}
	n := r.Uvarint()
	// Every operation takes at least six bytes: bound the allocation by
	// what the entry can hold, not by what it claims.
	if r.Err() == nil && n > uint64(r.Len()/6) {
		return c, fmt.Errorf("binary command claims %d operations in %d bytes", n, r.Len())
	}
	if n > 0 {
		c.Ops = make([]Op, n)
	}
	for i := range c.Ops {
		op := &c.Ops[i]
		op.Type = OpType(r.Bytes())
		op.Kind = string(r.Bytes())
		op.ID = string(r.Bytes())
		if b := r.Bytes(); len(b) > 0 {
			op.Body = bytes.Clone(b)
		}
		op.Require = Require(r.Bytes())
		op.Version = r.Uvarint()
		if prepared {
			n := r.Uvarint()
			// Every key takes at least three bytes.
			if r.Err() == nil && n > uint64(r.Len()/3) {
				return Command{}, fmt.Errorf("op %d claims %d index keys in %d bytes", i, n, r.Len())
			}
			for range n {
				k := IndexKey{Index: string(r.Bytes()), Value: string(r.Bytes())}
				if b := r.Byte(); b > 1 {
					r.Fail(fmt.Errorf("op %d: index key flag %d", i, b))
				} else {
					k.Unique = b == 1
				}
				op.Keys = append(op.Keys, k)
			}
		}
	}
	if r.Err() != nil {
		return Command{}, r.Err()
	}
	if r.Len() > 0 {
		return Command{}, fmt.Errorf("%d bytes after the binary command", r.Len())
	}
	return c, nil
}
