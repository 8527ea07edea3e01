package native

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/http/httpx"
)

// Consistency is how fresh a read must be.
type Consistency int

const (
	// Default reads the local store: fast, possibly behind the leader.
	Default Consistency = iota
	// Consistent reads are linearizable: the leader confirms it still
	// leads before reading (?consistent).
	Consistent
	// Stale reads the local store even with no leader (?stale).
	Stale
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxWait          = 5 * time.Minute
	defaultWait      = 5 * time.Minute
)

// params are a request's query parameters, parsed and validated once.
type params struct {
	consistency Consistency
	index       uint64 // blocking read: wait until the store passes this index
	wait        time.Duration
	prefix      string
	after       string // decoded continue token
	limit       int
	by, value   string // secondary index look-up
}

func parseParams(r *http.Request) (params, error) {
	q := r.URL.Query()
	p := params{limit: defaultListLimit, prefix: q.Get("prefix"), by: q.Get("by"), value: q.Get("value")}
	_, consistent := q["consistent"]
	_, stale := q["stale"]
	switch {
	case consistent && stale:
		return p, fmt.Errorf("%w: ?consistent and ?stale exclude each other", errBadRequest)
	case consistent:
		p.consistency = Consistent
	case stale:
		p.consistency = Stale
	}
	if s := q.Get("index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: index %q is not a non-negative integer", errBadRequest, s)
		}
		p.index, p.wait = n, defaultWait
	}
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return p, fmt.Errorf("%w: wait %q is not a duration such as 30s", errBadRequest, s)
		}
		p.wait = min(d, maxWait)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			return p, fmt.Errorf("%w: limit %q must be an integer from 1 to %d", errBadRequest, s, maxListLimit)
		}
		p.limit = n
	}
	if s := q.Get("continue"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return p, fmt.Errorf("%w: continue token %q is not one this API issued", errBadRequest, s)
		}
		p.after = string(b)
	}
	if (p.by == "") != (p.value == "" && !q.Has("value")) {
		return p, fmt.Errorf("%w: ?by=<index> and ?value=<value> go together", errBadRequest)
	}
	return p, nil
}

// continueToken is the opaque token that resumes a list after id.
func continueToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// Consistency returns how fresh the read must be.
func (p params) Consistency() Consistency { return p.consistency }

// Wait returns the blocking read's index and the longest wait; wait is 0 for
// a read that does not block.
func (p params) Wait() (index uint64, wait time.Duration) { return p.index, p.wait }

// prefersMinimal reports whether r asks, with RFC 7240's
// `Prefer: return=minimal`, for a write's answer without the written
// document (its status and headers say what happened: 201 or 200, ETag,
// Location): a client that does not read it spares the node encoding it
// and the network carrying it, twice through a follower. Preferences are
// comma-separated, may carry parameters after ';', and a value may be
// quoted; names and values are case-insensitive.
func prefersMinimal(r *http.Request) bool {
	for _, h := range r.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(h, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, value, _ := strings.Cut(pref, "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			if strings.EqualFold(strings.TrimSpace(name), "return") && strings.EqualFold(value, "minimal") {
				return true
			}
		}
	}
	return false
}

// writeWritten answers a write that succeeded with status and the written
// document, which doc builds, or, when r prefers it (prefersMinimal), with
// status alone and Preference-Applied saying so.
func writeWritten(w http.ResponseWriter, r *http.Request, status int, doc func() any) {
	if prefersMinimal(r) {
		w.Header().Set("Preference-Applied", "return=minimal")
		w.WriteHeader(status)
		return
	}
	httpx.WriteJSON(w, status, doc())
}
