package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/fsm"

	"golang.org/x/crypto/bcrypt"
)

func init() { bcryptCost = bcrypt.MinCost }

// memStore applies commands straight to a store: enough for the rules
// here, which live in the commands this package builds.
type memStore struct {
	s     *fsm.Store
	index uint64
}

func newMemStore(t *testing.T) *memStore {
	schema, err := fsm.NewSchema(append(Kinds(), fsm.KindSchema{Kind: LegacyMaxScaleUserKind, Secret: true})...)
	if err != nil {
		t.Fatal(err)
	}
	return &memStore{s: fsm.NewStore(schema)}
}

func (m *memStore) View() *fsm.View { return m.s.View() }
func (m *memStore) Apply(_ context.Context, cmd fsm.Command) (uint64, *fsm.Result, error) {
	m.index++
	res := m.s.Apply(m.index, cmd)
	return m.index, res, res.Err()
}

func bootstrapped(t *testing.T, password string) (*memStore, string) {
	t.Helper()
	m := newMemStore(t)
	dir := t.TempDir()
	var printed string
	b := &Bootstrap{Node: m, AdminPassword: password, DataDir: dir, Print: func(s string) { printed = s }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.once(context.Background()); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	if password == "" {
		raw, err := os.ReadFile(filepath.Join(dir, InitialPasswordFile))
		if err != nil {
			t.Fatalf("the generated password's file: %v", err)
		}
		password = strings.TrimSpace(string(raw))
		if !strings.Contains(printed, password) {
			t.Fatalf("the generated password was not printed: %q", printed)
		}
		if fi, _ := os.Stat(filepath.Join(dir, InitialPasswordFile)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("password file mode %v, want 0600", fi.Mode().Perm())
		}
	}
	return m, password
}

func Test_Bootstrap_GeneratedAdmin_LogsInWithFileAndMaxScaleDefault(t *testing.T) {
	m, password := bootstrapped(t, "")
	a := NewAuthenticator(m.View)
	if p, err := a.Basic("admin", password, false); err != nil || p.Role != RoleAdmin {
		t.Fatalf("admin with the generated password: %v %v", p, err)
	}
	if _, err := a.Basic("admin", MaxScaleDefaultPassword, false); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("MaxScale's default off the MaxScale API: %v, want ErrBadCredentials", err)
	}
	if _, err := a.Basic("admin", MaxScaleDefaultPassword, true); err != nil {
		t.Fatalf("MaxScale's default on the MaxScale API: %v", err)
	}
	if _, err := a.Basic("admin", "wrong", false); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	// A second run changes nothing: the zone has its user and key.
	before := KeyVersion(m.View())
	b := &Bootstrap{Node: m, DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.once(context.Background()); err != nil || KeyVersion(m.View()) != before {
		t.Fatalf("second bootstrap: %v, key %d -> %d", err, before, KeyVersion(m.View()))
	}
}

func Test_Token_ExpiredForgedRevokedRotated_Refused(t *testing.T) {
	m, _ := bootstrapped(t, "secret-1")
	a := NewAuthenticator(m.View)
	now := time.Now()
	tok, _, err := Issue(m.View(), "admin", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.Bearer(tok); err != nil || p.Name != "admin" {
		t.Fatalf("fresh token: %v %v", p, err)
	}
	a.now = func() time.Time { return now.Add(2 * time.Minute) }
	if _, err := a.Bearer(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	a.now = time.Now
	// Forged: the payload changed to another subject, signature kept.
	parts := strings.Split(tok, ".")
	var c claims
	raw, _ := b64.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &c)
	c.Subject = "mallory"
	forged, _ := json.Marshal(c)
	if _, err := a.Bearer(parts[0] + "." + b64.EncodeToString(forged) + "." + parts[2]); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("forged token: %v", err)
	}
	// Revoked: the user's generation moves on.
	u, _ := Load(m.View(), "admin")
	u.Generation++
	if _, _, err := m.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{PutOp("admin", u.User, u.Version)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Bearer(tok); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked token: %v", err)
	}
	// Rotated key: a token signed before is not this zone's any more.
	tok2, _, _ := Issue(m.View(), "admin", time.Minute, time.Now())
	op, _ := NewKeyOp(KeyVersion(m.View()))
	if _, _, err := m.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{op}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Bearer(tok2); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token from before the rotation: %v", err)
	}
}

func Test_Bootstrap_MovesMaxScaleUsers_KeepingPasswords(t *testing.T) {
	m := newMemStore(t)
	put := func(name, account, password string) {
		salt := "salt-" + name
		h := LegacyHash(salt, password)
		body, _ := json.Marshal(legacyUser{Account: account, Salt: salt, Hash: h[strings.LastIndex(h, ":")+1:]})
		if _, _, err := m.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{{Type: fsm.OpPut, Kind: LegacyMaxScaleUserKind, ID: name, Body: body}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("admin", "admin", "mariadb")
	put("viewer", "basic", "look")
	b := &Bootstrap{Node: m, DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := m.View().Count(LegacyMaxScaleUserKind); n != 0 {
		t.Fatalf("%d MaxScale users left behind", n)
	}
	a := NewAuthenticator(m.View)
	if p, err := a.Basic("viewer", "look", false); err != nil || p.Role != RoleReadonly {
		t.Fatalf("moved basic user: %v %v", p, err)
	}
	if p, err := a.Basic("admin", "mariadb", false); err != nil || p.Role != RoleAdmin {
		t.Fatalf("moved admin: %v %v", p, err)
	}
}

func Test_KeepAnAdmin_LastAdminRefused(t *testing.T) {
	m, _ := bootstrapped(t, "secret-1")
	if _, err := KeepAnAdmin(m.View(), "admin"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("removing the only admin: %v", err)
	}
	h, _ := HashPassword("x")
	if _, _, err := m.Apply(context.Background(), fsm.Command{Ops: []fsm.Op{PutOp("ops", User{Role: RoleAdmin, Hash: h}, 0)}}); err != nil {
		t.Fatal(err)
	}
	checks, err := KeepAnAdmin(m.View(), "admin")
	if err != nil || len(checks) != 1 || checks[0].ID != "ops" {
		t.Fatalf("with a second admin: %v %v", checks, err)
	}
}

func Test_CheckName_Rules(t *testing.T) {
	for _, bad := range []string{"", "a:b", "a/b", "a b", "a\nb", strings.Repeat("x", 65)} {
		if CheckName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	for _, good := range []string{"admin", "ops.team-1", "Ünïcode"} {
		if err := CheckName(good); err != nil {
			t.Errorf("name %q refused: %v", good, err)
		}
	}
	if CheckPassword(strings.Repeat("p", 73)) == nil || CheckPassword("") == nil {
		t.Error("over-long or empty password accepted")
	}
}

func Test_DomainKey_NodeTokensOnly_AcrossZones(t *testing.T) {
	zoneA, _ := bootstrapped(t, "a-secret")
	zoneB, _ := bootstrapped(t, "b-secret")
	gossipKey := []byte("0123456789abcdef0123456789abcdef")
	authB := NewAuthenticator(zoneB.View)
	authB.DomainKey = DomainKey(gossipKey)
	// A member of zone A signs with the domain key: zone B accepts it.
	tok, _, err := NodeTokenWith(DomainKey(gossipKey), "a1", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := authB.Bearer(tok); err != nil || p.Name != "node:a1" || p.Role != RoleAdmin {
		t.Fatalf("domain node token in another zone: %v %v", p, err)
	}
	// Another gossip key: refused.
	other, _, _ := NodeTokenWith(DomainKey([]byte("another key, another domain....")), "x", time.Minute, time.Now())
	if _, err := authB.Bearer(other); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("a node token of another domain: %v, want it counted as none", err)
	}
	// Zone A's own user tokens mean nothing in zone B.
	userTok, _, _ := Issue(zoneA.View(), "admin", time.Minute, time.Now())
	if _, err := authB.Bearer(userTok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("zone A's user token in zone B: %v", err)
	}
	// A user token signed with the domain key (only members hold it, but
	// still) is refused: the domain key signs node tokens only.
	k := DomainKey(gossipKey)
	forged := sign(k, claims{Subject: "admin", Generation: 1, Expires: time.Now().Add(time.Minute).Unix(), KeyID: k.ID})
	if _, err := authB.Bearer(forged); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("a user token under the domain key: %v", err)
	}
}

func Test_Token_SignedWithAKeyNotAppliedYet_WaitsForIt(t *testing.T) {
	m, _ := bootstrapped(t, "secret-1")
	// A member that has not applied the key: a store without it.
	lagging := newMemStore(t)
	tok, _, err := Issue(m.View(), "admin", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(lagging.View)
	if _, err := a.Bearer(tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("without WaitIndex: %v", err)
	}
	waited := uint64(0)
	a.WaitIndex = func(_ context.Context, index uint64) error {
		waited = index
		// The member catches up: it applies what m applied.
		for lagging.index < m.index {
			lagging.index++
		}
		lagging.s = m.s
		return nil
	}
	if p, err := a.Bearer(tok); err != nil || p.Name != "admin" {
		t.Fatalf("after waiting: %v %v", p, err)
	}
	if waited != KeyVersion(m.View()) {
		t.Fatalf("waited for index %d, want the key's %d", waited, KeyVersion(m.View()))
	}
}

func Test_NodeTokenOfAnotherZone_CountsAsNoCredentials(t *testing.T) {
	zoneA, _ := bootstrapped(t, "a-secret")
	zoneB, _ := bootstrapped(t, "b-secret")
	tok, _, err := NodeToken(zoneA.View(), "a1", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthenticator(zoneB.View).Bearer(tok); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("zone A's member token in zone B: %v, want ErrNoCredentials", err)
	}
	// A user's token of another zone is still refused outright.
	userTok, _, _ := Issue(zoneA.View(), "admin", time.Minute, time.Now())
	if _, err := NewAuthenticator(zoneB.View).Bearer(userTok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("zone A's user token in zone B: %v", err)
	}
}
