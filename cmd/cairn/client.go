package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"cairn/http/native"
)

// The command line's exit codes, which scripts can rely on.
const (
	exitOK           = 0
	exitFailed       = 1 // the node could not be reached, or failed
	exitUsage        = 2 // the command line was wrong
	exitNotFound     = 3 // 404: no such resource
	exitPrecondition = 4 // 409 or 412: a version or uniqueness precondition failed
	exitAuth         = 5 // 401 or 403: credentials missing, wrong or not allowed
)

// apiClient is the command line's client of a node's native API, with the
// caller's credentials: a Bearer token, or HTTP Basic.
type apiClient struct {
	addr, user, password, token string
	// caFile verifies an https node (-cacert); empty: the system's roots.
	caFile string
	http   *http.Client
}

// clientFlags adds the flags every client verb takes.
func clientFlags(fs *flag.FlagSet) *apiClient {
	c := &apiClient{http: &http.Client{}}
	fs.StringVar(&c.addr, "addr", envOr("CAIRN_ADDR", "http://127.0.0.1:8180"), "base URL of any node of the zone")
	fs.StringVar(&c.user, "user", os.Getenv("CAIRN_USER"), "user name to authenticate as")
	fs.StringVar(&c.password, "password", os.Getenv("CAIRN_PASSWORD"), "that user's password")
	fs.StringVar(&c.token, "token", os.Getenv("CAIRN_TOKEN"), "a token from a login call, instead of -user and -password")
	fs.StringVar(&c.caFile, "cacert", os.Getenv("CAIRN_CACERT"), "PEM CA certificate(s) an https -addr is verified with: the agents' -tls-ca, or a -tls-self-signed node's <data-dir>/tls/cert.pem (default: the system's roots)")
	return c
}

// trustCA makes the client verify https nodes with c.caFile, once the
// flags are parsed.
func (c *apiClient) trustCA() error {
	if c.caFile == "" {
		return nil
	}
	pem, err := os.ReadFile(c.caFile)
	if err != nil {
		return usageError("-cacert: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return usageError("-cacert %s: no PEM certificate in it", c.caFile)
	}
	c.http.Transport = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	c.caFile = ""
	return nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// apiError is an answer other than 2xx, with the API's message and what
// to do about it.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// exitCode maps an error of a client verb to the process's exit code.
func exitCode(err error) int {
	var ae *apiError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &ae):
		switch ae.status {
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusConflict, http.StatusPreconditionFailed:
			return exitPrecondition
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitAuth
		}
	}
	return exitFailed
}

// errUsage marks a wrong command line.
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// request is one call: the headers beyond credentials, and the body.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// send makes one call and returns the answer when it is 2xx (the caller
// closes its body); anything else is an *apiError.
func (c *apiClient) send(ctx context.Context, rq request) (*http.Response, error) {
	if err := c.trustCA(); err != nil {
		return nil, err
	}
	var rd io.Reader
	if rq.body != nil {
		rd = bytes.NewReader(rq.body)
	}
	base := strings.TrimRight(c.addr, "/")
	req, err := http.NewRequestWithContext(ctx, rq.method, base+rq.path, rd)
	if err != nil {
		return nil, usageError("-addr %q: %v", c.addr, err)
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if rq.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach %s (%v): is a node running there? Point -addr or CAIRN_ADDR at one", base, err)
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	msg := strings.TrimSpace(string(raw))
	var e native.ErrorBody
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	ae := &apiError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %d %s", rq.method, rq.path, resp.StatusCode, msg)}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		ae.msg += " (give credentials: -user and -password, CAIRN_USER and CAIRN_PASSWORD, or -token)"
	case http.StatusPreconditionFailed:
		ae.msg += " (the resource changed since that version: read it again)"
	case http.StatusServiceUnavailable:
		ae.msg += " (the zone has no leader or is busy: retry)"
	}
	return nil, ae
}

// do sends a request and decodes a 2xx answer's JSON into out (when not
// nil).
func (c *apiClient) do(method, path string, body, out any) error {
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		raw = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.send(ctx, request{method: method, path: path, body: raw})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}
