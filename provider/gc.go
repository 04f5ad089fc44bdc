package provider

import (
	"context"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
)

// gc is one pass of the collector, as of now. A shard goes when its last
// put (or its consumer's last put here of any shard, whichever is later;
// for a shard without claims, its file) is older than GCGrace and
// no live object on the ledger places it on this provider; its claims go
// with it. That collects the shards of uploads that crashed before their
// object was committed, and those of objects removed or expired since.
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
	// A shard's age counts from its last put, or from its consumer's last
	// put of any shard here if that is later: an upload longer than the
	// grace keeps its first shards until its object is committed.
	lastPut := func(cs []claim, created time.Time) time.Time {
		if len(cs) == 0 {
			return created
		}
		var last time.Time
		for _, c := range cs {
			for _, t := range []time.Time{c.PutAt, s.keep.lastActive(c.Consumer)} {
				if t.After(last) {
					last = t
				}
			}
		}
		return last
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
		if old(lastPut(cs, info.Created)) {
			cands = append(cands, info.Hash)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, h := range cands {
		refs, err := s.cfg.Ledger.Refs(ctx, s.addr, h)
		if err != nil {
			if ctx.Err() != nil {
				return deleted, ctx.Err()
			}
			s.log.Warn("cannot read a shard's references: kept", "shard", h.String(), "err", err)
			continue
		}
		if refs > 0 {
			s.referenced[h] = now
			continue
		}
		delete(s.referenced, h)
		gone, err := s.collectShard(ctx, h, func(cs []claim, info shardstore.Info) bool { return old(lastPut(cs, info.Created)) })
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
		if _, err := s.collectShard(ctx, h, func(_ []claim, info shardstore.Info) bool { return info.Size < 0 }); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// collectShard deletes shard h and every claim on it if still(claims, info)
// holds when asked under h's lock; info.Size is -1 for a shard that is not
// in the store. It reports whether a shard file was deleted.
func (s *Service) collectShard(ctx context.Context, h shardstore.Hash, still func([]claim, shardstore.Info) bool) (bool, error) {
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
	if !still(cs, info) {
		return false, nil
	}
	// With every claim dropped, dropLocked deletes the shard too.
	if err := s.keep.dropLocked(ctx, h, cs); err != nil {
		return false, err
	}
	return info.Size >= 0, nil
}
