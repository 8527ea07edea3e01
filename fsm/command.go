package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
}

// Command is the unit the Raft log carries: a batch of operations applied
// all or nothing. Time is the proposer's clock, used for Created and Updated
// so that every replica stores the same timestamps.
type Command struct {
	Ops  []Op      `json:"ops"`
	Time time.Time `json:"time"`
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
	entryCommandJSON byte = 1
)

// EncodeCommand serialises a Command for the Raft log.
func EncodeCommand(c Command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte{entryCommandJSON}, b...), nil
}

// DecodeCommand is the inverse of EncodeCommand.
func DecodeCommand(data []byte) (Command, error) {
	var c Command
	if len(data) == 0 {
		return c, fmt.Errorf("%w: empty log entry", ErrInvalid)
	}
	switch data[0] {
	case entryCommandJSON:
		if err := json.Unmarshal(data[1:], &c); err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return c, nil
	default:
		return c, fmt.Errorf("%w: unknown log entry format %d", ErrInvalid, data[0])
	}
}
