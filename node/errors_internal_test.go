package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// Raft's errors become the node's once, and NotApplied is true only where
// raft guarantees the command never reached the log.
func TestTranslate_NotApplied(t *testing.T) {
	for _, c := range []struct {
		raft       error
		want       error
		notApplied bool
	}{
		{raft.ErrNotLeader, ErrNotLeader, true},
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader, true},
		{raft.ErrEnqueueTimeout, ErrTimeout, true},
		{raft.ErrLeadershipLost, ErrLeadershipLost, false},
		{raft.ErrAbortedByRestore, ErrLeadershipLost, false},
		{raft.ErrRaftShutdown, ErrShutdown, false},
	} {
		got := translate(c.raft)
		if !errors.Is(got, c.want) {
			t.Errorf("translate(%v) = %v, want %v", c.raft, got, c.want)
		}
		if NotApplied(got) != c.notApplied {
			t.Errorf("NotApplied(translate(%v)) = %v, want %v", c.raft, !c.notApplied, c.notApplied)
		}
	}
	if !errors.Is(ErrLeadershipLost, ErrNotLeader) {
		t.Error("ErrLeadershipLost is not an ErrNotLeader: the dialects' 503 mapping would miss it")
	}
	if !NotApplied(fmt.Errorf("wrapped: %w", ErrNoLeader)) || NotApplied(errors.New("other")) {
		t.Error("NotApplied of a wrapped ErrNoLeader or an unrelated error")
	}
}
