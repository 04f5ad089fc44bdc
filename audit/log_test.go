package audit_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/bits"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/stratus-cloud/stratus/audit"
)

// memKV is an in-memory audit.KV.
type memKV map[string][]byte

func (m memKV) Get(k []byte) []byte { return m[string(k)] }
func (m memKV) Set(k, v []byte)     { m[string(k)] = bytes.Clone(v) }

var hasher = rfc6962.DefaultHasher

// mth is the Merkle Tree Hash of RFC 6962 section 2.1, written out from the
// RFC rather than taken from the package under test.
func mth(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		return hasher.EmptyRoot()
	case 1:
		return hasher.HashLeaf(leaves[0])
	default:
		k := 1 << (bits.Len(uint(n-1)) - 1) // largest power of two < n
		return hasher.HashChildren(mth(leaves[:k]), mth(leaves[k:]))
	}
}

func leafData(i int) []byte { return fmt.Appendf(nil, "leaf-%d", i) }

func leaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = leafData(i)
	}
	return out
}

func mustLoad(t *testing.T, kv audit.KV) *audit.Log {
	t.Helper()
	l, err := audit.Load(kv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}

var sizes = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 100}

func TestLogRootMatchesRFC6962(t *testing.T) {
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			kv := memKV{}
			l := mustLoad(t, kv)
			ref := testonly.New(hasher)
			ls := leaves(n)
			for i, d := range ls {
				if got := l.Append(d); got != uint64(i) {
					t.Fatalf("Append #%d returned index %d", i, got)
				}
				ref.AppendData(d)
				// The root is right after every append, not only at the end.
				if got, want := l.Root(), mth(ls[:i+1]); !bytes.Equal(got, want) {
					t.Fatalf("root after %d leaves = %x, want %x", i+1, got, want)
				}
			}
			if got := l.Size(); got != uint64(n) {
				t.Errorf("Size() = %d, want %d", got, n)
			}
			if got, want := l.Root(), mth(ls); !bytes.Equal(got, want) {
				t.Errorf("Root() = %x, want %x (RFC 6962 by hand)", got, want)
			}
			if got, want := l.Root(), ref.Hash(); !bytes.Equal(got, want) {
				t.Errorf("Root() = %x, want %x (testonly tree)", got, want)
			}
		})
	}
}

func TestEmptyLogRoot(t *testing.T) {
	l := mustLoad(t, memKV{})
	if got, want := l.Root(), hasher.EmptyRoot(); !bytes.Equal(got, want) {
		t.Errorf("empty root = %x, want %x", got, want)
	}
	if l.Size() != 0 {
		t.Errorf("empty size = %d", l.Size())
	}
}

// TestLogStoresLeavesAndNodes checks that every leaf and every perfect
// subtree is in state, and that inclusion and consistency proofs built only
// from stored nodes verify against the root.
func TestLogStoresLeavesAndNodes(t *testing.T) {
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			kv := memKV{}
			l := mustLoad(t, kv)
			ls := leaves(n)
			roots := make([][]byte, n+1)
			roots[0] = l.Root()
			for i, d := range ls {
				l.Append(d)
				roots[i+1] = l.Root()
			}
			for i, d := range ls {
				if got := kv.Get(audit.LeafKey(uint64(i))); !bytes.Equal(got, d) {
					t.Errorf("leaf %d = %q, want %q", i, got, d)
				}
				if got, want := kv.Get(audit.NodeKey(0, uint64(i))), audit.HashLeaf(d); !bytes.Equal(got, want) {
					t.Errorf("node (0,%d) = %x, want %x", i, got, want)
				}
			}
			for level := uint(1); 1<<level <= n; level++ {
				w := 1 << level
				for idx := 0; (idx+1)*w <= n; idx++ {
					want := mth(ls[idx*w : (idx+1)*w])
					if got := kv.Get(audit.NodeKey(level, uint64(idx))); !bytes.Equal(got, want) {
						t.Errorf("node (%d,%d) = %x, want %x", level, idx, got, want)
					}
				}
			}
			fetch := func(ns proof.Nodes) [][]byte {
				hs := make([][]byte, len(ns.IDs))
				for i, id := range ns.IDs {
					hs[i] = kv.Get(audit.NodeKey(id.Level, id.Index))
					if hs[i] == nil {
						t.Fatalf("node (%d,%d) is not stored", id.Level, id.Index)
					}
				}
				p, err := ns.Rehash(hs, hasher.HashChildren)
				if err != nil {
					t.Fatalf("Rehash: %v", err)
				}
				return p
			}
			size := uint64(n)
			for i := uint64(0); i < size; i++ {
				ns, err := proof.Inclusion(i, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyInclusion(hasher, i, size, audit.HashLeaf(ls[i]), fetch(ns), l.Root()); err != nil {
					t.Errorf("inclusion of %d in %d: %v", i, size, err)
				}
			}
			for s1 := uint64(1); s1 <= size; s1++ {
				ns, err := proof.Consistency(s1, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyConsistency(hasher, s1, size, fetch(ns), roots[s1], roots[size]); err != nil {
					t.Errorf("consistency %d -> %d: %v", s1, size, err)
				}
			}
		})
	}
}

// TestLoadAfterFlushResumes splits the same appends across two sessions at
// every point and expects the state and root of a single session.
func TestLoadAfterFlushResumes(t *testing.T) {
	const n = 37
	ls := leaves(n)
	whole := memKV{}
	l := mustLoad(t, whole)
	for _, d := range ls {
		l.Append(d)
	}
	l.Flush()
	wantRoot := l.Root()

	for k := 0; k <= n; k++ {
		kv := memKV{}
		a := mustLoad(t, kv)
		for _, d := range ls[:k] {
			a.Append(d)
		}
		a.Flush()
		b := mustLoad(t, kv)
		if b.Size() != uint64(k) || !bytes.Equal(b.Root(), a.Root()) {
			t.Fatalf("split at %d: reloaded size %d root %x, want %d %x", k, b.Size(), b.Root(), k, a.Root())
		}
		for i, d := range ls[k:] {
			if got := b.Append(d); got != uint64(k+i) {
				t.Fatalf("split at %d: Append returned %d, want %d", k, got, k+i)
			}
		}
		b.Flush()
		if !bytes.Equal(b.Root(), wantRoot) {
			t.Errorf("split at %d: root %x, want %x", k, b.Root(), wantRoot)
		}
		if !maps.EqualFunc(kv, whole, bytes.Equal) {
			t.Errorf("split at %d: state differs from one session's", k)
		}
	}
}

func TestLoadRefusesCorruptRange(t *testing.T) {
	good := memKV{}
	l := mustLoad(t, good)
	for _, d := range leaves(5) {
		l.Append(d)
	}
	l.Flush()
	raw := good.Get([]byte("range"))
	if raw == nil {
		t.Fatal(`Flush wrote no "range" key`)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"empty", []byte{}},
		{"truncated", raw[:len(raw)-1]},
		{"trailing", append(bytes.Clone(raw), 0)},
		{"size disagrees with hashes", append([]byte{7}, raw[1:]...)}, // 7 needs 3 hashes, 5 has 2
		{"too many hashes", []byte{5, 65}},
		{"non-minimal varint", append([]byte{0x85, 0x00}, raw[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := audit.Load(memKV{"range": tt.raw}); err == nil {
				t.Errorf("Load(%x) succeeded, want an error", tt.raw)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	for _, n := range []int{0, 1, 5, 8} {
		kv := memKV{}
		l, _ := audit.Load(kv)
		for _, d := range leaves(n) {
			l.Append(d)
		}
		l.Flush()
		f.Add(kv.Get([]byte("range")))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		kv := memKV{"range": raw}
		l, err := audit.Load(kv)
		if err != nil {
			return
		}
		// A range that loads is a usable log: appending and flushing work
		// and the reloaded log agrees.
		size := l.Size()
		if got := l.Append([]byte("x")); got != size {
			t.Fatalf("Append returned %d, want %d", got, size)
		}
		l.Flush()
		l2, err := audit.Load(kv)
		if err != nil {
			t.Fatalf("reload after Flush: %v", err)
		}
		if l2.Size() != size+1 || !bytes.Equal(l2.Root(), l.Root()) {
			t.Fatalf("reload: size %d root %x, want %d %x", l2.Size(), l2.Root(), size+1, l.Root())
		}
	})
}
