package mrf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"cairn/cluster/deploy"
	"cairn/fsm"
)

// DefaultDeployTimeout bounds how long a deploy or undeploy waits for its
// target zones to report, unless ?async. Fabric3's CLI reads an answer for
// 20 s; a zone leader applies a small contribution in well under a second,
// so the bound only matters when a zone has no leader.
const DefaultDeployTimeout = 30 * time.Second

// errPending means a deployment or undeployment was recorded but not every
// target zone has reported it done within the deploy timeout; it goes on
// converging.
var errPending = errors.New("pending")

// zonesFailed is a deployment that one or more target zones failed: one
// message "<zone>: <reason>" per zone, as Fabric3's CLI prints them.
type zonesFailed struct{ messages []string }

func (e *zonesFailed) Error() string { return strings.Join(e.messages, "; ") }

func (e *zonesFailed) Unwrap() error { return errValidation }

// deployTimeout is the bound of a synchronous deploy or undeploy.
func (a *api) deployTimeout() time.Duration {
	if a.DeployTimeout > 0 {
		return a.DeployTimeout
	}
	return DefaultDeployTimeout
}

// awaitDeployed waits, on the controller's store (every zone's report is
// a write to it), until every target zone of the deployment of uri created
// at generation has reported it deployed. A zone that reports it failed
// makes it a *zonesFailed at once (with every zone failed so far), after
// the deployment is taken back (deleted, so the zones that did deploy it
// remove it again: a deploy is all or nothing). Zones still pending at the
// deploy timeout make it errPending.
func (a *api) awaitDeployed(ctx context.Context, uri string, generation uint64) error {
	ctx, cancel := context.WithTimeout(ctx, a.deployTimeout())
	defer cancel()
	for {
		v := a.Node.View()
		dr := v.Get(KindDeployment, key(uri))
		if dr == nil || dr.CreateIndex != generation {
			return fabric(errConflict, "Contribution %s was undeployed while it was being deployed", uri)
		}
		d, err := deploy.DeploymentOf(dr)
		if err != nil {
			return err
		}
		var pending, failed []string
		for _, z := range d.SortedZones() {
			switch st := d.Zones[z]; st.State {
			case deploy.StateFailed:
				failed = append(failed, z+": "+st.Reason)
			case deploy.StateDeployed:
			default:
				pending = append(pending, z)
			}
		}
		if len(failed) > 0 {
			// The deploy has failed whatever the zones still pending do:
			// answer now, and take it back from every zone. Taken back
			// even if the client has gone: a deploy is all or nothing.
			return a.takeBack(context.WithoutCancel(ctx), uri, dr, failed)
		}
		if len(pending) == 0 {
			return nil
		}
		if err := a.Node.WaitIndex(ctx, v.Index()+1); err != nil {
			if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fabric(errPending, "Deployment of %s is still pending in zone(s) %s after %s: it stays recorded and completes when they report (GET %s shows each zone's state)",
					d.URI, strings.Join(pending, ", "), a.deployTimeout(), a.Node.HTTPURL()+deploymentPath+seg(d.URI))
			}
			return err
		}
	}
}

// takeBack deletes the deployment of uri created at dr's generation (a
// zone failed it), retrying when a late report changed it meanwhile, and
// returns the failure to answer.
func (a *api) takeBack(ctx context.Context, uri string, dr *fsm.Resource, failed []string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for attempt := 1; ; attempt++ {
		cmd := fsm.Command{Time: a.now().UTC(), Ops: []fsm.Op{
			{Type: fsm.OpDelete, Kind: KindDeployment, ID: key(uri), Require: fsm.RequireVersion, Version: dr.Version},
		}}
		_, _, err := a.Node.Apply(ctx, cmd)
		if errors.Is(err, fsm.ErrConflict) && attempt < maxReportAttempts {
			cur := a.Node.View().Get(KindDeployment, key(uri))
			if cur == nil || cur.CreateIndex != dr.CreateIndex {
				break // undeployed (and maybe deployed again) meanwhile
			}
			dr = cur
			continue
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("the failed deployment could not be taken back (%v): undeploy it before deploying again", err))
		}
		break
	}
	return &zonesFailed{messages: failed}
}

// awaitRemoved waits until the leader of every zone d targeted has
// removed d (the generation undeployed) from its zone's store: for this
// node's zone, the local store; for another, the zone leader's, read with
// the native API's blocking reads (?index=N&wait=), so nothing polls.
// Zones still holding it at the deploy timeout make it errPending.
func (a *api) awaitRemoved(ctx context.Context, d deploy.Deployment) error {
	ctx, cancel := context.WithTimeout(ctx, a.deployTimeout())
	defer cancel()
	type result struct {
		zone string
		err  error
	}
	zones := d.SortedZones()
	done := make(chan result, len(zones))
	for _, z := range zones {
		go func() { done <- result{z, a.awaitZoneRemoved(ctx, z, d)} }()
	}
	var holding []string
	var last error
	for range zones {
		res := <-done
		if res.err != nil {
			holding = append(holding, res.zone)
			last = res.err
		}
	}
	if len(holding) == 0 {
		return nil
	}
	sort.Strings(holding)
	if ctx.Err() == nil {
		return last
	}
	return fabric(errPending, "Contribution %s is undeployed, but zone(s) %s have not removed it within %s: they remove it when they next reach the controller (GET /management/zone/deployments on a member of the zone shows it)",
		d.URI, strings.Join(holding, ", "), a.deployTimeout())
}

// awaitZoneRemoved returns once zone no longer holds generation d of the
// deployment, or ctx ends.
func (a *api) awaitZoneRemoved(ctx context.Context, zone string, d deploy.Deployment) error {
	holds := func(r *fsm.Resource) bool {
		var zd deploy.ZoneDeployment
		return r != nil && decode(r, &zd) == nil && zd.Generation == d.Generation
	}
	if zone == a.Node.Zone() {
		for {
			v := a.Node.View()
			if !holds(v.Get(KindZoneDeployment, key(d.URI))) {
				return nil
			}
			if err := a.Node.WaitIndex(ctx, v.Index()+1); err != nil {
				return err
			}
		}
	}
	var index uint64
	for ctx.Err() == nil {
		info := a.zoneInfos()[zone]
		if info == nil || info.leaderHTTP == "" {
			// No leader known: wait a moment for gossip to name one.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		u := info.leaderHTTP + "/cairn/v1/resources/" + KindZoneDeployment + "/" + url.PathEscape(key(d.URI)) +
			"?index=" + strconv.FormatUint(index, 10) + "&wait=5s"
		r, next, err := a.getResource(ctx, u)
		if err == nil && !holds(r) {
			return nil
		}
		if err != nil || next <= index {
			// The leader changed or did not answer: ask again shortly.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			index = 0
			continue
		}
		index = next
	}
	return ctx.Err()
}

// getResource GETs a native resource at u: nil for 404, and the store
// index the answer was served at.
func (a *api) getResource(ctx context.Context, u string) (*fsm.Resource, uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := a.peers.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	index, _ := strconv.ParseUint(resp.Header.Get("X-Cairn-Index"), 10, 64)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, index, nil
	case http.StatusOK:
		var r fsm.Resource
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return nil, 0, fmt.Errorf("GET %s: %w", u, err)
		}
		return &r, index, nil
	}
	return nil, 0, fmt.Errorf("GET %s: %d", u, resp.StatusCode)
}
