package arm

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cairn/http/httpx"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// The accounts calls Runtime Manager's clients make before the hybrid
// ones (reference section B): a login (user and password, or client
// credentials) for a bearer token, who the caller is and of which
// organization, and the organization's environments. Cairn's users are
// the accounts; a zone is one organization with one environment,
// "Production". Clients send the ids back as X-ANYPNT-ORG-ID and
// X-ANYPNT-ENV-ID, which are accepted and not checked: a zone holds one.

// tokenResponse is a login's answer. Never "url" and "body" keys: those
// mean multi-factor authentication to the CLI.
type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   int64     `json:"expires_in"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// login is POST /accounts/login: {"username","password"}, or HTTP Basic
// and no body.
func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	raw, err := httpx.ReadBody(r)
	if err != nil {
		fail(w, err)
		return
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &in); err != nil {
			fail(w, badRequest("the body must be {\"username\": ..., \"password\": ...}: %v", err))
			return
		}
	} else if name, password, ok := r.BasicAuth(); ok {
		in.Username, in.Password = name, password
	}
	a.issueToken(w, in.Username, in.Password)
}

// oauthToken is POST /accounts/api/v2/oauth2/token with the client
// credentials grant: client_id is a user's name, client_secret the
// password. JSON or a form.
func (a *api) oauthToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
	}
	raw, err := httpx.ReadBody(r)
	if err != nil {
		fail(w, err)
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f, err := url.ParseQuery(string(raw))
		if err != nil {
			fail(w, badRequest("the form does not parse: %v", err))
			return
		}
		in.ClientID, in.ClientSecret, in.GrantType = f.Get("client_id"), f.Get("client_secret"), f.Get("grant_type")
	} else if err := json.Unmarshal(raw, &in); err != nil {
		fail(w, badRequest("the body must be {\"client_id\", \"client_secret\", \"grant_type\": \"client_credentials\"}: %v", err))
		return
	}
	if in.GrantType != "" && in.GrantType != "client_credentials" {
		fail(w, badRequest("grant_type %q is not supported: use client_credentials", in.GrantType))
		return
	}
	a.issueToken(w, in.ClientID, in.ClientSecret)
}

func (a *api) issueToken(w http.ResponseWriter, name, password string) {
	if name == "" || password == "" {
		fail(w, badRequest("send a username and a password"))
		return
	}
	if _, err := a.Auth.Basic(name, password, false); err != nil {
		if auth.Unauthenticated(err) {
			fail(w, newError(errUnauthorized, "%v", err))
			return
		}
		fail(w, err)
		return
	}
	now := a.now()
	token, exp, err := auth.Issue(a.Node.View(), name, a.TokenTTL, now)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, tokenResponse{AccessToken: token, TokenType: "bearer",
		ExpiresIn: int64(exp.Sub(now).Seconds()), ExpiresAt: exp.UTC()})
}

// zoneUUID is a name-based UUID (SHA-1, version 5 layout) of what within
// this zone: the organization's and environment's ids, the same on every
// member and every run.
func (a *api) zoneUUID(what string) string {
	h := sha1.Sum([]byte("cairn zone " + a.Node.Zone() + " " + what))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

type organization struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	IsRoot bool   `json:"isRoot"`
}

func (a *api) organization() organization {
	return organization{ID: a.zoneUUID("organization"), Name: "Cairn zone " + a.Node.Zone(), IsRoot: true}
}

// user is the caller as /accounts/api/users/me shows it.
func (a *api) user(r *http.Request) map[string]any {
	p := httpx.PrincipalFrom(r.Context())
	name := p.Name
	if name == "" {
		name = "anonymous"
	}
	org := a.organization()
	return map[string]any{
		"id": name, "username": name, "firstName": name, "lastName": "", "email": "",
		"enabled": true, "role": string(p.Role), "organizationId": org.ID,
		"organization":               org,
		"memberOfOrganizations":      []organization{org},
		"contributorOfOrganizations": []organization{org},
	}
}

// me is GET /accounts/api/users/me: the caller's fields at the top level.
func (a *api) me(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, a.user(r))
}

// meWrapped is GET /accounts/api/me (the Maven plugin's call): the same,
// under "user".
func (a *api) meWrapped(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"user": a.user(r)})
}

// environments is GET /accounts/api/organizations/{org}/environments.
func (a *api) environments(w http.ResponseWriter, r *http.Request) {
	org := a.organization()
	if mux.Vars(r)["org"] != org.ID {
		fail(w, notFound("organization %s does not exist; this zone's is %s", mux.Vars(r)["org"], org.ID))
		return
	}
	env := map[string]any{"id": a.zoneUUID("environment Production"), "name": "Production", "organizationId": org.ID,
		"isProduction": true, "type": "production"}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": []any{env}, "total": 1})
}
