// Package workload is the node side of Cairn's workloads: the workload
// resource and its validation, the resources the scheduler and the
// supervisors write (placements and instance states), and the supervisor
// that runs the instances assigned to this node as local processes, each
// in its own process group, with their logs.
//
// Instances are processes, not containers, unless the workload names an
// image: a driver (Driver) runs each instance, the process driver by
// default, a container driver through the docker or podman CLI where one
// works. A process's memory_limit is a cgroup limit (v2, else v1) where
// the node can make cgroups, else RLIMIT_AS (cgroup.go).
package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"cairn/fsm"
)

// Kinds of the store written by workloads. None is written through the
// generic resource API: the workload API validates every body.
const (
	// KindWorkload is a workload: its id and its Spec.
	KindWorkload = "cairn.workload"
	// KindPlacement is the zone leader's assignment of one workload's
	// instances to nodes (id: the workload's id).
	KindPlacement = "cairn.workload.placement"
	// KindInstance is an instance's state as the node running it reported
	// it (id: InstanceID).
	KindInstance = "cairn.workload.instance"
)

// ErrInvalid means a workload or a report is malformed; its message says
// what to change.
var ErrInvalid = errors.New("invalid workload")

// Kinds returns the schema declarations of the workload kinds.
func Kinds() []fsm.KindSchema {
	// Owned by the workloads API: the generic resource API refuses to
	// write them (403), so no unvalidated record reaches the scheduler or
	// a supervisor.
	const owner = "workloads (/cairn/v1/workloads, /cairn/v1/artifacts)"
	return []fsm.KindSchema{
		{Kind: KindWorkload, Owner: owner},
		{Kind: KindPlacement, Owner: owner, Indexes: []fsm.Index{fsm.ListIndex("node", "nodes")}},
		{Kind: KindInstance, Owner: owner, Indexes: []fsm.Index{fsm.FieldIndex("workload", "workload", false)}},
		{Kind: KindArtifact, Owner: owner},
		{Kind: KindChunk, Owner: owner},
		{Kind: KindArtifactRef, Owner: owner},
	}
}

// Desired states of a workload.
const (
	StateStarted = "started"
	StateStopped = "stopped"
)

// Restart modes, as Nomad's and systemd's restart policies name them.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Limits of a workload's fields.
const (
	MaxInstances   = 1000
	maxArgs        = 256
	maxArgBytes    = 64 << 10
	maxEnv         = 256
	maxNodes       = 256
	maxStopTimeout = 10 * time.Minute
	maxAttempts    = 1000
	maxInterval    = 24 * time.Hour
	maxDelay       = time.Hour
	maxPorts       = 16
	maxLinks       = 32
)

// Spec is a workload: what to run, how many, where, and how to restart it.
type Spec struct {
	// Command is the program and its arguments, run as is (no shell). With
	// an artifact it is optional: the runtime's start command runs.
	Command []string `json:"command,omitempty"`
	// Artifact is the SHA-1 of an uploaded artifact, staged on each node
	// before its instances start there.
	Artifact string `json:"artifact,omitempty"`
	// Image is a container image: the instances run as containers, on
	// nodes with a working container engine (docker or podman), with
	// Command, if given, as the container's command.
	Image string `json:"image,omitempty"`
	// Runtime names the staging runtime; empty: detected from the
	// artifact's files.
	Runtime string `json:"runtime,omitempty"`
	// Env adds to the instance's environment.
	Env map[string]string `json:"env,omitempty"`
	// Instances is how many instances run in the zone.
	Instances int `json:"instances"`
	// State is started or stopped.
	State       string    `json:"state"`
	Restart     Restart   `json:"restart"`
	Placement   Placement `json:"placement"`
	StopTimeout Duration  `json:"stop_timeout"`
	// Ports names the ports each instance gets from the zone's port range:
	// the first is $PORT, each is also $PORT_<NAME>.
	Ports []string `json:"ports,omitempty"`
	// Links give the instances the address of a running instance of
	// another workload.
	Links []Link `json:"links,omitempty"`
	// MemoryLimit bounds each instance's memory: "512M", "2G", or bytes.
	// A process gets a cgroup of its own with the limit where the node
	// can make one (cgroup v2, else v1), else an address-space limit
	// (RLIMIT_AS); see the README and cgroup.go.
	MemoryLimit string `json:"memory_limit,omitempty"`
}

// MemoryBytes returns the memory limit in bytes (0: none).
func (s Spec) MemoryBytes() int64 {
	n, _ := parseSize(s.MemoryLimit)
	return n
}

// parseSize reads "<n>[K|M|G|T]" (powers of 1024; a trailing "i" or "B"
// is allowed: "512MiB").
func parseSize(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(v), "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size such as 512M or 2G", v)
	}
	return n * mult, nil
}

// Link is a dependency on another workload's port: the instances get Env
// set to "<host>:<port>" of a running instance of Workload (the one of
// the lowest index), and are restarted when that address changes. Env is
// empty while no instance of the target runs.
type Link struct {
	Workload string `json:"workload"`
	// Port is the target's port name (default: its first).
	Port string `json:"port,omitempty"`
	// Env is the variable's name (default: <WORKLOAD>_ADDR, upper-cased,
	// '-' as '_').
	Env string `json:"env,omitempty"`
}

// Restart is a restart policy: restart per Mode, at most Attempts times
// within Interval (more marks the instance failed, with the reason), after
// Delay doubling up to MaxDelay.
type Restart struct {
	Mode     string   `json:"mode"`
	Attempts int      `json:"attempts"`
	Interval Duration `json:"interval"`
	Delay    Duration `json:"delay"`
	MaxDelay Duration `json:"max_delay"`
}

// Placement restricts where instances run: Nodes empty spreads them over
// the zone's live members.
type Placement struct {
	Nodes []string `json:"nodes,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("5s", "250ms").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"5s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string such as \"5s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults of a workload's optional fields.
const (
	DefaultStopTimeout = 5 * time.Second
	DefaultAttempts    = 5
	DefaultInterval    = time.Minute
	DefaultDelay       = time.Second
	DefaultMaxDelay    = 30 * time.Second
)

// notBuilt names the fields issue #17 asks for that are not built yet: a
// workload using one is refused rather than run without it.
var notBuilt = map[string]string{
	"memory": "the field is memory_limit",
}

// ValidID checks a workload id: a lower-case letter or digit, then up to 62
// lower-case letters, digits, '-' or '_'. Ids name files and directories
// under the data dir and instance ids ("<id>.<index>"), hence the narrow
// alphabet.
func ValidID(id string) error {
	if id == "" || len(id) > 63 {
		return fmt.Errorf("%w: workload id must be 1 to 63 characters", ErrInvalid)
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_')
		if !ok {
			return fmt.Errorf("%w: workload id %q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", ErrInvalid, id)
		}
	}
	return nil
}

// ParseSpec reads, validates and normalises a workload body: defaults
// filled in, so that every replica and every supervisor sees the same
// values. The error wraps ErrInvalid and says what to change.
func ParseSpec(body []byte) (Spec, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return Spec{}, fmt.Errorf("%w: the body must be a JSON object", ErrInvalid)
	}
	names := make([]string, 0, len(probe))
	for k := range probe {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if why, ok := notBuilt[k]; ok {
			return Spec{}, fmt.Errorf("%w: field %q: %s", ErrInvalid, k, why)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := s.normalise(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

func (s *Spec) normalise() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	if s.Artifact != "" {
		if err := ValidSHA1(s.Artifact); err != nil {
			return bad("artifact: %q is not a SHA-1 in lower-case hex (40 digits)", s.Artifact)
		}
	}
	if s.Runtime != "" {
		if s.Artifact == "" {
			return bad("runtime %q needs an artifact to stage", s.Runtime)
		}
		if _, ok := runtimeByName(s.Runtime); !ok {
			return bad("runtime %q is not one of %s", s.Runtime, strings.Join(RuntimeNames(), ", "))
		}
	}
	if s.Image != "" {
		if s.Artifact != "" {
			return bad("image and artifact: give one (an image runs as a container, an artifact is staged and run as a process)")
		}
		if len(s.Image) > 255 || strings.HasPrefix(s.Image, "-") || strings.ContainsAny(s.Image, " \t\n\x00") {
			return bad("image %q is not an image reference (e.g. \"docker.io/library/nginx:1.27\")", s.Image)
		}
	}
	if s.Artifact == "" && s.Image == "" && (len(s.Command) == 0 || s.Command[0] == "") {
		return bad("command is required without an artifact or an image: the program and its arguments, e.g. [\"bash\", \"-c\", \"echo hi\"]")
	}
	if len(s.Command) > 0 && s.Command[0] == "" {
		return bad("command[0] is empty")
	}
	if len(s.Command) > maxArgs {
		return bad("command has %d arguments; at most %d", len(s.Command), maxArgs)
	}
	size := 0
	for i, a := range s.Command {
		if strings.IndexByte(a, 0) >= 0 {
			return bad("command[%d] contains a NUL byte", i)
		}
		size += len(a)
	}
	if size > maxArgBytes {
		return bad("command is %d bytes; at most %d", size, maxArgBytes)
	}
	if len(s.Env) > maxEnv {
		return bad("env has %d variables; at most %d", len(s.Env), maxEnv)
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return bad("env variable %q: names are non-empty without '=' or NUL, values without NUL", k)
		}
		if strings.HasPrefix(k, "CAIRN_") {
			return bad("env variable %q: the CAIRN_ prefix is reserved for what the supervisor sets", k)
		}
		size += len(k) + len(v)
	}
	if size > maxArgBytes {
		return bad("command and env are %d bytes; at most %d", size, maxArgBytes)
	}
	if s.Instances < 0 || s.Instances > MaxInstances {
		return bad("instances must be 0 to %d, got %d", MaxInstances, s.Instances)
	}
	switch s.State {
	case "":
		s.State = StateStarted
	case StateStarted, StateStopped:
	default:
		return bad("state must be %q or %q, got %q", StateStarted, StateStopped, s.State)
	}
	r := &s.Restart
	switch r.Mode {
	case "":
		r.Mode = RestartOnFailure
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		return bad("restart.mode must be %q, %q or %q, got %q", RestartAlways, RestartOnFailure, RestartNever, r.Mode)
	}
	if r.Attempts < 0 || r.Attempts > maxAttempts {
		return bad("restart.attempts must be 0 to %d, got %d", maxAttempts, r.Attempts)
	}
	if r.Attempts == 0 {
		r.Attempts = DefaultAttempts
	}
	if err := durationIn("restart.interval", &r.Interval, DefaultInterval, time.Millisecond, maxInterval); err != nil {
		return err
	}
	if err := durationIn("restart.delay", &r.Delay, DefaultDelay, time.Millisecond, maxDelay); err != nil {
		return err
	}
	if err := durationIn("restart.max_delay", &r.MaxDelay, DefaultMaxDelay, time.Millisecond, maxDelay); err != nil {
		return err
	}
	if r.MaxDelay < r.Delay {
		return bad("restart.max_delay %s is below restart.delay %s", r.MaxDelay.D(), r.Delay.D())
	}
	if err := durationIn("stop_timeout", &s.StopTimeout, DefaultStopTimeout, time.Millisecond, maxStopTimeout); err != nil {
		return err
	}
	if len(s.Ports) > maxPorts {
		return bad("ports names %d ports; at most %d", len(s.Ports), maxPorts)
	}
	seenPort := map[string]bool{}
	for _, p := range s.Ports {
		if !validName(p) {
			return bad("ports: %q is not a port name (a lower-case letter, then up to 31 lower-case letters, digits or '_')", p)
		}
		if seenPort[p] {
			return bad("ports: %q is named twice", p)
		}
		seenPort[p] = true
	}
	if len(s.Links) > maxLinks {
		return bad("links has %d links; at most %d", len(s.Links), maxLinks)
	}
	seenEnv := map[string]bool{}
	for i := range s.Links {
		l := &s.Links[i]
		if err := ValidID(l.Workload); err != nil {
			return bad("links[%d].workload: %q is not a workload id", i, l.Workload)
		}
		if l.Port != "" && !validName(l.Port) {
			return bad("links[%d].port: %q is not a port name", i, l.Port)
		}
		if l.Env == "" {
			l.Env = strings.ToUpper(strings.ReplaceAll(l.Workload, "-", "_")) + "_ADDR"
		}
		if !validEnvName(l.Env) || strings.HasPrefix(l.Env, "CAIRN_") || l.Env == "PORT" || strings.HasPrefix(l.Env, "PORT_") {
			return bad("links[%d].env: %q is not a variable name of letters, digits and '_' (CAIRN_ and PORT names are reserved)", i, l.Env)
		}
		if seenEnv[l.Env] || s.Env[l.Env] != "" {
			return bad("links[%d].env: %q is set twice", i, l.Env)
		}
		seenEnv[l.Env] = true
	}
	if n, err := parseSize(s.MemoryLimit); err != nil {
		return bad("memory_limit: %v", err)
	} else if s.MemoryLimit != "" && n < 1<<20 {
		return bad("memory_limit %s is under 1M", s.MemoryLimit)
	}
	if len(s.Placement.Nodes) > maxNodes {
		return bad("placement.nodes names %d nodes; at most %d", len(s.Placement.Nodes), maxNodes)
	}
	seen := map[string]bool{}
	nodes := s.Placement.Nodes[:0]
	for _, n := range s.Placement.Nodes {
		if n == "" || len(n) > 128 || strings.ContainsAny(n, "\x00\n") {
			return bad("placement.nodes: %q is not a node id", n)
		}
		if !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	if len(nodes) == 0 {
		nodes = nil
	}
	s.Placement.Nodes = nodes
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '_')) {
			return false
		}
	}
	return true
}

func validEnvName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// durationIn fills a zero duration with def and checks it lies in [lo, hi].
func durationIn(name string, d *Duration, def, lo, hi time.Duration) error {
	if *d == 0 {
		*d = Duration(def)
	}
	if d.D() < lo || d.D() > hi {
		return fmt.Errorf("%w: %s must be from %s to %s, got %s", ErrInvalid, name, lo, hi, d.D())
	}
	return nil
}

// Placed is one instance's assignment.
type Placed struct {
	Index int `json:"index"`
	// Node is the node it runs on; "" while no eligible node is live.
	Node string `json:"node"`
	// Host is the node's host, as its HTTP address names it: where links
	// reach the instance.
	Host string `json:"host,omitempty"`
	// Ports are the instance's ports on its node, one per Spec.Ports name.
	Ports []int `json:"ports,omitempty"`
}

// Same reports whether two assignments are equal.
func (p Placed) Same(o Placed) bool {
	if p.Index != o.Index || p.Node != o.Node || p.Host != o.Host || len(p.Ports) != len(o.Ports) {
		return false
	}
	for i := range p.Ports {
		if p.Ports[i] != o.Ports[i] {
			return false
		}
	}
	return true
}

// PlacementBody is the body of a KindPlacement resource: Instances by
// index, and Nodes, every node named, for the supervisors' index look-up.
type PlacementBody struct {
	Workload  string   `json:"workload"`
	Instances []Placed `json:"instances"`
	Nodes     []string `json:"nodes"`
}

// NodeOf returns the node assigned instance index, or "".
func (p PlacementBody) NodeOf(index int) string {
	for _, pl := range p.Instances {
		if pl.Index == index {
			return pl.Node
		}
	}
	return ""
}

// NewPlacement builds a placement body from an index-to-node list.
func NewPlacement(workload string, nodes []string) PlacementBody {
	placed := make([]Placed, len(nodes))
	for i, n := range nodes {
		placed[i] = Placed{Index: i, Node: n}
	}
	return PlacementOf(workload, placed)
}

// PlacementOf builds a placement body from its instances (by index).
func PlacementOf(workload string, placed []Placed) PlacementBody {
	p := PlacementBody{Workload: workload, Instances: placed, Nodes: []string{}}
	seen := map[string]bool{}
	for _, pl := range placed {
		if pl.Node != "" && !seen[pl.Node] {
			seen[pl.Node] = true
			p.Nodes = append(p.Nodes, pl.Node)
		}
	}
	sort.Strings(p.Nodes)
	return p
}

// Placed returns instance index's assignment.
func (p PlacementBody) Placed(index int) (Placed, bool) {
	for _, pl := range p.Instances {
		if pl.Index == index {
			return pl, true
		}
	}
	return Placed{}, false
}

// Instance states, Apcera's instance manager's (reference dialects.md,
// section D), as far as Cairn has them: an instance that crashed past its
// restart policy stays CRASHED with Failed set and a Reason.
const (
	InstanceNew      = "NEW"
	InstanceSetup    = "SETUP"
	InstanceStarting = "STARTING"
	InstanceRunning  = "RUNNING"
	InstanceStopping = "STOPPING"
	InstanceCrashed  = "CRASHED"
	InstanceRemoved  = "REMOVED"
)

var instanceStates = map[string]bool{InstanceNew: true, InstanceSetup: true, InstanceStarting: true,
	InstanceRunning: true, InstanceStopping: true, InstanceCrashed: true, InstanceRemoved: true}

// Status is an instance's state as its node reports it (the body of a
// KindInstance resource).
type Status struct {
	Workload string `json:"workload"`
	Index    int    `json:"index"`
	Node     string `json:"node"`
	State    string `json:"state"`
	// Exited says the process has ended; ExitCode is its code (-1 when a
	// signal ended it).
	Exited   bool `json:"exited,omitempty"`
	ExitCode int  `json:"exit_code"`
	// Failed says the instance will not be restarted; Reason says why.
	// (One whose port another program holds is failed until the port is
	// free, then starts.)
	Failed   bool   `json:"failed,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Restarts int    `json:"restarts"`
	PID      int    `json:"pid,omitempty"`
}

// Same reports whether two statuses say the same thing (what the
// supervisor compares before reporting again).
func (s Status) Same(o Status) bool { return s == o }

// ParseStatus reads and validates an instance report.
func ParseStatus(body []byte) (Status, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var s Status
	if err := dec.Decode(&s); err != nil {
		return Status{}, fmt.Errorf("%w: instance status: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	switch {
	case !instanceStates[s.State]:
		return Status{}, fmt.Errorf("%w: instance state %q is not one of NEW, SETUP, STARTING, RUNNING, STOPPING, CRASHED, REMOVED", ErrInvalid, s.State)
	case s.Node == "":
		return Status{}, fmt.Errorf("%w: instance status names no node", ErrInvalid)
	case s.Restarts < 0 || s.PID < 0 || len(s.Reason) > 4096:
		return Status{}, fmt.Errorf("%w: instance status: negative restarts or pid, or a reason over 4096 bytes", ErrInvalid)
	}
	return s, nil
}

// InstanceID is the id of instance index of workload.
func InstanceID(workload string, index int) string { return workload + "." + strconv.Itoa(index) }

// ParseInstanceID splits an instance id.
func ParseInstanceID(id string) (workload string, index int, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 || ValidID(id[:i]) != nil {
		return "", 0, false
	}
	return id[:i], n, true
}
