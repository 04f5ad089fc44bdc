package provider

import (
	"context"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
)

// gc is one pass of the collector, as of now. A consumer's claim on a shard
// goes when its last put (or the consumer's last put here of any shard,
// whichever is later) is older than GCGrace and none of that consumer's
// live objects on the ledger places the shard on this provider: references
// count per owner, each paid by the owner's own lease with this provider,
// so another account's object that places the same shard (a copy of a
// public manifest, say) keeps nothing of this consumer's alive. A shard
// goes with its last claim; a shard without claims (its index entry lost)
// goes once older than GCGrace if no live object of anyone places it here.
// That collects the shards of uploads that crashed before their object was
// committed, and those of objects removed, expired or no longer paid for.
//
// A shard seen referenced is not asked about again for GCGrace, so a large
// store does not cost one ledger query per shard per pass; a removed
// object's shards therefore go up to 2×GCGrace after their last put or
// GCGrace after the object, whichever is later.
func (s *Service) gc(ctx context.Context, now time.Time) (int, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	grace := s.cfg.GCGrace
	old := func(t time.Time) bool { return now.Sub(t) >= grace }
	// A claim's age counts from its put, or from its consumer's last put
	// of any shard here if that is later: an upload longer than the grace
	// keeps its first shards until its object is committed.
	lastPut := func(c claim) time.Time {
		if t := s.keep.lastActive(c.Consumer); t.After(c.PutAt) {
			return t
		}
		return c.PutAt
	}
	anyOld := func(cs []claim, created time.Time) bool {
		if len(cs) == 0 {
			return old(created)
		}
		for _, c := range cs {
			if old(lastPut(c)) {
				return true
			}
		}
		return false
	}

	// The candidates first: deleting while the store lists is allowed but
	// makes the listing harder to reason about.
	var cands []shardstore.Hash
	err := s.store.List(ctx, func(info shardstore.Info) error {
		if t, ok := s.referenced[info.Hash]; ok && !old(t) {
			return nil
		}
		cs, err := s.idx.claims(info.Hash)
		if err != nil {
			return err
		}
		if anyOld(cs, info.Created) {
			cands = append(cands, info.Hash)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, h := range cands {
		unref, referenced, err := s.unreferenced(ctx, h)
		if err != nil {
			if ctx.Err() != nil {
				return deleted, ctx.Err()
			}
			return deleted, err
		}
		if referenced {
			s.referenced[h] = now
		} else {
			delete(s.referenced, h)
		}
		gone, err := s.collectShard(ctx, h, func(cs []claim, info shardstore.Info) ([]claim, bool) {
			if len(cs) == 0 {
				return nil, !referenced && old(info.Created)
			}
			var drop []claim
			for _, c := range cs {
				if unref[c.Consumer] && old(lastPut(c)) {
					drop = append(drop, c)
				}
			}
			return drop, len(drop) > 0
		})
		if err != nil {
			return deleted, err
		}
		if gone {
			deleted++
		}
	}

	// Claims whose shard is missing (its file was removed by hand, or the
	// disk lost it) free their consumers' quota.
	var lost []shardstore.Hash
	err = s.idx.each(func(h shardstore.Hash, c claim) error {
		if old(c.PutAt) && (len(lost) == 0 || lost[len(lost)-1] != h) {
			if _, err := s.store.Stat(ctx, h); errs.Is(err, errs.NotFound) {
				lost = append(lost, h)
			}
		}
		return nil
	})
	if err != nil {
		return deleted, err
	}
	for _, h := range lost {
		if _, err := s.collectShard(ctx, h, func(cs []claim, info shardstore.Info) ([]claim, bool) { return cs, info.Size < 0 }); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// unreferenced asks the ledger about each claim on h: it returns the
// consumers none of whose live objects place h here, and whether anything
// still references h (a claim whose consumer's objects do, one whose
// references cannot be read now, which is kept; or, for a shard without
// claims, any owner's object). It fails only when ctx ends or the index
// cannot be read.
func (s *Service) unreferenced(ctx context.Context, h shardstore.Hash) (map[identity.Address]bool, bool, error) {
	cs, err := s.idx.claims(h)
	if err != nil {
		return nil, false, err
	}
	owners := make([]identity.Address, 0, len(cs))
	for _, c := range cs {
		owners = append(owners, c.Consumer)
	}
	if len(owners) == 0 {
		owners = append(owners, identity.Address{}) // anyone's
	}
	unref := map[identity.Address]bool{}
	referenced := false
	for _, o := range owners {
		refs, err := s.cfg.Ledger.Refs(ctx, s.addr, h, o)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			s.log.Warn("cannot read a shard's references: kept", "shard", h.String(), "err", err)
			referenced = true
			continue
		}
		if refs > 0 {
			referenced = true
		} else if o != (identity.Address{}) {
			unref[o] = true
		}
	}
	return unref, referenced, nil
}

// collectShard drops the claims on h that pick chooses when asked under h's
// lock, and the shard with the last of them; info.Size is -1 for a shard
// that is not in the store. pick's false does nothing; true with no claims
// deletes a shard that has none. It reports whether a shard file was
// deleted.
func (s *Service) collectShard(ctx context.Context, h shardstore.Hash, pick func([]claim, shardstore.Info) ([]claim, bool)) (bool, error) {
	unlock := s.keep.lock(h)
	defer unlock()
	info, err := s.store.Stat(ctx, h)
	switch {
	case errs.Is(err, errs.NotFound):
		info = shardstore.Info{Hash: h, Size: -1}
	case err != nil:
		return false, err
	}
	cs, err := s.idx.claims(h)
	if err != nil {
		return false, err
	}
	drop, ok := pick(cs, info)
	if !ok {
		return false, nil
	}
	// With every claim dropped, dropLocked deletes the shard too, unless
	// a receipt pins it.
	gone, err := s.keep.dropLocked(ctx, h, drop)
	return gone && info.Size >= 0, err
}
