package native

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"cairn/fsm"
	"cairn/http/httpx"
	"cairn/node/workload"

	"github.com/gorilla/mux"
)

// DefaultMaxArtifactBytes bounds an artifact unless configured otherwise.
// Uploads are bounded by the request body limit (-max-body-bytes) too.
const DefaultMaxArtifactBytes = 256 << 20

func (a *workloadsAPI) registerArtifacts(r *mux.Router) {
	r.HandleFunc("/cairn/v1/artifacts", a.listArtifacts).Methods(http.MethodGet)
	r.HandleFunc("/cairn/v1/artifacts/{sha1}", a.getArtifact).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/cairn/v1/artifacts/{sha1}", a.putArtifact).Methods(http.MethodPut)
	r.HandleFunc("/cairn/v1/artifacts/{sha1}", a.deleteArtifact).Methods(http.MethodDelete)
}

func artifactID(r *http.Request) (string, error) {
	sum := mux.Vars(r)["sha1"]
	if err := workload.ValidSHA1(sum); err != nil {
		return "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return sum, nil
}

func (a *workloadsAPI) listArtifacts(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r)
	var v *fsm.View
	if err == nil {
		v, err = a.readView(w, r, p)
	}
	if err != nil {
		fail(w, err)
		return
	}
	items, more := v.List(workload.KindArtifact, p.prefix, p.after, p.limit)
	out := struct {
		Items []workload.Artifact `json:"items"`
		Next  string              `json:"next,omitempty"`
	}{Items: []workload.Artifact{}}
	for _, res := range items {
		var art workload.Artifact
		if json.Unmarshal(res.Body, &art) == nil {
			out.Items = append(out.Items, art)
		}
	}
	if more {
		out.Next = continueToken(items[len(items)-1].ID)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// getArtifact streams an artifact back from this node's store.
func (a *workloadsAPI) getArtifact(w http.ResponseWriter, r *http.Request) {
	sum, err := artifactID(r)
	v, res, ok := a.readOne(w, r, workload.KindArtifact, sum, err, func() error {
		return fmt.Errorf("%w: artifact %s does not exist", errNotFound, sum)
	})
	if !ok {
		return
	}
	var art workload.Artifact
	if err := json.Unmarshal(res.Body, &art); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(art.Length, 10))
	w.Header().Set("ETag", `"`+sum+`"`)
	if r.Method == http.MethodHead {
		return
	}
	// Headers are gone once the first byte is: a broken artifact (it
	// cannot be, the chunks are checked at upload) ends the body short.
	_ = workload.WriteArtifact(v, sum, w)
}

// putArtifact stores an upload: spooled to a temporary file while its
// SHA-1 and length are taken, checked against the path and Content-Length
// (a mismatch stores nothing), then written through Raft chunk by chunk,
// the manifest last.
func (a *workloadsAPI) putArtifact(w http.ResponseWriter, r *http.Request) {
	sum, err := artifactID(r)
	if err != nil {
		fail(w, err)
		return
	}
	if res := a.node.View().Get(workload.KindArtifact, sum); res != nil {
		w.Header().Set("ETag", `"`+sum+`"`)
		httpx.WriteJSON(w, http.StatusOK, json.RawMessage(res.Body))
		return
	}
	limit := a.maxArtifact
	if r.ContentLength > limit {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("artifact of %d bytes is over the limit of %d bytes", r.ContentLength, limit))
		return
	}
	spool, err := os.CreateTemp("", "cairn-artifact-*")
	if err != nil {
		fail(w, err)
		return
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	h := sha1.New()
	n, err := io.Copy(io.MultiWriter(spool, h), io.LimitReader(r.Body, limit+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) || n > limit:
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("artifact is over the limit of %d bytes (the smaller of the artifact limit and -max-body-bytes)", min(limit, n)))
		return
	case err != nil:
		fail(w, fmt.Errorf("%w: reading the body: %v", errBadRequest, err))
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		fail(w, fmt.Errorf("%w: the body's SHA-1 is %s, the path names %s; nothing was stored", errBadRequest, got, sum))
		return
	}
	if r.ContentLength >= 0 && r.ContentLength != n {
		fail(w, fmt.Errorf("%w: the body is %d bytes, Content-Length said %d; nothing was stored", errBadRequest, n, r.ContentLength))
		return
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		fail(w, err)
		return
	}
	up := workload.NewUploader()
	for {
		op, err := up.Next(spool, sum)
		if err == io.EOF {
			break
		}
		if err == nil {
			_, err = a.apply(w, r, op)
		}
		if err != nil {
			// What was stored is garbage: collected after the grace
			// period if this delete fails too.
			_, _ = a.apply(w, r, up.ChunkDeletes(sum)...)
			fail(w, err)
			return
		}
	}
	manifest, err := up.Finish(sum, n)
	if err != nil {
		_, _ = a.apply(w, r, up.ChunkDeletes(sum)...)
		fail(w, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	res, err := a.apply(w, r, manifest)
	status := http.StatusCreated
	switch {
	case errors.Is(err, fsm.ErrConflict):
		status = http.StatusOK // uploaded by another client meanwhile
	case err != nil:
		fail(w, err)
		return
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Location", "/cairn/v1/artifacts/"+sum)
	body := json.RawMessage(manifest.Body)
	if res != nil && len(res.Resources) == 1 && res.Resources[0] != nil {
		body = res.Resources[0].Body
	}
	httpx.WriteJSON(w, status, body)
}

// deleteArtifact removes an artifact no workload references (409 names
// the one that does).
func (a *workloadsAPI) deleteArtifact(w http.ResponseWriter, r *http.Request) {
	sum, err := artifactID(r)
	if err != nil {
		fail(w, err)
		return
	}
	v := a.node.View()
	res := v.Get(workload.KindArtifact, sum)
	if res == nil {
		fail(w, fmt.Errorf("%w: artifact %s does not exist", errNotFound, sum))
		return
	}
	if holder := workload.Holders(v)[sum]; holder != "" {
		WriteError(w, http.StatusConflict, fmt.Sprintf("artifact %s is used by %s", sum, holder))
		return
	}
	var art workload.Artifact
	_ = json.Unmarshal(res.Body, &art)
	ops := []fsm.Op{{Type: fsm.OpDelete, Kind: workload.KindArtifact, ID: sum, Require: fsm.RequireVersion, Version: res.Version}}
	for i := 0; i < art.Chunks; i++ {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: workload.KindChunk, ID: workload.ChunkID(sum, i)})
	}
	if _, err := a.apply(w, r, ops...); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// artifactTouch is workload.TouchArtifact, refusing (400) an artifact
// not uploaded.
func artifactTouch(v *fsm.View, sum string) (fsm.Op, error) {
	op, err := workload.TouchArtifact(v, sum)
	if err != nil {
		return fsm.Op{}, fmt.Errorf("%w: artifact %s has not been uploaded (PUT /cairn/v1/artifacts/%s)", errBadRequest, sum, sum)
	}
	return op, nil
}
