package workload

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"cairn/fsm"
)

// Artifacts are content-addressed blobs (tar.gz, zip or a single file)
// replicated through Raft in chunks, so that no log entry carries more
// than ChunkBytes of data (base64 in JSON: about 1.4 MB) and a blob
// survives the loss of the node that received it. The chunks are
// written first, the artifact (its manifest) last: a node that sees the
// manifest has every chunk.
const (
	// KindArtifact is an artifact's manifest (id: its SHA-1, in hex).
	KindArtifact = "cairn.artifact"
	// KindChunk is one chunk of an artifact (id: ChunkID).
	KindChunk = "cairn.artifact.chunk"
	// KindArtifactRef is a hold on an artifact by something other than
	// a workload (an Apcera package, say): its body is {"artifact":
	// <sha1>}, and the artifact is not collected while it exists. Its id
	// is the holder's choice ("<kind>.<id>" of the holder).
	KindArtifactRef = "cairn.artifact.ref"
	// ChunkBytes is the size of every chunk but the last.
	ChunkBytes = 1 << 20
	// ArtifactGrace is how long an artifact nothing references, or a chunk
	// of an upload that never finished, is kept: long enough for a client
	// to upload an artifact and then PUT the workload that names it.
	ArtifactGrace = time.Minute
)

// Artifact is the body of a KindArtifact resource.
type Artifact struct {
	SHA1   string `json:"sha1"`
	Length int64  `json:"length"`
	Chunks int    `json:"chunks"`
}

// Chunk is the body of a KindChunk resource.
type Chunk struct {
	Data []byte `json:"data"`
}

// ChunkID is the id of chunk n of artifact sum; zero-padded, so that the
// store lists an artifact's chunks in order.
func ChunkID(sum string, n int) string { return fmt.Sprintf("%s.%06d", sum, n) }

// ErrBadArtifactID means an artifact id is not a SHA-1 in hex.
var ErrBadArtifactID = errors.New("invalid artifact id")

// ValidSHA1 checks an artifact id: 40 lower-case hex digits.
func ValidSHA1(s string) error {
	if len(s) != 40 || strings.Trim(s, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: %q is not a SHA-1 in lower-case hex (40 digits)", ErrBadArtifactID, s)
	}
	return nil
}

// ErrMismatch means an upload's SHA-1 or length is not what was declared.
var ErrMismatch = errors.New("artifact mismatch")

// Uploader cuts a stream into chunk operations while hashing it.
type Uploader struct {
	h      hash.Hash
	length int64
	n      int
}

// NewUploader returns an Uploader.
func NewUploader() *Uploader { return &Uploader{h: sha1.New()} }

// Next reads the next chunk of r for artifact sum and returns its put
// operation, or io.EOF once r is exhausted.
func (u *Uploader) Next(r io.Reader, sum string) (fsm.Op, error) {
	buf := make([]byte, ChunkBytes)
	n, err := io.ReadFull(r, buf)
	if n == 0 {
		if err == nil || err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return fsm.Op{}, err
	}
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fsm.Op{}, err
	}
	u.h.Write(buf[:n])
	u.length += int64(n)
	body, _ := json.Marshal(Chunk{Data: buf[:n]})
	op := fsm.Op{Type: fsm.OpPut, Kind: KindChunk, ID: ChunkID(sum, u.n), Body: body}
	u.n++
	return op, nil
}

// Finish checks the stream against the declared sum (and length, if not
// negative) and returns the manifest's put operation (create only).
func (u *Uploader) Finish(sum string, length int64) (fsm.Op, error) {
	got := hex.EncodeToString(u.h.Sum(nil))
	if got != sum {
		return fsm.Op{}, fmt.Errorf("%w: the body's SHA-1 is %s, the path names %s; nothing was stored", ErrMismatch, got, sum)
	}
	if length >= 0 && length != u.length {
		return fsm.Op{}, fmt.Errorf("%w: the body is %d bytes, Content-Length said %d; nothing was stored", ErrMismatch, u.length, length)
	}
	body, _ := json.Marshal(Artifact{SHA1: sum, Length: u.length, Chunks: u.n})
	return fsm.Op{Type: fsm.OpPut, Kind: KindArtifact, ID: sum, Body: body, Require: fsm.RequireAbsent}, nil
}

// Length is how many bytes the uploader has read.
func (u *Uploader) Length() int64 { return u.length }

// ChunkDeletes returns delete operations for the chunks written so far
// (an upload that failed its check removes what it stored).
func (u *Uploader) ChunkDeletes(sum string) []fsm.Op {
	ops := make([]fsm.Op, u.n)
	for i := range ops {
		ops[i] = fsm.Op{Type: fsm.OpDelete, Kind: KindChunk, ID: ChunkID(sum, i)}
	}
	return ops
}

// WriteArtifact streams artifact sum from view v into w, checking every
// chunk is present and the whole hashes to sum.
func WriteArtifact(v *fsm.View, sum string, w io.Writer) error {
	r := v.Get(KindArtifact, sum)
	if r == nil {
		return fmt.Errorf("artifact %s is not in the store", sum)
	}
	var a Artifact
	if err := json.Unmarshal(r.Body, &a); err != nil {
		return fmt.Errorf("artifact %s: %w", sum, err)
	}
	h := sha1.New()
	for i := 0; i < a.Chunks; i++ {
		cr := v.Get(KindChunk, ChunkID(sum, i))
		if cr == nil {
			return fmt.Errorf("artifact %s: chunk %d of %d is missing", sum, i, a.Chunks)
		}
		var c Chunk
		if err := json.Unmarshal(cr.Body, &c); err != nil {
			return fmt.Errorf("artifact %s: chunk %d: %w", sum, i, err)
		}
		h.Write(c.Data)
		if _, err := w.Write(c.Data); err != nil {
			return err
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("artifact %s: its chunks hash to %s", sum, got)
	}
	return nil
}

// Holders maps each artifact something references to one of its holders,
// named for a message: "workload <id>", or "<kind> <id>" for a hold
// (KindArtifactRef, such as an Apcera package's).
func Holders(v *fsm.View) map[string]string {
	holders := map[string]string{}
	hold := func(r *fsm.Resource) {
		var probe struct {
			Artifact string `json:"artifact"`
		}
		if json.Unmarshal(r.Body, &probe) == nil && probe.Artifact != "" && holders[probe.Artifact] == "" {
			name := r.Kind + " " + r.ID
			if r.Kind == KindWorkload {
				name = "workload " + r.ID
			}
			holders[probe.Artifact] = name
		}
	}
	v.ForEach(KindWorkload, hold)
	v.ForEach(KindArtifactRef, hold)
	return holders
}

// GarbageOps returns the deletes of artifacts nothing holds (Holders) and
// of chunks no artifact owns, older than ArtifactGrace at now.
func GarbageOps(v *fsm.View, now time.Time) []fsm.Op {
	referenced := Holders(v)
	var ops []fsm.Op
	live := map[string]bool{}
	v.ForEach(KindArtifact, func(r *fsm.Resource) {
		if referenced[r.ID] != "" || now.Sub(r.Updated) < ArtifactGrace {
			live[r.ID] = true
			return
		}
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindArtifact, ID: r.ID, Require: fsm.RequireVersion, Version: r.Version})
	})
	v.ForEach(KindChunk, func(r *fsm.Resource) {
		sum, _, _ := strings.Cut(r.ID, ".")
		if live[sum] || now.Sub(r.Updated) < ArtifactGrace {
			return
		}
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindChunk, ID: r.ID})
	})
	return ops
}
