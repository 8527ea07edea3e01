package fsm

import (
	"encoding/json"
	"fmt"
)

// Log formats a zone can be at. A zone moves to a later one only through a
// replicated command (OpSetFormat), which its leader proposes once every
// member can read the later format; until then every node writes entries
// and snapshots the old way, so no member meets one it cannot read.
const (
	// FormatLegacy: commands are applied as proposed: Apply validates and
	// canonicalises each body and computes its index keys with the
	// running binary's schema.
	FormatLegacy = 0
	// FormatPrepared: the proposer validates and canonicalises a command
	// and computes its index keys (PrepareCommand); Apply trusts the entry
	// and stores those keys with the resource. Two replicas running
	// different versions (a rolling upgrade) then apply an entry alike.
	FormatPrepared = 3
	// LatestFormat is the latest format this binary reads and writes.
	LatestFormat = FormatPrepared
)

// IndexKey is one secondary-index value of a resource, as computed when the
// command that wrote it was proposed.
type IndexKey struct {
	Index  string `json:"i"`
	Value  string `json:"v"`
	Unique bool   `json:"u,omitempty"`
}

// PrepareCommand validates c, canonicalises its bodies and computes the
// index keys of every put with schema, for a zone at FormatPrepared: the
// entry then says exactly what applying it does. A malformed command is
// an error wrapping ErrInvalid, and is never proposed.
func PrepareCommand(schema Schema, c Command) (Command, error) {
	out := Command{Time: c.Time, Prepared: true, Ops: make([]Op, len(c.Ops))}
	for i, op := range c.Ops {
		if msg := checkOp(op); msg != "" {
			return Command{}, fmt.Errorf("%w: op %d: %s", ErrInvalid, i, msg)
		}
		if op.Type == OpPut {
			body, keys, msg := prepareBody(schema, op)
			if msg != "" {
				return Command{}, fmt.Errorf("%w: op %d: %s", ErrInvalid, i, msg)
			}
			op.Body, op.Keys = body, keys
		} else {
			op.Body, op.Keys = nil, nil
		}
		out.Ops[i] = op
	}
	return out, nil
}

// checkOp says what is wrong with op on its own, or returns "".
func checkOp(op Op) string {
	if op.Type == OpSetFormat {
		if op.Kind != "" || op.ID != "" || len(op.Body) > 0 {
			return "a format change names no resource"
		}
		return ""
	}
	if err := ValidateKind(op.Kind); err != nil {
		return err.Error()
	}
	if err := ValidateID(op.ID); err != nil {
		return err.Error()
	}
	switch op.Require {
	case RequireNothing, RequireAbsent, RequireExists, RequireVersion:
	default:
		return fmt.Sprintf("unknown precondition %q", op.Require)
	}
	switch op.Type {
	case OpCheck, OpDelete, OpPut:
	default:
		return fmt.Sprintf("unknown operation %q", op.Type)
	}
	return ""
}

// prepareBody returns a put's body in canonical form (compact and
// HTML-escaped, as json.Marshal gives it) and its index keys, or says why
// it has none.
func prepareBody(schema Schema, op Op) (json.RawMessage, []IndexKey, string) {
	// The limits every path shares (CheckBody); json.Marshal checks the
	// syntax.
	if err := checkLimits(op.Body); err != nil && len(op.Body) > 0 {
		return nil, nil, fmt.Sprintf("body of %s %q: %v", op.Kind, op.ID, err)
	}
	body, ok := checkedCanonical(op.Body)
	if len(op.Body) == 0 || !ok {
		return nil, nil, fmt.Sprintf("body of %s %q is not valid JSON", op.Kind, op.ID)
	}
	keys, err := indexKeys(schema, op.Kind, body)
	if err != nil {
		return nil, nil, fmt.Sprintf("%s %q: %v", op.Kind, op.ID, err)
	}
	return body, keys, ""
}

// indexKeys computes a body's index keys with schema.
func indexKeys(schema Schema, kind string, body json.RawMessage) ([]IndexKey, error) {
	var out []IndexKey
	for _, ix := range schema[kind].Indexes {
		vals, err := ix.Values(body)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", ix.Name, err)
		}
		if ix.Unique && len(vals) > 1 {
			vals = vals[:1]
		}
		for _, v := range vals {
			out = append(out, IndexKey{Index: ix.Name, Value: v, Unique: ix.Unique})
		}
	}
	return out, nil
}
