package provider

import (
	"bytes"
	"context"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
)

// AcceptRepair stores data, a shard this provider rebuilt for a repair the
// ledger assigned to it, as shard h held for owner, the owner of the object
// it belongs to. The claim is the owner's, as if the owner had put it: the
// collector keeps it while the owner's objects place it here, which they do
// once the repair is committed (the manifest then names this provider, paid
// by the lease the lost lease's escrow moved to), and until then for the
// grace period from now, which is the time the worker has to commit.
//
// No lease is asked for, since the owner, who may be offline, signs
// nothing: the assignment on the ledger is the authority, and only the
// provider's own repair worker calls this. It returns an errs.Invalid error
// wrapping the store's if data do not hash to h, and TooLarge if the disk
// quota has no room.
func (s *Service) AcceptRepair(ctx context.Context, owner identity.Address, h shardstore.Hash, data []byte) error {
	if owner == (identity.Address{}) {
		return errs.E(errs.Invalid, "a repaired shard is held for its object's owner; none was given for shard %s", h)
	}
	// The store checks data against h before it writes anything.
	if err := s.store.Put(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
		return err
	}
	if err := s.keep.Stored(ctx, owner, h, int64(len(data))); err != nil {
		return err
	}
	s.log.Info("repaired shard stored", "shard", h.String(), "owner", owner.String(), "bytes", len(data))
	return nil
}

// HasShard reports whether shard h is in the store.
func (s *Service) HasShard(ctx context.Context, h shardstore.Hash) (bool, error) {
	_, err := s.store.Stat(ctx, h)
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return err == nil, err
}
