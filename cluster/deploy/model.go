// Package deploy carries the domain's MRF deployments from the controller
// into the zones: the records both sides keep (a deployment with each
// target zone's status on the controller; the deployment as a zone applied
// it, and the zone's copy of its archive, in each zone), and the zone
// leader's Deployer, a leader loop (like cluster's membership reconciler
// and the workload scheduler) that follows the controller's deployments
// with blocking reads, applies those that target its zone into the zone's
// own store and reports each result back to the controller.
//
// The MRF dialect (http/mrf) translates Fabric3's requests into these
// records (deploy, undeploy, a zone's report) and shows them; it runs no
// loop of its own. Nothing here serves a request.
package deploy

import (
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"cairn/fsm"
)

// Store kinds of deployments. The domain's kinds live in the controller
// zone's Raft group; the zone kinds in every zone's own group (the
// controller zone's too, when a contribution is deployed to it). The MRF
// dialect owns them all (it declares them in its schema).
const (
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

// Deployment states of a zone.
const (
	StatePending  = "pending"
	StateDeployed = "deployed"
	StateFailed   = "failed"
)

// Key is the id a contribution's records are stored under: its URI
// lower-cased, as MRF names match in any case.
func Key(uri string) string { return strings.ToLower(uri) }

// Archive is the stored body of an archive (Data is base64 in JSON).
type Archive struct {
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
	// Run is what the contribution runs; nil: nothing (its components are
	// declared, not run).
	Run        *Run   `json:"run,omitempty"`
	Generation uint64 `json:"-"`
}

// ZoneDeployment is the stored body of a deployment a zone applied.
type ZoneDeployment struct {
	URI         string    `json:"uri"`
	SHA1        string    `json:"sha1"`
	Length      int64     `json:"length"`
	Deployables []string  `json:"deployables"`
	Components  []string  `json:"components"`
	Generation  uint64    `json:"generation"`
	Applied     time.Time `json:"applied"`
	Node        string    `json:"node"`
	// Run is what the deployment runs in the zone, as the workload
	// WorkloadID(URI); nil: nothing.
	Run *Run `json:"run,omitempty"`
}

// ZoneReport is what a zone's leader tells the controller about one
// deployment in its zone.
type ZoneReport struct {
	Zone string `json:"zone"`
	// Generation is the deployment's, as the zone saw it; a report for
	// another generation (the contribution was undeployed and deployed
	// again meanwhile) is refused.
	Generation uint64 `json:"generation"`
	State      string `json:"state"`
	Reason     string `json:"reason,omitempty"`
	Node       string `json:"node"`
}

// MaxReasonBytes bounds a zone report's reason: it is stored in the
// deployment, which every read of it carries. The deployer cuts a longer
// failure down to it (TruncateReason) rather than have its report refused.
const MaxReasonBytes = 4 << 10

// TruncateReason cuts s to at most MaxReasonBytes on a UTF-8 boundary.
func TruncateReason(s string) string {
	if len(s) <= MaxReasonBytes {
		return s
	}
	cut := MaxReasonBytes - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Decode reads a stored body into v; a body these packages wrote always
// decodes, so a failure is reported, not hidden.
func Decode(r *fsm.Resource, v any) error { return json.Unmarshal(r.Body, v) }

// SkipCorrupt reports a stored record that does not decode (one written
// around the MRF API before its kinds had an owner), which a list then
// leaves out: one bad record must not fail a whole collection, on every
// node, nor stop the deployer.
func SkipCorrupt(r *fsm.Resource, err error) {
	slog.Default().Warn("skipping a corrupt record", "component", "mrf", "kind", r.Kind, "id", r.ID, "err", err)
}

// DeploymentOf decodes a stored deployment and fills in its generation.
func DeploymentOf(r *fsm.Resource) (Deployment, error) {
	var d Deployment
	err := Decode(r, &d)
	d.Generation = r.CreateIndex
	return d, err
}

// SortedZones returns the names of a deployment's target zones, sorted.
func (d Deployment) SortedZones() []string {
	out := make([]string, 0, len(d.Zones))
	for z := range d.Zones {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// DeployedZones returns the zones whose state is deployed, sorted.
func (d Deployment) DeployedZones() []string {
	out := []string{}
	for _, z := range d.SortedZones() {
		if d.Zones[z].State == StateDeployed {
			out = append(out, z)
		}
	}
	return out
}

// MustJSON marshals one of this package's plain structs.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return b
}
