package native

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// LoginPath is Cairn's login call; it answers without credentials (the
// authentication middleware lets it through). Runtime Manager's
// /accounts/login is served by its dialect (http/arm).
const LoginPath = "/cairn/v1/login"

// DefaultTokenTTL is how long a login's token is valid by default.
const DefaultTokenTTL = time.Hour

// UsersOptions are the users API's settings.
type UsersOptions struct {
	// Auth checks the login calls' credentials.
	Auth *auth.Authenticator
	// TokenTTL is how long a token is valid (0: DefaultTokenTTL).
	TokenTTL time.Duration
}

// usersAPI serves /cairn/v1/users, the login calls, /cairn/v1/whoami and
// the signing key's rotation. The users' kind is written here and by the
// MaxScale API's users only.
type usersAPI struct {
	*API
	auth *auth.Authenticator
	ttl  time.Duration
}

// RegisterUsers mounts the users API on r.
func RegisterUsers(r *mux.Router, n Node, o UsersOptions) {
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Auth == nil {
		o.Auth = auth.NewAuthenticator(n.View)
	}
	a := &usersAPI{API: &API{node: n, now: time.Now}, auth: o.Auth, ttl: o.TokenTTL}
	r.HandleFunc("/cairn/v1/users", a.list).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/users/{name}", a.get).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/users/{name}", a.put).Methods(http.MethodPut)
	r.HandleFunc("/cairn/v1/users/{name}", a.delete).Methods(http.MethodDelete)
	r.HandleFunc("/cairn/v1/users/{name}/revoke-tokens", a.revoke).Methods(http.MethodPost)
	r.HandleFunc("/cairn/v1/whoami", a.whoami).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/auth/rotate-key", a.rotateKey).Methods(http.MethodPost)
	r.HandleFunc(LoginPath, a.login).Methods(http.MethodPost)
}

// UserBody is a user as the API shows it: never its password hash.
type UserBody struct {
	Name    string    `json:"name"`
	Role    auth.Role `json:"role"`
	Version uint64    `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func userBody(u *auth.StoredUser) UserBody {
	return UserBody{Name: u.Name, Role: u.Role, Version: u.Version, Created: u.Created, Updated: u.Updated}
}

// UserList is the body of GET /cairn/v1/users.
type UserList struct {
	Items []UserBody `json:"items"`
}

func (a *usersAPI) list(w http.ResponseWriter, r *http.Request) {
	out := UserList{Items: []UserBody{}}
	for _, u := range auth.List(a.node.View(), nil) {
		out.Items = append(out.Items, userBody(u))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func userName(r *http.Request) (string, error) {
	name := mux.Vars(r)["name"]
	if err := auth.CheckName(name); err != nil {
		return "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return name, nil
}

// loadUser returns the stored user of the path, or an error for fail.
func (a *usersAPI) loadUser(r *http.Request) (*fsm.View, *auth.StoredUser, error) {
	name, err := userName(r)
	if err != nil {
		return nil, nil, err
	}
	v := a.node.View()
	u, err := auth.Load(v, name)
	if err == nil && u == nil {
		err = fmt.Errorf("%w: no user %q", errNotFound, name)
	}
	return v, u, err
}

func (a *usersAPI) get(w http.ResponseWriter, r *http.Request) {
	_, u, err := a.loadUser(r)
	if err != nil {
		fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, userBody(u))
}

// UserPut is the body of PUT /cairn/v1/users/{name}: creating a user takes
// a password (the role defaults to readonly); changing one takes either.
type UserPut struct {
	Password *string `json:"password"`
	Role     *string `json:"role"`
}

func decodeStrict(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

func (a *usersAPI) put(w http.ResponseWriter, r *http.Request) {
	name, err := userName(r)
	var in UserPut
	if err == nil {
		var raw json.RawMessage
		if raw, err = httpx.ReadJSON(r); err == nil {
			err = decodeStrict(raw, &in)
		}
	}
	var role auth.Role
	if err == nil && in.Role != nil {
		role, err = auth.ParseRole(*in.Role)
	}
	var hash string
	if err == nil && in.Password != nil {
		hash, err = auth.HashPassword(*in.Password)
	}
	if err != nil {
		fail(w, err)
		return
	}
	v := a.node.View()
	cur, err := auth.Load(v, name)
	if err != nil {
		fail(w, err)
		return
	}
	var ops []fsm.Op
	var u auth.User
	switch {
	case cur == nil && hash == "":
		fail(w, fmt.Errorf("%w: a new user needs a password", errBadRequest))
		return
	case cur == nil:
		u = auth.User{Role: auth.RoleReadonly, Hash: hash, Generation: 1}
		if role != "" {
			u.Role = role
		}
	default:
		if hash == "" && role == "" {
			fail(w, fmt.Errorf("%w: send a password, a role or both", errBadRequest))
			return
		}
		u = cur.User
		if hash != "" {
			// A new password revokes the tokens issued before it.
			u.Hash, u.MaxScaleDefault, u.Generation = hash, false, u.Generation+1
		}
		if role != "" {
			if cur.Role == auth.RoleAdmin && role != auth.RoleAdmin {
				checks, err := auth.KeepAnAdmin(v, name)
				if err != nil {
					fail(w, err)
					return
				}
				ops = append(ops, checks...)
			}
			u.Role = role
		}
	}
	var version uint64
	if cur != nil {
		version = cur.Version
	}
	ops = append(ops, auth.PutOp(name, u, version))
	res, err := a.apply(w, r, ops...)
	if err != nil {
		fail(w, err)
		return
	}
	stored := res.Resources[len(res.Resources)-1]
	status := http.StatusOK
	if cur == nil {
		status = http.StatusCreated
	}
	w.Header().Set("ETag", `"`+strconv.FormatUint(stored.Version, 10)+`"`)
	httpx.WriteJSON(w, status, userBody(&auth.StoredUser{User: u, Name: name, Version: stored.Version, Created: stored.Created, Updated: stored.Updated}))
}

func (a *usersAPI) delete(w http.ResponseWriter, r *http.Request) {
	v, u, err := a.loadUser(r)
	if err != nil {
		fail(w, err)
		return
	}
	var ops []fsm.Op
	if u.Role == auth.RoleAdmin {
		if ops, err = auth.KeepAnAdmin(v, u.Name); err != nil {
			fail(w, err)
			return
		}
	}
	ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: auth.UserKind, ID: u.Name, Require: fsm.RequireVersion, Version: u.Version})
	if _, err := a.apply(w, r, ops...); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revoke refuses every token issued to the user so far.
func (a *usersAPI) revoke(w http.ResponseWriter, r *http.Request) {
	_, u, err := a.loadUser(r)
	if err != nil {
		fail(w, err)
		return
	}
	next := u.User
	next.Generation++
	if _, err := a.apply(w, r, auth.PutOp(u.Name, next, u.Version)); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Whoami is the body of GET /cairn/v1/whoami.
type Whoami struct {
	Name string    `json:"name"`
	Role auth.Role `json:"role"`
}

func (a *usersAPI) whoami(w http.ResponseWriter, r *http.Request) {
	p := httpx.PrincipalFrom(r.Context())
	httpx.WriteJSON(w, http.StatusOK, Whoami{Name: httpx.UserFrom(r.Context()), Role: p.Role})
}

// rotateKey replaces the token signing key: every token issued so far is
// refused from then on.
func (a *usersAPI) rotateKey(w http.ResponseWriter, r *http.Request) {
	op, err := auth.NewKeyOp(auth.KeyVersion(a.node.View()))
	if err == nil {
		_, err = a.apply(w, r, op)
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// LoginRequest is the body of a login call (Runtime Manager's shape); HTTP
// Basic credentials are taken instead when there is no body.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is a login's answer: Runtime Manager's access_token and
// token_type, and when it expires.
type LoginResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   int64     `json:"expires_in"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func (a *usersAPI) login(w http.ResponseWriter, r *http.Request) {
	var in LoginRequest
	raw, err := httpx.ReadBody(r)
	if err != nil {
		fail(w, err)
		return
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &in); err != nil {
			fail(w, fmt.Errorf("%w: the body must be {\"username\": ..., \"password\": ...}: %v", errBadRequest, err))
			return
		}
	} else if name, password, ok := r.BasicAuth(); ok {
		in = LoginRequest{Username: name, Password: password}
	}
	if in.Username == "" || in.Password == "" {
		fail(w, fmt.Errorf("%w: send a username and a password (a JSON body or HTTP Basic)", errBadRequest))
		return
	}
	if _, err := a.auth.Basic(in.Username, in.Password, false); err != nil {
		if auth.Unauthenticated(err) {
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
			WriteError(w, http.StatusUnauthorized, err.Error())
			return
		}
		fail(w, err)
		return
	}
	now := a.now()
	token, exp, err := auth.Issue(a.node.View(), in.Username, a.ttl, now)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, LoginResponse{AccessToken: token, TokenType: "bearer", ExpiresIn: int64(exp.Sub(now).Seconds()), ExpiresAt: exp.UTC()})
}
