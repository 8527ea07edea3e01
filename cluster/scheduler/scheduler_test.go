package scheduler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"cairn/fsm"
	"cairn/node/workload"
)

func spec(t testing.TB, body string) workload.Spec {
	t.Helper()
	s, err := workload.ParseSpec([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var now = time.Unix(10000, 0)

// placed is a stored placement at version v of nodes, by index.
func placed(v uint64, nodes ...string) Current {
	c := Current{Version: v}
	for i, n := range nodes {
		c.Placed = append(c.Placed, workload.Placed{Index: i, Node: n})
	}
	return c
}

func live(ids ...string) []Node {
	var out []Node
	for _, id := range ids {
		out = append(out, Node{ID: id, Live: true})
	}
	return out
}

func Test_Plan_ThreeInstances_SpreadOverThreeNodes(t *testing.T) {
	w := []Workload{{ID: "w", Version: 5, Spec: spec(t, `{"command":["x"],"instances":3}`)}}
	ch := Plan(w, nil, live("n1", "n2", "n3"), now, time.Minute, DefaultPorts)
	if len(ch) != 1 || strings.Join(ch[0].Nodes(), ",") != "n1,n2,n3" || ch[0].WorkloadVersion != 5 || ch[0].Prev != 0 {
		t.Fatalf("plan %+v, want n1,n2,n3", ch)
	}
	// Placed again: nothing changes.
	cur := map[string]Current{"w": {Version: 6, Placed: ch[0].Placed}}
	if ch := Plan(w, cur, live("n1", "n2", "n3"), now, time.Minute, DefaultPorts); len(ch) != 0 {
		t.Fatalf("a placed workload planned again: %+v", ch)
	}
}

func Test_Plan_SpreadsByLoad_AcrossWorkloads(t *testing.T) {
	w := []Workload{
		{ID: "a", Spec: spec(t, `{"command":["x"],"instances":1}`)},
		{ID: "b", Spec: spec(t, `{"command":["x"],"instances":1}`)},
		{ID: "c", Spec: spec(t, `{"command":["x"],"instances":1}`)},
	}
	var got []string
	for _, c := range Plan(w, nil, live("n3", "n1", "n2"), now, time.Minute, DefaultPorts) {
		got = append(got, c.Workload+"="+c.Nodes()[0])
	}
	if strings.Join(got, " ") != "a=n1 b=n2 c=n3" {
		t.Fatalf("got %v", got)
	}
}

func Test_Plan_PlacementRespected(t *testing.T) {
	w := []Workload{{ID: "w", Spec: spec(t, `{"command":["x"],"instances":4,"placement":{"nodes":["n2","n9"]}}`)}}
	ch := Plan(w, nil, live("n1", "n2", "n3"), now, time.Minute, DefaultPorts)
	if strings.Join(ch[0].Nodes(), ",") != "n2,n2,n2,n2" {
		t.Fatalf("plan %v, want every instance on n2 (n9 is not a member)", ch[0].Nodes())
	}
	// No eligible live node: the instances wait unassigned.
	w[0].Spec = spec(t, `{"command":["x"],"instances":2,"placement":{"nodes":["n9"]}}`)
	ch = Plan(w, nil, live("n1"), now, time.Minute, DefaultPorts)
	if strings.Join(ch[0].Nodes(), ",") != "," {
		t.Fatalf("plan %q, want two unassigned", ch[0].Nodes())
	}
}

func Test_Plan_FailedNode_KeepsInstancesUntilTimeout_ThenMoves(t *testing.T) {
	w := []Workload{{ID: "w", Version: 2, Spec: spec(t, `{"command":["x"],"instances":3}`)}}
	cur := map[string]Current{"w": placed(3, "n1", "n2", "n3")}
	nodes := []Node{{ID: "n1", Live: true}, {ID: "n2", FailedSince: now.Add(-10 * time.Second)}, {ID: "n3", Live: true}}
	if ch := Plan(w, cur, nodes, now, 30*time.Second, DefaultPorts); len(ch) != 0 {
		t.Fatalf("moved before the timeout: %+v", ch)
	}
	ch := Plan(w, cur, nodes, now.Add(25*time.Second), 30*time.Second, DefaultPorts)
	if len(ch) != 1 || ch[0].Nodes()[1] == "n2" || ch[0].Nodes()[1] == "" || ch[0].Nodes()[0] != "n1" || ch[0].Nodes()[2] != "n3" {
		t.Fatalf("after the timeout: %+v, want instance 1 moved to n1 or n3, the others kept", ch)
	}
	if len(ch[0].Dropped) != 1 || ch[0].Dropped[0] != 1 || ch[0].Prev != 3 || fmt.Sprint(ch[0].Fresh) != "[1]" {
		t.Fatalf("dropped %v fresh %v prev %d, want [1], [1] and 3", ch[0].Dropped, ch[0].Fresh, ch[0].Prev)
	}
	// A member gossip no longer knows (it left) loses its instances at once.
	ch = Plan(w, cur, live("n1", "n3"), now, time.Hour, DefaultPorts)
	if len(ch) != 1 || ch[0].Nodes()[1] == "n2" {
		t.Fatalf("left member kept its instance: %+v", ch)
	}
}

func Test_Plan_Ports_UniquePerNode_KeptWhileTheInstanceStays(t *testing.T) {
	w := []Workload{
		{ID: "a", Spec: spec(t, `{"command":["x"],"instances":2,"ports":["http","admin"]}`)},
		{ID: "b", Spec: spec(t, `{"command":["x"],"instances":2,"ports":["http"]}`)},
	}
	nodes := []Node{{ID: "n1", Host: "10.0.0.1", Live: true}}
	r := PortRange{Lo: 100, Hi: 105}
	ch := Plan(w, nil, nodes, now, time.Minute, r)
	got := map[int]string{}
	cur := map[string]Current{}
	for _, c := range ch {
		cur[c.Workload] = Current{Version: 1, Placed: c.Placed}
		for _, p := range c.Placed {
			if p.Host != "10.0.0.1" {
				t.Fatalf("host %q", p.Host)
			}
			for _, port := range p.Ports {
				if prev, dup := got[port]; dup {
					t.Fatalf("port %d given to %s and %s.%d", port, prev, c.Workload, p.Index)
				}
				got[port] = fmt.Sprintf("%s.%d", c.Workload, p.Index)
			}
		}
	}
	if len(got) != 6 {
		t.Fatalf("ports %v, want 6 distinct", got)
	}
	// The range is full: a third instance of b waits unassigned; the
	// others keep their ports.
	w[1].Spec = spec(t, `{"command":["x"],"instances":3,"ports":["http"]}`)
	ch = Plan(w, cur, nodes, now, time.Minute, r)
	if len(ch) != 1 || len(ch[0].Placed) != 3 || ch[0].Placed[2].Node != "" ||
		!ch[0].Placed[0].Same(cur["b"].Placed[0]) || !ch[0].Placed[1].Same(cur["b"].Placed[1]) {
		t.Fatalf("with no port left: %+v, want the third unassigned and the others as they were", ch)
	}
	w[1].Spec = spec(t, `{"command":["x"],"instances":1,"ports":["http"]}`)
	ch = Plan(w, cur, nodes, now, time.Minute, r)
	if len(ch) != 1 || ch[0].Workload != "b" || len(ch[0].Placed) != 1 || !ch[0].Placed[0].Same(cur["b"].Placed[0]) {
		t.Fatalf("shrink: %+v", ch)
	}
}

func Test_Plan_ShrinkAndDelete(t *testing.T) {
	w := []Workload{{ID: "w", Spec: spec(t, `{"command":["x"],"instances":1}`)}}
	cur := map[string]Current{"w": placed(3, "n1", "n2", "n3"), "gone": placed(4, "n1")}
	ch := Plan(w, cur, live("n1", "n2", "n3"), now, time.Minute, DefaultPorts)
	if len(ch) != 2 {
		t.Fatalf("plan %+v", ch)
	}
	if strings.Join(ch[0].Nodes(), ",") != "n1" || fmt.Sprint(ch[0].Dropped) != "[1 2]" {
		t.Fatalf("shrink: %+v", ch[0])
	}
	if !ch[1].Delete || ch[1].Workload != "gone" || ch[1].Prev != 4 {
		t.Fatalf("deleted workload: %+v", ch[1])
	}
}

// BenchmarkPlan_10kWorkloads is one scheduling pass over 10,000 workloads
// of 3 instances on 5 nodes, half of them already placed.
func BenchmarkPlan_10kWorkloads(b *testing.B) {
	s := spec(b, `{"command":["x"],"instances":3}`)
	var ws []Workload
	cur := map[string]Current{}
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("w%05d", i)
		ws = append(ws, Workload{ID: id, Version: uint64(i + 1), Spec: s})
		if i%2 == 0 {
			cur[id] = placed(uint64(i+1), "n1", "n2", "n3")
		}
	}
	nodes := live("n1", "n2", "n3", "n4", "n5")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ch := Plan(ws, cur, nodes, now, time.Minute, DefaultPorts); len(ch) != 5000 {
			b.Fatalf("%d changes", len(ch))
		}
	}
}

// BenchmarkPass_10kWorkloads_ReadAndPlan is a whole pass's reading and
// planning (not its writes): 10,000 workloads and their placements read
// from a store, then planned, none changing; "cold" parses every one,
// "cached" reuses the last pass's parse (the scheduler's steady state).
func BenchmarkPass_10kWorkloads_ReadAndPlan(b *testing.B) {
	schema, _ := fsm.NewSchema(workload.Kinds()...)
	store := fsm.NewStore(schema)
	body, _ := json.Marshal(spec(b, `{"command":["x"],"instances":3}`))
	var ops []fsm.Op
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("w%05d", i)
		pb, _ := json.Marshal(workload.NewPlacement(id, []string{"n1", "n2", "n3"}))
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: workload.KindWorkload, ID: id, Body: body},
			fsm.Op{Type: fsm.OpPut, Kind: workload.KindPlacement, ID: id, Body: pb})
	}
	if res := store.Apply(1, fsm.Command{Ops: ops, Time: now}); res.Err() != nil {
		b.Fatal(res.Err())
	}
	nodes := live("n1", "n2", "n3")
	for _, cached := range []bool{false, true} {
		name := "cold"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			c := new(Cache)
			c.Read(store.View())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !cached {
					c = new(Cache)
				}
				ws, cur := c.Read(store.View())
				if ch := Plan(ws, cur, nodes, now, time.Minute, DefaultPorts); len(ch) != 0 {
					b.Fatalf("%d changes", len(ch))
				}
			}
		})
	}
}

func Test_Plan_Image_OnlyOnNodesWithAnEngine_ElseUnplaceableSayingSo(t *testing.T) {
	w := []Workload{{ID: "c", Spec: spec(t, `{"image":"nginx:1","instances":2}`)}}
	ch := Plan(w, nil, live("n1", "n2", "n3"), now, time.Minute, DefaultPorts)
	if len(ch) != 1 || strings.Join(ch[0].Nodes(), ",") != "," || fmt.Sprint(ch[0].Unplaceable) != "[0 1]" || ch[0].Reason != "no container engine on any node" {
		t.Fatalf("plan %+v, want both unassigned and unplaceable: no container engine on any node", ch)
	}
	nodes := live("n1", "n2", "n3")
	nodes[1].Engine = "podman"
	ch = Plan(w, nil, nodes, now, time.Minute, DefaultPorts)
	if len(ch) != 1 || strings.Join(ch[0].Nodes(), ",") != "n2,n2" || len(ch[0].Unplaceable) != 0 {
		t.Fatalf("plan %+v, want both on n2, the node with an engine", ch)
	}
	// A process workload still goes anywhere.
	w = append(w, Workload{ID: "p", Spec: spec(t, `{"command":["x"],"instances":3}`)})
	ch = Plan(w, nil, nodes, now, time.Minute, DefaultPorts)
	if len(ch) != 2 || strings.Join(ch[1].Nodes(), ",") != "n1,n3,n2" {
		t.Fatalf("plan %+v, want p spread over every node", ch)
	}
}

func Test_Plan_Ports_UniquePerHost_NodesOnOneHostShareIt(t *testing.T) {
	w := []Workload{{ID: "a", Spec: spec(t, `{"command":["x"],"instances":3,"ports":["http"]}`)}}
	nodes := []Node{{ID: "n1", Host: "127.0.0.1", Live: true}, {ID: "n2", Host: "127.0.0.1", Live: true}, {ID: "n3", Host: "10.0.0.3", Live: true}}
	ch := Plan(w, nil, nodes, now, time.Minute, PortRange{Lo: 100, Hi: 105})
	if len(ch) != 1 {
		t.Fatalf("plan %+v", ch)
	}
	var got []string
	for _, p := range ch[0].Placed {
		got = append(got, fmt.Sprintf("%s:%v", p.Node, p.Ports))
	}
	if strings.Join(got, " ") != "n1:[100] n2:[101] n3:[100]" {
		t.Fatalf("ports %v: want n1 and n2, one host, on two ports; n3, another host, free to reuse one", got)
	}
}
