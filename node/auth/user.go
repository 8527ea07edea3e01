// Package auth is Cairn's one identity: the zone's users and their roles,
// kept in the replicated store, the signed tokens a login issues, and the
// check every API's authentication runs (HTTP Basic or a Bearer token).
// The HTTP layer decides when a listener requires it; the dialects map the
// answer to their own 401 and 403.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cairn/fsm"

	"golang.org/x/crypto/bcrypt"
)

// The kinds this package stores. Both hold secrets: the generic resource
// API neither serves nor writes them.
const (
	UserKind = "cairn.user"
	// KeyKind holds the zone's token signing key (one resource, SigningKeyID).
	KeyKind      = "cairn.auth"
	SigningKeyID = "signing-key"
	// LegacyMaxScaleUserKind is where the MaxScale API kept its own users
	// before they became Cairn's users; the zone leader moves any it finds
	// (Bootstrap).
	LegacyMaxScaleUserKind = "maxscale.user"
)

// owner names who writes the kinds (fsm.KindSchema.Owner).
const owner = "users (/cairn/v1/users, the MaxScale API's /v1/users)"

// Kinds declares the kinds of users and the signing key.
func Kinds() []fsm.KindSchema {
	return []fsm.KindSchema{
		{Kind: UserKind, Owner: owner, Secret: true},
		{Kind: KeyKind, Owner: "the zone's leader and /cairn/v1/auth", Secret: true},
	}
}

// Role is what a user may do.
type Role string

const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleReadonly may only read.
	RoleReadonly Role = "readonly"
)

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleReadonly:
		return Role(s), nil
	}
	return "", fmt.Errorf("%w: role %q: a role is admin or readonly", ErrInvalid, s)
}

// CanWrite reports whether the role may change anything.
func (r Role) CanWrite() bool { return r == RoleAdmin }

// ErrInvalid means a user name, password or role breaks a rule.
var ErrInvalid = errors.New("invalid")

// User is the stored body of a cairn.user; the resource's id is the name.
type User struct {
	Role Role `json:"role"`
	// Hash is a bcrypt hash, or legacyPrefix+salt+":"+hex(sha256) for a
	// user the MaxScale API stored before users were Cairn's.
	Hash string `json:"hash"`
	// MaxScaleDefault says the MaxScale API still accepts MaxScale's
	// documented default password for this user (the admin a new zone
	// creates). Any password change clears it.
	MaxScaleDefault bool `json:"maxscale_default,omitempty"`
	// Generation is carried by the tokens issued to the user; raising it
	// (a password change, a revocation) refuses every token issued before.
	Generation uint64 `json:"generation"`
}

// StoredUser is a user as read from the store.
type StoredUser struct {
	User
	Name             string
	Version          uint64
	Created, Updated time.Time
}

// MaxScaleDefaultPassword is MaxScale's documented default password of its
// admin user, kept on the MaxScale API for compatibility.
const MaxScaleDefaultPassword = "mariadb"

const legacyPrefix = "sha256:"

// MaxPasswordBytes is bcrypt's limit: it ignores what follows.
const MaxPasswordBytes = 72

// CheckName enforces the rule for user names: 1 to 64 printable
// characters, none of them '/' (names are path segments) or ':' (HTTP
// Basic splits user and password at the first one).
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a user needs a name", ErrInvalid)
	case utf8.RuneCountInString(name) > 64:
		return fmt.Errorf("%w: user name %q is longer than 64 characters", ErrInvalid, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: user name is not valid UTF-8", ErrInvalid)
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("%w: user name %q contains '/' or ':' (HTTP Basic authentication cannot carry a ':')", ErrInvalid, name)
	}
	for _, c := range name {
		if !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return fmt.Errorf("%w: user name %q contains a space or a control character", ErrInvalid, name)
		}
	}
	return nil
}

// CheckPassword enforces the rule for passwords: not empty, at most
// MaxPasswordBytes bytes.
func CheckPassword(password string) error {
	switch {
	case password == "":
		return fmt.Errorf("%w: the password must not be empty", ErrInvalid)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("%w: the password is %d bytes; the limit is %d", ErrInvalid, len(password), MaxPasswordBytes)
	}
	return nil
}

// bcryptCost is bcrypt's default work factor; tests lower it.
var bcryptCost = bcrypt.DefaultCost

// HashPassword checks password against the rules and hashes it. The
// proposer hashes: the command carries the hash, never the password.
func HashPassword(password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// LegacyHash is the hash the MaxScale API stored before users were Cairn's:
// SHA-256 of salt, NUL, password.
func LegacyHash(salt, password string) string {
	sum := sha256.Sum256([]byte(salt + "\x00" + password))
	return legacyPrefix + salt + ":" + hex.EncodeToString(sum[:])
}

// matches reports whether password is the one hash was made from.
func matches(hash, password string) bool {
	if rest, ok := strings.CutPrefix(hash, legacyPrefix); ok {
		salt, _, _ := strings.Cut(rest, ":")
		return subtle.ConstantTimeCompare([]byte(LegacyHash(salt, password)), []byte(hash)) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// ErrCorrupt means a stored user could not be read.
var ErrCorrupt = errors.New("corrupt user record")

// Load reads user name from v; nil when there is none.
func Load(v *fsm.View, name string) (*StoredUser, error) {
	r := v.Get(UserKind, name)
	if r == nil {
		return nil, nil
	}
	return decode(r)
}

func decode(r *fsm.Resource) (*StoredUser, error) {
	u := &StoredUser{Name: r.ID, Version: r.Version, Created: r.Created, Updated: r.Updated}
	if err := json.Unmarshal(r.Body, &u.User); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrCorrupt, r.ID, err)
	}
	return u, nil
}

// List returns every user in name order; a corrupt record is skipped and
// reported through skipped.
func List(v *fsm.View, skipped func(name string, err error)) []*StoredUser {
	var out []*StoredUser
	v.ForEach(UserKind, func(r *fsm.Resource) {
		u, err := decode(r)
		if err != nil {
			if skipped != nil {
				skipped(r.ID, err)
			}
			return
		}
		out = append(out, u)
	})
	return out
}

// PutOp is the operation that stores u as name: created when version is 0
// (and absent), else replacing exactly that version.
func PutOp(name string, u User, version uint64) fsm.Op {
	body, _ := json.Marshal(u) // a User always marshals
	op := fsm.Op{Type: fsm.OpPut, Kind: UserKind, ID: name, Body: body, Require: fsm.RequireAbsent}
	if version != 0 {
		op.Require, op.Version = fsm.RequireVersion, version
	}
	return op
}

// ErrLastAdmin means a change would leave the zone without an admin.
var ErrLastAdmin = errors.New("the last admin")

// KeepAnAdmin returns the checks that make a change to user name (deleted,
// or no longer admin) fail unless another admin stays: each other admin's
// version is a precondition of the same command, so two concurrent changes
// cannot each remove "the other" admin. ErrLastAdmin when there is none.
func KeepAnAdmin(v *fsm.View, name string) ([]fsm.Op, error) {
	var checks []fsm.Op
	for _, u := range List(v, nil) {
		if u.Name != name && u.Role == RoleAdmin && CheckName(u.Name) == nil { // a name no login can carry is no admin
			checks = append(checks, fsm.Op{Type: fsm.OpCheck, Kind: UserKind, ID: u.Name, Require: fsm.RequireVersion, Version: u.Version})
		}
	}
	if len(checks) == 0 {
		return nil, fmt.Errorf("%w: %q is the zone's last admin; add another admin first", ErrLastAdmin, name)
	}
	return checks, nil
}

// GeneratePassword returns a random password of 20 characters.
func GeneratePassword() (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}
