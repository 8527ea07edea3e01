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
)

// version is set at build time by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

const usage = `usage: cairn <command> [flags]

commands:
  agent     run a Cairn node (cairn agent -h lists its flags)
  user      add, change, remove and list the zone's users (cairn user -h)
  bench     send load to a node or zone and report throughput and latency (cairn bench -h)
  keygen    print a new random gossip key (base64, 32 bytes) for cairn agent -gossip-key
  version   print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "agent":
		if err := runAgent(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "cairn agent:", err)
			os.Exit(1)
		}
	case "user":
		if err := runUser(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "cairn user:", err)
			os.Exit(1)
		}
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
		fmt.Println("cairn", version)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "cairn: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
