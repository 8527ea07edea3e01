package settings_test

import (
	"errors"
	"strings"
	"testing"

	"cairn/node/runtime"
)

func Test_Validate_NamesTheAttribute(t *testing.T) {
	for body, name := range map[string]string{
		`{"maxBodyBytes":"x"}`:   "maxBodyBytes",
		`{"bogus":1}`:            "bogus",
		`{"requestTimeout":1}`:   "requestTimeout",
		`{"maxBodyBytes":-5}`:    "maxBodyBytes",
		`{"maxBodyBytes":1e300}`: "maxBodyBytes",
	} {
		_, err := settings.Validate("http", []byte(body))
		if !errors.Is(err, settings.ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", body, err, name)
		}
	}
	if _, err := settings.Validate("nope", []byte(`{}`)); !errors.Is(err, settings.ErrUnknownResource) {
		t.Errorf("unknown resource: %v", err)
	}
	v, err := settings.Validate("raft", []byte(`{"snapshotInterval":"90s","trailingLogs":0}`))
	if err != nil || v["snapshotInterval"] != "1m30s" || v["trailingLogs"] != int64(0) {
		t.Errorf("valid raft values: %v %v", v, err)
	}
	v, err = settings.Validate("logging", []byte(`{"level":"WARN"}`))
	if err != nil || v["level"] != "warn" {
		t.Errorf("level: %v %v", v, err)
	}
}
