package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cairn/http/native"
	"cairn/node"
)

const snapshotUsage = `usage: cairn snapshot <save|restore> [flags] FILE

  save FILE      write a backup of the zone's whole state to FILE (a
                 consistent read: the leader's state, every acknowledged
                 write in it), checking its checksum on the way
  restore FILE   replace the zone's whole state with the backup in FILE,
                 through Raft, so every member gets it; a damaged file
                 (checksum, size) is refused and nothing changes

Both need the admin role: a backup holds every secret of the zone.
Flags (each also from the environment: CAIRN_ADDR, CAIRN_USER, CAIRN_PASSWORD,
CAIRN_TOKEN):
`

// runSnapshot is `cairn snapshot`.
func runSnapshot(args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", strings.TrimSpace(snapshotUsage))
	}
	verb := args[0]
	fs := flag.NewFlagSet("cairn snapshot "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), snapshotUsage); fs.PrintDefaults() }
	c := clientFlags(fs)
	jsonOut := fs.Bool("json", false, "print the backup's header (save) or the API's answer (restore) as JSON")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long the whole transfer may take")
	switch verb {
	case "-h", "-help", "--help", "help":
		fs.SetOutput(out)
		fs.Usage()
		return flag.ErrHelp
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError("%v", err)
	}
	if len(pos) != 1 || pos[0] == "" || verb != "save" && verb != "restore" {
		return usageError("%s", strings.TrimSpace(snapshotUsage))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if verb == "save" {
		return saveSnapshot(ctx, c, pos[0], *jsonOut, out)
	}
	return restoreSnapshot(ctx, c, pos[0], *jsonOut, out)
}

// saveSnapshot streams the backup into a temporary file beside path,
// checks its size and checksum against its header, and only then renames
// it to path: a failed save never leaves a damaged file under that name.
func saveSnapshot(ctx context.Context, c *apiClient, path string, jsonOut bool, out io.Writer) error {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: native.SnapshotPath + "?consistent"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("reading the backup's header from %s: %w", c.addr, err)
	}
	var h node.BackupHeader
	if _, err := node.ReadBackupHeader(bufio.NewReader(bytes.NewReader(line))); err != nil {
		return fmt.Errorf("the node sent no backup: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return err
	}
	if _, err := tmp.Write(line); err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), br)
	if err != nil {
		return fmt.Errorf("the backup was cut short after %d of %d bytes: %w; try again", n, h.Size, err)
	}
	if n != h.Size {
		return fmt.Errorf("the backup was cut short after %d of %d bytes; try again", n, h.Size)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.SHA256 {
		return fmt.Errorf("the backup's checksum does not match what was received (sha256 %s, the node said %s); try again", got, h.SHA256)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if jsonOut {
		return json.NewEncoder(out).Encode(h)
	}
	fmt.Fprintf(out, "saved zone %s at index %d (taken on node %s, %d bytes, sha256 %s) to %s\n", h.Zone, h.Index, h.NodeID, h.Size, h.SHA256, path)
	return nil
}

// restoreSnapshot checks the file's header and checksum here first (a
// damaged file is refused before anything is sent; the node checks again)
// and sends it to the node, which restores it through the zone's leader.
func restoreSnapshot(ctx context.Context, c *apiClient, path string, jsonOut bool, out io.Writer) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := node.ReadBackupHeader(br)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rest, _ := io.ReadAll(br)
	if int64(len(rest)) != h.Size {
		return fmt.Errorf("%s: %w: it holds %d bytes of snapshot where its header says %d (cut short or appended to)", path, node.ErrBadBackup, len(rest), h.Size)
	}
	if s := sha256.Sum256(rest); hex.EncodeToString(s[:]) != h.SHA256 {
		return fmt.Errorf("%s: %w: its checksum does not match: the file is damaged", path, node.ErrBadBackup)
	}
	// To the zone's leader directly when -addr names it: a follower would
	// hold the whole backup in memory while it passes it on.
	target := c
	var st struct {
		LeaderHTTP string `json:"leader_http"`
	}
	if err := c.do(http.MethodGet, "/cairn/v1/status", nil, &st); err == nil && st.LeaderHTTP != "" {
		leader := *c
		leader.addr = st.LeaderHTTP
		target = &leader
	}
	rq := request{method: http.MethodPost, path: native.SnapshotPath, body: raw,
		header: http.Header{"Content-Type": {"application/octet-stream"}}}
	resp, err := target.send(ctx, rq)
	var ae *apiError
	if err != nil && target != c && !errors.As(err, &ae) && ctx.Err() == nil {
		// The leader's advertised URL is not reachable from here: through
		// -addr, which passes it on.
		resp, err = c.send(ctx, rq)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body native.RestoreBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if jsonOut {
		return json.NewEncoder(out).Encode(body)
	}
	fmt.Fprintf(out, "restored %s (zone %s at index %d, taken on node %s) into the zone; it serves it from index %d\n", path, h.Zone, h.Index, h.NodeID, body.Index)
	return nil
}
