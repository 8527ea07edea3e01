package fsm

import (
	"encoding/json"
	"time"
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
