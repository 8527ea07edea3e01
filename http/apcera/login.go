package apcera

import (
	"bytes"
	"encoding/json"
	"net/http"

	"cairn/http/httpx"
	"cairn/node/auth"
)

// loginResponse is the answer of POST /v1/login.
type loginResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// login issues a bearer token for a zone user: POST /v1/login with HTTP
// Basic or {"username", "password"}. The seed names no login call (APC
// gets its token from the cluster's auth server, outside the API): this
// one is Cairn's, and the token is the zone's (node/auth.Issue), valid on
// every API of every node.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
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
	if in.Username == "" || in.Password == "" {
		fail(w, badRequest("send a username and a password (HTTP Basic or a JSON body)"))
		return
	}
	if a.Auth == nil {
		fail(w, newError(errUnavailable, "this node checks no credentials"))
		return
	}
	if _, err := a.Auth.Basic(in.Username, in.Password, false); err != nil {
		if auth.Unauthenticated(err) {
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
			WriteError(w, http.StatusUnauthorized, err.Error())
			return
		}
		fail(w, err)
		return
	}
	now := a.now()
	token, exp, err := auth.Issue(a.Node.View(), in.Username, a.TokenTTL, now)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, loginResponse{Token: token, AccessToken: token, TokenType: "bearer", ExpiresIn: int64(exp.Sub(now).Seconds())})
}
