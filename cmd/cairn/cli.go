package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"cairn/fsm"
	"cairn/http/native"
	"cairn/node"
)

// The client verbs: Consul-style commands against any node's native API.
// Each prints a table for people and, with -json, the API's own JSON for
// scripts; its exit code says what happened (the exit* constants).

// cliVerb is one client command.
type cliVerb struct {
	usage string // arguments, for the help line
	help  string
	run   func(c *apiClient, fs *flag.FlagSet, args []string, out io.Writer) error
	// flags adds the verb's own flags.
	flags func(fs *flag.FlagSet)
}

// cliOpts are the verbs' shared flags.
type cliOpts struct {
	json, consistent, create bool
	version                  uint64
	prefix, file, body       string
	limit, lines             int
	follow                   bool
}

var cli cliOpts

var cliVerbs = map[string]cliVerb{
	"members": {help: "list the domain's members: zone, role, gossip status, who leads", run: runMembers},
	"status":  {help: "this node's Raft state: role, leader, term, indexes, last contact", run: runStatus},
	"list": {usage: "<kind>", help: "list a kind's resources (every page)", run: runList,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cli.prefix, "prefix", "", "only ids with this prefix")
			fs.IntVar(&cli.limit, "limit", 0, "at most this many (0: all)")
		}},
	"get": {usage: "<kind> <id>", help: "print one resource's body (-json: the whole resource)", run: runGet},
	"put": {usage: "<kind> <id>", help: "write a resource's body: -body JSON, -file F, or stdin", run: runPut,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cli.body, "body", "", "the JSON body")
			fs.StringVar(&cli.file, "file", "", "read the JSON body from this file (- for stdin)")
			fs.Uint64Var(&cli.version, "version", 0, "write only if the resource is still at this version (If-Match)")
			fs.BoolVar(&cli.create, "create", false, "write only if the resource does not exist (If-None-Match: *)")
		}},
	"delete": {usage: "<kind> <id>", help: "delete a resource", run: runDelete,
		flags: func(fs *flag.FlagSet) {
			fs.Uint64Var(&cli.version, "version", 0, "delete only if the resource is still at this version (If-Match)")
		}},
	"watch": {usage: "<kind>", help: "print each change to a kind's resources as it happens (until interrupted)", run: runWatch,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cli.prefix, "prefix", "", "only ids with this prefix")
		}},
	"workloads": {usage: "[id]", help: "list the workloads, or one workload's instances", run: runWorkloads},
	"logs": {usage: "<workload>", help: "print a workload's log lines, gathered from every node", run: runLogs,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&cli.lines, "n", 100, "how many of the last lines")
			fs.BoolVar(&cli.follow, "f", false, "keep printing new lines (until interrupted)")
		}},
}

// runClientVerb runs one client verb; its error decides the exit code.
func runClientVerb(name string, args []string, out io.Writer) error {
	v := cliVerbs[name]
	cli = cliOpts{}
	fs := flag.NewFlagSet("cairn "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cairn %s [flags] %s\n\n%s\n\nflags (also CAIRN_ADDR, CAIRN_USER, CAIRN_PASSWORD, CAIRN_TOKEN):\n", name, v.usage, v.help)
		fs.PrintDefaults()
	}
	c := clientFlags(fs)
	fs.BoolVar(&cli.json, "json", false, "print the API's JSON instead of a table")
	if name == "get" || name == "list" || name == "status" {
		fs.BoolVar(&cli.consistent, "consistent", false, "a linearizable read (the leader confirms it leads first)")
	}
	if v.flags != nil {
		v.flags(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError("%v", err)
	}
	want := len(strings.Fields(strings.NewReplacer("[id]", "").Replace(v.usage)))
	if got := len(pos); got != want && !(v.usage == "[id]" && got <= 1) {
		return usageError("cairn %s takes %s; see cairn %s -h", name, orNothing(v.usage), name)
	}
	return v.run(c, fs, pos, out)
}

// parseInterspersed parses flags given before, between or after the
// positional arguments (`cairn put widget w1 -body '{}'`), which the flag
// package alone stops at; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func orNothing(s string) string {
	if s == "" {
		return "no arguments"
	}
	return s
}

// readQuery adds ?consistent when asked.
func readQuery(q url.Values) string {
	if cli.consistent {
		q.Set("consistent", "")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func printJSON(out io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

func runMembers(c *apiClient, _ *flag.FlagSet, _ []string, out io.Writer) error {
	var m native.MembersBody
	if err := c.do(http.MethodGet, "/cairn/v1/members", nil, &m); err != nil {
		return err
	}
	if cli.json {
		return printJSON(out, m)
	}
	sort.SliceStable(m.Members, func(i, j int) bool {
		a, b := m.Members[i], m.Members[j]
		return a.Zone < b.Zone || a.Zone == b.Zone && a.ID < b.ID
	})
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tZONE\tSTATUS\tRAFT\tROLE\tHTTP\tVERSION")
	for _, mb := range m.Members {
		raft := mb.Suffrage
		if m.Leaders[mb.Zone] == mb.ID {
			raft = "leader"
		} else if raft == "voter" || raft == "nonvoter" {
			raft = "follower (" + raft + ")"
		}
		if raft == "" {
			raft = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mb.ID, mb.Zone, mb.Status, raft, mb.Role, mb.HTTP, mb.Version)
	}
	return tw.Flush()
}

func runStatus(c *apiClient, _ *flag.FlagSet, _ []string, out io.Writer) error {
	var st node.Status
	if err := c.do(http.MethodGet, "/cairn/v1/status"+readQuery(url.Values{}), nil, &st); err != nil {
		return err
	}
	if cli.json {
		return printJSON(out, st)
	}
	contact := "never"
	switch {
	case st.LastContactMS == 0:
		contact = "now (this node leads)"
	case st.LastContactMS > 0:
		contact = (time.Duration(st.LastContactMS) * time.Millisecond).String() + " ago"
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"node", st.NodeID}, {"zone", st.Zone + " (" + st.ZoneID + ")"}, {"state", st.State},
		{"leader", st.LeaderID + " " + st.LeaderHTTP}, {"term", strconv.FormatUint(st.Term, 10)},
		{"commit index", strconv.FormatUint(st.CommitIndex, 10)}, {"applied index", strconv.FormatUint(st.AppliedIndex, 10)},
		{"lag", strconv.FormatUint(st.CommitIndex-min(st.CommitIndex, st.AppliedIndex), 10)},
		{"last contact", contact}, {"voters", strconv.Itoa(st.Voters)}, {"voter", strconv.FormatBool(st.Voter)},
		{"last snapshot", strconv.FormatUint(st.LastSnapshotIndex, 10)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func resourcePath(kind, id string) string {
	p := "/cairn/v1/resources/" + url.PathEscape(kind)
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

func runList(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	kind := args[0]
	var all []*fsm.Resource
	next := ""
	for {
		q := url.Values{}
		if cli.prefix != "" {
			q.Set("prefix", cli.prefix)
		}
		if next != "" {
			q.Set("continue", next)
		}
		q.Set("limit", "1000")
		var page native.ListBody
		if err := c.do(http.MethodGet, resourcePath(kind, "")+readQuery(q), nil, &page); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if cli.limit > 0 && len(all) >= cli.limit {
			all = all[:cli.limit]
			break
		}
		if next = page.Next; next == "" {
			break
		}
	}
	if cli.json {
		return printJSON(out, native.ListBody{Kind: kind, Items: all})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tUPDATED\tBODY")
	for _, r := range all {
		body := string(r.Body)
		if len(body) > 60 {
			body = body[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.ID, r.Version, r.Updated.Format(time.RFC3339), body)
	}
	return tw.Flush()
}

func runGet(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	var r fsm.Resource
	if err := c.do(http.MethodGet, resourcePath(args[0], args[1])+readQuery(url.Values{}), nil, &r); err != nil {
		return err
	}
	if cli.json {
		return printJSON(out, r)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, r.Body, "", "  ") != nil {
		pretty.Write(r.Body)
	}
	fmt.Fprintf(os.Stderr, "%s/%s version %d, updated %s\n", r.Kind, r.ID, r.Version, r.Updated.Format(time.RFC3339))
	_, err := fmt.Fprintf(out, "%s\n", pretty.Bytes())
	return err
}

// precondition is the If-Match / If-None-Match header the flags ask for.
func precondition() (http.Header, error) {
	h := http.Header{}
	switch {
	case cli.create && cli.version != 0:
		return nil, usageError("-create and -version exclude each other")
	case cli.create:
		h.Set("If-None-Match", "*")
	case cli.version != 0:
		h.Set("If-Match", `"`+strconv.FormatUint(cli.version, 10)+`"`)
	}
	return h, nil
}

func runPut(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	var body []byte
	var err error
	switch {
	case cli.body != "" && cli.file != "":
		return usageError("give -body or -file, not both")
	case cli.body != "":
		body = []byte(cli.body)
	case cli.file != "" && cli.file != "-":
		if body, err = os.ReadFile(cli.file); err != nil {
			return err
		}
	default:
		if body, err = io.ReadAll(os.Stdin); err != nil {
			return err
		}
	}
	if !json.Valid(body) {
		return usageError("the body is not valid JSON")
	}
	h, err := precondition()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.send(ctx, request{method: http.MethodPut, path: resourcePath(args[0], args[1]), header: h, body: body})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r fsm.Resource
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if cli.json {
		return printJSON(out, r)
	}
	what := "updated"
	if resp.StatusCode == http.StatusCreated {
		what = "created"
	}
	_, err = fmt.Fprintf(out, "%s/%s %s, version %d\n", r.Kind, r.ID, what, r.Version)
	return err
}

func runDelete(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	h, err := precondition()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.send(ctx, request{method: http.MethodDelete, path: resourcePath(args[0], args[1]), header: h})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if !cli.json {
		fmt.Fprintf(out, "%s/%s deleted\n", args[0], args[1])
	}
	return nil
}

// interrupted is a context that ends on SIGINT or SIGTERM: watch and
// logs -f run until then.
func interrupted() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// runWatch prints the kind's resources, then each change, using the
// native API's blocking reads (?index=N&wait=): no polling.
func runWatch(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	kind := args[0]
	ctx, stop := interrupted()
	defer stop()
	seen := map[string]uint64{}
	var index uint64
	first := true
	for {
		items, idx, err := watchList(ctx, c, kind, index)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		now := map[string]*fsm.Resource{}
		for _, r := range items {
			now[r.ID] = r
		}
		var events []string
		for _, r := range items {
			switch v, ok := seen[r.ID]; {
			case !ok && first:
				events = append(events, watchLine("exists", r))
			case !ok:
				events = append(events, watchLine("created", r))
			case v != r.Version:
				events = append(events, watchLine("updated", r))
			}
			seen[r.ID] = r.Version
		}
		for id := range seen {
			if now[id] == nil {
				events = append(events, watchLine("deleted", &fsm.Resource{Kind: kind, ID: id}))
				delete(seen, id)
			}
		}
		sort.Strings(events)
		for _, e := range events {
			fmt.Fprintln(out, e)
		}
		if f, ok := out.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
		first = false
		index = idx
	}
}

func watchLine(what string, r *fsm.Resource) string {
	if cli.json {
		b, _ := json.Marshal(map[string]any{"event": what, "kind": r.Kind, "id": r.ID, "version": r.Version, "body": r.Body})
		return string(b)
	}
	if what == "deleted" {
		return fmt.Sprintf("%-8s %s/%s", what, r.Kind, r.ID)
	}
	return fmt.Sprintf("%-8s %s/%s version %d %s", what, r.Kind, r.ID, r.Version, r.Body)
}

// watchList reads every resource of kind once the store passes index,
// waiting up to a minute; it returns the store's index as of the read.
func watchList(ctx context.Context, c *apiClient, kind string, index uint64) ([]*fsm.Resource, uint64, error) {
	var all []*fsm.Resource
	var storeIndex uint64
	next := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cli.prefix != "" {
			q.Set("prefix", cli.prefix)
		}
		if next != "" {
			q.Set("continue", next)
		} else if index > 0 {
			q.Set("index", strconv.FormatUint(index, 10))
			q.Set("wait", "60s")
		}
		rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		resp, err := c.send(rctx, request{method: http.MethodGet, path: resourcePath(kind, "") + "?" + q.Encode()})
		if err != nil {
			cancel()
			return nil, 0, err
		}
		var page native.ListBody
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		cancel()
		if err != nil {
			return nil, 0, err
		}
		if next == "" {
			storeIndex, _ = strconv.ParseUint(resp.Header.Get("X-Cairn-Index"), 10, 64)
		}
		all = append(all, page.Items...)
		if next = page.Next; next == "" {
			return all, storeIndex, nil
		}
	}
}

// workloadList is GET /cairn/v1/workloads.
type workloadList struct {
	Items []native.WorkloadBody `json:"items"`
	Next  string                `json:"next,omitempty"`
}

func runWorkloads(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(args) == 1 {
		var w native.WorkloadBody
		if err := c.do(http.MethodGet, "/cairn/v1/workloads/"+url.PathEscape(args[0]), nil, &w); err != nil {
			return err
		}
		if cli.json {
			return printJSON(out, w)
		}
		fmt.Fprintf(tw, "workload %s, version %d, wanted %s x%d\n", w.ID, w.Version, w.Spec.State, w.Spec.Instances)
		fmt.Fprintln(tw, "INDEX\tNODE\tSTATE\tPID\tRESTARTS\tREASON")
		for _, in := range w.Instances {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", in.Index, in.Node, in.State, in.PID, in.Restarts, in.Reason)
		}
		return tw.Flush()
	}
	var l workloadList
	next := ""
	for {
		var page workloadList
		path := "/cairn/v1/workloads?limit=1000"
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		if err := c.do(http.MethodGet, path, nil, &page); err != nil {
			return err
		}
		l.Items = append(l.Items, page.Items...)
		if next = page.Next; next == "" {
			break
		}
	}
	if cli.json {
		return printJSON(out, l)
	}
	fmt.Fprintln(tw, "ID\tWANTED\tINSTANCES\tRUNNING\tFAILED")
	for _, w := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", w.ID, w.Spec.State, w.Spec.Instances, w.Counts["RUNNING"], w.Counts["failed"])
	}
	return tw.Flush()
}

// runLogs prints the last lines of a workload, then with -f the new ones
// as the API streams them.
func runLogs(c *apiClient, _ *flag.FlagSet, args []string, out io.Writer) error {
	if cli.lines < 1 || cli.lines > 10000 {
		return usageError("-n must be 1 to 10000")
	}
	ctx, stop := interrupted()
	defer stop()
	q := url.Values{"lines": {strconv.Itoa(cli.lines)}}
	if cli.json {
		q.Set("format", "json")
	}
	path := "/cairn/v1/workloads/" + url.PathEscape(args[0]) + "/logs?" + q.Encode()
	if cli.follow {
		path += "&follow"
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var last int64 // the newest line's timestamp
	for {
		resp, err := c.send(ctx, request{method: http.MethodGet, path: path})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if missing := resp.Header.Get("X-Cairn-Logs-Missing"); missing != "" {
			fmt.Fprintln(os.Stderr, "cairn logs: no answer from", missing, "(their lines are missing)")
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if ts, _, ok := strings.Cut(line, ","); ok {
				if n, err := strconv.ParseInt(ts, 10, 64); err == nil && n > last {
					last = n
				}
			}
			fmt.Fprintln(out, line)
		}
		resp.Body.Close()
		if !cli.follow || ctx.Err() != nil {
			return nil
		}
		// A follow ends at the server's request deadline: go on from the
		// newest line seen.
		q.Set("since", strconv.FormatInt(last, 10))
		q.Set("lines", "10000")
		path = "/cairn/v1/workloads/" + url.PathEscape(args[0]) + "/logs?" + q.Encode() + "&follow"
	}
}
