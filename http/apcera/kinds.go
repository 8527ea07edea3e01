package apcera

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"cairn/fsm"
)

// Store kinds of the Apcera API. FQNs are unique per kind (a unique
// index), so two creates of one FQN cannot both apply.
const (
	// KindJob is a job; id its UUID, body the job object as the API
	// shows it.
	KindJob = "apcera.job"
	// KindPackage is a package; id its UUID.
	KindPackage = "apcera.package"
	// KindBinding is a binding (job → service, or job → job link); id
	// its UUID.
	KindBinding = "apcera.binding"
	// KindPolicy is a policy document; id its name.
	KindPolicy = "apcera.policy"
	// KindPipeline is a staging pipeline created through the API (the
	// built-in ones are not stored); id its UUID.
	KindPipeline = "apcera.pipeline"
)

const owner = "apcera"

// Kinds declares the Apcera API's kinds, for the composition root's
// fsm.Schema.
func Kinds() []fsm.KindSchema {
	fqn := fsm.FieldIndex("fqn", "fqn", true)
	return []fsm.KindSchema{
		{Kind: KindJob, Owner: owner, Indexes: []fsm.Index{fqn, tagIndex(), routeIndex()}},
		{Kind: KindPackage, Owner: owner, Indexes: []fsm.Index{fqn, tagIndex(), fsm.FieldIndex("resource", "resource.uuid", true)}},
		{Kind: KindBinding, Owner: owner, Indexes: []fsm.Index{fqn, fsm.FieldIndex("job", "job_fqn", false), fsm.FieldIndex("target", "target_job_uuid", false)}},
		{Kind: KindPolicy, Owner: owner},
		{Kind: KindPipeline, Owner: owner, Indexes: []fsm.Index{fqn}},
	}
}

// tagIndex indexes an object's tags map by key and by "key,value", the
// two forms ?tag= takes (?tag=linked-job,<uuid>).
func tagIndex() fsm.Index {
	return fsm.Index{Name: "tag", Values: func(body json.RawMessage) ([]string, error) {
		var probe struct {
			Tags map[string]any `json:"tags"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, nil
		}
		var out []string
		for k, v := range probe.Tags {
			out = append(out, k)
			if s, ok := v.(string); ok && s != "" {
				out = append(out, k+","+s)
			}
		}
		sort.Strings(out)
		return out, nil
	}}
}

// object is a stored or requested object: its JSON members.
type object map[string]any

func (o object) str(key string) string {
	s, _ := o[key].(string)
	return s
}

// int64Of reads a number member (0 when absent or not a number).
func (o object) int64Of(key string) int64 {
	switch n := o[key].(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, _ := n.Float64()
			return int64(f)
		}
		return i
	case float64:
		return int64(n)
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}

func (o object) obj(key string) object {
	m, _ := o[key].(map[string]any)
	return m
}

func (o object) list(key string) []any {
	l, _ := o[key].([]any)
	return l
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain values are marshalled
	}
	return b
}

// decodeObject reads a stored body.
func decodeObject(r *fsm.Resource) object {
	var o object
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.UseNumber()
	_ = dec.Decode(&o)
	if o == nil {
		o = object{}
	}
	return o
}

// FQN is a parsed fully qualified name, type::/namespace::name.
type FQN struct {
	Type, Namespace, Name string
}

func (f FQN) String() string { return f.Type + "::" + f.Namespace + "::" + f.Name }

// parseFQN reads s as an FQN of type typ ("job", "package", ...).
func parseFQN(s, typ string) (FQN, error) {
	parts := strings.SplitN(s, "::", 3)
	if len(parts) != 3 || parts[0] != typ || !strings.HasPrefix(parts[1], "/") || parts[2] == "" ||
		strings.ContainsAny(parts[2], "/\x00\n") || len(s) > 512 {
		return FQN{}, badRequest("%q is not a %s FQN such as %s::/sandbox/user::name", s, typ, typ)
	}
	return FQN{Type: typ, Namespace: parts[1], Name: parts[2]}, nil
}

// listAll returns every resource of kind.
func listAll(v *fsm.View, kind string) []*fsm.Resource {
	var out []*fsm.Resource
	v.ForEach(kind, func(r *fsm.Resource) { out = append(out, r) })
	return out
}

// byFQN returns the one resource of kind with fqn, or nil.
func byFQN(v *fsm.View, kind, fqn string) *fsm.Resource {
	rs, err := v.Lookup(kind, "fqn", fqn)
	if err != nil || len(rs) == 0 {
		return nil
	}
	return rs[0]
}

// filterList applies the list calls' common query parameters (fqn, name,
// tag, match_partial_fqn) and answers the bare array, sorted by FQN.
func filterList(v *fsm.View, kind string, q map[string][]string) ([]object, error) {
	var rs []*fsm.Resource
	partial := false
	if v, ok := q["match_partial_fqn"]; ok {
		partial = first(v) == "" || first(v) == "true" || first(v) == "1"
	}
	switch {
	case first(q["fqn"]) != "" && !partial:
		rs = nil
		if r := byFQN(v, kind, q["fqn"][0]); r != nil {
			rs = append(rs, r)
		}
	case len(q["tag"]) > 0:
		var err error
		if rs, err = v.Lookup(kind, "tag", q["tag"][0]); err != nil {
			return nil, fmt.Errorf("tag look-up: %w", err)
		}
	default:
		rs = listAll(v, kind)
	}
	out := []object{}
	for _, r := range rs {
		o := decodeObject(r)
		if tags := q["tag"]; len(tags) > 1 {
			ok := true
			for _, t := range tags[1:] {
				k, val, has := strings.Cut(t, ",")
				tv, present := o.obj("tags")[k]
				ok = ok && present && (!has || tv == val)
			}
			if !ok {
				continue
			}
		}
		if n := first(q["name"]); n != "" && o.str("name") != n {
			continue
		}
		if p := first(q["fqn"]); p != "" && partial && !strings.HasPrefix(o.str("fqn"), p) {
			continue
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].str("fqn") < out[j].str("fqn") })
	return out, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
