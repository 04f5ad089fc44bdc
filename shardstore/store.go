// Package shardstore is the vocabulary of a storage provider's shard store:
// the Store interface that every backend implements, the Hash that names a
// shard, and the errors callers test for.
//
// A shard is an immutable blob of at most MaxShardSize bytes named by a
// 32-byte hash that the caller chooses. The store does not compute the hash
// itself; it checks a Put's bytes against it with a Verifier supplied at
// construction (in Stratus, a Merkle root over the shard's 4 KiB leaves), and
// refuses bytes that don't verify.
//
// It is not a network service and knows nothing of leases, signatures or
// erasure coding: the HTTP server and the lease checks sit in front of it,
// and the client decides what the shards are. The backends live in
// subpackages (mem, disk) and all pass the conformance suite in storetest.
package shardstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"time"

	"github.com/stratus-cloud/stratus/errs"
)

// MaxShardSize is the largest shard a store accepts, in bytes.
const MaxShardSize = 64 << 20

// Hash names a shard. Its meaning is the Verifier's business.
type Hash [32]byte

// String returns h as 64 lowercase hex digits, the form used in file names
// and URLs.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the 64 hex digits that Hash.String returns. It returns an
// error of kind Invalid for anything else.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, errs.E(errs.Invalid, "shard hash %q is %d characters long: give 64 hex digits", s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, errs.E(errs.Invalid, "shard hash %q is not hex: give 64 hex digits", s)
	}
	return h, nil
}

// Info describes a stored shard.
type Info struct {
	Hash    Hash
	Size    int64
	Created time.Time // when the shard was stored
}

// A Verifier reports whether data are the bytes that hash names. It returns
// nil if they are, and an error saying why not otherwise. It takes a plain
// [32]byte so that a Merkle package can provide one without importing this
// package.
type Verifier func(hash [32]byte, data []byte) error

// VerifySHA256 is the default Verifier: hash must be the SHA-256 of data.
func VerifySHA256(hash [32]byte, data []byte) error {
	if sum := sha256.Sum256(data); sum != hash {
		return errs.E(errs.Invalid, "the SHA-256 of the %d bytes is %x, not %x", len(data), sum, hash)
	}
	return nil
}

// Options configure a backend. The zero value means no quota and SHA-256
// hashes.
type Options struct {
	// Quota is the most bytes of shard data the store holds; 0 means no
	// limit. It must not be negative.
	Quota int64
	// Verify checks a Put's bytes against its hash; nil means VerifySHA256.
	Verify Verifier
}

// ErrQuota is wrapped by the error a Put returns when the shard would take
// the store past its quota. Test for it with errors.Is; its kind is TooLarge.
var ErrQuota = errs.E(errs.TooLarge, "the shard store's quota is full: delete shards or raise the quota")

// ErrCorrupt is wrapped by the error a Scrubber returns when a stored shard's
// bytes no longer match its hash. Test for it with errors.Is.
var ErrCorrupt = errs.E(errs.Internal, "stored shard bytes no longer match their hash: delete the shard and repair it from the other shards")

// Store holds shards. All methods are safe for concurrent use, and each
// returns ctx.Err() (wrapped) if ctx is done before it finishes.
type Store interface {
	// Put stores the size bytes read from r under h. It reads r to its end
	// and writes nothing unless r holds exactly size bytes, those bytes
	// verify against h, and they fit in the quota. A Put of a hash that is
	// already stored with that size returns nil without reading r.
	//
	// Errors: Invalid if size is negative, r is shorter or longer than size,
	// or the bytes don't verify; TooLarge if size exceeds MaxShardSize, and
	// TooLarge wrapping ErrQuota if the quota has no room.
	Put(ctx context.Context, h Hash, r io.Reader, size int64) error

	// Get returns the n bytes of shard h starting at off, or everything from
	// off to the end if n < 0. The caller closes the reader. Get returns the
	// stored bytes as they are; verifying them is the reader's job.
	//
	// Errors: NotFound if h isn't stored; Invalid if off is negative or
	// beyond the end of the shard, or off+n is past the end.
	Get(ctx context.Context, h Hash, off, n int64) (io.ReadCloser, error)

	// Stat describes shard h. It returns an error of kind NotFound if h
	// isn't stored.
	Stat(ctx context.Context, h Hash) (Info, error)

	// Delete removes shard h and frees its bytes from the quota. It returns
	// an error of kind NotFound if h isn't stored.
	Delete(ctx context.Context, h Hash) error

	// List calls fn for every stored shard in ascending hash order. It stops
	// at and returns the first error fn returns. Shards put or deleted while
	// List runs may or may not be seen.
	List(ctx context.Context, fn func(Info) error) error

	// Usage returns the bytes of shard data stored and the quota, which is
	// math.MaxInt64 for a store without one.
	Usage(ctx context.Context) (used, quota int64, err error)
}

// A Scrubber is a Store that can re-check a stored shard against its hash,
// for the background scrubber and for answering storage proofs.
type Scrubber interface {
	// Verify re-reads shard h and runs the store's Verifier over it. It
	// returns an error of kind NotFound if h isn't stored, and one wrapping
	// ErrCorrupt if the bytes don't verify.
	Verify(ctx context.Context, h Hash) error
}
