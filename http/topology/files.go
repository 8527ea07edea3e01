package topology

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"cairn/cluster"
	"cairn/fsm"
	"cairn/node/pki"
	nodetopo "cairn/node/topology"
)

// nodePrefix is the path of the node-to-node calls that write and remove
// an instance's files on the node its host names. NodeLocal serves it
// ahead of leader forwarding: it is about this node's disk, not the
// zone's state.
const nodePrefix = Prefix + "/_node/instances"

// nodeInstance is the body of a POST to nodePrefix.
type nodeInstance struct {
	Instance nodetopo.Instance `json:"instance"`
	// CAIndex is the Raft index at which the domain CA was in the store:
	// the node waits until it has applied it before reading it.
	CAIndex uint64 `json:"caIndex"`
}

// NodeLocal serves the node-to-node instance file calls on this node and
// passes every other request to next. Mount it ahead of forwarding to the
// zone leader (these are POSTs and DELETEs for this node alone).
func NodeLocal(d Deps, next http.Handler) http.Handler {
	a := newAPI(d)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nodePrefix && !strings.HasPrefix(r.URL.Path, nodePrefix+"/") {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == nodePrefix:
			var in nodeInstance
			if err := readJSON(r, "instance", &in); err != nil {
				fail(w, err)
				return
			}
			if !nodetopo.ValidID(in.Instance.GroupID) || !nodetopo.ValidID(in.Instance.ID) {
				fail(w, badRequest("Invalid instance: group %q and instance %q must be ids the API assigns", in.Instance.GroupID, in.Instance.ID))
				return
			}
			if err := a.createLocal(r.Context(), in); err != nil {
				fail(w, err)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodDelete:
			parts := strings.Split(strings.TrimPrefix(r.URL.Path, nodePrefix+"/"), "/")
			if len(parts) != 2 || !nodetopo.ValidID(parts[0]) || !nodetopo.ValidID(parts[1]) {
				fail(w, notFound("no instance at %s", r.URL.Path))
				return
			}
			if err := a.Files.Remove(parts[0], parts[1]); err != nil {
				fail(w, newError(errPropagation, "removing instance %s of group %s on node %s: %v", parts[1], parts[0], a.Node.ID(), err))
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "POST, DELETE")
			MethodNotAllowed(w, r)
		}
	})
}

// createLocal writes in's files on this node, with the domain CA as this
// node's store holds it once it has applied in.CAIndex.
func (a *api) createLocal(ctx context.Context, in nodeInstance) error {
	if a.Files == nil {
		return newError(errPropagation, "node %s writes no instance files", a.Node.ID())
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Node.WaitIndex(wctx, in.CAIndex); err != nil {
		return newError(errPropagation, "node %s has not caught up with the domain CA (index %d): %v", a.Node.ID(), in.CAIndex, err)
	}
	ca, err := pki.Stored(a.Node.View(), KindCA, caID)
	if err != nil {
		return newError(errPropagation, "node %s: %v", a.Node.ID(), err)
	}
	if err := a.Files.Create(ca, in.Instance, a.now()); err != nil {
		return newError(errPropagation, "writing the files of instance %s on node %s: %v", in.Instance.ID, a.Node.ID(), err)
	}
	return nil
}

// ensureCA returns the index at which the store holds the domain CA,
// making it first if there is none (its key encrypted with
// domainPassphrase when one is given), and checks that domainPassphrase
// unlocks it.
func (a *api) ensureCA(ctx context.Context, domainPassphrase string) (uint64, error) {
	index, err := pki.Ensure(ctx, a.Node, KindCA, caID, domainPassphrase, a.now())
	switch {
	case errors.Is(err, pki.ErrPassphrase):
		return 0, badRequest("Invalid data: %v", err)
	case errors.Is(err, fsm.ErrConflict):
		return 0, newError(errUnavailable, "could not make the domain CA; retry")
	}
	return index, err
}

// writeInstance writes gateway s's files, signed by the domain CA the
// store holds at caIndex, on the node named hostName: this
// node itself, or another member through its NodeLocal endpoint. Any
// failure is errPropagation (500): the topology is not changed.
func (a *api) writeInstance(ctx context.Context, hostName string, s service, p createParams, caIndex uint64) error {
	in := nodeInstance{CAIndex: caIndex, Instance: nodetopo.Instance{
		GroupID: s.GroupID, ID: s.ID, Name: s.Name, ServicesPort: s.ServicesPort,
		SignAlg: p.signAlg, KeyPassphrase: p.keyPassphrase, DomainPassphrase: p.domainPassphrase}}
	if hostName == a.Node.ID() {
		return a.createLocal(ctx, in)
	}
	base, err := a.nodeURL(hostName)
	if err != nil {
		return err
	}
	return a.call(ctx, http.MethodPost, base+nodePrefix, mustJSON(in), http.StatusCreated)
}

// dropInstance removes gateway s's files from the node named hostName.
func (a *api) dropInstance(ctx context.Context, s service, hostName string) error {
	if hostName == a.Node.ID() {
		if a.Files == nil {
			return nil
		}
		return a.Files.Remove(s.GroupID, s.ID)
	}
	base, err := a.nodeURL(hostName)
	if err != nil {
		return err
	}
	return a.call(ctx, http.MethodDelete, base+nodePrefix+"/"+s.GroupID+"/"+s.ID, nil, http.StatusNoContent)
}

// nodeURL is the HTTP base URL of the live member whose id is hostName.
func (a *api) nodeURL(hostName string) (string, error) {
	if a.Membership != nil {
		for _, m := range a.Membership.Members() {
			if m.ID == hostName && m.HTTP != "" {
				if m.Status != cluster.StatusAlive {
					return "", newError(errPropagation, "host %s is Cairn node %s, which is %s: the instance's files cannot be written there", hostName, m.ID, m.Status)
				}
				return strings.TrimSuffix(m.HTTP, "/"), nil
			}
		}
	}
	return "", newError(errPropagation, "host %s is not a Cairn node of this domain (a host's name is its node's id): the instance's files cannot be written there", hostName)
}

// call sends one node-to-node request and wants status back.
func (a *api) call(ctx context.Context, method, url string, body []byte, want int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return newError(errPropagation, "%s %s: %v", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return newError(errPropagation, "%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == want {
		return nil
	}
	var e struct {
		Errors []errorItem `json:"errors"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
		msg = e.Errors[0].Message
	}
	return newError(errPropagation, "%s: %s", resp.Status, msg)
}
