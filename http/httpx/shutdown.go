package httpx

import "context"

// shutdownKey carries, in a request's context, a context that is done once
// the server serving the request begins to shut down.
type shutdownKey struct{}

// WithShutdown returns ctx carrying shutdown, which ends when the server
// begins to shut down; the server puts it in every request's context.
func WithShutdown(ctx, shutdown context.Context) context.Context {
	return context.WithValue(ctx, shutdownKey{}, shutdown)
}

// AfterShutdown arranges for f to run, in its own goroutine, once the
// server serving the request whose context is ctx begins to shut down; stop
// undoes that. A request that waits on purpose (a blocking read) uses it
// to end its wait, since a graceful shutdown waits for every request.
func AfterShutdown(ctx context.Context, f func()) (stop func() bool) {
	shutdown, ok := ctx.Value(shutdownKey{}).(context.Context)
	if !ok {
		return func() bool { return false }
	}
	return context.AfterFunc(shutdown, f)
}
