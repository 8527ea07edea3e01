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
