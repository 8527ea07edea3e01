package mrf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"cairn/cluster/deploy"
	"cairn/node/workload"
)

// runStatusWait bounds how long a read waits for another zone to say how
// its workloads run; a zone that has not answered by then is UNKNOWN.
const runStatusWait = 2 * time.Second

// runKey names a deployment in a zone.
type runKey struct{ uri, zone string }

// runStatuses returns how each runnable deployment of deps runs in each
// zone that reports it deployed, derived from its workload's instances as
// their nodes reported them (deploy.Summarise): from this node's store for
// its own zone, from the zone leader's (the workload API) for another,
// asked in parallel. A deployment that runs nothing has no entry.
func (a *api) runStatuses(ctx context.Context, deps []deploy.Deployment) map[runKey]deploy.RunStatus {
	out := map[runKey]deploy.RunStatus{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(ctx, runStatusWait)
	defer cancel()
	infos := a.zoneInfos()
	for _, d := range deps {
		if d.Run == nil {
			continue
		}
		for _, z := range d.DeployedZones() {
			k := runKey{d.URI, z}
			if z == a.Node.Zone() {
				out[k] = deploy.RunStatusIn(a.Node.View(), d.URI)
				continue
			}
			leader := ""
			if info := infos[z]; info != nil {
				leader = info.leaderHTTP
			}
			wg.Go(func() {
				st := remoteRunStatus(ctx, a.peers, leader, z, d.URI)
				mu.Lock()
				out[k] = st
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return out
}

// remoteRunStatus reads the run status of uri's workload from zone's
// leader at base.
func remoteRunStatus(ctx context.Context, client *http.Client, base, zone, uri string) deploy.RunStatus {
	id := deploy.WorkloadID(uri)
	unknown := func(why string) deploy.RunStatus {
		return deploy.RunStatus{State: deploy.RunUnknown, Workload: id, Reason: "zone " + zone + " did not say how it runs: " + why}
	}
	if base == "" {
		return unknown("it has no known leader")
	}
	u := base + "/cairn/v1/workloads/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return unknown(err.Error())
	}
	resp, err := client.Do(req)
	if err != nil {
		return unknown(err.Error())
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		// Only a Cairn node's 404 (its reads carry the store's index)
		// says the zone has no such workload.
		if resp.Header.Get("X-Cairn-Index") == "" {
			return unknown(fmt.Sprintf("GET %s: 404 from something that is no Cairn node", u))
		}
		return deploy.RunStatus{State: deploy.RunStopped, Workload: id, Reason: "no workload runs it in zone " + zone}
	default:
		return unknown(fmt.Sprintf("GET %s: %d", u, resp.StatusCode))
	}
	var body struct {
		Spec      workload.Spec     `json:"spec"`
		Instances []workload.Status `json:"instances"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil {
		return unknown(fmt.Sprintf("GET %s: %v", u, err))
	}
	return deploy.Summarise(id, body.Spec.Instances, body.Instances)
}
