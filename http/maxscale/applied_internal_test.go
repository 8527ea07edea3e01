package maxscale

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"cairn/http/httpx"
	"cairn/node"
)

// A write the zone never took says so (X-Cairn-Applied: false) in this
// dialect as in every other; one whose outcome is unknown does not.
func TestFail_NotAppliedWrite_SaysSo(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("apply: %w", node.ErrNoLeader), "false"},
		{node.ErrTimeout, "false"},
		{node.ErrLeadershipLost, ""},
		{node.ErrShutdown, ""},
	} {
		rec := httptest.NewRecorder()
		fail(rec, c.err)
		if got := rec.Header().Get(httpx.AppliedHeader); got != c.want {
			t.Errorf("%v: %s %q, want %q", c.err, httpx.AppliedHeader, got, c.want)
		}
	}
}
