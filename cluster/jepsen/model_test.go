package jepsen

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// op builds a register operation of client c over [call, ret].
func op(c int, call, ret int64, in RegisterInput, out RegisterOutput) porcupine.Operation {
	return porcupine.Operation{ClientId: c, Call: call, Return: ret, Input: in, Output: out}
}

func w(key, v string) RegisterInput { return RegisterInput{Kind: OpWrite, Key: key, Value: v} }
func cas(key, from, to string) RegisterInput {
	return RegisterInput{Kind: OpCAS, Key: key, Expect: from, Value: to}
}
func r(key string) RegisterInput  { return RegisterInput{Kind: OpRead, Key: key} }
func saw(v string) RegisterOutput { return RegisterOutput{Outcome: OK, Value: v} }

var (
	ok      = RegisterOutput{Outcome: OK}
	failed  = RegisterOutput{Outcome: Fail}
	unknown = RegisterOutput{Outcome: Unknown}
)

// The model accepts what a linearizable register allows and rejects the
// anomalies the harness hunts: a stale read, a lost acknowledged write, a
// CAS that succeeded against the wrong value, a value no one wrote.
func TestModel(t *testing.T) {
	const end = 1000 // past every other return: an unknown outcome's
	for _, c := range []struct {
		name string
		ok   bool
		ops  []porcupine.Operation
	}{
		{"read of absent, write, read", true, []porcupine.Operation{
			op(0, 0, 1, r("k"), saw("")), op(0, 2, 3, w("k", "a"), ok), op(1, 4, 5, r("k"), saw("a"))}},
		{"stale read after an acknowledged write", false, []porcupine.Operation{
			op(0, 0, 1, w("k", "a"), ok), op(0, 2, 3, w("k", "b"), ok), op(1, 4, 5, r("k"), saw("a"))}},
		{"concurrent write may be seen or not", true, []porcupine.Operation{
			op(0, 0, 10, w("k", "a"), ok), op(1, 1, 2, r("k"), saw("")), op(2, 3, 4, r("k"), saw("a"))}},
		{"value flips back", false, []porcupine.Operation{
			op(0, 0, 10, w("k", "a"), ok), op(1, 1, 2, r("k"), saw("a")), op(2, 3, 4, r("k"), saw(""))}},
		{"cas against the right value", true, []porcupine.Operation{
			op(0, 0, 1, w("k", "a"), ok), op(1, 2, 3, cas("k", "a", "b"), ok), op(1, 4, 5, r("k"), saw("b"))}},
		{"cas succeeded against the wrong value", false, []porcupine.Operation{
			op(0, 0, 1, w("k", "a"), ok), op(1, 2, 3, cas("k", "z", "b"), ok)}},
		{"cas failed although the value matched", false, []porcupine.Operation{
			op(0, 0, 1, w("k", "a"), ok), op(1, 2, 3, cas("k", "a", "b"), failed)}},
		{"unknown write applied later", true, []porcupine.Operation{
			op(0, 0, end, w("k", "a"), unknown), op(1, 5, 6, r("k"), saw("")), op(1, 7, 8, r("k"), saw("a"))}},
		{"unknown write never applied", true, []porcupine.Operation{
			op(0, 0, end, w("k", "a"), unknown), op(1, 5, 6, r("k"), saw(""))}},
		{"unknown write applied once only", false, []porcupine.Operation{
			op(0, 0, end, w("k", "a"), unknown), op(1, 5, 6, r("k"), saw("a")),
			op(1, 7, 8, w("k", "b"), ok), op(1, 9, 10, r("k"), saw("a"))}},
		{"unknown cas applies only if it matched", false, []porcupine.Operation{
			op(0, 0, 1, w("k", "a"), ok), op(0, 2, end, cas("k", "z", "b"), unknown), op(1, 5, 6, r("k"), saw("b"))}},
		{"a value nobody wrote", false, []porcupine.Operation{op(0, 0, 1, r("k"), saw("x"))}},
		{"keys are independent", true, []porcupine.Operation{
			op(0, 0, 1, w("k", "a"), ok), op(1, 2, 3, r("j"), saw("")), op(1, 4, 5, r("k"), saw("a"))}},
	} {
		if got := porcupine.CheckOperations(Model(), c.ops); got != c.ok {
			t.Errorf("%s: linearizable %v, want %v", c.name, got, c.ok)
		}
	}
}
