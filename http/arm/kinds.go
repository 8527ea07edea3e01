package arm

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"cairn/fsm"
)

// Store kinds of the API; ids are the decimal numeric ids.
const (
	// KindCounter holds the next number of an id space ("target",
	// "application"); ids are never reused.
	KindCounter = "arm.counter"
	// KindServer is a registered server; its muleLabel (the node's id) is
	// unique.
	KindServer = "arm.server"
	// KindGroup is a server group.
	KindGroup = "arm.group"
	// KindCluster is a cluster.
	KindCluster = "arm.cluster"
	// KindApplication is an application; unique by name on its target.
	KindApplication = "arm.application"
	// KindCA is the CA that signs registered servers' certificates; id
	// caID. Its own, not the Topology API's: that one's key may be locked
	// with a domain passphrase no registration carries.
	KindCA = "arm.ca"
)

const caID = "domain"

const owner = "Runtime Manager (/hybrid/api/v1)"

// Kinds declares the API's kinds, for the composition root's fsm.Schema.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{
		{Kind: KindCounter, Owner: owner},
		{Kind: KindServer, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("label", "muleLabel", true)}},
		{Kind: KindGroup, Owner: owner},
		{Kind: KindCluster, Owner: owner},
		{Kind: KindApplication, Owner: owner, Indexes: []fsm.Index{
			fsm.FieldIndex("target", "targetId", false),
			fsm.FieldIndex("name", "nameOnTarget", true),
			fsm.ListIndex("server", "servers"),
		}},
		{Kind: KindCA, Owner: owner, Secret: true},
	}
}

// counter is the stored body of KindCounter.
type counter struct {
	Next int64 `json:"next"`
}

// server is the stored body of a server.
type server struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	MuleLabel      string `json:"muleLabel"`
	MuleVersion    string `json:"muleVersion"`
	GatewayVersion string `json:"gatewayVersion,omitempty"`
	Certificate    string `json:"certificate"`
	// Seen says the node was alive at a write that touched the server:
	// a server not alive now is DISCONNECTED if seen, else CREATED.
	Seen      bool   `json:"seen,omitempty"`
	GroupID   int64  `json:"serverGroupId,omitempty"`
	ClusterID int64  `json:"clusterId,omitempty"`
	ClusterIP string `json:"clusterIp,omitempty"`
}

// group is the stored body of a server group.
type group struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	ServerIDs []int64 `json:"serverIds"`
}

// clusterMember is one server of a cluster.
type clusterMember struct {
	ServerID int64  `json:"serverId"`
	ServerIP string `json:"serverIp,omitempty"`
}

// clusterBody is the stored body of a cluster.
type clusterBody struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Multicast bool            `json:"multicastEnabled"`
	Servers   []clusterMember `json:"servers"`
}

func (c *clusterBody) serverIDs() []int64 {
	ids := make([]int64, len(c.Servers))
	for i, m := range c.Servers {
		ids[i] = m.ServerID
	}
	return ids
}

// application is the stored body of an application.
type application struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	TargetID int64  `json:"targetId"`
	// NameOnTarget is "<targetId>/<name>", unique.
	NameOnTarget string `json:"nameOnTarget"`
	FileName     string `json:"fileName"`
	SHA1         string `json:"sha1"`
	Size         int64  `json:"size"`
	// FileUpdated is when the file was last uploaded.
	FileUpdated time.Time `json:"fileUpdated"`
	// Desired is STARTED or STOPPED.
	Desired       string          `json:"desiredStatus"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
	// Deployment counts deployments (a redeploy of the same file is
	// one): it is in the instances' environment, so each restarts them.
	Deployment int `json:"deployment"`
	// Servers are the servers the application has a workload on.
	Servers []int64 `json:"servers"`
}

func nameOnTarget(targetID int64, name string) string {
	return strconv.FormatInt(targetID, 10) + "/" + name
}

// get reads kind/id of v into a T; nil when absent.
func get[T any](v *fsm.View, kind string, id int64) (*T, *fsm.Resource, error) {
	r := v.Get(kind, key(id))
	if r == nil {
		return nil, nil, nil
	}
	var t T
	if err := json.Unmarshal(r.Body, &t); err != nil {
		return nil, nil, fmt.Errorf("stored %s %d: %w", kind, id, err)
	}
	return &t, r, nil
}

// existing is get for a resource the request names: its absence is a 404
// saying "<what> <id> does not exist".
func existing[T any](v *fsm.View, kind string, id int64, what string) (*T, *fsm.Resource, error) {
	t, r, err := get[T](v, kind, id)
	if err == nil && t == nil {
		err = notFound("%s %d does not exist", what, id)
	}
	return t, r, err
}

// item is a decoded resource with its stored metadata.
type item[T any] struct {
	body *T
	res  *fsm.Resource
}

// all decodes every resource of kind in numeric id order.
func all[T any](v *fsm.View, kind string) ([]item[T], error) {
	var out []item[T]
	var err error
	v.ForEach(kind, func(r *fsm.Resource) {
		var t T
		if e := json.Unmarshal(r.Body, &t); e != nil && err == nil {
			err = fmt.Errorf("stored %s %s: %w", kind, r.ID, e)
		}
		out = append(out, item[T]{&t, r})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.ParseInt(out[i].res.ID, 10, 64)
		b, _ := strconv.ParseInt(out[j].res.ID, 10, 64)
		return a < b
	})
	return out, nil
}

// putOp rewrites kind/id with body, at the version read (res), or
// creates it (res nil).
func putOp(kind string, id int64, body any, res *fsm.Resource) fsm.Op {
	op := fsm.Op{Type: fsm.OpPut, Kind: kind, ID: key(id), Body: mustJSON(body), Require: fsm.RequireAbsent}
	if res != nil {
		op.Require, op.Version = fsm.RequireVersion, res.Version
	}
	return op
}

// deleteOp deletes kind/id at the version read.
func deleteOp(kind string, res *fsm.Resource) fsm.Op {
	return fsm.Op{Type: fsm.OpDelete, Kind: kind, ID: res.ID, Require: fsm.RequireVersion, Version: res.Version}
}
