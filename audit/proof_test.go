package audit_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/errs"
)

// growInBlocks appends n leaves the way the ledger does: each block loads
// the log, appends a few leaves and flushes. after runs at the end of every
// block.
func growInBlocks(t *testing.T, kv audit.KV, n int, after func(size uint64)) {
	t.Helper()
	for i, block := 0, 0; i < n; block++ {
		l := mustLoad(t, kv)
		for k := 0; k < 1+block%7 && i < n; k++ {
			l.Append(leafData(i))
			i++
		}
		l.Flush()
		after(l.Size())
	}
}

// TestProofsVerify checks every served inclusion and consistency proof, and
// every past root, against roots computed from the leaves by RFC 6962 alone,
// at every size a log of 300 leaves goes through.
func TestProofsVerify(t *testing.T) {
	const n = 300
	ls := leaves(n)
	roots := make([][]byte, n+1)
	for s := range roots {
		roots[s] = mth(ls[:s])
	}
	kv := memKV{}
	check := func(cur uint64) {
		for s := uint64(0); s <= cur; s++ {
			got, err := audit.Root(kv, s)
			if err != nil || !bytes.Equal(got, roots[s]) {
				t.Fatalf("size %d: Root(%d) = %x, %v; want %x", cur, s, got, err, roots[s])
			}
		}
		for i := uint64(0); i < cur; i++ {
			p, err := audit.InclusionProof(kv, i, cur)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, cur, err)
			}
			if err := proof.VerifyInclusion(hasher, i, cur, hasher.HashLeaf(ls[i]), p.Hashes, roots[cur]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, cur, err)
			}
			if !bytes.Equal(p.Root, roots[cur]) {
				t.Fatalf("inclusion of %d in %d: root %x, want %x", i, cur, p.Root, roots[cur])
			}
			e, err := audit.Entry(kv, i)
			if err != nil || !bytes.Equal(e, ls[i]) {
				t.Fatalf("Entry(%d) at size %d = %q, %v", i, cur, e, err)
			}
		}
		for from := uint64(0); from <= cur; from++ {
			p, err := audit.ConsistencyProof(kv, from, cur)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", from, cur, err)
			}
			if err := proof.VerifyConsistency(hasher, from, cur, p.Hashes, roots[from], roots[cur]); err != nil {
				t.Fatalf("consistency %d -> %d: %v", from, cur, err)
			}
		}
	}
	growInBlocks(t, kv, n, check)

	// Proofs for past sizes, once the log has moved on.
	for size := uint64(1); size <= n; size++ {
		for i := uint64(0); i < size; i++ {
			p, err := audit.InclusionProof(kv, i, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			if err := proof.VerifyInclusion(hasher, i, size, hasher.HashLeaf(ls[i]), p.Hashes, roots[size]); err != nil {
				t.Fatalf("inclusion of %d in past size %d: %v", i, size, err)
			}
		}
		for from := uint64(0); from <= size; from++ {
			p, err := audit.ConsistencyProof(kv, from, size)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", from, size, err)
			}
			if err := proof.VerifyConsistency(hasher, from, size, p.Hashes, roots[from], roots[size]); err != nil {
				t.Fatalf("consistency %d -> %d: %v", from, size, err)
			}
		}
	}
}

func TestProofBounds(t *testing.T) {
	kv := memKV{}
	growInBlocks(t, kv, 10, func(uint64) {})
	tests := []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"inclusion index = size", second(audit.InclusionProof(kv, 5, 5)), errs.Invalid},
		{"inclusion size beyond log", second(audit.InclusionProof(kv, 0, 11)), errs.Invalid},
		{"inclusion in empty tree", second(audit.InclusionProof(kv, 0, 0)), errs.Invalid},
		{"consistency backwards", second(audit.ConsistencyProof(kv, 5, 4)), errs.Invalid},
		{"consistency beyond log", second(audit.ConsistencyProof(kv, 1, 11)), errs.Invalid},
		{"root beyond log", second(audit.Root(kv, 11)), errs.Invalid},
		{"entry beyond log", second(audit.Entry(kv, 10)), errs.NotFound},
		{"unknown tx", second(audit.TxIndex(kv, make([]byte, 32))), errs.NotFound},
	}
	for _, tt := range tests {
		if got := errs.KindOf(tt.err); tt.err == nil || got != tt.want {
			t.Errorf("%s: err %v (kind %s), want kind %s", tt.name, tt.err, got, tt.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestEntryRefusesTamperedLeaf changes one byte of a stored leaf, as someone
// with access to a node's database could: the node must not serve it.
func TestEntryRefusesTamperedLeaf(t *testing.T) {
	for _, n := range []int{1, 2, 7, 64, 100} {
		for _, idx := range []int{0, n / 2, n - 1} {
			t.Run(fmt.Sprintf("%d/%d", idx, n), func(t *testing.T) {
				kv := memKV{}
				growInBlocks(t, kv, n, func(uint64) {})
				leaf := bytes.Clone(kv.Get(audit.LeafKey(uint64(idx))))
				leaf[len(leaf)-1] ^= 1
				kv.Set(audit.LeafKey(uint64(idx)), leaf)
				_, err := audit.Entry(kv, uint64(idx))
				if !errors.Is(err, audit.ErrCorrupt) || errs.KindOf(err) != errs.Internal {
					t.Fatalf("Entry of a changed leaf: err %v, want ErrCorrupt (internal)", err)
				}
				// The other entries are still served.
				if other := (idx + 1) % n; other != idx {
					if _, err := audit.Entry(kv, uint64(other)); err != nil {
						t.Errorf("Entry(%d) next to the changed one: %v", other, err)
					}
				}
			})
		}
	}
}

// TestEntryRefusesTamperedNode changes a stored leaf hash instead: the
// proof built from it no longer reaches the root.
func TestEntryRefusesTamperedNode(t *testing.T) {
	kv := memKV{}
	growInBlocks(t, kv, 9, func(uint64) {})
	h := bytes.Clone(kv.Get(audit.NodeKey(0, 3)))
	h[0] ^= 1
	kv.Set(audit.NodeKey(0, 3), h)
	for _, i := range []uint64{2, 3} {
		if _, err := audit.Entry(kv, i); !errors.Is(err, audit.ErrCorrupt) {
			t.Errorf("Entry(%d) with node (0,3) changed: err %v, want ErrCorrupt", i, err)
		}
	}
}

// TestTxIndexKeepsFirst: a replay of a transaction's bytes is logged (it
// fails) but the hash still finds the leaf of the one that ran.
func TestTxIndexKeepsFirst(t *testing.T) {
	kv := memKV{}
	l := mustLoad(t, kv)
	l.Append([]byte("genesis"))
	hash := bytes.Repeat([]byte{7}, 32)
	first := l.AppendTx(hash, []byte("tx ran"))
	l.AppendTx(hash, []byte("tx replayed"))
	l.Flush()
	got, err := audit.TxIndex(kv, hash)
	if err != nil || got != first {
		t.Fatalf("TxIndex = %d, %v; want %d", got, err, first)
	}
}
