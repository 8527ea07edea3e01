package jepsen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errRogueNotTried means the rogue node could not reach the zone at all
// (a partition cut every gossip proxy, say): nothing was tested.
var errRogueNotTried = errors.New("the rogue node never reached the zone")

// RogueJoin plays an operator's mistake against the zone: a node started
// alone founds a zone of the same name and takes a write, then is
// restarted with -join into the zone. It must exit, refusing to join a
// zone whose id is not the one its state belongs to. An error means it did
// not (or, errRogueNotTried, that it never reached the zone).
func (z *Zone) RogueJoin(ctx context.Context, k int) error {
	dir := filepath.Join(z.Dir, fmt.Sprintf("rogue%d", k))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var addrs [3]string
	for i := range addrs {
		port, err := z.ports.Pick("127.0.0.1", 1, i == 2)
		if err != nil {
			return err
		}
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	id := fmt.Sprintf("rogue%d", k)
	args := []string{"agent", "-node-id", id, "-zone", "jepsen", "-data-dir", filepath.Join(dir, "data"),
		"-http-addr", addrs[0], "-raft-addr", addrs[1], "-gossip-addr", addrs[2], "-maxscale-addr", ""}
	// A member in every way but its state: a certificate of the zone's CA
	// and the gossip key, when the zone has them.
	sec, err := z.securityArgs(id, "127.0.0.1")
	if err != nil {
		return err
	}
	args = append(args, sec...)
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	start := func(extra ...string) (*exec.Cmd, <-chan error, error) {
		cmd := exec.Command(z.bin, append(append([]string{}, args...), extra...)...)
		cmd.Env = agentEnv()
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done, nil
	}

	// Alone: it founds its own zone "jepsen" and takes a write.
	cmd, done, err := start()
	if err != nil {
		return err
	}
	client := z.Client(2 * time.Second)
	wrote, exited := false, false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !wrote && !exited && ctx.Err() == nil; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, z.scheme()+"://"+addrs[0]+"/cairn/v1/resources/jepsen.rogue/x", strings.NewReader(`{}`))
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			wrote = resp.StatusCode == http.StatusCreated
		}
		if !wrote {
			select {
			case <-done:
				exited = true
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if !exited {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}
	if b, _ := os.ReadFile(logf.Name()); !wrote && bytes.Contains(b, []byte("address already in use")) {
		// Something outside the zone took a port between its pick and
		// the bind.
		return fmt.Errorf("%w: a port of its was taken before it bound it (log %s)", errRogueNotTried, logf.Name())
	}
	if !wrote {
		return fmt.Errorf("the rogue node alone took no write within 20s (log %s)", logf.Name())
	}

	// Restarted with -join into the zone of the same name: refused.
	cmd, done, err = start("-join", strings.Join(z.Join, ","), "-join-timeout", "30s")
	if err != nil {
		return err
	}
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("a node holding another zone's state joined zone jepsen and ran for 60s without being refused (log %s)", logf.Name())
	}
	b, _ := os.ReadFile(logf.Name())
	switch {
	case err != nil && bytes.Contains(b, []byte("different Raft groups")):
		return nil
	case bytes.Contains(b, []byte("could not join any of")):
		return errRogueNotTried
	}
	return fmt.Errorf("the rogue node's second run ended (%v) without refusing the zone (log %s)", err, logf.Name())
}
