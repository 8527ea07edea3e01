package deploy

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"cairn/fsm"
	"cairn/node/workload"
)

// ErrArchiveGone means the controller no longer holds the archive a
// deployment names (the contribution was uninstalled meanwhile).
var ErrArchiveGone = errors.New("the controller holds no such archive")

// ErrStaleReport means the controller refused a zone's report because the
// deployment it was about is gone or was deployed again since.
var ErrStaleReport = errors.New("the report is for a deployment the controller no longer has")

// Node is what the Deployer needs of the zone leader it runs on.
type Node interface {
	ID() string
	Zone() string
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
}

// Controller is what a zone's Deployer needs of the domain's controller.
type Controller interface {
	// Deployments returns every deployment of the domain, and the index
	// of the controller's store it was read at, once that store has
	// passed index after (at once if it already has) or wait has passed.
	Deployments(ctx context.Context, after uint64, wait time.Duration) ([]Deployment, uint64, error)
	// Archive returns the archive whose SHA-1 is sha1, or ErrArchiveGone.
	Archive(ctx context.Context, sha1 string) ([]byte, error)
	// Report tells the controller the state of deployment uri in
	// rep.Zone; ErrStaleReport if it no longer has that deployment.
	Report(ctx context.Context, uri string, rep ZoneReport) error
}

// Deployer is the zone leader's side of deployments: it follows the
// controller's deployments with blocking reads (the controller answers
// when its store passes the index last seen: no polling interval), applies
// those that target its zone into the zone's own store (the archive and
// the deployment, one Raft command, so every member of the zone holds
// both; for a runnable contribution, the workload that runs it on every
// live member of the zone too), removes those undeployed (their workloads
// with them), and reports each result back to the controller. Run it as
// a leadership task: a new leader starts from the controller's current
// state and the zone's store, so it finishes what a dead leader began.
type Deployer struct {
	node Node
	ctl  Controller
	// Members is gossip, where the live members of the zone a runnable
	// deployment runs on are read; nil: this node alone.
	Members Members
	log     *slog.Logger
	now     func() time.Time
	// wait is the longest a blocking read waits for a change.
	wait time.Duration
	// retry bounds the wait between attempts after an error.
	retryMin, retryMax time.Duration
}

// NewDeployer returns the deployer of n's zone, following ctl.
func NewDeployer(n Node, ctl Controller, log *slog.Logger) *Deployer {
	if log == nil {
		log = slog.Default()
	}
	return &Deployer{node: n, ctl: ctl, log: log.With("component", "mrf-deployer", "zone", n.Zone()),
		now: time.Now, wait: 30 * time.Second, retryMin: 50 * time.Millisecond, retryMax: 2 * time.Second}
}

// Run follows the controller until ctx ends (leadership lost).
func (d *Deployer) Run(ctx context.Context) {
	d.log.Info("zone leader " + d.node.ID() + " follows the controller's deployments")
	if d.Members != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() { defer close(done); d.followMembers(ctx) }()
	}
	var seen uint64
	retry := d.retryMin
	lastErr := ""
	for ctx.Err() == nil {
		list, index, err := d.ctl.Deployments(ctx, seen, d.wait)
		if err == nil {
			err = d.reconcile(ctx, list)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// A failure that repeats (no controller for a while) is logged
			// once at warn, then at debug.
			level := slog.LevelWarn
			if err.Error() == lastErr {
				level = slog.LevelDebug
			}
			lastErr = err.Error()
			d.log.Log(ctx, level, "following the controller's deployments failed; retrying in "+retry.String(), "err", err)
			// Not a polling interval: the wait between attempts after a
			// failure, doubling up to retryMax. seen stays, so the next
			// read answers at once.
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, d.retryMax)
			continue
		}
		if lastErr != "" {
			d.log.Info("following the controller's deployments again")
			lastErr = ""
		}
		retry = d.retryMin
		seen = index
	}
}

// reconcile makes the zone's store hold exactly the deployments in list
// that target this zone (and have not failed here), and reports what it
// did. An error is one to retry (the controller or the zone's Raft did not
// answer); a deployment that cannot be applied is reported failed instead.
func (d *Deployer) reconcile(ctx context.Context, list []Deployment) error {
	zone := d.node.Zone()
	want := map[string]Deployment{}
	for _, dep := range list {
		if _, ok := dep.Zones[zone]; ok {
			want[Key(dep.URI)] = dep
		}
	}
	have, _ := d.node.View().List(KindZoneDeployment, "", "", 0)
	for _, h := range have {
		var zd ZoneDeployment
		if err := Decode(h, &zd); err != nil {
			SkipCorrupt(h, err)
			continue
		}
		if w, ok := want[Key(zd.URI)]; !ok || w.Generation != zd.Generation {
			if err := d.remove(ctx, h, zd); err != nil {
				return err
			}
		}
	}
	uris := make([]string, 0, len(want))
	for u := range want {
		uris = append(uris, u)
	}
	sort.Strings(uris)
	for _, u := range uris {
		if err := d.converge(ctx, want[u]); err != nil {
			return err
		}
	}
	return nil
}

// converge brings one deployment to this zone, or reports why it cannot.
func (d *Deployer) converge(ctx context.Context, dep Deployment) error {
	zone := d.node.Zone()
	status := dep.Zones[zone]
	v := d.node.View()
	if h := v.Get(KindZoneDeployment, Key(dep.URI)); h != nil {
		var zd ZoneDeployment
		if Decode(h, &zd) == nil {
			if err := d.syncMembers(ctx, zd); err != nil {
				return err
			}
		}
		if status.State == StateDeployed {
			return nil
		}
		return d.report(ctx, dep, StateDeployed, "")
	}
	if status.State == StateFailed {
		return nil // a new deployment (generation) is a new attempt
	}
	reason, err := d.install(ctx, v, dep)
	if err != nil {
		return err
	}
	if reason != "" {
		d.log.Warn("deployment of "+dep.URI+" failed in zone "+zone, "generation", dep.Generation, "reason", reason)
		return d.report(ctx, dep, StateFailed, reason)
	}
	d.log.Info("deployed "+dep.URI+" in zone "+zone, "generation", dep.Generation, "components", strings.Join(dep.Components, ","))
	return d.report(ctx, dep, StateDeployed, "")
}

// install applies dep into the zone's store: its archive (fetched from the
// controller unless the zone holds those bytes already) and its record, in
// one command; for a runnable contribution, the same command also writes
// the workload that runs it on every live member of the zone, with the
// archive as its artifact (whose chunks, invisible until its manifest is
// written, go first, one command each, as an upload's do). reason is set
// when dep cannot be deployed here.
func (d *Deployer) install(ctx context.Context, v *fsm.View, dep Deployment) (reason string, err error) {
	if clash := componentClash(v, dep); clash != "" {
		return clash, nil
	}
	if dep.Run != nil && v.Get(workload.KindWorkload, WorkloadID(dep.URI)) != nil {
		return fmt.Sprintf("a workload %s, which would run this contribution, exists already in this zone", WorkloadID(dep.URI)), nil
	}
	now := d.now().UTC()
	zd := ZoneDeployment{URI: dep.URI, SHA1: dep.SHA1, Length: dep.Length, Deployables: dep.Deployables,
		Components: dep.Components, Generation: dep.Generation, Applied: now, Node: d.node.ID(), Run: dep.Run}
	ops := []fsm.Op{{Type: fsm.OpPut, Kind: KindZoneDeployment, ID: Key(dep.URI), Body: MustJSON(zd), Require: fsm.RequireAbsent}}
	var data []byte
	if ar := v.Get(KindZoneArchive, dep.SHA1); ar != nil {
		ops = append(ops, fsm.Op{Type: fsm.OpCheck, Kind: KindZoneArchive, ID: dep.SHA1, Require: fsm.RequireExists})
		if dep.Run != nil && v.Get(workload.KindArtifact, dep.SHA1) == nil {
			var a Archive
			if err := Decode(ar, &a); err != nil {
				return "", fmt.Errorf("the zone's copy of archive %s: %w", dep.SHA1, err)
			}
			data = a.Data
		}
	} else {
		data, err = d.ctl.Archive(ctx, dep.SHA1)
		if errors.Is(err, ErrArchiveGone) {
			return "the contribution's archive " + dep.SHA1 + " is no longer on the controller", nil
		}
		if err != nil {
			return "", err
		}
		if sum := sha1.Sum(data); hex.EncodeToString(sum[:]) != dep.SHA1 || int64(len(data)) != dep.Length {
			return fmt.Sprintf("the archive the controller sent (%d bytes) does not match SHA-1 %s and length %d", len(data), dep.SHA1, dep.Length), nil
		}
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: KindZoneArchive, ID: dep.SHA1,
			Body: MustJSON(Archive{SHA1: dep.SHA1, Length: dep.Length, Data: data})})
	}
	if dep.Run != nil {
		run, reason, err := d.runOps(ctx, v, dep, data, now)
		if reason != "" || err != nil {
			return reason, err
		}
		ops = append(ops, run...)
	}
	if _, _, err := d.node.Apply(ctx, fsm.Command{Ops: ops, Time: now}); err != nil {
		return "", fmt.Errorf("apply deployment %s in zone %s: %w", dep.URI, d.node.Zone(), err)
	}
	return "", nil
}

// runOps returns the operations that make dep run in the zone: its
// artifact's manifest (or, if the zone has the artifact already, a
// rewrite of it at the version read, so the leader's garbage collection
// cannot delete it under the new workload) and the workload. The
// artifact's chunks (from data) are applied first.
func (d *Deployer) runOps(ctx context.Context, v *fsm.View, dep Deployment, data []byte, now time.Time) ([]fsm.Op, string, error) {
	spec, err := dep.Run.Spec(dep.SHA1, d.zoneMembers())
	if err != nil {
		return nil, "the contribution cannot run: " + err.Error(), nil
	}
	var ops []fsm.Op
	if ar := v.Get(workload.KindArtifact, dep.SHA1); ar != nil {
		ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: workload.KindArtifact, ID: dep.SHA1, Body: ar.Body, Require: fsm.RequireVersion, Version: ar.Version})
	} else {
		up := workload.NewUploader()
		r := bytes.NewReader(data)
		for {
			op, err := up.Next(r, dep.SHA1)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, "", err
			}
			if _, _, err := d.node.Apply(ctx, fsm.Command{Ops: []fsm.Op{op}, Time: now}); err != nil {
				return nil, "", fmt.Errorf("write a chunk of artifact %s in zone %s: %w", dep.SHA1, d.node.Zone(), err)
			}
		}
		manifest, err := up.Finish(dep.SHA1, dep.Length)
		if err != nil {
			return nil, err.Error(), nil
		}
		ops = append(ops, manifest)
	}
	ops = append(ops, fsm.Op{Type: fsm.OpPut, Kind: workload.KindWorkload, ID: WorkloadID(dep.URI), Body: MustJSON(spec), Require: fsm.RequireAbsent})
	return ops, "", nil
}

// zoneMembers returns the ids of the live members of this node's zone,
// sorted: where a runnable deployment runs, one instance each.
func (d *Deployer) zoneMembers() []string {
	if d.Members == nil {
		return []string{d.node.ID()}
	}
	var out []string
	for _, m := range d.Members.Members() {
		if m.Zone == d.node.Zone() && Live(m) {
			out = append(out, m.ID)
		}
	}
	sort.Strings(out)
	return out
}

// membersInterval is how often the deployer looks at gossip for members
// of its zone that came or went: a few gossip rounds.
const membersInterval = time.Second

// followMembers keeps the workloads of the zone's runnable deployments on
// the zone's live members until ctx ends, looking every membersInterval
// (the controller's deployments may not change for a long while). A
// write that loses a race with the main loop is tried again next time.
func (d *Deployer) followMembers(ctx context.Context) {
	tick := time.NewTicker(membersInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		have, _ := d.node.View().List(KindZoneDeployment, "", "", 0)
		for _, h := range have {
			var zd ZoneDeployment
			if Decode(h, &zd) != nil || zd.Run == nil {
				continue
			}
			if err := d.syncMembers(ctx, zd); err != nil && ctx.Err() == nil {
				d.log.Debug("keeping a deployment's workload on the zone's members failed; trying again", "uri", zd.URI, "err", err)
			}
		}
	}
}

// syncMembers keeps a runnable deployment's workload on every live member
// of the zone as members come and go: its instance count and placement
// follow them (the scheduler then places one instance on each).
func (d *Deployer) syncMembers(ctx context.Context, zd ZoneDeployment) error {
	if zd.Run == nil {
		return nil
	}
	id := WorkloadID(zd.URI)
	r := d.node.View().Get(workload.KindWorkload, id)
	if r == nil {
		return nil
	}
	cur, err := workload.ParseSpec(r.Body)
	if err != nil {
		return nil // not this package's to mend
	}
	nodes := d.zoneMembers()
	if cur.Instances == len(nodes) && slices.Equal(cur.Placement.Nodes, nodes) {
		return nil
	}
	spec, err := zd.Run.Spec(zd.SHA1, nodes)
	if err != nil {
		return nil
	}
	ops := []fsm.Op{{Type: fsm.OpPut, Kind: workload.KindWorkload, ID: id, Body: MustJSON(spec), Require: fsm.RequireVersion, Version: r.Version}}
	if _, _, err := d.node.Apply(ctx, fsm.Command{Ops: ops, Time: d.now().UTC()}); err != nil {
		return fmt.Errorf("move workload %s of %s to the zone's members %v: %w", id, zd.URI, nodes, err)
	}
	d.log.Info("workload "+id+" of "+zd.URI+" now runs on the zone's members "+strings.Join(nodes, ","), "generation", zd.Generation)
	return nil
}

// componentClash names a component of dep that another deployment already
// provides in this zone: a zone runs one component of a name.
func componentClash(v *fsm.View, dep Deployment) string {
	mine := map[string]string{}
	for _, c := range dep.Components {
		mine[strings.ToLower(c)] = c
	}
	others, _ := v.List(KindZoneDeployment, "", "", 0)
	for _, o := range others {
		var zd ZoneDeployment
		if Decode(o, &zd) != nil || Key(zd.URI) == Key(dep.URI) {
			continue
		}
		for _, c := range zd.Components {
			if name, ok := mine[strings.ToLower(c)]; ok {
				return fmt.Sprintf("component %s is already provided in this zone by contribution %s", name, zd.URI)
			}
		}
	}
	return ""
}

// remove deletes an undeployed (or superseded) deployment from the zone,
// and its archive unless another deployment of the zone holds the same
// bytes.
func (d *Deployer) remove(ctx context.Context, h *fsm.Resource, zd ZoneDeployment) error {
	v := d.node.View()
	ops := []fsm.Op{{Type: fsm.OpDelete, Kind: KindZoneDeployment, ID: h.ID, Require: fsm.RequireVersion, Version: h.Version}}
	holders, err := v.Lookup(KindZoneDeployment, "sha1", zd.SHA1)
	if err != nil {
		return err
	}
	if len(holders) <= 1 {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindZoneArchive, ID: zd.SHA1})
	}
	if zd.Run != nil {
		// Its workload goes in the same command, as the workloads API
		// deletes one: every node stops its instances. The artifact is
		// the leader's garbage collection's once nothing references it.
		id := WorkloadID(zd.URI)
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: workload.KindWorkload, ID: id},
			fsm.Op{Type: fsm.OpDelete, Kind: workload.KindPlacement, ID: id})
		insts, _ := v.Lookup(workload.KindInstance, "workload", id)
		for _, ir := range insts {
			ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: workload.KindInstance, ID: ir.ID})
		}
	}
	if _, _, err := d.node.Apply(ctx, fsm.Command{Ops: ops, Time: d.now().UTC()}); err != nil {
		return fmt.Errorf("remove deployment %s from zone %s: %w", zd.URI, d.node.Zone(), err)
	}
	d.log.Info("removed "+zd.URI+" from zone "+d.node.Zone()+": it was undeployed", "generation", zd.Generation)
	return nil
}

// report tells the controller dep's state in this zone; a stale report is
// dropped (the next read shows what replaced the deployment).
func (d *Deployer) report(ctx context.Context, dep Deployment, state, reason string) error {
	err := d.ctl.Report(ctx, dep.URI, ZoneReport{Zone: d.node.Zone(), Generation: dep.Generation, State: state, Reason: TruncateReason(reason), Node: d.node.ID()})
	if errors.Is(err, ErrStaleReport) {
		return nil
	}
	return err
}
