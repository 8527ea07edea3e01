package settings

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// resources declares every runtime resource: attributes with their JSON
// type and bounds, and how a change reaches the live process.
var resources = map[string]resource{
	"logging": {
		attrs: []attribute{
			{name: "level", parse: parseLevel, get: func(s *Settings) any { return strings.ToLower(s.level.Level().String()) }},
		},
		set: func(s *Settings, vals map[string]any) error {
			if v, ok := vals["level"]; ok {
				var l slog.Level
				if err := l.UnmarshalText([]byte(v.(string))); err != nil {
					return err
				}
				s.level.Set(l)
			}
			return nil
		},
	},
	"http": {
		attrs: []attribute{
			{name: "maxConcurrentRequests", parse: parseConcurrency, get: func(s *Settings) any { return s.http.MaxConcurrentRequests() }},
			{name: "requestTimeout", parse: parseDuration(MinRequestTimeout), get: func(s *Settings) any { return s.http.RequestTimeout().String() }},
			{name: "maxBodyBytes", parse: parseInt(MinMaxBodyBytes), get: func(s *Settings) any { return s.http.MaxBodyBytes() }},
		},
		set: func(s *Settings, vals map[string]any) error {
			if v, ok := vals["maxConcurrentRequests"]; ok {
				s.http.SetMaxConcurrentRequests(toInt(v))
			}
			if v, ok := vals["requestTimeout"]; ok {
				d, _ := time.ParseDuration(v.(string))
				s.http.SetRequestTimeout(d)
			}
			if v, ok := vals["maxBodyBytes"]; ok {
				s.http.SetMaxBodyBytes(toInt(v))
			}
			return nil
		},
	},
	"raft": {
		attrs: []attribute{
			{name: "snapshotThreshold", parse: parseInt(MinSnapshotThreshold), get: func(s *Settings) any { return s.raft.RaftTuning().SnapshotThreshold }},
			{name: "trailingLogs", parse: parseInt(0), get: func(s *Settings) any { return s.raft.RaftTuning().TrailingLogs }},
			{name: "snapshotInterval", parse: parseDuration(MinSnapshotInterval), get: func(s *Settings) any { return s.raft.RaftTuning().SnapshotInterval.String() }},
		},
		set: func(s *Settings, vals map[string]any) error {
			t := s.raft.RaftTuning()
			if v, ok := vals["snapshotThreshold"]; ok {
				t.SnapshotThreshold = uint64(toInt(v))
			}
			if v, ok := vals["trailingLogs"]; ok {
				t.TrailingLogs = uint64(toInt(v))
			}
			if v, ok := vals["snapshotInterval"]; ok {
				t.SnapshotInterval, _ = time.ParseDuration(v.(string))
			}
			return s.raft.SetRaftTuning(t)
		},
		ops: []string{"snapshot"},
		run: func(s *Settings, op string) error { return s.raft.Snapshot() },
	},
}

// Floors of the HTTP limits: a zone-wide value applies to every member at
// once, and one below them could leave no request able to set it back
// (maxBodyBytes 16 refused every body with 413). The flags have the same
// floors.
const (
	// MinMaxBodyBytes fits any runtime write, and any ordinary resource.
	MinMaxBodyBytes = 4 << 10
	// MinRequestTimeout is longer than a write takes on a loaded zone.
	MinRequestTimeout = time.Second
	// MinMaxConcurrentRequests leaves room for probes and an operator's
	// request beside a little load; 0 means unlimited.
	MinMaxConcurrentRequests = 8
	// MinSnapshotThreshold and MinSnapshotInterval keep a zone-wide value
	// from having every member snapshot its whole store after every write
	// (raft.ValidateConfig itself only refuses intervals under 5ms).
	MinSnapshotThreshold = 16
	MinSnapshotInterval  = time.Second
)

// parseConcurrency accepts 0 (unlimited) or at least
// MinMaxConcurrentRequests.
func parseConcurrency(b json.RawMessage) (any, error) {
	v, err := parseInt(0)(b)
	if err != nil {
		return nil, err
	}
	if n := v.(int64); n != 0 && n < MinMaxConcurrentRequests {
		return nil, fmt.Errorf("must be 0 (unlimited) or at least %d, got %s", MinMaxConcurrentRequests, b)
	}
	return v, nil
}

// toInt reads an integer that parseInt produced (int64), that came back
// from the store through encoding/json (float64), or a live value.
func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case uint64: // a live value (the flags'), from node.RaftTuning
		return int64(n)
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return 0
}

// parseInt accepts a JSON integer of at least min.
func parseInt(min int64) func(json.RawMessage) (any, error) {
	return func(b json.RawMessage) (any, error) {
		var f float64
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("want an integer, got %s", b)
		}
		if f != math.Trunc(f) || f > math.MaxInt64/2 {
			return nil, fmt.Errorf("want an integer, got %s", b)
		}
		if int64(f) < min {
			return nil, fmt.Errorf("must be at least %d, got %s", min, b)
		}
		return int64(f), nil
	}
}

// parseDuration accepts a Go duration string ("30s", "1m30s") of at least
// min, and returns it in canonical form.
func parseDuration(min time.Duration) func(json.RawMessage) (any, error) {
	return func(b json.RawMessage) (any, error) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf(`want a duration string such as "30s", got %s`, b)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf(`want a duration such as "30s", got %q`, s)
		}
		if d < min {
			return nil, fmt.Errorf("must be at least %s, got %s", min, d)
		}
		return d.String(), nil
	}
}

// parseLevel accepts debug, info, warn or error (any case).
func parseLevel(b json.RawMessage) (any, error) {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("want one of debug, info, warn, error as a string, got %s", b)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return nil, fmt.Errorf("want one of debug, info, warn, error, got %q", s)
	}
	return strings.ToLower(l.String()), nil
}
