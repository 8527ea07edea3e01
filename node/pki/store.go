package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cairn/fsm"
)

// Store is what keeping the CA in the zone's store needs of the node.
type Store interface {
	Apply(ctx context.Context, cmd fsm.Command) (uint64, *fsm.Result, error)
	View() *fsm.View
	WaitIndex(ctx context.Context, index uint64) error
}

// ErrNoCA means the store holds no CA of that kind yet.
var ErrNoCA = errors.New("the domain CA is not in the store")

// Stored reads the CA kept as kind/id in v.
func Stored(v *fsm.View, kind, id string) (CA, error) {
	r := v.Get(kind, id)
	if r == nil {
		return CA{}, ErrNoCA
	}
	var ca CA
	if err := json.Unmarshal(r.Body, &ca); err != nil {
		return CA{}, fmt.Errorf("the stored domain CA: %w", err)
	}
	return ca, nil
}

// ensureAttempts bounds how often Ensure looks again after losing the
// race to make the CA.
const ensureAttempts = 20

// Ensure returns the Raft index at which the store holds the CA kept as
// kind/id, making it first when there is none (its key encrypted with
// domainPassphrase when one is given), and checks that domainPassphrase
// unlocks it (ErrPassphrase). Two nodes making it at once both end with
// the one that applied first: the put requires it absent.
func Ensure(ctx context.Context, s Store, kind, id, domainPassphrase string, now time.Time) (uint64, error) {
	for range ensureAttempts {
		v := s.View()
		if r := v.Get(kind, id); r != nil {
			ca, err := Stored(v, kind, id)
			if err != nil {
				return 0, err
			}
			if _, _, err := ca.Unlock(domainPassphrase); err != nil {
				return 0, err
			}
			return r.Version, nil
		}
		ca, err := NewCA(domainPassphrase, now)
		if err != nil {
			return 0, err
		}
		body, err := json.Marshal(ca)
		if err != nil {
			return 0, err
		}
		index, _, err := s.Apply(ctx, fsm.Command{Time: now, Ops: []fsm.Op{
			{Type: fsm.OpPut, Kind: kind, ID: id, Body: body, Require: fsm.RequireAbsent}}})
		if err == nil {
			return index, nil
		}
		if !errors.Is(err, fsm.ErrConflict) {
			return 0, err
		}
		if err := s.WaitIndex(ctx, index); err != nil { // another request made it: use that one
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w: could not make the domain CA", fsm.ErrConflict)
}
