package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"cairn/fsm"
)

// Store is what Bootstrap needs of the node: its view and its apply path.
type Store interface {
	View() *fsm.View
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
}

// InitialPasswordFile is where the zone's first leader writes the admin
// password it generated, in its data dir (mode 0600).
const InitialPasswordFile = "initial-admin-password"

// Bootstrap gives a zone what authentication needs, as a leader task: a
// token signing key, and, while the zone has no user, its first admin
// (the password given, or one generated, written to the data dir and
// printed once). It also moves users the MaxScale API stored before users
// were Cairn's into Cairn's users, keeping their passwords.
type Bootstrap struct {
	Node Store
	// AdminPassword is the first admin's password; "" generates one.
	AdminPassword string
	DataDir       string
	// Print shows the generated password once (cairn agent: stderr, apart
	// from the log lines; stdout carries only the start line).
	Print func(msg string)
	Log   *slog.Logger
}

// Run is the leader task: it retries until the zone has a key and a user,
// or ctx ends.
func (b *Bootstrap) Run(ctx context.Context) {
	delay := 100 * time.Millisecond
	for {
		err := b.once(ctx)
		if err == nil || errors.Is(err, fsm.ErrConflict) && b.done() {
			return
		}
		if !errors.Is(err, fsm.ErrConflict) {
			b.Log.Warn("could not set up the zone's users and signing key; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (b *Bootstrap) done() bool {
	v := b.Node.View()
	return KeyVersion(v) != 0 && v.Count(UserKind) > 0 && v.Count(LegacyMaxScaleUserKind) == 0
}

func (b *Bootstrap) once(ctx context.Context) error {
	if b.done() {
		return nil
	}
	v := b.Node.View()
	var ops []fsm.Op
	if KeyVersion(v) == 0 {
		op, err := NewKeyOp(0)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	moved, err := legacyUsers(v)
	if err != nil {
		return err
	}
	ops = append(ops, moved...)
	generated := ""
	if v.Count(UserKind) == 0 && len(moved) == 0 {
		password := b.AdminPassword
		if password == "" {
			if password, err = GeneratePassword(); err != nil {
				return err
			}
			generated = password
		}
		hash, err := HashPassword(password)
		if err != nil {
			return fmt.Errorf("the initial admin password: %w", err)
		}
		ops = append(ops, PutOp("admin", User{Role: RoleAdmin, Hash: hash, MaxScaleDefault: true, Generation: 1}, 0))
	}
	var file string
	if generated != "" {
		// Written before the command: once it is applied the password
		// must be findable; if it is not, the file goes.
		file = filepath.Join(b.DataDir, InitialPasswordFile)
		if err := os.WriteFile(file, []byte(generated+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	_, _, err = b.Node.Apply(ctx, fsm.Command{Ops: ops, Time: time.Now().UTC()})
	if err != nil {
		if file != "" {
			_ = os.Remove(file)
		}
		return err
	}
	switch {
	case generated != "":
		b.Log.Info("created the zone's first user, admin, with a generated password", "file", file)
		if b.Print != nil {
			b.Print(fmt.Sprintf("cairn: created user admin with password %s (also in %s; change it with `cairn user passwd admin`)", generated, file))
		}
	case len(moved) > 0:
		b.Log.Info("moved the MaxScale API's users into the zone's users", "ops", len(moved))
	case v.Count(UserKind) == 0:
		b.Log.Info("created the zone's first user, admin, with the password given by -admin-password")
	}
	return nil
}

// legacyUser is the body the MaxScale API stored for its users.
type legacyUser struct {
	Account string `json:"account"`
	Salt    string `json:"salt"`
	Hash    string `json:"hash"`
}

// legacyUsers returns the operations that move every MaxScale user into
// Cairn's users (account admin stays admin, basic becomes readonly), each
// delete conditioned on the version read.
func legacyUsers(v *fsm.View) ([]fsm.Op, error) {
	var ops []fsm.Op
	var bad error
	v.ForEach(LegacyMaxScaleUserKind, func(r *fsm.Resource) {
		var lu legacyUser
		if err := json.Unmarshal(r.Body, &lu); err != nil {
			bad = fmt.Errorf("%w: stored MaxScale user %q: %w", ErrCorrupt, r.ID, err)
			return
		}
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: LegacyMaxScaleUserKind, ID: r.ID, Require: fsm.RequireVersion, Version: r.Version})
		if v.Get(UserKind, r.ID) != nil || CheckName(r.ID) != nil {
			return // a Cairn user of that name wins; a name no login can carry goes
		}
		role := RoleReadonly
		if lu.Account == "admin" {
			role = RoleAdmin
		}
		ops = append(ops, PutOp(r.ID, User{Role: role, Hash: legacyPrefix + lu.Salt + ":" + lu.Hash, Generation: 1}, 0))
	})
	return ops, bad
}
