package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// executableDigest identifies the code this agent runs (node.Config.Build:
// a leader proposes the commands a follower of the same build forwards as
// the follower prepared them). It is the SHA-256 of the executable, read
// through /proc/self/exe where there is one (the file the process started
// from, even if an upgrade has since replaced it on disk), else at
// os.Executable's path. About 20 ms for the agent's 25 MB.
func executableDigest() (string, error) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		path, perr := os.Executable()
		if perr != nil {
			return "", perr
		}
		if f, err = os.Open(path); err != nil {
			return "", err
		}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
