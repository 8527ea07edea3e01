package fsm

import (
	"slices"
	"testing"
)

func Test_View_Kinds_OneEntryPerKindInByteOrder(t *testing.T) {
	s := newTestStore(t)
	if got := s.View().Kinds(); len(got) != 0 {
		t.Fatalf("empty store: Kinds() = %q, want none", got)
	}
	// Kinds that are prefixes of each other and neighbours in byte order,
	// each with ids that sort around the key separator.
	kinds := []string{"t.job", "t.jo", "t.job-x", "t.job0", "t.jobx", "a", "z.z"}
	var ops []Op
	for _, k := range kinds {
		for _, id := range []string{"a", "a!", "\u00ff", "0"} {
			ops = append(ops, put(k, id, `{}`))
		}
	}
	mustApply(t, s, 1, ops...)
	want := slices.Clone(kinds)
	slices.Sort(want)
	v := s.View()
	if got := v.Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %q, want %q", got, want)
	}
	for _, k := range want {
		if n := v.Count(k); n != 4 {
			t.Fatalf("Count(%q) = %d, want 4", k, n)
		}
	}

	// A kind whose last resource is deleted is gone from the list.
	mustApply(t, s, 2, del("t.jo", "a"), del("t.jo", "a!"), del("t.jo", "\u00ff"), del("t.jo", "0"))
	want = slices.DeleteFunc(want, func(k string) bool { return k == "t.jo" })
	if got := s.View().Kinds(); !slices.Equal(got, want) {
		t.Fatalf("after deleting t.jo: Kinds() = %q, want %q", got, want)
	}
	// The view taken before the delete still sees it.
	if got := v.Kinds(); !slices.Contains(got, "t.jo") {
		t.Fatalf("older view: Kinds() = %q, want t.jo still there", got)
	}
}
