package main

import "strings"

// Go's sysmon thread sleeps deeply while every P is idle, and the next
// syscall wakes it with its tick reset to 20 µs: it then polls at that rate
// for at least a millisecond (50 wakeups) before backing off towards 10 ms.
// A Raft node goes idle for a millisecond or two between appends, so its
// sysmon polls at 20 µs nearly whenever the node does anything: on the
// 2-core build host, 22% of a follower's CPU and 7% of the leader's went to
// those wakeups under a write load (the tick is hard-coded:
// golang/go#18236). The runtime's scheduler trace (GODEBUG=schedtrace=N)
// keeps sysmon out of that deep sleep, so it backs off once and stays
// backed off while nothing needs retaking. The agent runs with a trace
// interval of 2^31-1 ms (24.8 days), which prints a line beginning "SCHED"
// on stderr once every interval of the machine's uptime; a GODEBUG that
// already names schedtrace (schedtrace=0: off) is left as it is. The
// setting is the agent's own: once the runtime has read it, it is taken
// out of the environment the agent's children inherit (a container
// engine's CLI, say, which would print that line into a workload's log).

// sysmonTrace is the GODEBUG setting the agent runs with.
const sysmonTrace = "schedtrace=2147483647"

// sysmonEnv returns environ with sysmonTrace added to GODEBUG, and whether
// it added it (false: GODEBUG already names schedtrace).
func sysmonEnv(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for _, s := range strings.Split(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
				return environ, false
			}
		}
		if found { // a repeated GODEBUG: the runtime reads the first
			continue
		}
		found = true
		if strings.TrimSpace(v) == "" {
			kv = "GODEBUG=" + sysmonTrace
		} else {
			kv += "," + sysmonTrace
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+sysmonTrace)
	}
	return out, true
}

// withoutSysmonTrace returns the GODEBUG value v less the sysmonTrace that
// sysmonEnv added at its end, and whether there was one to take out.
func withoutSysmonTrace(v string) (string, bool) {
	if v == sysmonTrace {
		return "", true
	}
	if rest, ok := strings.CutSuffix(v, ","+sysmonTrace); ok {
		return rest, true
	}
	return v, false
}
