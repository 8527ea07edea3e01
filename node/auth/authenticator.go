package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"cairn/fsm"
)

// Principal is who a request acts as.
type Principal struct {
	// Name is the user's name, "node:<id>" for a member's own call, or ""
	// when the listener does not require authentication and none was given.
	Name string
	Role Role
	// Version is the version of the user's record the credentials were
	// checked against, 0 when no record vouched for them (a member, an
	// anonymous caller).
	Version uint64
}

// Checks are the preconditions a write made as p carries where it is
// applied (node.ForwardCommand), so that it applies only while what
// authorised it holds: the user's record, unchanged since the credentials
// were checked against it.
func (p Principal) Checks() []fsm.Op {
	if p.Version == 0 {
		return nil
	}
	return []fsm.Op{{Type: fsm.OpCheck, Kind: UserKind, ID: p.Name, Require: fsm.RequireVersion, Version: p.Version}}
}

// Anonymous is the principal of a request on a listener that does not
// require authentication and carries no credentials.
var Anonymous = Principal{Role: RoleAdmin}

// Errors of authentication: each is a 401.
var (
	ErrNoCredentials  = errors.New("authentication required: send HTTP Basic credentials or a Bearer token")
	ErrBadCredentials = errors.New("wrong user name or password")
)

// Unauthenticated reports whether err means the credentials were missing
// or not accepted (401), as opposed to a failure to check them.
func Unauthenticated(err error) bool {
	return errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrTokenInvalid) ||
		errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenRevoked)
}

// Authenticator checks credentials against the users of the store. It
// remembers passwords it verified (as salted digests, never the
// passwords), so that HTTP Basic clients, which send them with every
// request, pay bcrypt's cost once per password rather than per request.
type Authenticator struct {
	view func() *fsm.View
	now  func() time.Time

	mu       sync.Mutex
	salt     [32]byte
	verified map[[32]byte]string // digest of name and password -> the hash it matched
	// bcryptSlots bounds concurrent bcrypt comparisons, so a flood of wrong
	// passwords costs a bounded share of the CPU.
	bcryptSlots chan struct{}

	// WaitIndex, if set, waits until the store has applied index: a token
	// signed with a key this member has not applied yet is checked again
	// once it has (up to keyWait), rather than refused.
	WaitIndex func(ctx context.Context, index uint64) error

	// DomainKey, if set, also verifies node tokens signed by members of
	// the domain's other zones (DomainKey).
	DomainKey *Key

	// OnMaxScaleDefault, if set, is called each time the MaxScale API
	// accepts MaxScale's default admin password (cairn agent warns when
	// that listener is not on loopback).
	OnMaxScaleDefault func()
}

// keyWait bounds how long a member waits to apply a token's signing key.
const keyWait = 3 * time.Second

// maxVerified bounds the remembered passwords; past it the memory starts
// afresh.
const maxVerified = 4096

// NewAuthenticator checks credentials against the store view returns.
func NewAuthenticator(view func() *fsm.View) *Authenticator {
	a := &Authenticator{view: view, now: time.Now, verified: map[[32]byte]string{}, bcryptSlots: make(chan struct{}, 2)}
	_, _ = rand.Read(a.salt[:])
	return a
}

// Request authenticates r by its Authorization header. onMaxScale says the
// request came through the MaxScale API, which also takes MaxScale's
// documented default admin password while it is in use (User.MaxScaleDefault).
func (a *Authenticator) Request(r *http.Request, onMaxScale bool) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return a.Bearer(strings.TrimSpace(rest))
	case strings.EqualFold(scheme, "Basic"):
		name, password, ok := r.BasicAuth()
		if !ok {
			return Principal{}, ErrBadCredentials
		}
		return a.Basic(name, password, onMaxScale)
	}
	return Principal{}, ErrNoCredentials
}

// Basic checks a user name and password.
func (a *Authenticator) Basic(name, password string, onMaxScale bool) (Principal, error) {
	v := a.view()
	if onMaxScale && name == "admin" && password == MaxScaleDefaultPassword && v.Count(UserKind) == 0 && v.Count(LegacyMaxScaleUserKind) == 0 {
		// No user yet (the zone's leader writes the first one as it
		// starts): MaxScale's default admin, as MaxScale itself.
		a.usedMaxScaleDefault()
		return Principal{Name: name, Role: RoleAdmin}, nil
	}
	u, err := Load(v, name)
	if err != nil {
		return Principal{}, err
	}
	if u == nil {
		return Principal{}, ErrBadCredentials
	}
	if onMaxScale && u.MaxScaleDefault && password == MaxScaleDefaultPassword {
		a.usedMaxScaleDefault()
		return Principal{Name: name, Role: u.Role, Version: u.Version}, nil
	}
	if !a.passwordMatches(name, password, u.Hash) {
		return Principal{}, ErrBadCredentials
	}
	return Principal{Name: name, Role: u.Role, Version: u.Version}, nil
}

func (a *Authenticator) passwordMatches(name, password, hash string) bool {
	d := a.digest(name, password)
	a.mu.Lock()
	known := a.verified[d] == hash
	a.mu.Unlock()
	if known {
		return true
	}
	a.bcryptSlots <- struct{}{}
	ok := matches(hash, password)
	<-a.bcryptSlots
	if ok {
		a.mu.Lock()
		if len(a.verified) >= maxVerified {
			clear(a.verified)
		}
		a.verified[d] = hash
		a.mu.Unlock()
	}
	return ok
}

func (a *Authenticator) digest(name, password string) [32]byte {
	h := sha256.New()
	h.Write(a.salt[:])
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Bearer checks a token.
func (a *Authenticator) Bearer(token string) (Principal, error) {
	v := a.view()
	c, err := verifyToken(v, a.DomainKey, token, a.now())
	var behind *keyBehindError
	if errors.As(err, &behind) && a.WaitIndex != nil {
		ctx, cancel := context.WithTimeout(context.Background(), keyWait)
		werr := a.WaitIndex(ctx, behind.index)
		cancel()
		if werr == nil {
			v = a.view()
			c, err = verifyToken(v, a.DomainKey, token, a.now())
		}
	}
	if errors.As(err, &behind) || errors.Is(err, ErrNoKey) {
		err = ErrTokenInvalid // no key of this zone's signed it
	}
	if err != nil {
		if c, ok := peekClaims(token); ok && strings.HasPrefix(c.Subject, nodeSubjectPrefix) {
			// A member's own call to another zone (or domain) whose key
			// did not sign it: it counts as no credentials, which a
			// listener without authentication accepts as it accepts any
			// anonymous request; one that requires them refuses it.
			return Principal{}, fmt.Errorf("%w (%s's member token is not this zone's: give every zone of the domain the same -gossip-key)", ErrNoCredentials, c.Subject)
		}
		return Principal{}, err
	}
	if strings.HasPrefix(c.Subject, nodeSubjectPrefix) {
		return Principal{Name: c.Subject, Role: RoleAdmin}, nil
	}
	u, err := Load(v, c.Subject)
	if err != nil {
		return Principal{}, err
	}
	if u == nil || u.Generation != c.Generation {
		return Principal{}, ErrTokenRevoked
	}
	return Principal{Name: c.Subject, Role: u.Role, Version: u.Version}, nil
}

func (a *Authenticator) usedMaxScaleDefault() {
	if a.OnMaxScaleDefault != nil {
		a.OnMaxScaleDefault()
	}
}
