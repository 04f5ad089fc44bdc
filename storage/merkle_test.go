package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
)

// mth is RFC 6962's Merkle Tree Hash written out from section 2.1, as an
// independent check of the compact-range computation.
func mth(leaves [][]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

func TestShardHashMatchesRFC6962(t *testing.T) {
	const leaf = 64
	for _, size := range []int{0, 1, leaf - 1, leaf, leaf + 1, 2 * leaf, 3*leaf + 5, 7 * leaf, 8 * leaf, 33*leaf + 1} {
		b := randomBytes(size, uint64(size))
		if got, want := ShardHash(b, leaf), mth(chunks(b, leaf)); got != Hash(want) {
			t.Errorf("size %d: ShardHash = %s, want %x", size, got, want)
		}
		if got := LeafCount(int64(size), leaf); got != int64(len(chunks(b, leaf))) {
			t.Errorf("size %d: LeafCount = %d, want %d", size, got, len(chunks(b, leaf)))
		}
	}
}

func TestObjectIDMatchesRFC6962(t *testing.T) {
	p := testParams(2, 1)
	m, _ := encodeAll(t, randomBytes(int(p.SegmentSize)+1, 11), p)
	leaves := [][]byte{m.headerLeaf()}
	for _, s := range m.Segments {
		for _, sh := range s.Shards {
			leaves = append(leaves, sh.Hash[:])
		}
	}
	if got, want := m.ID(), mth(leaves); got != ID(want) {
		t.Errorf("ID = %x, want %x", got, want)
	}
}

func TestLeafProofs(t *testing.T) {
	const leaf = 64
	for _, size := range []int{1, leaf - 1, leaf, leaf + 1, 2 * leaf, 5*leaf + 3, 8 * leaf, 17 * leaf} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			shard := randomBytes(size, uint64(size)+1000)
			h := ShardHash(shard, leaf)
			n := int(LeafCount(int64(size), leaf))
			for i := range n {
				l, path, err := ShardLeafProof(shard, i, leaf)
				if err != nil {
					t.Fatalf("leaf %d: %v", i, err)
				}
				if want := shard[i*leaf : min((i+1)*leaf, size)]; !bytes.Equal(l, want) {
					t.Fatalf("leaf %d has the wrong bytes", i)
				}
				if err := VerifyLeaf(h, int64(size), leaf, i, l, path); err != nil {
					t.Fatalf("leaf %d does not verify: %v", i, err)
				}

				bad := slices.Clone(l)
				bad[len(bad)-1] ^= 1
				if err := VerifyLeaf(h, int64(size), leaf, i, bad, path); !errors.Is(err, ErrCorrupt) {
					t.Errorf("leaf %d tampered: err = %v, want ErrCorrupt", i, err)
				}
				if len(path) > 0 {
					badPath := slices.Clone(path)
					badPath[0] = slices.Clone(badPath[0])
					badPath[0][0] ^= 1
					if err := VerifyLeaf(h, int64(size), leaf, i, l, badPath); !errors.Is(err, ErrCorrupt) {
						t.Errorf("leaf %d with tampered proof: err = %v, want ErrCorrupt", i, err)
					}
					if err := VerifyLeaf(h, int64(size), leaf, i, l, path[:len(path)-1]); !errors.Is(err, ErrCorrupt) {
						t.Errorf("leaf %d with short proof: err = %v, want ErrCorrupt", i, err)
					}
				}
				if err := VerifyLeaf(h, int64(size), leaf, i, l, append(slices.Clone(path), make([]byte, 32))); !errors.Is(err, ErrCorrupt) {
					t.Errorf("leaf %d with long proof: err = %v, want ErrCorrupt", i, err)
				}
				if n > 1 {
					other := (i + 1) % n
					if err := VerifyLeaf(h, int64(size), leaf, other, l, path); err == nil {
						t.Errorf("leaf %d verified as leaf %d", i, other)
					}
				}
				var otherHash Hash
				if err := VerifyLeaf(otherHash, int64(size), leaf, i, l, path); !errors.Is(err, ErrCorrupt) {
					t.Errorf("leaf %d against the wrong root: err = %v, want ErrCorrupt", i, err)
				}
			}
			if _, _, err := ShardLeafProof(shard, n, leaf); !errs.Is(err, errs.Invalid) {
				t.Errorf("proof of leaf %d of %d: err = %v, want invalid", n, n, err)
			}
			if err := VerifyLeaf(h, int64(size), leaf, n, nil, nil); !errs.Is(err, errs.Invalid) {
				t.Errorf("verify leaf %d of %d: err = %v, want invalid", n, n, err)
			}
		})
	}
}

func TestLeafProofOfEncodedShard(t *testing.T) {
	p := DefaultParams()
	p.SegmentSize = 64 << 10
	m, st := encodeAll(t, randomBytes(100<<10, 12), p)
	ref := m.Segments[1].Shards[4]
	shard := st[[2]int{1, 4}]
	last := int(LeafCount(ref.Size, p.LeafSize)) - 1
	l, path, err := ShardLeafProof(shard, last, p.LeafSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyLeaf(ref.Hash, ref.Size, p.LeafSize, last, l, path); err != nil {
		t.Errorf("last leaf of an encoded parity shard: %v", err)
	}
	if err := VerifyLeaf(ref.Hash, ref.Size+1, p.LeafSize, last, l, path); err == nil {
		t.Error("proof verified against the wrong shard size")
	}
}

func TestHashText(t *testing.T) {
	h := ShardHash([]byte("x"), 64)
	b, _ := h.MarshalText()
	var got Hash
	if err := got.UnmarshalText(b); err != nil || got != h {
		t.Errorf("round trip: got %s, %v; want %s", got, err, h)
	}
	for _, bad := range []string{"", "00", h.String() + "0", "zz" + h.String()[2:]} {
		if err := got.UnmarshalText([]byte(bad)); !errs.Is(err, errs.Invalid) {
			t.Errorf("UnmarshalText(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestShardVerifier(t *testing.T) {
	shard := randomBytes(5000, 14)
	v := ShardVerifier(4096)
	if err := v(ShardHash(shard, 4096), shard); err != nil {
		t.Errorf("good shard: %v", err)
	}
	if err := v(ShardHash(shard, 1024), shard); !errors.Is(err, ErrCorrupt) {
		t.Errorf("hash with another leaf size: err = %v, want ErrCorrupt", err)
	}
}
