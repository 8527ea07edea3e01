package mrf

import (
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	"cairn/fsm"
)

// Store kinds of the MRF dialect. The domain's kinds live in the
// controller zone's Raft group; the zone kinds in every zone's own group
// (the controller zone's too, when a contribution is deployed to it).
const (
	// KindContribution is an installed contribution; id = its URI
	// lower-cased (key), the body keeps the URI as given.
	KindContribution = "mrf.contribution"
	// KindArchive is a contribution's archive, content-addressed: id = the
	// SHA-1 of its bytes (hex), shared by every contribution with those
	// bytes.
	KindArchive = "mrf.archive"
	// KindDeployment is a contribution's deployment to zones, with each
	// target zone's status; id = the contribution's key.
	KindDeployment = "mrf.deployment"
	// KindZoneDeployment is a deployment as a zone applied it; id = the
	// contribution's key.
	KindZoneDeployment = "mrf.zone.deployment"
	// KindZoneArchive is the zone's copy of a deployed archive; id = its
	// SHA-1.
	KindZoneArchive = "mrf.zone.archive"
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

// Deployment states of a zone.
const (
	StatePending  = "pending"
	StateDeployed = "deployed"
	StateFailed   = "failed"
)

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
}

// archive is the stored body of an archive (Data is base64 in JSON).
type archive struct {
	SHA1   string `json:"sha1"`
	Length int64  `json:"length"`
	Data   []byte `json:"data"`
}

// ZoneStatus is how far one target zone is with a deployment.
type ZoneStatus struct {
	State string `json:"state"`
	// Reason says why the zone failed to deploy it.
	Reason string `json:"reason,omitempty"`
	// Node is the zone leader that reported the state.
	Node    string    `json:"node,omitempty"`
	Updated time.Time `json:"updated"`
}

// Deployment is a contribution's deployment as the controller records it.
// Generation is the Raft index that created it in the controller zone: a
// contribution undeployed and deployed again gets a new one, so a zone
// can tell the two apart.
type Deployment struct {
	URI         string                `json:"uri"`
	SHA1        string                `json:"sha1"`
	Length      int64                 `json:"length"`
	Deployables []string              `json:"deployables"`
	Components  []string              `json:"components"`
	Deployed    time.Time             `json:"deployed"`
	Zones       map[string]ZoneStatus `json:"zones"`
	Generation  uint64                `json:"-"`
}

// zoneDeployment is the stored body of a deployment a zone applied.
type zoneDeployment struct {
	URI         string    `json:"uri"`
	SHA1        string    `json:"sha1"`
	Length      int64     `json:"length"`
	Deployables []string  `json:"deployables"`
	Components  []string  `json:"components"`
	Generation  uint64    `json:"generation"`
	Applied     time.Time `json:"applied"`
	Node        string    `json:"node"`
}

// decode reads a stored body into v; a body this package wrote always
// decodes, so a failure is reported, not hidden.
func decode(r *fsm.Resource, v any) error { return json.Unmarshal(r.Body, v) }

// skipCorrupt reports a stored record that does not decode (one written
// around this API before its kinds had an owner), which a list then
// leaves out: one bad record must not fail a whole collection, on every
// node, nor stop the deployer.
func skipCorrupt(r *fsm.Resource, err error) {
	slog.Default().Warn("skipping a corrupt record", "component", "mrf", "kind", r.Kind, "id", r.ID, "err", err)
}

// deploymentOf decodes a stored deployment and fills in its generation.
func deploymentOf(r *fsm.Resource) (Deployment, error) {
	var d Deployment
	err := decode(r, &d)
	d.Generation = r.CreateIndex
	return d, err
}

// sortedZones returns the names of a deployment's target zones, sorted.
func (d Deployment) sortedZones() []string {
	out := make([]string, 0, len(d.Zones))
	for z := range d.Zones {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// deployedZones returns the zones whose state is deployed, sorted.
func (d Deployment) deployedZones() []string {
	out := []string{}
	for _, z := range d.sortedZones() {
		if d.Zones[z].State == StateDeployed {
			out = append(out, z)
		}
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only this package's plain structs are marshalled
	}
	return b
}
