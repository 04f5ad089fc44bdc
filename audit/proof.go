package audit

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/stratus-cloud/stratus/errs"
)

// ErrCorrupt marks state that does not agree with the tree: a leaf whose hash
// is not the one the root commits to, or a node that is missing. It is an
// errs.Internal error, so the API answers 500: the node cannot vouch for
// what it holds, and a client should ask another node.
var ErrCorrupt = errs.E(errs.Internal, "audit log is corrupt")

// Inclusion is an RFC 6962 inclusion proof of leaf Index in the tree of Size
// leaves whose root is Root. Its JSON is the API's (bytes as base64).
type Inclusion struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
	// Root is the root the proof leads to, as this node computes it. A
	// verifier checks it against a root it trusts, not this one.
	Root []byte `json:"root"`
}

// Consistency is an RFC 6962 consistency proof that the tree of From leaves
// is a prefix of the tree of To leaves, whose roots are FromRoot and ToRoot.
type Consistency struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	Hashes   [][]byte `json:"hashes"`
	FromRoot []byte   `json:"from_root"`
	ToRoot   []byte   `json:"to_root"`
}

// Head is the size and root hash of the log at some size.
type Head struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// Record is one entry of the log: Leaf is the exact bytes hashed as leaf
// Index (package audit/leaf decodes them).
type Record struct {
	Index uint64 `json:"index"`
	Leaf  []byte `json:"leaf"`
}

// CurrentSize returns the number of leaves in the log stored in kv.
func CurrentSize(kv KV) (uint64, error) {
	l, err := Load(kv)
	if err != nil {
		return 0, err
	}
	return l.Size(), nil
}

// Root returns the root hash of the log when it had size leaves. Any past
// size is cheap: its root folds the O(log size) perfect subtrees that cover
// [0, size), and every perfect subtree is stored. A size beyond the log is
// errs.Invalid.
func Root(kv KV, size uint64) ([]byte, error) {
	l, err := Load(kv)
	if err != nil {
		return nil, err
	}
	if size > l.Size() {
		return nil, errs.E(errs.Invalid, "the audit log has %d entries: size %d is beyond it", l.Size(), size)
	}
	if size == l.Size() {
		return l.Root(), nil
	}
	return rootAt(kv, size)
}

func rootAt(kv KV, size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := fetch(kv, ids)
	if err != nil {
		return nil, err
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return r.GetRootHash(nil)
}

// InclusionProof returns the proof that leaf index is in the tree of size
// leaves. It needs index < size <= the log's size, or errs.Invalid.
func InclusionProof(kv KV, index, size uint64) (Inclusion, error) {
	cur, err := CurrentSize(kv)
	if err != nil {
		return Inclusion{}, err
	}
	if size > cur {
		return Inclusion{}, errs.E(errs.Invalid, "the audit log has %d entries: size %d is beyond it", cur, size)
	}
	if index >= size {
		return Inclusion{}, errs.E(errs.Invalid, "entry %d is not in a log of size %d: the index must be below the size", index, size)
	}
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return Inclusion{}, errs.E(errs.Invalid, "%v", err)
	}
	hashes, err := rehash(kv, ns)
	if err != nil {
		return Inclusion{}, err
	}
	root, err := Root(kv, size)
	if err != nil {
		return Inclusion{}, err
	}
	return Inclusion{Index: index, Size: size, Hashes: hashes, Root: root}, nil
}

// ConsistencyProof returns the proof that the tree of from leaves is a
// prefix of the tree of to leaves. It needs from <= to <= the log's size, or
// errs.Invalid.
func ConsistencyProof(kv KV, from, to uint64) (Consistency, error) {
	cur, err := CurrentSize(kv)
	if err != nil {
		return Consistency{}, err
	}
	if to > cur {
		return Consistency{}, errs.E(errs.Invalid, "the audit log has %d entries: size %d is beyond it", cur, to)
	}
	if from > to {
		return Consistency{}, errs.E(errs.Invalid, "from (%d) is after to (%d): a log only grows", from, to)
	}
	ns, err := proof.Consistency(from, to)
	if err != nil {
		return Consistency{}, errs.E(errs.Invalid, "%v", err)
	}
	hashes, err := rehash(kv, ns)
	if err != nil {
		return Consistency{}, err
	}
	fromRoot, err := Root(kv, from)
	if err != nil {
		return Consistency{}, err
	}
	toRoot, err := Root(kv, to)
	if err != nil {
		return Consistency{}, err
	}
	return Consistency{From: from, To: to, Hashes: hashes, FromRoot: fromRoot, ToRoot: toRoot}, nil
}

// Entry returns the exact bytes of leaf index, after checking them against
// the log's current root: a leaf that an inclusion proof from the stored
// tree does not tie to the root is refused with ErrCorrupt rather than served
// as valid. An index past the log is errs.NotFound.
func Entry(kv KV, index uint64) ([]byte, error) {
	l, err := Load(kv)
	if err != nil {
		return nil, err
	}
	if index >= l.Size() {
		return nil, errs.E(errs.NotFound, "the audit log has %d entries: there is no entry %d", l.Size(), index)
	}
	leaf := kv.Get(LeafKey(index))
	if leaf == nil {
		return nil, fmt.Errorf("%w: entry %d is missing", ErrCorrupt, index)
	}
	ns, err := proof.Inclusion(index, l.Size())
	if err != nil {
		return nil, errs.E(errs.Invalid, "%v", err)
	}
	hashes, err := rehash(kv, ns)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyInclusion(hasher, index, l.Size(), hasher.HashLeaf(leaf), hashes, l.Root()); err != nil {
		return nil, fmt.Errorf("%w: entry %d does not match the tree's root (%v)", ErrCorrupt, index, err)
	}
	// The stored leaf hash is part of no proof of its own leaf, so check it
	// too: proofs of other entries are built from it.
	if h := kv.Get(NodeKey(0, index)); !bytes.Equal(h, hasher.HashLeaf(leaf)) {
		return nil, fmt.Errorf("%w: entry %d does not match its stored hash", ErrCorrupt, index)
	}
	return bytes.Clone(leaf), nil
}

// rehash fetches the stored perfect subtrees a proof needs and folds those
// under the one node that is not a perfect subtree (proof.Nodes.Rehash).
func rehash(kv KV, ns proof.Nodes) ([][]byte, error) {
	hashes, err := fetch(kv, ns.IDs)
	if err != nil {
		return nil, err
	}
	out, err := ns.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if out == nil {
		out = [][]byte{} // an empty proof, not a missing one
	}
	return out, nil
}

func fetch(kv KV, ids []compact.NodeID) ([][]byte, error) {
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h := kv.Get(NodeKey(id.Level, id.Index))
		if len(h) != hasher.Size() {
			return nil, fmt.Errorf("%w: node (%d, %d) is missing", ErrCorrupt, id.Level, id.Index)
		}
		hashes[i] = bytes.Clone(h)
	}
	return hashes, nil
}
