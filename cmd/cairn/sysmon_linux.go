package main

import (
	"fmt"
	"os"
	"syscall"
)

// keepSysmonBackedOff re-executes this process (same pid, arguments and
// files) with sysmonTrace in GODEBUG, which the runtime reads only at
// start (sysmon.go says why). It returns only when it did not: GODEBUG
// already names schedtrace, or the exec failed (then the agent runs as
// it is, and says so).
func keepSysmonBackedOff() {
	env, add := sysmonEnv(os.Environ())
	if !add {
		// Read by the runtime already (it reads schedtrace only at start):
		// the agent's children get the GODEBUG it was started with.
		if v, ours := withoutSysmonTrace(os.Getenv("GODEBUG")); ours {
			if v == "" {
				os.Unsetenv("GODEBUG")
			} else {
				os.Setenv("GODEBUG", v)
			}
		}
		return
	}
	err := syscall.Exec("/proc/self/exe", os.Args, env)
	fmt.Fprintf(os.Stderr, "cairn agent: running without %s (re-exec: %v)\n", sysmonTrace, err)
}
