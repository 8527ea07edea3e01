package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node tells the domain about itself through gossip. Field
// names are short because memberlist caps metadata at 512 bytes.
type Meta struct {
	ID         string `json:"i"`
	Zone       string `json:"z"`
	Controller bool   `json:"c,omitempty"`
	HTTP       string `json:"h"`
	Raft       string `json:"r"`
	Version    string `json:"v"`
	// Leader is the zone leader's id as this node sees it; "" while it
	// knows none. Raft decides leadership; gossip only advertises it.
	Leader string `json:"l,omitempty"`
	// Boot tells one run of the node from the next (Start sets it): a
	// member that announced it is leaving stays left whatever that run
	// still gossips, until a new run joins.
	Boot string `json:"b,omitempty"`
	// RaftID is the node's Raft server id, bound to its data dir: a new
	// one after the data dir was replaced.
	RaftID string `json:"ri,omitempty"`
	// ZoneID is the identity of the zone whose state the node holds (""
	// while it holds none); State says it has Raft state at all.
	ZoneID string `json:"zi,omitempty"`
	State  bool   `json:"s,omitempty"`
	// Expect is the node's -bootstrap-expect (0 for none): a zone is
	// founded only by members that all expect the same number.
	Expect int `json:"e,omitempty"`
	// LogFormat is the latest log format the node's binary reads
	// (fsm.LatestFormat): a zone moves to a format only once all its
	// members read it, and then takes in no member that does not.
	LogFormat int `json:"lf,omitempty"`
	// Engine is the node's working container engine (docker or podman;
	// "" for none): the zone leader's scheduler places the instances of
	// workloads with an image only on nodes that have one.
	Engine string `json:"ce,omitempty"`
}

// raftID is the member's Raft server id; nodes from before data-dir
// incarnations used their node id.
func (m Meta) raftID() string {
	if m.RaftID != "" {
		return m.RaftID
	}
	return m.ID
}

func (m Meta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("node metadata is %d bytes, over memberlist's %d: shorten the node id, zone or addresses", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	err := json.Unmarshal(b, &m)
	return m, err
}
