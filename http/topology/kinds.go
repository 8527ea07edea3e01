package topology

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"cairn/fsm"
)

// Store kinds of the Topology API. Every topology write is one command
// that also rewrites KindMeta, so the topology's version (KindMeta's Raft
// index) moves on every change.
const (
	// KindMeta is the topology's identity; one resource, id metaID.
	KindMeta = "topology.meta"
	// KindCounter holds the next number of one id prefix (id "host",
	// "group", "instance", "nodemanager"); ids are never reused.
	KindCounter = "topology.counter"
	// KindHost is a host; id host-N. Its body lists its services, so a
	// write that depends on them (delete, add) is preconditioned on its
	// version.
	KindHost = "topology.host"
	// KindGroup is a group; id group-N, and it lists its services too.
	KindGroup = "topology.group"
	// KindService is a service (API Gateway instance or Node Manager); id
	// instance-N or nodemanager-N.
	KindService = "topology.service"
	// KindPort claims one management port on one host; id
	// "<hostID>:<port>", body the service holding it. A put that
	// requires it absent is how two services never share one.
	KindPort = "topology.port"
	// KindCA is the domain's certificate authority; id caID.
	KindCA = "topology.ca"
)

const (
	metaID = "topology"
	caID   = "domain"
)

// owner is this API's name as the owner of its kinds.
const owner = "topology"

// Kinds declares the Topology API's kinds, for the composition root's
// fsm.Schema. Names are unique per kind (a unique index), so two creates
// of one name cannot both apply.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{
		{Kind: KindMeta, Owner: owner},
		{Kind: KindCounter, Owner: owner},
		{Kind: KindHost, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("name", "name", true)}},
		{Kind: KindGroup, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("name", "name", true)}},
		{Kind: KindService, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("name", "name", true)}},
		{Kind: KindPort, Owner: owner},
		{Kind: KindCA, Owner: owner, Secret: true},
	}
}

// Service types.
const (
	TypeGateway     = "gateway"
	TypeNodeManager = "nodemanager"
)

// meta is the stored body of KindMeta.
type meta struct {
	ID string `json:"id"`
}

// counter is the stored body of KindCounter.
type counter struct {
	Next uint64 `json:"next"`
}

// Host is a host as the API shows it.
type Host struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// host is the stored body of a host.
type host struct {
	Host
	Services []string `json:"services"`
}

// Group is a group as the API shows it.
type Group struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Tags     map[string]string `json:"tags"`
	Services []Service         `json:"services"`
}

// group is the stored body of a group.
type group struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Tags     map[string]string `json:"tags"`
	Services []string          `json:"services"`
}

// Service is a service as the API shows it (com.vordel.api.topology.model.Service).
type Service struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	Scheme         string            `json:"scheme"`
	HostID         string            `json:"hostID"`
	ManagementPort int               `json:"managementPort"`
	Tags           map[string]string `json:"tags"`
	Enabled        bool              `json:"enabled"`
}

// service is the stored body of a service: what the API shows, and the
// group and services port it was created with.
type service struct {
	Service
	GroupID      string `json:"groupID"`
	ServicesPort int    `json:"servicesPort,omitempty"`
}

// portClaim is the stored body of KindPort.
type portClaim struct {
	ServiceID string `json:"serviceID"`
}

// portID is the KindPort id of port on hostID.
func portID(hostID string, port int) string { return hostID + ":" + strconv.Itoa(port) }

// decode reads a stored body this package wrote.
func decode(r *fsm.Resource, v any) error { return json.Unmarshal(r.Body, v) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only this package's plain structs are marshalled
	}
	return b
}

// idNumber is N of an id "prefix-N" (0 when it has none), for ordering
// host-2 before host-10.
func idNumber(id string) uint64 {
	i := strings.LastIndexByte(id, '-')
	n, _ := strconv.ParseUint(id[i+1:], 10, 64)
	return n
}

// sortIDs sorts ids by prefix, then number.
func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		pi, pj := ids[i][:max(strings.LastIndexByte(ids[i], '-'), 0)], ids[j][:max(strings.LastIndexByte(ids[j], '-'), 0)]
		if pi != pj {
			return pi < pj
		}
		return idNumber(ids[i]) < idNumber(ids[j])
	})
}
