package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// The build is the SHA-256 of the running executable.
func TestExecutableDigest_IsTheExecutablesSHA256(t *testing.T) {
	got, err := executableDigest()
	if err != nil {
		t.Fatal(err)
	}
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("executableDigest() = %s, want %s", got, want)
	}
}
