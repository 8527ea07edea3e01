package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A data dir's identity. A node's Raft server id is bound to the data dir
// it runs on: "<node-id>@<incarnation>", where the incarnation is random and
// made once, with the dir. A node whose data dir was wiped comes back under
// its old node id but as a new Raft server, so the zone never counts the
// promises (votes, acknowledged entries) its old dir made as if the new,
// empty one still held them: the leader replaces the old server with the
// new one, as a non-voter until it has caught up.
//
// Data dirs made before incarnations existed keep their node id as Raft
// server id (raftIDFile records it), so upgraded zones keep their
// configuration.

const (
	nodeIDFile = "node-id"
	raftIDFile = "raft-id"
)

// raftIDSeparator joins a node id and its data dir's incarnation; node ids
// may not contain it.
const raftIDSeparator = "@"

// NodeIDOf returns the node id a Raft server id belongs to.
func NodeIDOf(raftID string) string {
	id, _, _ := strings.Cut(raftID, raftIDSeparator)
	return id
}

// ValidNodeID says why id cannot be a node id, or returns nil.
func ValidNodeID(id string) error {
	switch {
	case id == "":
		return errors.New("node id is empty")
	case len(id) > 64:
		return fmt.Errorf("node id %q is longer than 64 bytes", id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("node id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

// StoredNodeID returns the node id recorded in dataDir, or "" for a new
// data dir.
func StoredNodeID(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, nodeIDFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// checkDataDirOwner refuses a data dir that belongs to another node: its
// Raft log speaks for that node. It only reads; recordIdentity writes,
// once the data dir is locked.
func checkDataDirOwner(dataDir, id string) error {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if stored := StoredNodeID(dataDir); stored != "" && stored != id {
		return fmt.Errorf("data dir %s belongs to node %q, not %q: start with -node-id %s or use another -data-dir", dataDir, stored, id, stored)
	}
	return nil
}

// recordIdentity returns the data dir's Raft server id, writing the node id
// and a new Raft server id the first time the dir is used. The caller holds
// the data dir's lock (the open Raft log), so no two processes race here.
// legacyState says the dir holds Raft state from before incarnations: it
// keeps the node id as its Raft server id.
func recordIdentity(dataDir, nodeID string, legacyState bool) (string, error) {
	if StoredNodeID(dataDir) == "" {
		if err := writeFileAtomic(filepath.Join(dataDir, nodeIDFile), []byte(nodeID+"\n")); err != nil {
			return "", fmt.Errorf("record node id: %w", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dataDir, raftIDFile))
	if err == nil {
		raftID := strings.TrimSpace(string(b))
		if NodeIDOf(raftID) != nodeID {
			return "", fmt.Errorf("data dir %s holds raft server id %q, which is not node %q's", dataDir, raftID, nodeID)
		}
		return raftID, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read raft server id: %w", err)
	}
	raftID := nodeID
	if !legacyState {
		var inc [8]byte
		if _, err := rand.Read(inc[:]); err != nil {
			return "", err
		}
		raftID = nodeID + raftIDSeparator + hex.EncodeToString(inc[:])
	}
	if err := writeFileAtomic(filepath.Join(dataDir, raftIDFile), []byte(raftID+"\n")); err != nil {
		return "", fmt.Errorf("record raft server id: %w", err)
	}
	return raftID, nil
}

// writeFileAtomic writes data to path so that a crash leaves either no file
// or the whole one: a synced temporary file renamed over path, and the
// directory synced after.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// zoneIDFile records the id of the zone whose state the data dir holds, so
// a restarted node can say which zone it belongs to (in gossip) before its
// store has replayed the log.
const zoneIDFile = "zone-id"

// KnownZoneID returns the id of the zone whose state this node holds: the
// store's, else the one its data dir recorded, else "".
func (n *Node) KnownZoneID() string {
	if id := n.ZoneID(); id != "" {
		return id
	}
	if id, _ := n.recordedZoneID.Load().(string); id != "" {
		return id
	}
	return ""
}

// loadRecordedZoneID reads the zone id the data dir recorded, if any.
func (n *Node) loadRecordedZoneID() {
	if b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, zoneIDFile)); err == nil {
		n.recordedZoneID.Store(strings.TrimSpace(string(b)))
	}
}

// followZoneID records the store's zone id in the data dir whenever it
// changes (it is written once per zone, so this is rare). It runs until
// the node closes.
func (n *Node) followZoneID() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-n.closed; cancel() }()
	path := filepath.Join(n.cfg.DataDir, zoneIDFile)
	var index uint64
	for {
		if err := n.store.WaitIndex(ctx, index+1); err != nil {
			return
		}
		index = n.store.Index()
		id := n.ZoneID()
		if recorded, _ := n.recordedZoneID.Load().(string); id == "" || id == recorded {
			continue
		}
		if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
			n.log.Warn("could not record the zone id in the data dir", "err", err)
			continue
		}
		n.recordedZoneID.Store(id)
	}
}
