package main

import (
	"slices"
	"testing"
)

func Test_SysmonEnv_AddsTheTraceToGODEBUG_UnlessItNamesSchedtrace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    []string
		added   bool
	}{
		{"no GODEBUG", []string{"PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=" + sysmonTrace}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "HOME=/"}, []string{"GODEBUG=" + sysmonTrace, "HOME=/"}, true},
		{"other settings kept", []string{"GODEBUG=madvdontneed=1"}, []string{"GODEBUG=madvdontneed=1," + sysmonTrace}, true},
		{"schedtrace off by the operator", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{"schedtrace among others", []string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}, false},
		{"a repeated GODEBUG: the first counts", []string{"GODEBUG=gctrace=1", "GODEBUG=x=1"}, []string{"GODEBUG=gctrace=1," + sysmonTrace}, true},
	} {
		got, added := sysmonEnv(tc.environ)
		if added != tc.added || !slices.Equal(got, tc.want) {
			t.Errorf("%s: sysmonEnv(%q) = %q, %v; want %q, %v", tc.name, tc.environ, got, added, tc.want, tc.added)
		}
	}
}

func Test_WithoutSysmonTrace_TakesOutOnlyTheAddedSetting(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ours     bool
	}{
		{sysmonTrace, "", true},
		{"madvdontneed=1," + sysmonTrace, "madvdontneed=1", true},
		{"schedtrace=0", "schedtrace=0", false},
		{sysmonTrace + ",gctrace=1", sysmonTrace + ",gctrace=1", false}, // not where sysmonEnv puts it
		{"", "", false},
	} {
		got, ours := withoutSysmonTrace(tc.in)
		if got != tc.want || ours != tc.ours {
			t.Errorf("withoutSysmonTrace(%q) = %q, %v; want %q, %v", tc.in, got, ours, tc.want, tc.ours)
		}
	}
}
