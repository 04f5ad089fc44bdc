// Package audit is Stratus's tamper-evident log: an append-only RFC 6962
// Merkle tree of every executed transaction and every event the state machine
// emits. Its root goes into the app hash, so the validators' commit signatures
// sign it.
//
// The hashing and tree rules are transparency-dev/merkle's; this package only
// decides where the tree's nodes live in state, and builds inclusion and
// consistency proofs, past roots and checked entries from them (proof.go).
// What a leaf holds is the ledger's choice; package audit/leaf decodes it for
// verifiers. Checkpoints that bind a root to consensus are not here.
package audit

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
)

// KV is the slice of state the log lives in. Keys are already namespaced by
// the caller.
type KV interface {
	Get(key []byte) []byte
	Set(key, value []byte)
}

var hasher = rfc6962.DefaultHasher

var factory = &compact.RangeFactory{Hash: hasher.HashChildren}

// Key layout inside the log's namespace.
var (
	keyRange = []byte("range") // size and the compact range's hashes
	prefLeaf = []byte("leaf/") // index -> leaf data
	prefNode = []byte("node/") // level, index -> node hash (perfect subtrees)
	prefTx   = []byte("tx/")   // transaction hash -> index of its leaf
)

// Log appends leaves and tracks the root. Load it at the start of a block,
// Append during the block and Flush at its end.
type Log struct {
	kv KV
	r  *compact.Range
}

// Load reads the log's compact range from kv. A missing range is an empty log.
func Load(kv KV) (*Log, error) {
	raw := kv.Get(keyRange)
	if raw == nil {
		return &Log{kv: kv, r: factory.NewEmptyRange(0)}, nil
	}
	rd := codec.NewReader(raw)
	size := rd.Uvarint()
	n := rd.Uvarint()
	if n > 64 {
		return nil, fmt.Errorf("audit: corrupt range: %d hashes", n)
	}
	hashes := make([][]byte, n)
	for i := range hashes {
		hashes[i] = append([]byte(nil), rd.Fixed(32)...)
	}
	if err := rd.Finish(); err != nil {
		return nil, fmt.Errorf("audit: corrupt range: %w", err)
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("audit: corrupt range: %w", err)
	}
	return &Log{kv: kv, r: r}, nil
}

// Size returns the number of leaves.
func (l *Log) Size() uint64 { return l.r.End() }

// Append adds a leaf and returns its index. The leaf data and every perfect
// subtree node it completes are stored, so inclusion and consistency proofs
// can be built from state without replaying the log.
func (l *Log) Append(leaf []byte) uint64 {
	idx := l.r.End()
	l.kv.Set(indexKey(prefLeaf, idx), leaf)
	h := hasher.HashLeaf(leaf)
	l.kv.Set(NodeKey(0, idx), h)
	// Append only fails for a range that does not start at 0, which Load
	// and NewEmptyRange never make.
	if err := l.r.Append(h, func(id compact.NodeID, hash []byte) {
		if id.Level > 0 {
			l.kv.Set(NodeKey(id.Level, id.Index), hash)
		}
	}); err != nil {
		panic(err)
	}
	return idx
}

// AppendTx appends the leaf of the transaction whose hash is txHash, and
// records where it is so a proof can be asked for by hash (TxIndex). The
// first leaf of a hash stays the one found: a replay of the same bytes fails
// and is logged too, and it must not take the place of the transaction that
// ran.
func (l *Log) AppendTx(txHash, leaf []byte) uint64 {
	idx := l.Append(leaf)
	k := append(bytes.Clone(prefTx), txHash...)
	if l.kv.Get(k) == nil {
		l.kv.Set(k, binary.AppendUvarint(nil, idx))
	}
	return idx
}

// TxIndex returns the index of the leaf of the transaction whose hash is
// txHash, or an errs.NotFound error if no block has executed it.
func TxIndex(kv KV, txHash []byte) (uint64, error) {
	raw := kv.Get(append(bytes.Clone(prefTx), txHash...))
	if raw == nil {
		return 0, errs.E(errs.NotFound, "transaction %x is not in the audit log: no block has executed it yet", txHash)
	}
	idx, n := binary.Uvarint(raw)
	if n <= 0 {
		return 0, fmt.Errorf("%w: the index of transaction %x is unreadable", ErrCorrupt, txHash)
	}
	return idx, nil
}

// Root returns the RFC 6962 root hash of the log.
func (l *Log) Root() []byte {
	root, _ := l.r.GetRootHash(nil)
	if root == nil {
		return hasher.EmptyRoot()
	}
	return root
}

// Flush writes the compact range back to state. Call it once at the end of
// each block that appended.
func (l *Log) Flush() {
	hashes := l.r.Hashes()
	w := codec.NewWriter(16 + 32*len(hashes))
	w.Uvarint(l.r.End())
	w.Uvarint(uint64(len(hashes)))
	for _, h := range hashes {
		w.Fixed(h)
	}
	l.kv.Set(keyRange, w.Bytes())
}

// LeafKey is where leaf idx's data is stored.
func LeafKey(idx uint64) []byte { return indexKey(prefLeaf, idx) }

// NodeKey is where the hash of the perfect subtree node (level, index) is
// stored; level 0 holds leaf hashes.
func NodeKey(level uint, index uint64) []byte {
	k := make([]byte, 0, len(prefNode)+9)
	k = append(k, prefNode...)
	k = append(k, byte(level))
	return binary.BigEndian.AppendUint64(k, index)
}

func indexKey(prefix []byte, idx uint64) []byte {
	k := make([]byte, 0, len(prefix)+8)
	k = append(k, prefix...)
	return binary.BigEndian.AppendUint64(k, idx)
}

// HashLeaf returns the RFC 6962 hash of a leaf.
func HashLeaf(leaf []byte) []byte { return hasher.HashLeaf(leaf) }
