// Package storage is the pure core of Stratus object storage: it splits an
// object into fixed-size segments, erasure-codes each segment into k data and
// m parity shards, names every shard by the RFC 6962 Merkle root of its
// leaves, builds the object's manifest and ID, and puts a segment back
// together from any k shards that match the manifest. It also makes and checks
// the leaf proofs that providers answer storage challenges with.
//
// It does no I/O of its own beyond io.Reader, io.Writer and io.ReaderAt, and
// knows nothing of providers, leases, the ledger or HTTP: the caller fetches
// and stores shard bytes. The format is described in docs/storage-format.md.
package storage

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
)

// The defaults and bounds of Params. DefaultSegmentSize is documented in
// docs/storage-format.md: 4 MiB keeps a 3+2 segment's shards near 1.4 MiB,
// large enough that per-request overhead is small and small enough that a
// client holds only a few segments in memory while it streams.
const (
	DefaultK           = 3
	DefaultM           = 2
	DefaultSegmentSize = 4 << 20
	DefaultLeafSize    = 4 << 10

	// MaxShards bounds k+m, the number of providers one segment is spread over.
	MaxShards = 32
	// MinSegmentSize and MaxSegmentSize bound Params.SegmentSize.
	MinSegmentSize = 1 << 10
	MaxSegmentSize = 64 << 20
	// MinLeafSize and MaxLeafSize bound Params.LeafSize, which must also be a
	// power of two.
	MinLeafSize = 32
	MaxLeafSize = 1 << 20
	// MaxObjectSize bounds Manifest.Size (1 PiB), so that offsets and segment
	// counts never overflow.
	MaxObjectSize = 1 << 50
)

// Params are an object's coding parameters. They are part of the object's
// identity: the same bytes stored with different Params have different IDs.
type Params struct {
	K           int   `json:"k"`            // data shards per segment
	M           int   `json:"m"`            // parity shards per segment
	SegmentSize int64 `json:"segment_size"` // bytes of plain data per segment; the last may be shorter
	LeafSize    int   `json:"leaf_size"`    // bytes per Merkle leaf of a shard; the last may be shorter
}

// DefaultParams returns 3+2 redundancy, 4 MiB segments and 4 KiB leaves.
func DefaultParams() Params {
	return Params{K: DefaultK, M: DefaultM, SegmentSize: DefaultSegmentSize, LeafSize: DefaultLeafSize}
}

// Shards returns k+m, the number of shards per segment.
func (p Params) Shards() int { return p.K + p.M }

// Redundancy returns the parameters as "k+m", the form ParseRedundancy reads.
func (p Params) Redundancy() string { return strconv.Itoa(p.K) + "+" + strconv.Itoa(p.M) }

// ParseRedundancy reads "k+m" (for example "3+2") as k data and m parity
// shards. It returns an errs.Invalid error if s is not two decimal numbers
// joined by "+", or if k < 1, m < 0 or k+m > MaxShards.
func ParseRedundancy(s string) (k, m int, err error) {
	ks, ms, ok := strings.Cut(s, "+")
	if !ok || !isDecimal(ks) || !isDecimal(ms) {
		return 0, 0, errs.E(errs.Invalid, "redundancy %q is not k+m: write two numbers joined by +, such as 3+2", s)
	}
	k, _ = strconv.Atoi(ks)
	m, _ = strconv.Atoi(ms)
	if err := checkRedundancy(k, m); err != nil {
		return 0, 0, err
	}
	return k, m, nil
}

// isDecimal reports whether s is 1 to 3 ASCII digits, which is all k and m
// can need and keeps Atoi from seeing signs, spaces or overflow.
func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func checkRedundancy(k, m int) error {
	switch {
	case k < 1:
		return errs.E(errs.Invalid, "redundancy %d+%d needs at least 1 data shard", k, m)
	case m < 0:
		return errs.E(errs.Invalid, "redundancy %d+%d has a negative parity count", k, m)
	case k+m > MaxShards:
		return errs.E(errs.Invalid, "redundancy %d+%d spreads a segment over %d shards; at most %d are allowed", k, m, k+m, MaxShards)
	}
	return nil
}

// Validate returns an errs.Invalid error naming the first parameter that is
// out of bounds: k < 1, m < 0, k+m > MaxShards, a segment size outside
// [MinSegmentSize, MaxSegmentSize], or a leaf size that is not a power of two
// in [MinLeafSize, MaxLeafSize].
func (p Params) Validate() error {
	if err := checkRedundancy(p.K, p.M); err != nil {
		return err
	}
	if p.SegmentSize < MinSegmentSize || p.SegmentSize > MaxSegmentSize {
		return errs.E(errs.Invalid, "segment size %d is outside [%d, %d] bytes", p.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if p.LeafSize < MinLeafSize || p.LeafSize > MaxLeafSize || p.LeafSize&(p.LeafSize-1) != 0 {
		return errs.E(errs.Invalid, "leaf size %d is not a power of two in [%d, %d] bytes", p.LeafSize, MinLeafSize, MaxLeafSize)
	}
	return nil
}

// String returns a short description such as "3+2 seg=4194304 leaf=4096".
func (p Params) String() string {
	return fmt.Sprintf("%s seg=%d leaf=%d", p.Redundancy(), p.SegmentSize, p.LeafSize)
}

// SegmentCount returns how many segments an object of size bytes has: zero
// for an empty object, and ceil(size/SegmentSize) otherwise. p must be valid.
func (p Params) SegmentCount(size int64) int {
	if size <= 0 {
		return 0
	}
	return int((size-1)/p.SegmentSize + 1)
}

// SegmentLength returns the plain length of segment i of an object of size
// bytes: SegmentSize for every segment but the last, which holds the rest.
func (p Params) SegmentLength(size int64, i int) int64 {
	start := int64(i) * p.SegmentSize
	return min(p.SegmentSize, size-start)
}

// ShardSize returns the length of each of a segment's k+m shards:
// ceil(segLen/k). The last data shard is zero-padded up to it.
func (p Params) ShardSize(segLen int64) int64 {
	if segLen <= 0 {
		return 0
	}
	return (segLen-1)/int64(p.K) + 1
}
