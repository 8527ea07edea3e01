package httpx

import (
	"context"
	"net/http"

	"cairn/node"
)

// barrierKey marks, in a request's context, that the leader's read barrier
// already ran for this request (the forwarding layer runs it once for
// every ?consistent read, whatever the dialect).
type barrierKey struct{}

// WithReadBarrier returns ctx marked as having passed the read barrier.
func WithReadBarrier(ctx context.Context) context.Context {
	return context.WithValue(ctx, barrierKey{}, true)
}

// ReadBarrierDone reports whether the read barrier ran for the request
// whose context is ctx.
func ReadBarrierDone(ctx context.Context) bool {
	done, _ := ctx.Value(barrierKey{}).(bool)
	return done
}

// AppliedHeader is set to "false" on a failed write that certainly was not
// applied and never will be (no leader, not proposed in time, the leader
// unreachable): a client may retry it safely. Without it, a 5xx leaves the
// write's outcome unknown. Every dialect sets it the same way
// (MarkNotApplied), and so does forwarding.
const AppliedHeader = "X-Cairn-Applied"

// MarkNotApplied sets AppliedHeader when err, returned by Node.Apply,
// guarantees the write was never appended to the log.
func MarkNotApplied(w http.ResponseWriter, err error) {
	if node.NotApplied(err) {
		w.Header().Set(AppliedHeader, "false")
	}
}
