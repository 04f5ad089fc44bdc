// Package mem is a shardstore.Store that keeps shards in memory, for tests
// and for devnet nodes that need no persistence. It enforces the same size
// limits, verification and quota as the disk store, and passes the same
// conformance suite.
//
// It is not durable: everything is lost when the process exits.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/internal/backend"
)

// Store is an in-memory shard store. Create one with New.
type Store struct {
	verify shardstore.Verifier
	locks  backend.HashLock // serialises Put and Delete of one hash
	usage  *backend.Usage

	mu     sync.Mutex
	shards map[shardstore.Hash]shard
}

type shard struct {
	data    []byte // never modified once stored
	created time.Time
}

var (
	_ shardstore.Store    = (*Store)(nil)
	_ shardstore.Scrubber = (*Store)(nil)
)

// New returns an empty store. It returns an error of kind Invalid if
// opts.Quota is negative.
func New(opts shardstore.Options) (*Store, error) {
	quota, verify, err := backend.Resolve(opts)
	if err != nil {
		return nil, err
	}
	return &Store{verify: verify, usage: backend.NewUsage(quota, 0), shards: make(map[shardstore.Hash]shard)}, nil
}

// Put implements shardstore.Store.
func (s *Store) Put(ctx context.Context, h shardstore.Hash, r io.Reader, size int64) error {
	if err := backend.Canceled(ctx, "put", h); err != nil {
		return err
	}
	if err := backend.CheckSize(h, size); err != nil {
		return err
	}
	unlock, err := s.locks.Lock(ctx, h)
	if err != nil {
		return backend.Canceled(ctx, "put", h)
	}
	defer unlock()

	s.mu.Lock()
	old, exists := s.shards[h]
	if exists && int64(len(old.data)) == size {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	oldSize := int64(len(old.data))
	release, err := s.usage.Reserve(h, size, oldSize)
	if err != nil {
		return err
	}
	defer release()
	data, err := backend.ReadVerified(ctx, h, r, size, s.verify)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.shards[h] = shard{data: data, created: time.Now()}
	s.mu.Unlock()
	s.usage.Add(size - oldSize)
	return nil
}

// Get implements shardstore.Store.
func (s *Store) Get(ctx context.Context, h shardstore.Hash, off, n int64) (io.ReadCloser, error) {
	if err := backend.Canceled(ctx, "get", h); err != nil {
		return nil, err
	}
	sh, ok := s.get(h)
	if !ok {
		return nil, backend.NotFound(h)
	}
	n, err := backend.CheckRange(h, off, n, int64(len(sh.data)))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(sh.data[off : off+n])), nil
}

// Stat implements shardstore.Store.
func (s *Store) Stat(ctx context.Context, h shardstore.Hash) (shardstore.Info, error) {
	if err := backend.Canceled(ctx, "stat", h); err != nil {
		return shardstore.Info{}, err
	}
	sh, ok := s.get(h)
	if !ok {
		return shardstore.Info{}, backend.NotFound(h)
	}
	return shardstore.Info{Hash: h, Size: int64(len(sh.data)), Created: sh.created}, nil
}

// Delete implements shardstore.Store.
func (s *Store) Delete(ctx context.Context, h shardstore.Hash) error {
	if err := backend.Canceled(ctx, "delete", h); err != nil {
		return err
	}
	unlock, err := s.locks.Lock(ctx, h)
	if err != nil {
		return backend.Canceled(ctx, "delete", h)
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shards[h]
	if !ok {
		return backend.NotFound(h)
	}
	delete(s.shards, h)
	s.usage.Add(-int64(len(sh.data)))
	return nil
}

// List implements shardstore.Store. It calls fn on a snapshot taken when it
// starts, without holding any lock, so fn may use the store.
func (s *Store) List(ctx context.Context, fn func(shardstore.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list shards: %w", err)
	}
	s.mu.Lock()
	infos := make([]shardstore.Info, 0, len(s.shards))
	for h, sh := range s.shards {
		infos = append(infos, shardstore.Info{Hash: h, Size: int64(len(sh.data)), Created: sh.created})
	}
	s.mu.Unlock()
	slices.SortFunc(infos, func(a, b shardstore.Info) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list shards: %w", err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Usage implements shardstore.Store.
func (s *Store) Usage(ctx context.Context) (used, quota int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("shard store usage: %w", err)
	}
	used, quota = s.usage.Get()
	return used, quota, nil
}

// Verify implements shardstore.Scrubber. Memory doesn't rot, so it only
// fails if the Verifier has changed its mind.
func (s *Store) Verify(ctx context.Context, h shardstore.Hash) error {
	if err := backend.Canceled(ctx, "verify", h); err != nil {
		return err
	}
	sh, ok := s.get(h)
	if !ok {
		return backend.NotFound(h)
	}
	if err := s.verify(h, sh.data); err != nil {
		return errs.E(errs.Internal, "shard %s (%v): %w", h, err, shardstore.ErrCorrupt)
	}
	return nil
}

func (s *Store) get(h shardstore.Hash) (shard, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shards[h]
	return sh, ok
}
