package mrf

import (
	"encoding/json"
	"time"

	"cairn/cluster/deploy"
	"cairn/fsm"
)

// Store kinds of the MRF dialect. The domain's kinds live in the
// controller zone's Raft group; the zone kinds in every zone's own group
// (the controller zone's too, when a contribution is deployed to it).
const (
	// KindContribution is an installed contribution; id = its URI
	// lower-cased (key), the body keeps the URI as given.
	KindContribution = "mrf.contribution"
	// KindArchive, KindDeployment, KindZoneDeployment and KindZoneArchive
	// are the deployments' (cluster/deploy).
	KindArchive        = deploy.KindArchive
	KindDeployment     = deploy.KindDeployment
	KindZoneDeployment = deploy.KindZoneDeployment
	KindZoneArchive    = deploy.KindZoneArchive
)

// owner is this API's name as the owner of its kinds (fsm.KindSchema).
const owner = "mrf"

// Kinds declares the MRF kinds and their secondary indexes, for the
// composition root's fsm.Schema. MRF owns them all: only it writes them.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{
		{Kind: KindContribution, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("sha1", "sha1", false)}},
		{Kind: KindArchive, Owner: owner},
		{Kind: KindDeployment, Owner: owner},
		{Kind: KindZoneDeployment, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("sha1", "sha1", false)}},
		{Kind: KindZoneArchive, Owner: owner},
		{Kind: KindProfile, Owner: owner},
	}
}

// contributionState is Fabric3's ContributionState of an uploaded
// contribution: PUT stores and installs in one go.
const contributionState = "INSTALLED"

// contribution is the stored body of an installed contribution.
type contribution struct {
	URI         string    `json:"uri"`
	SHA1        string    `json:"sha1"`
	Length      int64     `json:"length"`
	Installed   time.Time `json:"installed"`
	Deployables []string  `json:"deployables"`
	Components  []string  `json:"components"`
	// Profile names the profile that installed the contribution, if one
	// did: it is uninstalled with the profile, not on its own.
	Profile string `json:"profile,omitempty"`
	// Run is what the contribution runs once deployed (its manifest's
	// "run"); nil: nothing.
	Run *deploy.Run `json:"run,omitempty"`
}

// decode reads a stored body into v (deploy.Decode).
func decode(r *fsm.Resource, v any) error { return deploy.Decode(r, v) }

// skipCorrupt reports a stored record that does not decode, which a list
// then leaves out (deploy.SkipCorrupt).
func skipCorrupt(r *fsm.Resource, err error) { deploy.SkipCorrupt(r, err) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only this package's plain structs are marshalled
	}
	return b
}
