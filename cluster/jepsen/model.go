package jepsen

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// OpKind is what a register operation does.
type OpKind string

// The register operations of the workload.
const (
	OpRead  OpKind = "read"  // GET ?consistent
	OpWrite OpKind = "write" // PUT without a precondition
	OpCAS   OpKind = "cas"   // PUT with If-Match: "<version>" (or If-None-Match: * when absent)
)

// Outcome is what the client learnt of an operation.
type Outcome string

// Outcomes. Unknown is a timeout, a connection lost after sending, or a
// 5xx: the write may or may not have been applied, now or later.
const (
	OK Outcome = "ok"
	// Fail is a CAS whose precondition did not hold (412): not applied,
	// and proof that the register held another value.
	Fail    Outcome = "fail"
	Unknown Outcome = "unknown"
	// Refused is a request that had no effect and proves nothing (the
	// connection was refused, or a 4xx before any change). The history
	// leaves such operations out, as it does failed reads.
	Refused Outcome = "refused"
)

// RegisterInput is one operation on one key. Every write carries a value
// no other write uses, so a version (the Raft index of the write that set
// it) stands for exactly one value: a CAS on version v expects the value
// the client read together with v. "" is the absent resource.
type RegisterInput struct {
	Kind   OpKind `json:"kind"`
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`  // written
	Expect string `json:"expect,omitempty"` // CAS: the value the resource must hold
}

// RegisterOutput is the result of one operation.
type RegisterOutput struct {
	Outcome Outcome `json:"outcome"`
	Value   string  `json:"value,omitempty"` // read: the value seen ("" absent)
}

// registerModel is a map of keys to registers, checked key by key. An
// operation of unknown outcome may or may not take effect: a
// nondeterministic step with both successor states.
var registerModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(RegisterInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(RegisterInput), output.(RegisterOutput)
		switch in.Kind {
		case OpRead:
			if out.Outcome == OK && out.Value == s {
				return []any{s}
			}
			return nil
		case OpWrite:
			switch out.Outcome {
			case OK:
				return []any{in.Value}
			case Unknown:
				return []any{s, in.Value}
			}
			return nil
		case OpCAS:
			matches := s == in.Expect
			switch {
			case out.Outcome == OK && matches:
				return []any{in.Value}
			case out.Outcome == Fail && !matches:
				return []any{s}
			case out.Outcome == Unknown && matches:
				return []any{s, in.Value}
			case out.Outcome == Unknown:
				return []any{s}
			}
			return nil
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(RegisterInput), output.(RegisterOutput)
		switch in.Kind {
		case OpRead:
			return fmt.Sprintf("read %s -> %q", in.Key, out.Value)
		case OpWrite:
			return fmt.Sprintf("write %s=%q -> %s", in.Key, in.Value, out.Outcome)
		}
		return fmt.Sprintf("cas %s %q->%q -> %s", in.Key, in.Expect, in.Value, out.Outcome)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// Model is the porcupine model the harness checks histories against.
func Model() porcupine.Model { return registerModel.ToModel() }
