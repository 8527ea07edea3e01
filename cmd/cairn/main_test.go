package main

// The tests of this package are end-to-end: TestMain builds the real cairn
// binary once, and every test launches it as `cairn agent` processes on
// 127.0.0.1 ports in temp dirs, talks to them over HTTP, and stops them
// for real (SIGTERM, SIGKILL). -short skips them.

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// testVersion is stamped into the binary under test the way the Makefile
// stamps a release (-ldflags -X main.version=...), so the tests also check
// that the stamp reaches `cairn version` and the start line.
const testVersion = "e2e-test"

// cairnBin is the path of the binary under test; empty under -short.
var cairnBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "cairn-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairn e2e tests:", err)
		os.Exit(1)
	}
	cairnBin = filepath.Join(dir, "cairn")
	if err := buildCairn(cairnBin); err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "cairn e2e tests: building the binary failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildCairn builds cmd/cairn into out with the go tool on PATH, or else
// the one of the toolchain that built this test. The binary is built
// without -race even when the tests run with it: the race detector is for
// the test process, and a race-built node is several times slower.
func buildCairn(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-ldflags", "-X main.version="+testVersion, "-o", out, "cairn/cmd/cairn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s build: %w", goTool, err)
	}
	return nil
}

// requireBinary skips the test under -short, where TestMain built nothing.
func requireBinary(t testing.TB) {
	t.Helper()
	if cairnBin == "" {
		t.Skip("end-to-end test: skipped under -short")
	}
}
