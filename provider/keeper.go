package provider

import (
	"context"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
)

// keeper is the service's shardserver.Keeper: it lets a consumer write as
// many bytes as its leases allow, records who stored what, and deletes a
// shard when its last claim goes.
//
// Claims on one shard change under that shard's stripe lock, and the shard
// file is deleted under it too, so a claim recorded by Stored always names a
// shard that is in the store. The bytes each consumer holds are counted in
// memory from the index at start, plus the bytes of writes it was allowed
// that have not finished (reservations), so that concurrent uploads cannot
// together exceed the quota.
type keeper struct {
	key *identity.Key // signs storage receipts
	// receiptTTL is how long a receipt is valid, and its shards pinned:
	// storage.ReceiptLifetime, or the collector's grace if shorter, so a
	// pin keeps an upload no longer than the collector already does.
	receiptTTL time.Duration
	provider   identity.Address
	ledger     Ledger
	store      shardstore.Store
	idx        *index
	now        func() time.Time

	stripes [256]sync.Mutex

	mu       sync.Mutex
	held     map[identity.Address]int64 // bytes of the shards each consumer claims
	reserved map[identity.Address]int64 // bytes of its writes under way
	writes   map[writeKey]*write
	// active is when each consumer last stored a shard here (since this
	// process started): the collector spares a consumer's unreferenced
	// shards while it is still uploading, however long the upload.
	active map[identity.Address]time.Time
}

var _ shardserver.Keeper = (*keeper)(nil)

// writeKey is a consumer's write of a shard; concurrent writes of the same
// shard by the same consumer share one reservation.
type writeKey struct {
	consumer identity.Address
	h        shardstore.Hash
}

type write struct {
	size int64 // 0 once Stored has turned the reservation into a claim
	n    int   // requests under way
}

func newKeeper(key *identity.Key, l Ledger, store shardstore.Store, idx *index, now func() time.Time) (*keeper, error) {
	k := &keeper{key: key, provider: key.Address(), ledger: l, store: store, idx: idx, now: now,
		held: map[identity.Address]int64{}, reserved: map[identity.Address]int64{}, writes: map[writeKey]*write{},
		active: map[identity.Address]time.Time{}}
	err := idx.each(func(_ shardstore.Hash, c claim) error {
		k.held[c.Consumer] += c.Size
		return nil
	})
	return k, err
}

func (k *keeper) lock(h shardstore.Hash) func() {
	m := &k.stripes[h[0]]
	m.Lock()
	return m.Unlock
}

// AuthorizeWrite implements shardserver.Authorizer. A consumer without a
// storage lease with this provider is Unauthorized; one whose leases would
// be exceeded is TooLarge. A shard the consumer already claims costs no
// quota. Before it refuses, it asks a Ledger that is a Refresher to look
// again, so a lease opened a moment ago counts. The reservation it makes
// lasts until ctx ends, which for the shard server is the end of the
// request.
func (k *keeper) AuthorizeWrite(ctx context.Context, signer identity.Address, h shardstore.Hash, size int64) error {
	quota, err := k.ledger.Quota(ctx, signer, k.provider)
	if err != nil {
		return err
	}
	_, owned, err := k.idx.get(h, signer)
	if err != nil {
		return err
	}
	r, canRefresh := k.ledger.(Refresher)
	for fresh := false; ; fresh = true {
		if owned && quota > 0 {
			return nil
		}
		held, reserved, ok := k.reserve(ctx, signer, h, size, quota)
		if ok {
			return nil
		}
		if !fresh && canRefresh {
			if quota, err = r.FreshQuota(ctx, signer, k.provider); err != nil {
				return err
			}
			continue
		}
		if quota == 0 {
			return errs.E(errs.Unauthorized, "%s has no storage lease with provider %s: open one with `stratus lease open --resource storage --provider %s`, then put the shard again", signer, k.provider, k.provider)
		}
		return errs.E(errs.TooLarge, "your storage leases with provider %s allow %d bytes and you hold %d (%d more in uploads under way), so shard %s of %d bytes does not fit: open a larger lease with this provider, or delete shards you no longer need", k.provider, quota, held, reserved, h, size)
	}
}

// reserve reserves size bytes of the consumer's quota for its write of h
// until ctx ends, if they fit. It returns what the consumer holds and has
// reserved, and whether it reserved.
func (k *keeper) reserve(ctx context.Context, consumer identity.Address, h shardstore.Hash, size int64, quota uint64) (held, reserved int64, ok bool) {
	if quota == 0 {
		return 0, 0, false
	}
	wk := writeKey{consumer, h}
	k.mu.Lock()
	defer k.mu.Unlock()
	held, reserved = k.held[consumer], k.reserved[consumer]
	if w := k.writes[wk]; w != nil {
		w.n++
	} else {
		if need := held + reserved + size; need < 0 || uint64(need) > quota {
			return held, reserved, false
		}
		k.writes[wk] = &write{size: size, n: 1}
		k.reserved[consumer] += size
	}
	context.AfterFunc(ctx, func() { k.release(wk) })
	return held, reserved, true
}

// release ends one request's share of a reservation.
func (k *keeper) release(wk writeKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.writes[wk]
	if w == nil {
		return
	}
	if w.n--; w.n > 0 {
		return
	}
	delete(k.writes, wk)
	k.addLocked(k.reserved, wk.consumer, -w.size)
}

// addLocked adds d to m[a], dropping entries that reach zero.
func (k *keeper) addLocked(m map[identity.Address]int64, a identity.Address, d int64) {
	if v := m[a] + d; v != 0 {
		m[a] = v
	} else {
		delete(m, a)
	}
}

// Stored implements shardserver.Keeper: it records signer's claim on h, put
// now.
func (k *keeper) Stored(ctx context.Context, signer identity.Address, h shardstore.Hash, size int64) error {
	unlock := k.lock(h)
	defer unlock()
	if _, err := k.store.Stat(ctx, h); errs.Is(err, errs.NotFound) {
		return errs.E(errs.Unavailable, "shard %s was deleted while it was being stored: put it again", h)
	} else if err != nil {
		return err
	}
	_, had, err := k.idx.get(h, signer)
	if err != nil {
		return err
	}
	if err := k.idx.put(h, claim{Consumer: signer, PutAt: k.now(), Size: size}); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.active[signer] = k.now()
	if !had {
		k.addLocked(k.held, signer, size)
	}
	if w := k.writes[writeKey{signer, h}]; w != nil && w.size > 0 {
		k.addLocked(k.reserved, signer, -w.size)
		w.size = 0
	}
	return nil
}

// AuthorizeDelete implements shardserver.Authorizer: only a consumer that
// stored h may delete it (Unauthorized otherwise, NotFound if nobody has
// it), and only while none of its own live objects uses it (Conflict).
// Another account's object that places the same shard does not keep it:
// references count per owner (see Ledger.Refs), and the shard file stays
// only while another consumer that stored it keeps its claim.
func (k *keeper) AuthorizeDelete(ctx context.Context, signer identity.Address, h shardstore.Hash) error {
	_, ok, err := k.idx.get(h, signer)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := k.store.Stat(ctx, h); err != nil {
			return err
		}
		return errs.E(errs.Unauthorized, "shard %s on provider %s was not stored by %s: only a consumer who stored a shard can delete it", h, k.provider, signer)
	}
	refs, err := k.ledger.Refs(ctx, k.provider, h, signer)
	if err != nil {
		return err
	}
	if refs > 0 {
		return errs.E(errs.Conflict, "shard %s is still part of your live objects (%d placements on provider %s): remove the objects first", h, refs, k.provider)
	}
	return nil
}

// Delete implements shardserver.Keeper: it drops signer's claim on h, and
// deletes the shard when no claim is left.
func (k *keeper) Delete(ctx context.Context, signer identity.Address, h shardstore.Hash) error {
	unlock := k.lock(h)
	defer unlock()
	c, ok, err := k.idx.get(h, signer)
	if err != nil {
		return err
	}
	if !ok {
		return errs.E(errs.NotFound, "shard %s is not stored for %s on provider %s (deleted meanwhile?)", h, signer, k.provider)
	}
	_, err = k.dropLocked(ctx, h, []claim{c})
	return err
}

// dropLocked removes the claims cs on h, and the shard if no claim is left
// and no receipt pins it. It reports whether it deleted the shard file.
// The caller holds h's stripe lock.
func (k *keeper) dropLocked(ctx context.Context, h shardstore.Hash, cs []claim) (bool, error) {
	for _, c := range cs {
		if err := k.idx.drop(h, c.Consumer); err != nil {
			return false, err
		}
		k.mu.Lock()
		k.addLocked(k.held, c.Consumer, -c.Size)
		k.mu.Unlock()
	}
	rest, err := k.idx.claims(h)
	if err != nil || len(rest) > 0 {
		return false, err
	}
	// A receipt promised the bytes until it expires: the claims go (the
	// consumers' quota is free again) but the file stays; see Receipt.
	if until, err := k.idx.pinned(h); err != nil || until.After(k.now()) {
		return false, err
	}
	// A crash here leaves a shard without claims, which the collector
	// deletes once it is older than the grace period.
	if err := k.store.Delete(ctx, h); err != nil && !errs.Is(err, errs.NotFound) {
		return false, err
	}
	return true, k.idx.unpin(h)
}

// holding returns the bytes consumer claims.
func (k *keeper) holding(consumer identity.Address) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.held[consumer]
}

// lastActive is when consumer last stored a shard here, or the zero time.
func (k *keeper) lastActive(consumer identity.Address) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.active[consumer]
}

// AuthorizeRead implements shardserver.Authorizer: a shard is private when
// a live private object places it on this provider, and then only its
// owner and current grantees may read it, on a signed request. The ledger
// is asked on every read, through a cache of at most a second or so
// (Ledger.CanRead), so a revocation takes effect at once.
func (k *keeper) AuthorizeRead(ctx context.Context, signer *identity.Address, h shardstore.Hash) (bool, error) {
	var reader identity.Address
	if signer != nil {
		reader = *signer
	}
	private, allowed, err := k.ledger.CanRead(ctx, k.provider, h, reader)
	switch {
	case err != nil:
		return false, err
	case !private:
		return false, nil
	case signer == nil:
		return true, errs.E(errs.Unauthorized, "shard %s belongs to a private object: it is served only on a request signed by its owner or by a DID the owner granted access; read the object with `stratus store get ID --from KEY`", h)
	case !allowed:
		return true, errs.E(errs.Forbidden, "shard %s belongs to a private object that %s may not read: ask the object's owner for a grant (`stratus store grant ID %s`), then read it with `stratus store get ID --from KEY`", h, reader, reader)
	}
	return true, nil
}
