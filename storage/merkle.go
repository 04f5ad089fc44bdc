package storage

import (
	"encoding/hex"
	"errors"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Hash is a SHA-256 Merkle root: a shard's name, or an object's ID.
type Hash [32]byte

// String returns the hash as lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes the hash as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads 64 hex digits. It returns an errs.Invalid error for
// anything else.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return errs.E(errs.Invalid, "hash %q is not %d hex digits", b, 2*len(h))
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return errs.E(errs.Invalid, "hash %q is not hex: %v", b, err)
	}
	return nil
}

var (
	hasher  = rfc6962.DefaultHasher
	factory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// LeafCount returns how many Merkle leaves a shard of size bytes has:
// ceil(size/leafSize), the last leaf holding the rest.
func LeafCount(size int64, leafSize int) int64 {
	if size <= 0 || leafSize <= 0 {
		return 0
	}
	return (size-1)/int64(leafSize) + 1
}

// ShardHash returns a shard's name: the RFC 6962 Merkle root over its
// leafSize-byte leaves (the last leaf may be shorter). An empty shard hashes
// to SHA-256 of nothing, RFC 6962's empty tree. leafSize must be positive.
func ShardHash(shard []byte, leafSize int) Hash {
	n := LeafCount(int64(len(shard)), leafSize)
	return root(n, func(i int64) []byte { return hasher.HashLeaf(leafAt(shard, leafSize, i)) }, nil)
}

func leafAt(shard []byte, leafSize int, i int64) []byte {
	start := i * int64(leafSize)
	end := min(start+int64(leafSize), int64(len(shard)))
	return shard[start:end]
}

// root computes the RFC 6962 root over n leaf hashes, reporting every
// non-ephemeral node to visit if it is not nil.
func root(n int64, leafHash func(i int64) []byte, visit compact.VisitFn) Hash {
	var h Hash
	if n == 0 {
		copy(h[:], hasher.EmptyRoot())
		return h
	}
	r := factory.NewEmptyRange(0)
	for i := range n {
		// Append only fails on a corrupted range, which a range built here
		// from scratch cannot be.
		if err := r.Append(leafHash(i), visit); err != nil {
			panic(err)
		}
	}
	sum, err := r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	copy(h[:], sum)
	return h
}

// inclusionProof returns the RFC 6962 inclusion proof for leaf index of the
// n leaves that leafHash describes.
func inclusionProof(n, index int64, leafHash func(i int64) []byte) ([][]byte, error) {
	nodes, err := proof.Inclusion(uint64(index), uint64(n))
	if err != nil {
		return nil, err
	}
	want := make(map[compact.NodeID]int, len(nodes.IDs))
	for i, id := range nodes.IDs {
		want[id] = i
	}
	hashes := make([][]byte, len(nodes.IDs))
	root(n, leafHash, func(id compact.NodeID, h []byte) {
		if i, ok := want[id]; ok {
			hashes[i] = h
		}
	})
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// ShardLeafProof returns leaf leafIndex of shard and its RFC 6962 inclusion
// proof against ShardHash(shard, leafSize). A provider answers a storage
// challenge with these. It returns an errs.Invalid error if leafSize is not
// positive or leafIndex is not a leaf of the shard.
func ShardLeafProof(shard []byte, leafIndex, leafSize int) (leaf []byte, path [][]byte, err error) {
	if leafSize <= 0 {
		return nil, nil, errs.E(errs.Invalid, "leaf size %d is not positive", leafSize)
	}
	n := LeafCount(int64(len(shard)), leafSize)
	if leafIndex < 0 || int64(leafIndex) >= n {
		return nil, nil, errs.E(errs.Invalid, "leaf %d is out of range: the shard has %d leaves", leafIndex, n)
	}
	path, err = inclusionProof(n, int64(leafIndex), func(i int64) []byte {
		return hasher.HashLeaf(leafAt(shard, leafSize, i))
	})
	if err != nil {
		return nil, nil, errs.E(errs.Internal, "building the proof for leaf %d: %w", leafIndex, err)
	}
	leaf = leafAt(shard, leafSize, int64(leafIndex))
	return leaf, path, nil
}

// VerifyLeaf checks that leaf is leaf leafIndex of the shard named shardHash,
// which is shardSize bytes long with leafSize-byte leaves, using path from
// ShardLeafProof. It returns an errs.Invalid error wrapping ErrCorrupt if the
// leaf has the wrong length or the proof does not lead to shardHash, and a
// plain errs.Invalid error if the sizes or index are out of range.
func VerifyLeaf(shardHash Hash, shardSize int64, leafSize, leafIndex int, leaf []byte, path [][]byte) error {
	if leafSize <= 0 || shardSize <= 0 {
		return errs.E(errs.Invalid, "shard size %d and leaf size %d must be positive", shardSize, leafSize)
	}
	n := LeafCount(shardSize, leafSize)
	if leafIndex < 0 || int64(leafIndex) >= n {
		return errs.E(errs.Invalid, "leaf %d is out of range: the shard has %d leaves", leafIndex, n)
	}
	wantLen := min(int64(leafSize), shardSize-int64(leafIndex)*int64(leafSize))
	if int64(len(leaf)) != wantLen {
		return errs.E(errs.Invalid, "leaf %d of shard %s is %d bytes, want %d: %w", leafIndex, shardHash, len(leaf), wantLen, ErrCorrupt)
	}
	err := proof.VerifyInclusion(hasher, uint64(leafIndex), uint64(n), hasher.HashLeaf(leaf), path, shardHash[:])
	if err != nil {
		return errs.E(errs.Invalid, "leaf %d of shard %s does not verify (%v): %w", leafIndex, shardHash, err, ErrCorrupt)
	}
	return nil
}

// ErrCorrupt is wrapped by every error that reports bytes which do not match
// the hash they were supposed to have.
var ErrCorrupt = errors.New("bytes do not match their hash")
