// Command campaigntable prints the markdown table of a jepsen campaign
// (`make jepsen-campaign`) from the summary lines its runs wrote, one JSON
// object a line (cluster/jepsen's Summary). Each argument seed:nodes is a
// run the campaign started: one without a summary line (it died, or timed
// out) is listed as NO SUMMARY. It exits 1 if any run did not pass.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"cairn/cluster/jepsen"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: campaigntable summary.jsonl [seed:nodes ...]")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil && !os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	got := map[string]jepsen.Summary{}
	var order []string
	if f != nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var s jepsen.Summary
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				fmt.Fprintf(os.Stderr, "a line that is no summary: %v\n", err)
				os.Exit(2)
			}
			k := fmt.Sprintf("%d:%d", s.Seed, s.Nodes)
			if _, ok := got[k]; !ok {
				order = append(order, k)
			}
			got[k] = s
		}
		f.Close()
	}
	want := os.Args[2:]
	if len(want) == 0 {
		want = order
	}
	fmt.Println("| seed | nodes | register ops | indeterminate | set adds acked | session checks | reads in leader pauses | faults | anomalies | result |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	var ops, indet, acked, sessions, reads, faults, failed int
	for _, k := range want {
		s, ok := got[k]
		if !ok {
			var seed, nodes int
			fmt.Sscanf(k, "%d:%d", &seed, &nodes)
			fmt.Printf("| %d | %d | | | | | | | no summary line: the run died or timed out | NO SUMMARY |\n", seed, nodes)
			failed++
			continue
		}
		an := "none"
		if len(s.Anomalies) > 0 {
			an = strings.ReplaceAll(strings.Join(s.Anomalies, "; "), "|", `\|`)
		}
		fmt.Printf("| %d | %d | %d | %d | %d | %d | %d | %d | %s | %s |\n", s.Seed, s.Nodes, s.Ops, s.Indeterminate, s.SetAcked,
			s.Sessions, s.ReadsInLeaderPause, s.Faults, an, s.Result)
		ops, indet, acked, sessions = ops+s.Ops, indet+s.Indeterminate, acked+s.SetAcked, sessions+s.Sessions
		reads, faults = reads+s.ReadsInLeaderPause, faults+s.Faults
		if s.Result != "PASS" {
			failed++
		}
	}
	fmt.Printf("| **total: %d runs** | | **%d** | **%d** | **%d** | **%d** | **%d** | **%d** | | **%d failed** |\n", len(want), ops, indet, acked, sessions, reads, faults, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
