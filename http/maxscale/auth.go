package maxscale

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cairn/fsm"

	"github.com/gorilla/mux"
)

// Default credentials: MaxScale's own default admin user. They are
// accepted while the store holds no maxscale.user at all, so nothing has to
// be written at startup (and no two nodes race to write it); the first
// user created writes the default admin beside it, so it then lives on as
// a stored user that can have its password changed.
const (
	defaultUser     = "admin"
	defaultPassword = "mariadb"
)

// Accounts: admin may write, basic may only read.
const (
	accountAdmin = "admin"
	accountBasic = "basic"
)

// user is the stored body of a maxscale.user; the password is kept as a
// salted SHA-256, the salt made by the proposer.
type user struct {
	Account string `json:"account"`
	Salt    string `json:"salt"`
	Hash    string `json:"hash"`

	version uint64
	created time.Time
}

func hashPassword(salt, password string) string {
	sum := sha256.Sum256([]byte(salt + "\x00" + password))
	return hex.EncodeToString(sum[:])
}

func newUser(account, password string) (*user, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	salt := hex.EncodeToString(b)
	return &user{Account: account, Salt: salt, Hash: hashPassword(salt, password)}, nil
}

// loadUser returns the stored user name, the default admin while no user
// is stored, or nil.
func loadUser(v *fsm.View, name string) (*user, error) {
	if v.Count(KindUser) == 0 {
		if name != defaultUser {
			return nil, nil
		}
		return &user{Account: accountAdmin, Hash: hashPassword("", defaultPassword)}, nil
	}
	r := v.Get(KindUser, name)
	if r == nil {
		return nil, nil
	}
	u := &user{version: r.Version, created: r.Created}
	if err := json.Unmarshal(r.Body, u); err != nil {
		return nil, fmt.Errorf("%w: stored user %q: %w", errCorrupt, name, err)
	}
	return u, nil
}

// authorize checks the request's Basic credentials against the stored
// admin users; a basic (read-only) account may not write.
func (a *API) authorize(r *http.Request) error {
	name, password, ok := r.BasicAuth()
	if !ok {
		return errUnauthorized
	}
	u, err := loadUser(a.node.View(), name)
	if err != nil {
		return err
	}
	if u == nil || subtle.ConstantTimeCompare([]byte(hashPassword(u.Salt, password)), []byte(u.Hash)) != 1 {
		return errUnauthorized
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if u.Account != accountAdmin {
		return refuse("Administrative access required")
	}
	return nil
}

// userDoc is the resource object of an admin user.
func userDoc(base, name string, u *user) map[string]any {
	attrs := map[string]any{"account": u.Account, "name": name}
	if !u.created.IsZero() {
		attrs["created"] = httpDate(u.created)
	}
	return map[string]any{"id": name, "type": "inet", "attributes": attrs,
		"links": links{Self: base + "/users/inet/" + url.PathEscape(name) + "/"}}
}

// usersRoot serves GET /v1/users.
func (a *API) usersRoot(w http.ResponseWriter, r *http.Request) {
	a.listUsers(w, r)
}

// listUsers serves GET /v1/users/inet.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	v := a.node.View()
	base := baseURL(r)
	data := []any{}
	if v.Count(KindUser) == 0 {
		u, _ := loadUser(v, defaultUser)
		data = append(data, userDoc(base, defaultUser, u))
	}
	items, _ := v.List(KindUser, "", "", 0)
	for _, it := range items {
		u, err := loadUser(v, it.ID)
		if errors.Is(err, errCorrupt) {
			a.logger().Warn("listing skips a corrupt record", "kind", it.Kind, "id", it.ID, "err", err)
			continue
		}
		if err != nil {
			fail(w, err)
			return
		}
		data = append(data, userDoc(base, it.ID, u))
	}
	writeDoc(w, r, document{Links: links{Self: base + "/users/inet/"}, Data: data})
}

// getUser serves GET /v1/users/inet/:name.
func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	u, err := loadUser(a.node.View(), name)
	if err == nil && u == nil {
		err = errNotFound
	}
	if err != nil {
		fail(w, err)
		return
	}
	base := baseURL(r)
	writeDoc(w, r, document{Links: links{Self: base + "/users/inet/" + url.PathEscape(name) + "/"}, Data: userDoc(base, name, u)})
}

// createUser serves POST /v1/users/inet: data.id, attributes.password and
// attributes.account (admin or basic; default basic, as MaxScale's).
func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	doc, err := readDoc(r)
	var name string
	if err == nil {
		err = doc.checkType("inet")
	}
	if err == nil {
		name, err = doc.dataID()
	}
	if err == nil && strings.ContainsRune(name, ':') {
		// HTTP Basic splits user and password at the first colon, so a
		// user named "a:b" could never log in.
		err = refuse("The user name '" + name + "' contains a ':', which HTTP Basic authentication cannot carry")
	}
	if err != nil {
		fail(w, err)
		return
	}
	var attrs inAttributes
	if doc.Data.Attributes != nil {
		attrs = *doc.Data.Attributes
	}
	password, ok := attrs.Password.(string)
	if !ok || password == "" {
		fail(w, refuse("The user '"+name+"' needs a 'password'"))
		return
	}
	account := accountBasic
	if attrs.Account != nil {
		account, _ = attrs.Account.(string)
	}
	if account != accountAdmin && account != accountBasic {
		fail(w, refuse("The 'account' of a user must be 'admin' or 'basic'"))
		return
	}
	u, err := newUser(account, password)
	if err != nil {
		fail(w, err)
		return
	}
	a.writeUsers(w, r, func(v *fsm.View, cmd *fsm.Command) error {
		if cur, err := loadUser(v, name); err != nil || cur != nil {
			if err == nil {
				err = refuse("Can't create user '" + name + "', a user with that name already exists")
			}
			return err
		}
		return putUser(cmd, name, u, 0)
	})
}

// patchUser serves PATCH /v1/users/inet/:name: a new password.
func (a *API) patchUser(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	doc, err := readDoc(r)
	if err != nil {
		fail(w, err)
		return
	}
	var password string
	if doc.Data.Attributes != nil {
		password, _ = doc.Data.Attributes.Password.(string)
	}
	if password == "" {
		fail(w, refuse("Only the 'password' of a user can be changed, and it must be a non-empty string"))
		return
	}
	a.writeUsers(w, r, func(v *fsm.View, cmd *fsm.Command) error {
		cur, err := loadUser(v, name)
		if err == nil && cur == nil {
			err = errNotFound
		}
		if err != nil {
			return err
		}
		u, err := newUser(cur.Account, password)
		if err != nil {
			return err
		}
		return putUser(cmd, name, u, cur.version)
	})
}

// deleteUser serves DELETE /v1/users/inet/:name; the last admin account
// cannot be deleted.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	a.writeUsers(w, r, func(v *fsm.View, cmd *fsm.Command) error {
		cur, err := loadUser(v, name)
		if err == nil && cur == nil {
			err = errNotFound
		}
		if err != nil {
			return err
		}
		// Only admins who can log in count: a name with a ':' (stored
		// before such names were refused) never can.
		admins := 0
		items, _ := v.List(KindUser, "", "", 0)
		for _, it := range items {
			if strings.ContainsRune(it.ID, ':') {
				continue
			}
			if u, err := loadUser(v, it.ID); err == nil && u.Account == accountAdmin {
				admins++
				if it.ID != name {
					cmd.Ops = append(cmd.Ops, fsm.Op{Type: fsm.OpCheck, Kind: KindUser, ID: it.ID, Require: fsm.RequireVersion, Version: it.Version})
				}
			}
		}
		if cur.Account == accountAdmin && !strings.ContainsRune(name, ':') && admins <= 1 {
			return refuse("Cannot delete the last admin account '" + name + "'")
		}
		cmd.Ops = append(cmd.Ops, fsm.Op{Type: fsm.OpDelete, Kind: KindUser, ID: name, Require: fsm.RequireVersion, Version: cur.version})
		return nil
	})
}

func putUser(cmd *fsm.Command, name string, u *user, version uint64) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	op := fsm.Op{Type: fsm.OpPut, Kind: KindUser, ID: name, Body: body, Require: fsm.RequireAbsent}
	if version != 0 {
		op.Require, op.Version = fsm.RequireVersion, version
	}
	cmd.Ops = append(cmd.Ops, op)
	return nil
}

// writeUsers applies the user command build makes. While no user is
// stored, the default admin is written in the same command, so that the
// first stored user does not lock it out.
func (a *API) writeUsers(w http.ResponseWriter, r *http.Request, build func(v *fsm.View, cmd *fsm.Command) error) {
	a.write(w, r, func(t *txn) error {
		cmd := &fsm.Command{}
		if err := build(t.view, cmd); err != nil {
			return err
		}
		if t.view.Count(KindUser) == 0 {
			touchesAdmin := false
			for _, op := range cmd.Ops {
				touchesAdmin = touchesAdmin || op.ID == defaultUser
			}
			if !touchesAdmin {
				u, err := newUser(accountAdmin, defaultPassword)
				if err != nil {
					return err
				}
				if err := putUser(cmd, defaultUser, u, 0); err != nil {
					return err
				}
			}
		}
		t.extra = append(t.extra, cmd.Ops...)
		return nil
	})
}
