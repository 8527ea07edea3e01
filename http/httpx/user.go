package httpx

import (
	"context"
	"sync/atomic"
)

// userKey carries, in a request's context, the slot of the user the
// request was authenticated as.
type userKey struct{}

// userSlot is shared by every context derived from the one that made it:
// a middleware that authenticates the caller deep in the chain fills the
// slot that an outer one (the audit line) reads once the answer is out.
type userSlot struct{ name atomic.Pointer[string] }

// WithUser records name as the user the request whose context is ctx was
// authenticated as. If ctx already carries a slot (the server puts one in
// every request), the slot is set and ctx returned as is; else a new ctx
// carries a new slot.
func WithUser(ctx context.Context, name string) context.Context {
	if s, ok := ctx.Value(userKey{}).(*userSlot); ok {
		s.name.Store(&name)
		return ctx
	}
	s := &userSlot{}
	s.name.Store(&name)
	return context.WithValue(ctx, userKey{}, s)
}

// WithUserSlot returns ctx carrying an empty user slot, unless it carries
// one already.
func WithUserSlot(ctx context.Context) context.Context {
	if _, ok := ctx.Value(userKey{}).(*userSlot); ok {
		return ctx
	}
	return context.WithValue(ctx, userKey{}, &userSlot{})
}

// UserFrom is the user the request was authenticated as; "" when nobody
// authenticated it.
func UserFrom(ctx context.Context) string {
	s, ok := ctx.Value(userKey{}).(*userSlot)
	if !ok {
		return ""
	}
	if p := s.name.Load(); p != nil {
		return *p
	}
	return ""
}
