package native

import (
	"net/http"

	"cairn/http/httpx"
	"cairn/node"
)

// MemberBody is one node in GET /cairn/v1/members.
type MemberBody struct {
	ID         string `json:"id"`
	Zone       string `json:"zone"`
	Role       string `json:"role"`
	Status     string `json:"status"`
	HTTP       string `json:"http"`
	Raft       string `json:"raft"`
	GossipAddr string `json:"gossip_addr,omitempty"`
	Version    string `json:"version,omitempty"`
	// Suffrage is voter or nonvoter for members of this node's zone that are
	// in its Raft configuration, "none" for those that are not; other
	// zones' members have none shown.
	Suffrage string `json:"suffrage,omitempty"`
	// Leader is the zone leader this member advertises.
	Leader string `json:"leader,omitempty"`
}

// MembersBody is the document GET /cairn/v1/members returns.
type MembersBody struct {
	Members []MemberBody `json:"members"`
	// Leaders maps each zone to its leader's id.
	Leaders map[string]string `json:"leaders"`
}

func (a *API) members(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, a.memberList(a.node.Status()))
}

// memberList is the domain's members as gossip and st, this node's Raft
// status, see them.
func (a *API) memberList(st node.Status) MembersBody {
	suffrage := map[string]string{}
	if servers, err := a.node.Servers(); err == nil {
		for _, s := range servers {
			suffrage[s.ID] = s.Suffrage()
		}
	}
	body := MembersBody{Members: []MemberBody{}, Leaders: map[string]string{}}
	if a.membership == nil {
		body.Members = append(body.Members, MemberBody{ID: st.NodeID, Zone: st.Zone, Role: "participant", Status: "alive",
			HTTP: st.HTTPURL, Raft: st.RaftAddr, Suffrage: suffrage[st.NodeID], Leader: st.LeaderID})
		if st.LeaderID != "" {
			body.Leaders[st.Zone] = st.LeaderID
		}
		return body
	}
	for _, m := range a.membership.Members() {
		mb := MemberBody{ID: m.ID, Zone: m.Zone, Role: "participant", Status: m.Status, HTTP: m.HTTP, Raft: m.Raft,
			GossipAddr: m.GossipAddr, Version: m.Version, Leader: m.Leader}
		if m.Controller {
			mb.Role = "controller"
		}
		if m.Zone == st.Zone {
			mb.Suffrage = suffrage[m.ID]
			if mb.Suffrage == "" {
				mb.Suffrage = "none"
			}
		}
		body.Members = append(body.Members, mb)
	}
	body.Leaders = a.membership.ZoneLeaders()
	if st.LeaderID != "" {
		body.Leaders[st.Zone] = st.LeaderID // this node's own Raft view beats gossip
	}
	return body
}
