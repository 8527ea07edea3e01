package native_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/cluster"
	api "cairn/http"
	"cairn/http/native"
)

func Test_Overview_SingleNode_LeaderWithItsProgress(t *testing.T) {
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{}`, http.StatusCreated)
	// The node's own writes (its zone's identity, its log format) may
	// still be applying: a member with a lag of an entry is right for an
	// instant, so the overview is read until it settles.
	var o native.OverviewBody
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := f.do(http.MethodGet, "/cairn/v1/overview", nil)
		mustStatus(t, r, http.StatusOK)
		o = native.OverviewBody{}
		mustUnmarshalBody(t, r.body, &o)
		if o.Node != "n1" || o.Zone != "z1" || len(o.Zones) != 1 || o.Index == 0 {
			t.Fatalf("overview %s: want node n1 of zone z1, one zone, an index", r.body)
		}
		z := o.Zones[0]
		if z.Name != "z1" || z.Leader != "n1" || len(z.Members) != 1 {
			t.Fatalf("zone %+v: want z1 led by n1, one member", z)
		}
		m := z.Members[0]
		if m.ID != "n1" || m.State != "Leader" || m.LastContactMS != 0 || m.Unreachable != "" {
			t.Fatalf("member %+v: want n1, Leader, contact 0", m)
		}
		if m.AppliedIndex >= o.Index && m.Lag == 0 {
			return
		}
		last = fmt.Sprintf("%+v (overview index %d)", m, o.Index)
		if time.Now().After(deadline) {
			t.Fatalf("member %s: never applied at least the overview's index with no lag", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent reads the next event of an event stream: its name and data,
// skipping comments and the retry field.
func sseEvent(t *testing.T, rd *bufio.Reader) (name, data string, ok bool) {
	t.Helper()
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return "", "", false
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && data != "":
			return name, data, true
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
}

func Test_OverviewEvents_CurrentAtOnce_AgainOnChange_EndsBeforeDeadline(t *testing.T) {
	const timeout = 3 * time.Second
	f := mustServe(t, api.NewLimits(64<<10, timeout))
	req, err := http.NewRequest(http.MethodGet, f.base+"/cairn/v1/overview/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q: want 200 text/event-stream", resp.StatusCode, ct)
	}
	rd := bufio.NewReader(resp.Body)
	name, data, ok := sseEvent(t, rd)
	if !ok || name != "overview" {
		t.Fatalf("first event %q %q: want an overview", name, data)
	}
	var first native.OverviewBody
	mustUnmarshalBody(t, []byte(data), &first)

	f.mustPut(kindItem, "b", `{}`, http.StatusCreated)
	name, data, ok = sseEvent(t, rd)
	if !ok || name != "overview" {
		t.Fatalf("event after a write %q %q: want an overview", name, data)
	}
	var next native.OverviewBody
	mustUnmarshalBody(t, []byte(data), &next)
	if next.Index <= first.Index || next.Zones[0].Members[0].AppliedIndex <= first.Zones[0].Members[0].AppliedIndex {
		t.Fatalf("after a write: index %d then %d; want it to grow", first.Index, next.Index)
	}
	// Nothing changes now: the stream stays quiet and then ends cleanly,
	// before the request deadline would cut it.
	for {
		if _, _, ok := sseEvent(t, rd); !ok {
			break
		}
	}
	if took := time.Since(start); took >= timeout || took < timeout-2*time.Second {
		t.Fatalf("the stream ended after %s; want shortly before the %s deadline", took, timeout)
	}
}

func Test_Kinds_CountsOwnersAndSecrets(t *testing.T) {
	f := mustServe(t, nil)
	f.mustPut(kindItem, "a", `{}`, http.StatusCreated)
	f.mustPut(kindItem, "b", `{}`, http.StatusCreated)
	f.mustPut(kindHost, "h", `{"name":"h"}`, http.StatusCreated)
	r := f.do(http.MethodGet, "/cairn/v1/kinds", nil)
	mustStatus(t, r, http.StatusOK)
	var body native.KindsBody
	mustUnmarshalBody(t, r.body, &body)
	got := map[string]native.KindInfo{}
	for _, k := range body.Kinds {
		got[k.Kind] = k
	}
	if got[kindItem].Count != 2 || got[kindHost].Count != 1 || got[kindItem].Owner != "" || body.Index == 0 {
		b, _ := json.Marshal(body)
		t.Fatalf("kinds %s: want %s 2 and %s 1, no owner, an index", b, kindItem, kindHost)
	}
}

// memberStub is gossip of this node and one other member, whose status
// server counts the reads.
type memberStub struct {
	self  cluster.Member
	other cluster.Member
}

func (m memberStub) Members() []cluster.Member { return []cluster.Member{m.self, m.other} }
func (m memberStub) ZoneLeaders() map[string]string {
	return map[string]string{"z1": "n1"}
}

// The overview is gathered once for every watcher, only while someone
// watches: three streams open at once cost the other member about two
// status reads a second, not six, and none once they are closed.
func Test_OverviewEvents_OneGatheringForAllWatchers_NoneWithout(t *testing.T) {
	var reads atomic.Int64
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"node_id":"n2","zone":"z1","state":"Follower","term":2,"applied_index":%d,"commit_index":3,"last_contact_ms":%d}`, 3, reads.Load())
	}))
	t.Cleanup(peer.Close)
	f := mustServe(t, nil)
	ms := memberStub{
		self:  cluster.Member{Meta: cluster.Meta{ID: "n1", Zone: "z1", HTTP: advertisedURL}, Status: "alive"},
		other: cluster.Member{Meta: cluster.Meta{ID: "n2", Zone: "z1", HTTP: peer.URL}, Status: "alive"},
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	ts := httptest.NewServer(api.NewServer(f.n, api.NewLimits(64<<10, 10*time.Second), discard, api.WithMembership(ms)).Handler())
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	events := make([]atomic.Int64, 3)
	for i := range events {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/cairn/v1/overview/events", nil)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			rd := bufio.NewReader(resp.Body)
			for {
				name, data, ok := sseEvent(t, rd)
				if !ok {
					return
				}
				var o native.OverviewBody
				if name == "overview" && json.Unmarshal([]byte(data), &o) == nil && len(o.Zones) == 1 && len(o.Zones[0].Members) == 2 &&
					o.Zones[0].Members[1].State == "Follower" {
					events[i].Add(1)
				}
			}
		}()
	}
	const watch = 2 * time.Second
	time.Sleep(watch)
	cancel()
	wg.Wait()
	n := reads.Load()
	for i := range events {
		if events[i].Load() < 2 {
			t.Errorf("stream %d got %d overviews with n2 a follower in %s; want one per gathering (n2's last contact changes each time)", i, events[i].Load(), watch)
		}
	}
	// One gathering every 500ms: 4 or 5 in 2s, whatever the watchers.
	if max := int64(watch/(500*time.Millisecond)) + 2; n > max || n < 2 {
		t.Fatalf("n2's status was read %d times in %s by three streams; want one gathering for all (at most %d)", n, watch, max)
	}
	time.Sleep(time.Second)
	if after := reads.Load(); after > n+1 {
		t.Fatalf("n2's status was read %d more times after the streams closed; want the gathering stopped", after-n)
	}
}
