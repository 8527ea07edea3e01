package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"cairn/http/native"
)

const userUsage = `usage: cairn user <add|passwd|rm|list> [flags] [name]

  add NAME      create a user (-role admin|readonly, default readonly)
  passwd NAME   set a user's password (revokes the tokens issued to it)
  rm NAME       remove a user (the zone's last admin cannot go)
  list          list the users and their roles

The new password comes from -new-password, or from the first line of stdin.
Flags (each also from the environment: CAIRN_ADDR, CAIRN_USER, CAIRN_PASSWORD,
CAIRN_TOKEN, CAIRN_CACERT):
`

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
	c := &apiClient{http: &http.Client{Timeout: 30 * time.Second}}
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
		return fmt.Errorf("-cacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("-cacert %s: no PEM certificate in it", c.caFile)
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

// do sends a request and decodes a 2xx answer's JSON into out (when not
// nil); anything else is an error carrying the API's message.
func (c *apiClient) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	if err := c.trustCA(); err != nil {
		return err
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.addr, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
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
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e native.ErrorBody
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// runUser is `cairn user`.
func runUser(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(strings.TrimSpace(userUsage))
	}
	verb := args[0]
	fs := flag.NewFlagSet("cairn user "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), userUsage); fs.PrintDefaults() }
	c := clientFlags(fs)
	role := fs.String("role", "readonly", "add: the user's role, admin or readonly")
	newPassword := fs.String("new-password", "", "add, passwd: the new password (default: the first line of stdin)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	name := fs.Arg(0)
	needName := verb != "list"
	if needName && (fs.NArg() != 1 || name == "") || !needName && fs.NArg() != 0 {
		return fmt.Errorf("cairn user %s: %s", verb, strings.TrimSpace(userUsage))
	}
	password := func() (string, error) {
		if *newPassword != "" {
			return *newPassword, nil
		}
		fmt.Fprint(os.Stderr, "new password for "+name+": ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if err == nil || err == io.EOF {
				err = errors.New("no password given (-new-password, or a line on stdin)")
			}
			return "", err
		}
		return line, nil
	}
	path := "/cairn/v1/users/" + url.PathEscape(name)
	switch verb {
	case "add":
		pw, err := password()
		if err != nil {
			return err
		}
		var u native.UserBody
		if err := c.do(http.MethodPut, path, map[string]string{"password": pw, "role": *role}, &u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s (%s) saved\n", u.Name, u.Role)
	case "passwd":
		pw, err := password()
		if err != nil {
			return err
		}
		if err := c.do(http.MethodPut, path, map[string]string{"password": pw}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its earlier tokens are revoked\n", name)
	case "rm":
		if err := c.do(http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s removed\n", name)
	case "list":
		var l native.UserList
		if err := c.do(http.MethodGet, "/cairn/v1/users", nil, &l); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tUPDATED")
		for _, u := range l.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.Updated.Format(time.RFC3339))
		}
		return tw.Flush()
	default:
		return fmt.Errorf("cairn user: unknown verb %q\n%s", verb, userUsage)
	}
	return nil
}
