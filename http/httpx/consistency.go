package httpx

import "context"

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
