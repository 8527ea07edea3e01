package workload

import (
	"errors"
	"fmt"
	"io"

	"cairn/fsm"
)

// Operations the APIs that translate into workloads (the native API,
// Runtime Manager's applications) compose into their own commands.

// ErrNoArtifact means a workload names an artifact the store does not
// hold.
var ErrNoArtifact = errors.New("artifact not uploaded")

// TouchArtifact is the operation a workload write that names artifact
// sum adds: it rewrites the artifact's manifest at the version read, so
// that a garbage collection that read the artifact unreferenced fails its
// precondition instead of deleting it under the new workload.
func TouchArtifact(v *fsm.View, sum string) (fsm.Op, error) {
	res := v.Get(KindArtifact, sum)
	if res == nil {
		return fsm.Op{}, fmt.Errorf("%w: artifact %s is not in the store", ErrNoArtifact, sum)
	}
	return fsm.Op{Type: fsm.OpPut, Kind: KindArtifact, ID: sum, Body: res.Body, Require: fsm.RequireVersion, Version: res.Version}, nil
}

// InstanceDeletes are the deletes of workload id's instance states: a
// write that restarts its instances (a new spec) drops them, so that no
// state of the last run is read as the new one's.
func InstanceDeletes(v *fsm.View, id string) []fsm.Op {
	insts, _ := v.Lookup(KindInstance, "workload", id)
	ops := make([]fsm.Op, 0, len(insts))
	for _, res := range insts {
		ops = append(ops, fsm.Op{Type: fsm.OpDelete, Kind: KindInstance, ID: res.ID})
	}
	return ops
}

// DeleteOps removes workload id, its placement and its instances' states:
// every node stops its instances. The workload's delete comes first.
func DeleteOps(v *fsm.View, id string) []fsm.Op {
	ops := []fsm.Op{{Type: fsm.OpDelete, Kind: KindWorkload, ID: id}, {Type: fsm.OpDelete, Kind: KindPlacement, ID: id}}
	return append(ops, InstanceDeletes(v, id)...)
}

// StoreArtifact writes artifact sum, read from r (length bytes, already
// checked against sum by the caller), through apply: chunk by chunk, the
// manifest last. An artifact stored meanwhile by another upload is no
// error. On failure the chunks written are deleted again.
func StoreArtifact(r io.Reader, sum string, length int64, apply func(ops ...fsm.Op) error) error {
	up := NewUploader()
	for {
		op, err := up.Next(r, sum)
		if err == io.EOF {
			break
		}
		if err == nil {
			err = apply(op)
		}
		if err != nil {
			_ = apply(up.ChunkDeletes(sum)...)
			return err
		}
	}
	manifest, err := up.Finish(sum, length)
	if err != nil {
		_ = apply(up.ChunkDeletes(sum)...)
		return err
	}
	if err := apply(manifest); err != nil && !errors.Is(err, fsm.ErrConflict) {
		return err
	}
	return nil
}
