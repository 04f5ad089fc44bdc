// Package backend holds the checks and plumbing that every shardstore
// backend shares, so that they agree on limits, ranges and error messages.
// It is not a store itself.
package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/internal/bufpool"
	"github.com/stratus-cloud/stratus/shardstore"
)

// Resolve applies the defaults to opts: an unlimited quota becomes
// math.MaxInt64 and a nil Verifier becomes VerifySHA256.
func Resolve(opts shardstore.Options) (quota int64, verify shardstore.Verifier, err error) {
	if opts.Quota < 0 {
		return 0, nil, errs.E(errs.Invalid, "shard store quota %d is negative: give a size in bytes, or 0 for no limit", opts.Quota)
	}
	quota, verify = opts.Quota, opts.Verify
	if quota == 0 {
		quota = math.MaxInt64
	}
	if verify == nil {
		verify = shardstore.VerifySHA256
	}
	return quota, verify, nil
}

// CheckSize checks a Put's declared size before anything is read.
func CheckSize(h shardstore.Hash, size int64) error {
	if size < 0 {
		return errs.E(errs.Invalid, "shard %s: size %d is negative: declare the shard's length in bytes", h, size)
	}
	if size > shardstore.MaxShardSize {
		return errs.E(errs.TooLarge, "shard %s is %d bytes, more than the %d-byte limit: use smaller segments or more data shards", h, size, shardstore.MaxShardSize)
	}
	return nil
}

// CheckQuota reports ErrQuota if size more bytes don't fit in free.
func CheckQuota(h shardstore.Hash, size, free, quota int64) error {
	if size > free {
		return errs.E(errs.TooLarge, "shard %s needs %d bytes but only %d of the %d-byte quota are free: %w", h, size, max(free, 0), quota, shardstore.ErrQuota)
	}
	return nil
}

// CheckRange checks a Get of n bytes at off in a shard of size bytes and
// returns how many bytes it reads.
func CheckRange(h shardstore.Hash, off, n, size int64) (int64, error) {
	switch {
	case off < 0:
		return 0, errs.E(errs.Invalid, "shard %s: offset %d is negative", h, off)
	case off > size:
		return 0, errs.E(errs.Invalid, "shard %s: offset %d is beyond the end of the %d-byte shard", h, off, size)
	case n < 0:
		return size - off, nil
	case n > size-off:
		return 0, errs.E(errs.Invalid, "shard %s: %d bytes at offset %d run past the end of the %d-byte shard: ask for at most %d, or a negative length to read to the end", h, n, off, size, size-off)
	}
	return n, nil
}

// Verify runs v and gives its complaint the kind Invalid.
func Verify(v shardstore.Verifier, h shardstore.Hash, data []byte) error {
	if err := v(h, data); err != nil {
		return errs.E(errs.Invalid, "shard %s: the bytes sent don't match the hash, so nothing was stored: %w", h, err)
	}
	return nil
}

// NotFound is the error for a shard that isn't stored.
func NotFound(h shardstore.Hash) error {
	return errs.E(errs.NotFound, "shard %s is not stored here: check the hash, or fetch it from another provider", h)
}

// Canceled wraps a done context's error.
func Canceled(ctx context.Context, op string, h shardstore.Hash) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s shard %s: %w", op, h, err)
	}
	return nil
}

// ReadExact copies exactly size bytes from r to w and then checks that r is
// at its end. It stops early if ctx is done.
func ReadExact(ctx context.Context, h shardstore.Hash, r io.Reader, size int64, w io.Writer) error {
	cr := ctxReader{ctx, r}
	got, err := io.CopyN(w, cr, size)
	if err != nil {
		if err := Canceled(ctx, "put", h); err != nil {
			return err
		}
		if errors.Is(err, io.EOF) {
			return errs.E(errs.Invalid, "shard %s: the body ended after %d of the %d declared bytes, so nothing was stored: send the whole shard", h, got, size)
		}
		return fmt.Errorf("put shard %s: reading the body: %w", h, err)
	}
	var extra [1]byte
	k, err := io.ReadFull(cr, extra[:])
	if k > 0 {
		return errs.E(errs.Invalid, "shard %s: the body is longer than the %d declared bytes, so nothing was stored: declare the shard's true size", h, size)
	}
	if !errors.Is(err, io.EOF) {
		if err := Canceled(ctx, "put", h); err != nil {
			return err
		}
		return fmt.Errorf("put shard %s: reading the end of the body: %w", h, err)
	}
	return nil
}

// ctxReader fails reads once its context is done, so a Put of a slow body
// can be abandoned between reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// HashLock serialises the Puts and Deletes of one hash, so that of two
// concurrent Puts of a shard one writes it and the other then finds it
// stored, and the usage counter never counts a shard twice. The zero value
// is ready to use.
type HashLock struct {
	mu   sync.Mutex
	held map[shardstore.Hash]chan struct{}
}

// Lock waits until h is free or ctx is done, and returns the function that
// frees it.
func (l *HashLock) Lock(ctx context.Context, h shardstore.Hash) (unlock func(), err error) {
	for {
		l.mu.Lock()
		wait, busy := l.held[h]
		if !busy {
			if l.held == nil {
				l.held = make(map[shardstore.Hash]chan struct{})
			}
			done := make(chan struct{})
			l.held[h] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, h)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Usage is a store's quota accounting: bytes stored, and bytes promised to
// Puts still reading their bodies, so that concurrent Puts cannot together
// overrun the quota. The zero value is not usable; make one with NewUsage.
type Usage struct {
	mu       sync.Mutex
	quota    int64
	used     int64
	reserved int64
}

// NewUsage returns accounting for quota bytes with used already stored.
func NewUsage(quota, used int64) *Usage { return &Usage{quota: quota, used: used} }

// Reserve promises size bytes to a Put of shard h that replaces oldSize
// bytes, or returns ErrQuota. Call release when the Put is over, whether or
// not it stored anything.
func (u *Usage) Reserve(h shardstore.Hash, size, oldSize int64) (release func(), err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := CheckQuota(h, size, u.quota-u.used-u.reserved+oldSize, u.quota); err != nil {
		return nil, err
	}
	u.reserved += size
	return func() {
		u.mu.Lock()
		u.reserved -= size
		u.mu.Unlock()
	}, nil
}

// Add changes the bytes stored by delta.
func (u *Usage) Add(delta int64) {
	u.mu.Lock()
	u.used += delta
	u.mu.Unlock()
}

// Get returns the bytes stored and the quota.
func (u *Usage) Get() (used, quota int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.used, u.quota
}

// ReadVerified reads exactly size bytes of shard h from r and checks them
// with v. The Verifier needs the whole shard, so it is read into memory
// before anything is stored. The buffer comes from package bufpool: a
// caller that does not keep it may hand it back with bufpool.Put.
func ReadVerified(ctx context.Context, h shardstore.Hash, r io.Reader, size int64, v shardstore.Verifier) ([]byte, error) {
	buf := bytes.NewBuffer(bufpool.Get(int(size))[:0])
	if err := ReadExact(ctx, h, r, size, buf); err != nil {
		bufpool.Put(buf.Bytes())
		return nil, err
	}
	if err := Verify(v, h, buf.Bytes()); err != nil {
		bufpool.Put(buf.Bytes())
		return nil, err
	}
	return buf.Bytes(), nil
}
