package maxscale

import (
	"errors"
	"net/http"
	"net/url"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// MaxScale's admin users are Cairn's users (node/auth): one identity on
// every API. MaxScale's account "admin" is Cairn's role admin, its
// "basic" is readonly. MaxScale's documented default, admin/mariadb, is
// accepted here while it is in use: while the zone has no user yet, and
// afterwards for the admin a new zone creates, until its password is
// changed (auth.User.MaxScaleDefault).

// Accounts: admin may write, basic may only read.
const (
	accountAdmin = "admin"
	accountBasic = "basic"
)

func accountOf(r auth.Role) string {
	if r == auth.RoleAdmin {
		return accountAdmin
	}
	return accountBasic
}

func roleOf(account string) auth.Role {
	if account == accountAdmin {
		return auth.RoleAdmin
	}
	return auth.RoleReadonly
}

// authorize checks the request's credentials (HTTP Basic, a Cairn Bearer
// token, or that token in MaxScale's two cookies); a basic (read-only)
// account may not write. It returns who the request acts as.
func (a *API) authorize(r *http.Request) (auth.Principal, error) {
	CookieAuth(r)
	p, err := a.auth.Request(r, true)
	if auth.Unauthenticated(err) {
		return p, errUnauthorized
	}
	if err != nil {
		return p, err
	}
	// Into the slot the listener's audit line reads (httpx.WithPrincipalSlot).
	httpx.WithPrincipal(r.Context(), p)
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return p, nil
	}
	if !p.Role.CanWrite() {
		return p, refuse("Administrative access required")
	}
	return p, nil
}

// userDoc is the resource object of an admin user.
func userDoc(base string, u *auth.StoredUser) map[string]any {
	attrs := map[string]any{"account": accountOf(u.Role), "name": u.Name}
	if !u.Created.IsZero() {
		attrs["created"] = httpDate(u.Created)
	}
	return map[string]any{"id": u.Name, "type": "inet", "attributes": attrs,
		"links": links{Self: base + "/users/inet/" + url.PathEscape(u.Name) + "/"}}
}

// defaultAdmin is the user listed while the zone has none stored.
var defaultAdmin = &auth.StoredUser{Name: "admin", User: auth.User{Role: auth.RoleAdmin, MaxScaleDefault: true}}

// usersRoot serves GET /v1/users.
func (a *API) usersRoot(w http.ResponseWriter, r *http.Request) {
	a.listUsers(w, r)
}

// listUsers serves GET /v1/users/inet.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	v := a.node.View()
	base := baseURL(r)
	data := []any{}
	users := auth.List(v, func(name string, err error) {
		a.logger().Warn("listing skips a corrupt record", "kind", auth.UserKind, "id", name, "err", err)
	})
	if v.Count(auth.UserKind) == 0 {
		users = append(users, defaultAdmin)
	}
	mod := a.started
	for _, u := range users {
		data = append(data, userDoc(base, u))
		if u.Updated.After(mod) {
			mod = u.Updated
		}
	}
	writeDoc(w, r, document{Links: links{Self: base + "/users/inet/"}, Data: data}, mod)
}

// loadUser returns the stored user name (the default admin while none is
// stored), or errNotFound.
func loadUser(v *fsm.View, name string) (*auth.StoredUser, error) {
	if v.Count(auth.UserKind) == 0 && name == defaultAdmin.Name {
		return defaultAdmin, nil
	}
	u, err := auth.Load(v, name)
	if errors.Is(err, auth.ErrCorrupt) {
		err = errors.Join(errCorrupt, err)
	}
	if err == nil && u == nil {
		err = errNotFound
	}
	return u, err
}

// getUser serves GET /v1/users/inet/:name.
func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	u, err := loadUser(a.node.View(), name)
	if err != nil {
		fail(w, err)
		return
	}
	base := baseURL(r)
	mod := u.Updated
	if mod.IsZero() {
		mod = a.started
	}
	writeDoc(w, r, document{Links: links{Self: base + "/users/inet/" + url.PathEscape(name) + "/"}, Data: userDoc(base, u)}, mod)
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
	if err == nil {
		if e := auth.CheckName(name); e != nil {
			err = refuse("The user name '" + name + "' is not allowed: " + e.Error())
		}
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
	hash, err := auth.HashPassword(password)
	if err != nil {
		fail(w, refuse(err.Error()))
		return
	}
	a.writeUsers(w, r, func(v *fsm.View, t *txn) error {
		if cur, err := auth.Load(v, name); err != nil || cur != nil {
			if err == nil {
				err = refuse("Can't create user '" + name + "', a user with that name already exists")
			}
			return err
		}
		t.extra = append(t.extra, auth.PutOp(name, auth.User{Role: roleOf(account), Hash: hash, Generation: 1}, 0))
		return nil
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
	hash, err := auth.HashPassword(password)
	if err != nil {
		fail(w, refuse(err.Error()))
		return
	}
	a.writeUsers(w, r, func(v *fsm.View, t *txn) error {
		cur, err := auth.Load(v, name)
		if err == nil && cur == nil && v.Count(auth.UserKind) == 0 && name == defaultAdmin.Name {
			cur = defaultAdmin // written below with its new password
			t.skipDefault = true
		}
		if err == nil && cur == nil {
			err = errNotFound
		}
		if err != nil {
			return err
		}
		u := cur.User
		u.Hash, u.MaxScaleDefault = hash, false
		u.Generation++ // a new password revokes the tokens issued before
		t.extra = append(t.extra, auth.PutOp(name, u, cur.Version))
		return nil
	})
}

// deleteUser serves DELETE /v1/users/inet/:name; the last admin account
// cannot be deleted.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	a.writeUsers(w, r, func(v *fsm.View, t *txn) error {
		cur, err := loadUser(v, name)
		if err != nil {
			return err
		}
		if cur.Role == auth.RoleAdmin && auth.CheckName(name) == nil {
			checks, err := auth.KeepAnAdmin(v, name)
			if err != nil {
				return refuse("Cannot delete the last admin account '" + name + "'")
			}
			t.extra = append(t.extra, checks...)
		}
		t.extra = append(t.extra, fsm.Op{Type: fsm.OpDelete, Kind: auth.UserKind, ID: name, Require: fsm.RequireVersion, Version: cur.Version})
		return nil
	})
}

// writeUsers applies the user operations build adds. While no user is
// stored (the zone's leader writes the first as it starts), MaxScale's
// default admin is written in the same command, so that the first user
// stored here does not lock it out.
func (a *API) writeUsers(w http.ResponseWriter, r *http.Request, build func(v *fsm.View, t *txn) error) {
	a.write(w, r, func(t *txn) error {
		if err := build(t.view, t); err != nil {
			return err
		}
		if t.view.Count(auth.UserKind) == 0 && !t.skipDefault {
			hash, err := auth.HashPassword(auth.MaxScaleDefaultPassword)
			if err != nil {
				return err
			}
			t.extra = append(t.extra, auth.PutOp(defaultAdmin.Name, auth.User{Role: auth.RoleAdmin, Hash: hash, MaxScaleDefault: true, Generation: 1}, 0))
		}
		return nil
	})
}
