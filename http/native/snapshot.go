package native

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"cairn/http/httpx"
	"cairn/node"
	"cairn/node/auth"

	"github.com/gorilla/mux"
)

// SnapshotPath is where the zone's backups are taken (GET) and restored
// (POST).
const SnapshotPath = "/cairn/v1/snapshot"

// MaxRestoreBytes bounds a restore's body (a backup is the whole store),
// in place of the max body size every other request has: that one is
// sized for resources (8 MiB by default), a backup for the store.
const MaxRestoreBytes int64 = 4 << 30

// IsRestore reports whether r is a restore (POST /cairn/v1/snapshot),
// whose body has MaxRestoreBytes as its bound.
func IsRestore(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == SnapshotPath
}

// SnapshotHeader carries a backup's checksum (the SHA-256 of the snapshot
// after its header line, as the header line says too).
const SnapshotHeader = "X-Cairn-Snapshot-Sha256"

// Backups is what the snapshot API needs of the node.
type Backups interface {
	Backup() (*node.Backup, error)
	RestoreBackup(ctx context.Context, r io.Reader) (node.BackupHeader, uint64, error)
}

// RestoreBody is the answer of a restore: the backup's header.
type RestoreBody struct {
	Restored node.BackupHeader `json:"restored"`
	// Index is the Raft index from which the zone serves the restored
	// state.
	Index uint64 `json:"index"`
}

// RegisterSnapshot mounts GET and POST /cairn/v1/snapshot on r. Both need
// the admin role: a backup holds every secret of the zone (password
// hashes, the token signing key), and a restore replaces everything.
func RegisterSnapshot(r *mux.Router, b Backups) {
	r.HandleFunc(SnapshotPath, func(w http.ResponseWriter, r *http.Request) { saveSnapshot(w, r, b) }).Methods(http.MethodGet)
	r.HandleFunc(SnapshotPath, func(w http.ResponseWriter, r *http.Request) { restoreSnapshot(w, r, b) }).Methods(http.MethodPost)
}

// requireAdmin answers 403 unless the caller has the admin role (with
// authentication off, the anonymous caller has it).
func requireAdmin(w http.ResponseWriter, r *http.Request, what string) bool {
	if p := httpx.PrincipalFrom(r.Context()); p.Role != auth.RoleAdmin {
		WriteError(w, http.StatusForbidden, fmt.Sprintf("user %q has the %s role: %s needs the admin role", p.Name, p.Role, what))
		return false
	}
	return true
}

func saveSnapshot(w http.ResponseWriter, r *http.Request, b Backups) {
	if !requireAdmin(w, r, "a backup, which holds every secret of the zone,") {
		return
	}
	bk, err := b.Backup()
	if err != nil {
		WriteError(w, statusOf(err), err.Error())
		return
	}
	defer bk.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(bk.Len(), 10))
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cairn-%s-%d.snap"`, bk.Header.Zone, bk.Header.Index))
	h.Set("X-Cairn-Index", strconv.FormatUint(bk.Header.Index, 10))
	h.Set(SnapshotHeader, bk.Header.SHA256)
	w.WriteHeader(http.StatusOK)
	bk.WriteTo(w) // a failure now can only cut the stream short; the checksum tells
}

func restoreSnapshot(w http.ResponseWriter, r *http.Request, b Backups) {
	if !requireAdmin(w, r, "a restore, which replaces the zone's whole state,") {
		return
	}
	hdr, index, err := b.RestoreBackup(r.Context(), r.Body)
	if err != nil {
		msg := err.Error()
		if node.NotApplied(err) || statusOf(err) == http.StatusBadRequest {
			WriteNotApplied(w, statusOf(err), msg)
			return
		}
		WriteError(w, statusOf(err), msg)
		return
	}
	if index > 0 {
		w.Header().Set("X-Cairn-Index", strconv.FormatUint(index, 10))
	}
	httpx.WriteJSON(w, http.StatusOK, RestoreBody{Restored: hdr, Index: index})
}
