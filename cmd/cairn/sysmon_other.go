//go:build !linux

package main

// keepSysmonBackedOff does nothing off Linux, where the agent is neither
// built for release nor measured (sysmon.go).
func keepSysmonBackedOff() {}
