package main

import (
	"bufio"
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

// runUser is `cairn user`.
func runUser(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", strings.TrimSpace(userUsage))
	}
	verb := args[0]
	fs := flag.NewFlagSet("cairn user "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), userUsage); fs.PrintDefaults() }
	c := clientFlags(fs)
	role := fs.String("role", "readonly", "add: the user's role, admin or readonly")
	newPassword := fs.String("new-password", "", "add, passwd: the new password (default: the first line of stdin)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError("%v", err)
	}
	name := ""
	if len(pos) > 0 {
		name = pos[0]
	}
	needName := verb != "list"
	if needName && (len(pos) != 1 || name == "") || !needName && len(pos) != 0 {
		return usageError("cairn user %s: %s", verb, strings.TrimSpace(userUsage))
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
		return usageError("cairn user: unknown verb %q\n%s", verb, userUsage)
	}
	return nil
}
