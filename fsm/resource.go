package fsm

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Resource is one managed object. Version is the Raft index of its last write
// and doubles as its ETag; CreateIndex is the Raft index that created it.
type Resource struct {
	Kind        string          `json:"kind"`
	ID          string          `json:"id"`
	Version     uint64          `json:"version"`
	CreateIndex uint64          `json:"create_index"`
	Created     time.Time       `json:"created"`
	Updated     time.Time       `json:"updated"`
	Body        json.RawMessage `json:"body"`
	// keys are its secondary-index keys, as computed when it was written.
	keys []IndexKey
}

// key is the resource's primary key in the store: kind and id joined by a NUL
// byte, which neither may contain, so keys sort by kind and then by id.
func resourceKey(kind, id string) string { return kind + "\x00" + id }

// resourceJSONOverhead is what AppendJSON writes beside the kind, id and
// body at most (keys 72 bytes, quotes 4, two counters 40, two times 74),
// and a byte for a caller's newline: room made once, not grown into.
const resourceJSONOverhead = 192

// AppendJSON appends r as JSON to b, byte for byte what json.Marshal
// gives, without its reflection and without compacting the body again:
// a stored body is already in json.Marshal's canonical form (prepareBody).
func (r *Resource) AppendJSON(b []byte) []byte {
	b = slices.Grow(b, resourceJSONOverhead+len(r.Kind)+len(r.ID)+len(r.Body))
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, r.Kind)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, r.Version, 10)
	b = append(b, `,"create_index":`...)
	b = strconv.AppendUint(b, r.CreateIndex, 10)
	b = append(b, `,"created":`...)
	b = appendJSONTime(b, r.Created)
	b = append(b, `,"updated":`...)
	b = appendJSONTime(b, r.Updated)
	b = append(b, `,"body":`...)
	if r.Body == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Body...)
	}
	return append(b, '}')
}

// appendJSONTime appends t as time.Time's MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s quoted as json.Marshal does (HTML-escaped);
// kinds and ids need no escaping, so that path is a plain copy.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
