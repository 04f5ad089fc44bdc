package provider

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

var _ shardserver.Receipter = (*keeper)(nil)

// AuthorizeReceipt implements shardserver.Receipter: only a consumer that
// stores something here may ask, so a stranger's request costs a map
// lookup and no place in the replay cache.
func (k *keeper) AuthorizeReceipt(_ context.Context, signer identity.Address) error {
	if k.holding(signer) == 0 {
		return errs.E(errs.Unauthorized, "%s stores no shards on provider %s: upload the shards, then ask for the receipt", signer, k.provider)
	}
	return nil
}

// Receipt implements shardserver.Receipter. The receipt is what lets a
// commit name this provider, and so what it is challenged on: it is signed
// only once every shard the manifest places here is on disk and claimed by
// the signer. Each shard is then pinned until the receipt expires: a
// delete drops the signer's claim (and frees its quota) but keeps the
// file, and the collector keeps it too, so the signer cannot delete the
// shards and still commit with the receipt, nor commit, remove, delete and
// commit again with the same receipt. Once the receipt has expired the
// ledger refuses it, and the pin is no longer needed.
func (k *keeper) Receipt(ctx context.Context, signer identity.Address, manifest []byte, man *storage.Manifest) (storage.Receipt, error) {
	me := k.provider.String()
	expires := k.now().Add(k.receiptTTL)
	n := 0
	for i, seg := range man.Segments {
		for j, sh := range seg.Shards {
			if sh.Provider != me {
				continue
			}
			n++
			if err := k.pin(ctx, signer, shardstore.Hash(sh.Hash), expires); err != nil {
				return storage.Receipt{}, errs.E(errs.KindOf(err), "shard %d of segment %d: %w", j, i, err)
			}
		}
	}
	if n == 0 {
		return storage.Receipt{}, errs.E(errs.Invalid, "the manifest places no shard on provider %s: ask each provider named in it", k.provider)
	}
	// The pins were written without a sync each (a large object has
	// thousands of shards here); one sync makes them all durable before
	// the receipt exists.
	if err := k.idx.sync(); err != nil {
		return storage.Receipt{}, err
	}
	return storage.SignReceipt(k.key, manifest, signer, expires), nil
}

// pin checks that h is in the store with signer's claim, and keeps the
// file at least until until.
func (k *keeper) pin(ctx context.Context, signer identity.Address, h shardstore.Hash, until time.Time) error {
	unlock := k.lock(h)
	defer unlock()
	if _, ok, err := k.idx.get(h, signer); err != nil {
		return err
	} else if !ok {
		return errs.E(errs.NotFound, "shard %s is not stored on provider %s for %s: upload it, then ask for the receipt again", h, k.provider, signer)
	}
	if _, err := k.store.Stat(ctx, h); errs.Is(err, errs.NotFound) {
		return errs.E(errs.NotFound, "shard %s is no longer on provider %s: upload it again, then ask for the receipt again", h, k.provider)
	} else if err != nil {
		return err
	}
	old, err := k.idx.pinned(h)
	if err != nil || !old.Before(until) {
		return err
	}
	return k.idx.pin(h, until)
}

// prefPin keys a shard's pin in the index: "p" hash -> the time (Unix
// nanoseconds, big-endian) until which the file is kept whatever its
// claims, because a receipt for it may still be used.
const prefPin = 'p'

func pinKey(h shardstore.Hash) []byte { return append([]byte{prefPin}, h[:]...) }

// pinned returns the time until which h is pinned, or the zero time.
func (x *index) pinned(h shardstore.Hash) (time.Time, error) {
	v, closer, err := x.db.Get(pinKey(h))
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, ioErr(err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return time.Time{}, errs.E(errs.Internal, "the shard index holds a malformed pin for %s: remove the provider's meta folder", h)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}

// pin keeps h until until. It does not wait for the disk: call sync
// before relying on it after a crash. Reads see it at once.
func (x *index) pin(h shardstore.Hash, until time.Time) error {
	return ioErr(x.db.Set(pinKey(h), binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())), pebble.NoSync))
}

// sync makes every write so far durable.
func (x *index) sync() error { return ioErr(x.db.LogData(nil, pebble.Sync)) }

// unpin forgets h's pin, once its file is gone.
func (x *index) unpin(h shardstore.Hash) error {
	return ioErr(x.db.Delete(pinKey(h), pebble.Sync))
}
