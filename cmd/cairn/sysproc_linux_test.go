package main

import "syscall"

// childProcAttr makes the kernel kill an agent whose test process died
// (say, of a panic or a -timeout), so no test run leaves a node behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
