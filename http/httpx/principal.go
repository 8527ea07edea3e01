package httpx

import (
	"context"

	"cairn/node/auth"
)

type principalKey struct{}

// principalSlot holds who a request acts as. It is a pointer so that a
// handler deep in the chain (the MaxScale API authenticates inside its
// own handler) can tell middleware further out (the audit line) who it
// found, once ServeHTTP returns.
type principalSlot struct {
	p   auth.Principal
	set bool
}

// WithPrincipalSlot prepares ctx to carry the principal that a handler
// further in finds; the outermost middleware calls it.
func WithPrincipalSlot(ctx context.Context) context.Context {
	if _, ok := ctx.Value(principalKey{}).(*principalSlot); ok {
		return ctx
	}
	return context.WithValue(ctx, principalKey{}, &principalSlot{})
}

// WithPrincipal records who the request acts as (the authentication
// middleware, or a dialect that authenticates itself).
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	if s, ok := ctx.Value(principalKey{}).(*principalSlot); ok {
		s.p, s.set = p, true
		return ctx
	}
	return context.WithValue(ctx, principalKey{}, &principalSlot{p: p, set: true})
}

// PrincipalFrom returns who the request acts as: auth.Anonymous when no
// authentication ran.
func PrincipalFrom(ctx context.Context) auth.Principal {
	if s, ok := ctx.Value(principalKey{}).(*principalSlot); ok && s.set {
		return s.p
	}
	return auth.Anonymous
}

// UserFrom names who the request acts as, for logs: "anonymous" when no
// user was authenticated.
func UserFrom(ctx context.Context) string {
	if p := PrincipalFrom(ctx); p.Name != "" {
		return p.Name
	}
	return "anonymous"
}
