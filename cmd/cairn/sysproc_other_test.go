//go:build !linux

package main

import "syscall"

// childProcAttr has no parent-death signal to ask for outside Linux; the
// tests' cleanups stop every agent they start.
func childProcAttr() *syscall.SysProcAttr { return nil }
