// Command cairn is Cairn's one binary: `cairn agent` runs a node; the other
// verbs are the command-line client.
package main

import (
	"cairn/cluster"
	"cairn/cmd/cairn/bench"

	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// version is set at build time by the Makefile (-ldflags "-X main.version=...");
// `make dist` also stamps commit and buildDate.
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// versionLine is what `cairn version` prints: the version, and the commit
// and build date when the build stamped them.
func versionLine() string {
	s := "cairn " + version
	if commit != "" || buildDate != "" {
		s += fmt.Sprintf(" (commit %s, built %s, %s)", orUnknown(commit), orUnknown(buildDate), runtime.Version())
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

const usage = `usage: cairn <command> [flags]

commands:
  agent     run a Cairn node (cairn agent -h lists its flags)
  members   list the domain's members, their zones and who leads
  status    this node's Raft state
  list      list a kind's resources          get     print one resource
  put       write a resource                 delete  delete a resource
  watch     print changes to a kind as they happen
  workloads list workloads, or one's instances
  logs      print (-f: follow) a workload's logs
  user      add, change, remove and list the zone's users (cairn user -h)
  snapshot  save the zone's state to a file, or restore it from one (cairn snapshot -h)
  bench     send load to a node or zone and report throughput and latency (cairn bench -h)
  keygen    print a new random gossip key (base64, 32 bytes) for cairn agent -gossip-key
  version   print the version

Client commands talk to -addr (CAIRN_ADDR, default http://127.0.0.1:8180)
and take -json for scripts; cairn <command> -h lists their flags. Exit
codes: 0 done, 1 failed, 2 bad command line, 3 not found, 4 a version or
uniqueness precondition failed, 5 credentials missing or not allowed.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "agent":
		keepSysmonBackedOff()
		if err := runAgent(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "cairn agent:", err)
			os.Exit(1)
		}
	case "user":
		exitWith("user", runUser(os.Args[2:], os.Stdin, os.Stdout))
	case "snapshot":
		exitWith("snapshot", runSnapshot(os.Args[2:], os.Stdout))
	case "members", "status", "list", "get", "put", "delete", "watch", "workloads", "logs":
		exitWith(os.Args[1], runClientVerb(os.Args[1], os.Args[2:], os.Stdout))
	case "bench":
		os.Exit(bench.Main(os.Args[2:], os.Stdout, os.Stderr))
	case "keygen":
		if len(os.Args) > 2 {
			fmt.Fprintln(os.Stderr, "cairn keygen takes no arguments")
			os.Exit(2)
		}
		key, err := cluster.NewGossipKey()
		if err != nil {
			fmt.Fprintln(os.Stderr, "cairn keygen:", err)
			os.Exit(1)
		}
		fmt.Println(key)
	case "version", "-version", "--version":
		fmt.Println(versionLine())
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "cairn: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

// exitWith ends a client command: its error on stderr and the exit code
// scripts rely on (exitCode).
func exitWith(verb string, err error) {
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "cairn "+verb+":", strings.TrimPrefix(err.Error(), "usage: "))
	}
	os.Exit(exitCode(err))
}
