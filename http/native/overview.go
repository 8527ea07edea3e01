package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"cairn/http/httpx"
	"cairn/node"
)

// The overview is the domain as one document: its zones, their members,
// who leads, and each member's gossip status and Raft progress. The web
// console draws it, live, from GET /cairn/v1/overview/events, whose
// gathering loop (cluster/overview's Hub) runs only while a stream is
// open.

// OverviewBody is the document GET /cairn/v1/overview returns and each
// event of GET /cairn/v1/overview/events carries.
type OverviewBody struct {
	// Node and Zone name the node that answers.
	Node string `json:"node"`
	Zone string `json:"zone"`
	// Index is the answering node's store index.
	Index uint64         `json:"index"`
	Zones []ZoneOverview `json:"zones"`
}

// ZoneOverview is one zone of the overview.
type ZoneOverview struct {
	Name string `json:"name"`
	// Leader is the zone leader's id ("" while it has none): the answering
	// node's own Raft view for its zone, gossip's for the others.
	Leader  string           `json:"leader"`
	Members []MemberOverview `json:"members"`
}

// MemberOverview is one member: what gossip says of it, and what it says
// of itself (its own GET /cairn/v1/status), read moments ago.
type MemberOverview struct {
	MemberBody
	// State is its Raft state (Leader, Follower, Candidate), empty when its
	// status could not be read.
	State        string `json:"state,omitempty"`
	Term         uint64 `json:"term,omitempty"`
	AppliedIndex uint64 `json:"applied_index,omitempty"`
	CommitIndex  uint64 `json:"commit_index,omitempty"`
	// Lag is how many entries it has applied fewer than the highest
	// commit index seen in its zone.
	Lag uint64 `json:"lag"`
	// LastContactMS is how long ago it heard from its leader (0 on the
	// leader, -1 if never).
	LastContactMS int64 `json:"last_contact_ms"`
	// Unreachable says why its status could not be read.
	Unreachable string `json:"unreachable,omitempty"`
}

const (
	// overviewEvery is how often the overview is gathered while anyone
	// watches it (cluster/overview's hub): a leader change shows within
	// about this plus an election. One gathering is shared by every
	// watcher of a node, so watchers cost nothing more than their
	// connection.
	overviewEvery = 500 * time.Millisecond
	// overviewStatusWait bounds one member's status read; a member that is
	// slower is shown unreachable this round.
	overviewStatusWait = time.Second
	// overviewKeepAlive is how often an idle event stream gets a comment,
	// so proxies do not close it.
	overviewKeepAlive = 15 * time.Second
	// overviewEndEarly ends an event stream this long before its request
	// deadline: the client reconnects and gets the current overview first.
	overviewEndEarly = time.Second
)

// gatherOverview reads every member's status (this node's from itself,
// the others' over HTTP, at once) and makes the overview.
func (a *API) gatherOverview(ctx context.Context, client *http.Client) OverviewBody {
	st := a.node.Status()
	ms := a.memberList(st)
	out := make([]MemberOverview, len(ms.Members))
	var wg sync.WaitGroup
	for i, m := range ms.Members {
		out[i].MemberBody = m
		switch {
		case m.ID == st.NodeID:
			out[i].fromStatus(st)
		case m.Status == "dead" || m.Status == "left":
			out[i].Unreachable = "gossip says " + m.Status
			out[i].LastContactMS = -1
		case m.HTTP == "":
			out[i].Unreachable = "no HTTP address in gossip"
			out[i].LastContactMS = -1
		default:
			wg.Add(1)
			go func(mo *MemberOverview) {
				defer wg.Done()
				s, err := readStatus(ctx, client, mo.HTTP)
				if err != nil {
					mo.Unreachable = err.Error()
					mo.LastContactMS = -1
					return
				}
				mo.fromStatus(s)
			}(&out[i])
		}
	}
	wg.Wait()
	body := OverviewBody{Node: st.NodeID, Zone: st.Zone, Index: a.node.View().Index()}
	zones := map[string]*ZoneOverview{}
	for _, m := range out {
		z := zones[m.Zone]
		if z == nil {
			z = &ZoneOverview{Name: m.Zone, Leader: ms.Leaders[m.Zone]}
			zones[m.Zone] = z
		}
		z.Members = append(z.Members, m)
	}
	for _, z := range zones {
		var commit uint64
		for _, m := range z.Members {
			commit = max(commit, m.CommitIndex)
		}
		for i := range z.Members {
			if m := &z.Members[i]; m.State != "" && commit > m.AppliedIndex {
				m.Lag = commit - m.AppliedIndex
			}
		}
		sort.Slice(z.Members, func(i, j int) bool { return z.Members[i].ID < z.Members[j].ID })
		body.Zones = append(body.Zones, *z)
	}
	sort.Slice(body.Zones, func(i, j int) bool { return body.Zones[i].Name < body.Zones[j].Name })
	return body
}

func (m *MemberOverview) fromStatus(s node.Status) {
	m.State, m.Term, m.AppliedIndex, m.CommitIndex, m.LastContactMS = s.State, s.Term, s.AppliedIndex, s.CommitIndex, s.LastContactMS
}

// readStatus reads a member's GET /cairn/v1/status, which answers without
// credentials (the members' own status checks).
func readStatus(ctx context.Context, client *http.Client, base string) (node.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, overviewStatusWait)
	defer cancel()
	var st node.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/cairn/v1/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the member's, shown beside it
		}
		return st, fmt.Errorf("status not read: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("status not read: %w", err)
	}
	return st, nil
}

// gatherOverviewJSON is the overview hub's Gather.
func (a *API) gatherOverviewJSON(ctx context.Context) ([]byte, error) {
	return json.Marshal(a.gatherOverview(ctx, a.overviewClient))
}

// overview answers GET /cairn/v1/overview: the overview, gathered now.
func (a *API) overview(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, a.gatherOverview(r.Context(), a.overviewClient))
}

// overviewEvents answers GET /cairn/v1/overview/events: server-sent
// events (text/event-stream), one "overview" event with the current
// overview at once and another each time it changes. The stream ends
// shortly before the request's deadline (-request-timeout) and when the
// server shuts down; clients reconnect.
func (a *API) overviewEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, d.Add(-overviewEndEarly))
		defer c2()
	}
	stop := httpx.AfterShutdown(r.Context(), cancel)
	defer stop()
	unwatch := a.overviewHub.Watch()
	defer unwatch()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: how soon a browser's EventSource reconnects after the end.
	if _, err := fmt.Fprint(w, "retry: 500\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	keepAlive := time.NewTicker(overviewKeepAlive)
	defer keepAlive.Stop()
	var sent []byte
	for {
		cur, changed := a.overviewHub.Latest()
		if cur != nil && !bytes.Equal(cur, sent) {
			if _, err := fmt.Fprintf(w, "event: overview\ndata: %s\n\n", cur); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			sent = cur
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// KindsBody is the document GET /cairn/v1/kinds returns.
type KindsBody struct {
	Index uint64     `json:"index"`
	Kinds []KindInfo `json:"kinds"`
}

// KindInfo is one kind that has resources.
type KindInfo struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	// Owner is the API that writes the kind ("" for any client of the
	// native API).
	Owner string `json:"owner,omitempty"`
	// Secret kinds are not served by the native API.
	Secret bool `json:"secret,omitempty"`
}

// kinds answers GET /cairn/v1/kinds: every kind that has resources, with
// how many, who writes it and whether it is served here. It takes the
// blocking read's ?index and ?wait, so a console can follow new kinds.
func (a *API) kinds(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r)
	if err != nil {
		fail(w, err)
		return
	}
	v, err := a.readView(w, r, p)
	if err != nil {
		fail(w, err)
		return
	}
	body := KindsBody{Index: v.Index(), Kinds: []KindInfo{}}
	s := v.Schema()
	for _, k := range v.Kinds() {
		body.Kinds = append(body.Kinds, KindInfo{Kind: k, Count: v.Count(k), Owner: s.Owner(k), Secret: s.Secret(k)})
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}
