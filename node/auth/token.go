package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cairn/fsm"
)

// Tokens are JSON Web Tokens signed with HMAC-SHA256 (HS256) by the zone's
// signing key, which lives in the replicated store: any member issues
// them and every member verifies them, with no round trip. A token names
// its user and that user's generation; the user's role is read from the
// store at each request, so a role change applies at once. A token is
// refused when it is expired, when its user is gone or has a newer
// generation (password changed, tokens revoked), or when the key was
// rotated since it was signed.

// Key is the body of the signing key resource.
type Key struct {
	ID     string `json:"id"`
	Secret []byte `json:"secret"`
}

// NewKeyOp makes a new random signing key, stored as the key resource:
// created when version is 0 (and absent), else replacing that version.
func NewKeyOp(version uint64) (fsm.Op, error) {
	k := Key{Secret: make([]byte, 32)}
	id := make([]byte, 8)
	if _, err := rand.Read(k.Secret); err != nil {
		return fsm.Op{}, err
	}
	if _, err := rand.Read(id); err != nil {
		return fsm.Op{}, err
	}
	k.ID = hex.EncodeToString(id)
	body, _ := json.Marshal(k)
	op := fsm.Op{Type: fsm.OpPut, Kind: KeyKind, ID: SigningKeyID, Body: body, Require: fsm.RequireAbsent}
	if version != 0 {
		op.Require, op.Version = fsm.RequireVersion, version
	}
	return op, nil
}

// ErrNoKey means the zone has no signing key yet: its first leader writes
// one (Bootstrap).
var ErrNoKey = errors.New("the zone has no token signing key yet; retry once it has a leader")

func loadKey(v *fsm.View) (*Key, uint64, error) {
	r := v.Get(KeyKind, SigningKeyID)
	if r == nil {
		return nil, 0, ErrNoKey
	}
	var k Key
	if err := json.Unmarshal(r.Body, &k); err != nil || len(k.Secret) < 16 {
		return nil, 0, fmt.Errorf("the stored token signing key is corrupt")
	}
	return &k, r.Version, nil
}

// KeyVersion returns the version of the stored signing key (0: none), the
// precondition of a rotation.
func KeyVersion(v *fsm.View) uint64 {
	if r := v.Get(KeyKind, SigningKeyID); r != nil {
		return r.Version
	}
	return 0
}

// claims are a token's payload.
type claims struct {
	Subject    string `json:"sub"`
	Generation uint64 `json:"gen,omitempty"`
	IssuedAt   int64  `json:"iat"`
	Expires    int64  `json:"exp"`
	ID         string `json:"jti"`
	KeyID      string `json:"kid"`
	// KeyVersion is the Raft index of the signing key's write: a member
	// that has not applied it yet waits for it rather than refuse.
	KeyVersion uint64 `json:"kv,omitempty"`
}

// nodeSubjectPrefix marks the tokens members issue to each other for their
// own calls (NodeToken).
const nodeSubjectPrefix = "node:"

var b64 = base64.RawURLEncoding

// jwtHeader is the fixed header of every token: {"alg":"HS256","typ":"JWT"}.
var jwtHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

func sign(k *Key, c claims) string {
	payload, _ := json.Marshal(c)
	msg := jwtHeader + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, k.Secret)
	mac.Write([]byte(msg))
	return msg + "." + b64.EncodeToString(mac.Sum(nil))
}

// Issue signs a token for user name, valid for ttl from now.
func Issue(v *fsm.View, name string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	u, err := Load(v, name)
	if err != nil {
		return "", time.Time{}, err
	}
	if u == nil {
		return "", time.Time{}, ErrBadCredentials
	}
	return issue(v, name, u.Generation, ttl, now)
}

// NodeToken signs a token for member nodeID's own calls to other members
// (the admin role; valid for ttl). Only members hold the key.
func NodeToken(v *fsm.View, nodeID string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	return issue(v, nodeSubjectPrefix+nodeID, 0, ttl, now)
}

func issue(v *fsm.View, subject string, gen uint64, ttl time.Duration, now time.Time) (string, time.Time, error) {
	k, kv, err := loadKey(v)
	if err != nil {
		return "", time.Time{}, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(ttl).Truncate(time.Second)
	c := claims{Subject: subject, Generation: gen, IssuedAt: now.Unix(), Expires: exp.Unix(), ID: hex.EncodeToString(id), KeyID: k.ID, KeyVersion: kv}
	return sign(k, c), exp, nil
}

// Token errors: each is a 401.
var (
	ErrTokenInvalid = errors.New("the token is not one this zone signed (or its signing key was rotated since)")
	ErrTokenExpired = errors.New("the token has expired; log in again")
	ErrTokenRevoked = errors.New("the token was revoked (its user's password changed, its tokens were revoked, or the user is gone); log in again")
)

// DomainKeyID is the key id of tokens signed with a domain key.
const DomainKeyID = "domain"

// DomainKey derives the key members of every zone of a domain sign their
// own calls to each other with (an MRF zone leader reading the controller
// zone's deployments): zones are separate Raft groups with keys of their
// own, so the one secret they share, the gossip key, is its source. Only
// node tokens are accepted under it.
func DomainKey(gossipKey []byte) *Key {
	mac := hmac.New(sha256.New, gossipKey)
	mac.Write([]byte("cairn node tokens v1"))
	return &Key{ID: DomainKeyID, Secret: mac.Sum(nil)}
}

// NodeTokenWith signs a node token with key k (a domain key).
func NodeTokenWith(k *Key, nodeID string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(ttl).Truncate(time.Second)
	c := claims{Subject: nodeSubjectPrefix + nodeID, IssuedAt: now.Unix(), Expires: exp.Unix(), ID: hex.EncodeToString(id), KeyID: k.ID}
	return sign(k, c), exp, nil
}

// verifyToken checks token's signature (by the zone's key, or by domain
// when it is set and the token says so) and expiry, and returns its
// claims.
func verifyToken(v *fsm.View, domain *Key, token string, now time.Time) (*claims, error) {
	var k *Key
	peek, peeked := peekClaims(token)
	if domain != nil && peeked && peek.KeyID == DomainKeyID {
		k = domain
	}
	if k == nil {
		var kv uint64
		var err error
		k, kv, err = loadKey(v)
		if peeked && peek.KeyVersion > kv && (err != nil || peek.KeyID != k.ID) {
			// Signed with a key this member has not applied yet.
			return nil, &keyBehindError{index: peek.KeyVersion}
		}
		if err != nil {
			return nil, err
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return nil, ErrTokenInvalid
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, ErrTokenInvalid
	}
	mac := hmac.New(sha256.New, k.Secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, ErrTokenInvalid
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, ErrTokenInvalid
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.KeyID != k.ID {
		return nil, ErrTokenInvalid
	}
	if now.Unix() >= c.Expires {
		return nil, ErrTokenExpired
	}
	if k.ID == DomainKeyID && !strings.HasPrefix(c.Subject, nodeSubjectPrefix) {
		return nil, ErrTokenInvalid // a domain key signs members' own calls only
	}
	return &c, nil
}

// peekClaims reads a token's claims without checking anything.
func peekClaims(token string) (*claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var c claims
	return &c, json.Unmarshal(payload, &c) == nil
}

// keyBehindError means a token names a signing key newer than this
// member has applied: it may verify once the member reaches index.
type keyBehindError struct{ index uint64 }

func (e *keyBehindError) Error() string {
	return fmt.Sprintf("the token's signing key is at index %d, which this member has not applied yet", e.index)
}

// Derive returns a secret for purpose derived from the zone's signing key
// (HMAC-SHA256 of purpose, in hex): the same on every member, without a
// write, and changed by a rotation of the key. Runtime Manager's
// registration token is one.
func Derive(v *fsm.View, purpose string) (string, error) {
	k, _, err := loadKey(v)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte("cairn derived secret\x00" + purpose))
	return hex.EncodeToString(m.Sum(nil)), nil
}
