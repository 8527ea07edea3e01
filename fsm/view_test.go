package fsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// listIDs are ids that are prefixes of each other and sort around the
// separators the store uses in its keys.
var listIDs = []string{"a", "a!", "a b", "a0", "aa", "ab", "ab!", "abc", "a\u00ff", "a\u00ff\u00ff", "a~", "b", "b!", "ba", "z", "\u00ff"}

func listStore(t *testing.T) *Store {
	t.Helper()
	s := newTestStore(t)
	var ops []Op
	for _, id := range listIDs {
		ops = append(ops, put(kindJob, id, `{}`))
		// Neighbouring kinds, whose keys sort right before and after.
		ops = append(ops, put("t.jo", id, `{}`), put("t.job-x", id, `{}`), put("t.job0", id, `{}`))
	}
	mustApply(t, s, 1, ops...)
	return s
}

// wantList is List's specification: the ids with prefix, strictly after
// after, in byte order, cut at limit.
func wantList(prefix, after string, limit int) ([]string, bool) {
	var out []string
	for _, id := range listIDs {
		if strings.HasPrefix(id, prefix) && id > after {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	if limit > 0 && len(out) > limit {
		return out[:limit], true
	}
	return out, false
}

var listPrefixes = []string{"", "a", "a!", "ab", "a\u00ff", "a\u00ff\u00ff", "b", "z", "zz", "\u00ff", "a\u00ff\u00ff\u00ff"}

func Test_View_List_MatchesSpecification(t *testing.T) {
	v := listStore(t).View()
	afters := append(slices.Clone(listIDs), "", "a\x7f", "aa0", "0", "\u00ff\u00ff", "a\u00fe")
	for _, prefix := range listPrefixes {
		for _, after := range afters {
			for _, limit := range []int{0, 1, 2, 3, 100} {
				got, more := v.List(kindJob, prefix, after, limit)
				want, wantMore := wantList(prefix, after, limit)
				if !slices.Equal(ids(got), want) || more != wantMore {
					t.Fatalf("List(%q, after %q, limit %d) = %q, more %v; want %q, more %v",
						prefix, after, limit, ids(got), more, want, wantMore)
				}
				for _, r := range got {
					if r.Kind != kindJob {
						t.Fatalf("List(%s) returned a %s", kindJob, r.Kind)
					}
				}
			}
		}
	}
}

func Test_View_List_PagingReturnsEveryItemOnce(t *testing.T) {
	v := listStore(t).View()
	for _, prefix := range listPrefixes {
		want, _ := wantList(prefix, "", 0)
		for _, limit := range []int{1, 2, 3, 4, 5, len(listIDs), len(listIDs) + 1} {
			t.Run(fmt.Sprintf("%q/%d", prefix, limit), func(t *testing.T) {
				var all []string
				after := ""
				for page := 0; ; page++ {
					if page > len(listIDs)+1 {
						t.Fatalf("paging does not end")
					}
					items, more := v.List(kindJob, prefix, after, limit)
					if len(items) > limit {
						t.Fatalf("page %d has %d items; limit %d", page, len(items), limit)
					}
					all = append(all, ids(items)...)
					if !more {
						break
					}
					if len(items) != limit {
						t.Fatalf("page %d has %d items and more; want a full page", page, len(items))
					}
					after = items[len(items)-1].ID
				}
				if !slices.Equal(all, want) {
					t.Fatalf("pages = %q; want %q", all, want)
				}
			})
		}
	}
}

func Test_View_CountAndGet_StayWithinKind(t *testing.T) {
	v := listStore(t).View()
	for _, kind := range []string{kindJob, "t.jo", "t.job-x", "t.job0"} {
		if n := v.Count(kind); n != len(listIDs) {
			t.Fatalf("Count(%s) = %d; want %d", kind, n, len(listIDs))
		}
	}
	if n := v.Count("t"); n != 0 {
		t.Fatalf("Count(t) = %d; want 0", n)
	}
	if r := v.Get(kindJob, "a\u00ff"); r == nil || r.ID != "a\u00ff" || r.Kind != kindJob {
		t.Fatalf("Get(a\\u00ff) = %+v", r)
	}
	if r := v.Get(kindJob, "ac"); r != nil {
		t.Fatalf("Get of an absent id = %+v", r)
	}
}

// Test_View_IsImmutable_WhileApplyContinues takes a view, applies updates,
// deletes and creates, and checks the old view still shows the old state
// while a new view shows the new one.
func Test_View_IsImmutable_WhileApplyContinues(t *testing.T) {
	s := seeded(t)
	old := s.View()
	oldDigest := old.Digest()
	oldSnap := mustSnapshot(t, old)
	oldA := old.Get(kindHost, "a")

	mustApply(t, s, 10, put(kindHost, "a", `{"name":"renamed","tags":["r"]}`))
	mustApply(t, s, 11, del(kindHost, "b"), put(kindHost, "c", `{"name":"y","host":"h","port":2}`))
	mustApply(t, s, 12, del(kindJob, "j"))

	if old.Index() != 3 || old.Digest() != oldDigest {
		t.Fatalf("old view moved: index %d", old.Index())
	}
	if !slices.Equal(mustSnapshot(t, old), oldSnap) {
		t.Fatalf("old view's snapshot changed")
	}
	if d := diffResource(old.Get(kindHost, "a"), oldA); d != "" {
		t.Fatalf("old view: %s", d)
	}
	if got, _ := old.List(kindHost, "", "", 0); !slices.Equal(ids(got), []string{"a", "b"}) {
		t.Fatalf("old view List = %q", ids(got))
	}
	if old.Count(kindJob) != 1 || old.Get(kindHost, "c") != nil {
		t.Fatalf("old view sees later writes")
	}
	if got := ids(mustLookup(t, old, kindHost, "name", "y")); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("old view Lookup(name, y) = %q; want [b]", got)
	}

	cur := s.View()
	if cur.Index() != 12 || cur.Count(kindJob) != 0 {
		t.Fatalf("new view: index %d, %d jobs", cur.Index(), cur.Count(kindJob))
	}
	if got := ids(mustLookup(t, cur, kindHost, "name", "y")); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("new view Lookup(name, y) = %q; want [c]", got)
	}
	if got := mustLookup(t, cur, kindHost, "name", "x"); len(got) != 0 {
		t.Fatalf("new view Lookup(name, x) = %q; want none", ids(got))
	}
	// A restore does not move views taken before it either.
	mustRestore(t, s, mustSnapshot(t, newTestStore(t).View()))
	if old.Digest() != oldDigest || cur.Index() != 12 || cur.Count(kindHost) != 2 {
		t.Fatalf("views moved with Restore")
	}
}

// Test_View_ConcurrentReadersDuringApply runs readers against fresh views
// while Apply runs (meaningful under -race): every view is self-consistent.
func Test_View_ConcurrentReadersDuringApply(t *testing.T) {
	s := newTestStore(t)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.Index() < n {
				select {
				case <-stop:
					return
				default:
				}
				v := s.View()
				// Every command puts one job and keeps exactly one host
				// named "x"; the index says how many jobs there are.
				idx := v.Index()
				if c := v.Count(kindJob); uint64(c) != idx {
					errs <- fmt.Errorf("view at index %d has %d jobs", idx, c)
					return
				}
				if rs, _ := v.Lookup(kindHost, "name", "x"); idx > 0 && len(rs) != 1 {
					errs <- fmt.Errorf("view at index %d: %d hosts named x", idx, len(rs))
					return
				}
			}
		}()
	}
	for i := uint64(1); i <= n; i++ {
		mustApply(t, s, i,
			put(kindJob, fmt.Sprintf("j%04d", i), `{}`),
			del(kindHost, fmt.Sprintf("h%d", i-1)),
			put(kindHost, fmt.Sprintf("h%d", i), `{"name":"x"}`))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func Test_WaitIndex_ReturnsOnceApplied(t *testing.T) {
	s := newTestStore(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.WaitIndex(ctx, 5)
	}()
	for i := uint64(1); i < 5; i++ {
		mustApply(t, s, i, put(kindJob, "j", `{}`))
		select {
		case err := <-done:
			t.Fatalf("WaitIndex(5) returned %v at index %d", err, i)
		default:
		}
	}
	s.SkipIndex(5) // a skipped entry counts too
	if err := <-done; err != nil {
		t.Fatalf("WaitIndex(5) = %v", err)
	}
	// An index already applied returns at once, even with a done context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitIndex(ctx, 3); err != nil {
		t.Fatalf("WaitIndex of an applied index = %v", err)
	}
}

func Test_WaitIndex_Timeout_ReturnsContextError(t *testing.T) {
	s := seeded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.WaitIndex(ctx, 100)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitIndex = %v; want DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("WaitIndex took %v to time out", time.Since(start))
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := s.WaitIndex(ctx, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitIndex with a cancelled context = %v; want Canceled", err)
	}
}

func Test_WaitIndex_WakesAfterRestore(t *testing.T) {
	src := seeded(t)
	mustApply(t, src, 40, put(kindJob, "late", `{}`))
	snap := mustSnapshot(t, src.View())

	s := newTestStore(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.WaitIndex(ctx, 40)
	}()
	time.Sleep(10 * time.Millisecond) // let it wait (the test holds either way)
	mustRestore(t, s, snap)
	if err := <-done; err != nil {
		t.Fatalf("WaitIndex after Restore = %v", err)
	}
	if s.View().Get(kindJob, "late") == nil {
		t.Fatalf("restored state missing")
	}
}

// ForEach visits every resource of one kind, in id order, and no other
// kind's (a kind that is a prefix of another included).
func TestView_ForEach_OneKind(t *testing.T) {
	s := newTestStore(t)
	mustApply(t, s, 1, put(kindJob, "b", `{}`), put(kindJob, "a", `{}`), put(kindJob+"x", "c", `{}`), put(kindHost, "d", `{"name":"n"}`))
	var got []string
	s.View().ForEach(kindJob, func(r *Resource) { got = append(got, r.Kind+"/"+r.ID) })
	if strings.Join(got, ",") != kindJob+"/a,"+kindJob+"/b" {
		t.Fatalf("ForEach(%s) visited %v", kindJob, got)
	}
}
