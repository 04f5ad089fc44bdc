// Package pebbleindex keeps a node's query indexes over the audit log: which
// leaves name an account, a resource or an event type, where each block's
// leaves start, and the transactions each account signed or was named in.
//
// The index is derived and node-local: every leaf is in consensus state
// (package audit), and the index is rebuilt from leaf 0 when it is missing
// or behind. It lives in its own Pebble database, outside the app hash.
// Each call of Next indexes whole blocks in one batch with the cursor, so a
// reader never sees half of a block. It does not serve HTTP; package node
// does.
package pebbleindex

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// Key layout. Leaf indexes and heights are 8-byte big-endian, so keys sort
// in log order.
var (
	keyCursor = []byte("c")  // size (next leaf to index), last height, SHA-256 of the last leaf
	prefItem  = []byte("l/") // leaf -> Item JSON
	prefAcct  = []byte("a/") // address(32) leaf -> ""
	prefRes   = []byte("r/") // resource 0x00 leaf -> ""
	prefKind  = []byte("k/") // type 0x00 leaf -> ""
	prefCount = []byte("n/") // a/address, r/resource, k/type -> count
	prefHist  = []byte("h/") // address(32) txleaf -> roles JSON
	prefBlock = []byte("b/") // height -> first leaf, time (unix ns)
	prefTime  = []byte("t/") // time (unix ns) height -> ""
)

// ErrAhead is returned, wrapped, by Next when the index holds more leaves
// than the log, or its last leaf is not the log's: it was built from
// another chain or a later state (a restored snapshot). Reset it and index
// again.
var ErrAhead = errors.New("the audit index is ahead of the log, or of another log")

// Index is the query index in one Pebble database.
type Index struct {
	db *pebble.DB
}

// Open opens or creates the index in dir.
func Open(dir string) (*Index, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, errs.E(errs.Conflict, "cannot open the audit index in %s: %v (delete the directory to have it rebuilt)", dir, err)
	}
	return &Index{db: db}, nil
}

// Reset empties the index, so the next call of Next starts from leaf 0.
func (x *Index) Reset() error {
	return x.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.Sync)
}

// Close closes the database.
func (x *Index) Close() error { return x.db.Close() }

// Cursor is how far the index has read the log.
type Cursor struct {
	Size   uint64   // leaves indexed: the next leaf to read
	Height int64    // height of the last block indexed
	Last   [32]byte // SHA-256 of leaf Size-1
}

// Cursor returns how far the index has read.
func (x *Index) Cursor() (Cursor, error) { return readCursor(x.db) }

func readCursor(r pebble.Reader) (Cursor, error) {
	v, err := pebblestore.ReadCopy(r, keyCursor)
	if err != nil || v == nil {
		return Cursor{}, err
	}
	if len(v) != 48 {
		return Cursor{}, fmt.Errorf("audit index: corrupt cursor (delete the index directory to rebuild it)")
	}
	c := Cursor{Size: binary.BigEndian.Uint64(v), Height: int64(binary.BigEndian.Uint64(v[8:]))}
	copy(c.Last[:], v[16:])
	return c, nil
}

// Source is the log the index reads: committed state at one height.
type Source interface {
	// Size is the log's size.
	Size() uint64
	// Leaf returns leaf i's bytes.
	Leaf(i uint64) ([]byte, error)
	// Time returns block height's time, or the zero time if it is not
	// known; tx is the hash of one of the block's transactions, or nil.
	Time(height int64, tx []byte) time.Time
}

// Block is one block's indexed leaves, as Next returns them.
type Block struct {
	Height int64
	Time   time.Time
	Items  []auditindex.Item
}

// Next indexes the leaves after the cursor: whole blocks, stopping after
// the block in which maxLeaves is reached or at the source's size. It
// writes them and the new cursor in one batch, and returns the blocks (an
// empty slice when the index has caught up). A leaf that does not decode
// is an error: the log in state is corrupt.
func (x *Index) Next(src Source, maxLeaves int) ([]Block, error) {
	cur, err := x.Cursor()
	if err != nil {
		return nil, err
	}
	size := src.Size()
	if size < cur.Size {
		return nil, fmt.Errorf("%w: the index has %d leaves but the log only %d", ErrAhead, cur.Size, size)
	}
	if cur.Size > 0 {
		raw, err := src.Leaf(cur.Size - 1)
		if err != nil {
			return nil, err
		}
		if sha256.Sum256(raw) != cur.Last {
			return nil, fmt.Errorf("%w: leaf %d differs", ErrAhead, cur.Size-1)
		}
	}
	last := cur.Last
	w := newWriter(x.db)
	var blocks []Block
	var txs map[int][32]byte // this block's transaction hashes by position
	var txLeaf map[int]uint64
	n := 0
	i := cur.Size
	for ; i < size; i++ {
		raw, err := src.Leaf(i)
		if err != nil {
			return nil, err
		}
		e, err := leaf.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("audit leaf %d: %w", i, err)
		}
		h := height(e)
		if len(blocks) == 0 || blocks[len(blocks)-1].Height != h {
			if n >= maxLeaves {
				break
			}
			var first []byte
			if e.Tx != nil {
				first = e.Tx.Hash[:]
			}
			blocks = append(blocks, Block{Height: h, Time: src.Time(h, first)})
			txs, txLeaf = map[int][32]byte{}, map[int]uint64{}
			w.block(h, i, blocks[len(blocks)-1].Time)
		}
		b := &blocks[len(blocks)-1]
		it := auditindex.Item{Index: i, Height: h, Time: b.Time}
		if t := e.Tx; t != nil {
			txs[int(t.Index)], txLeaf[int(t.Index)] = t.Hash, i
			code := t.Code
			it.Kind, it.Type, it.Tx, it.Code = auditindex.KindTx, auditindex.KindTx, hex.EncodeToString(t.Hash[:]), &code
			if t.Decoded {
				signer := identity.Address(t.Signer)
				it.Signer, it.MsgType = signer.String(), t.MsgType
				w.account(signer, i)
				w.history(signer, i, auditindex.RoleSigner)
			}
		} else {
			ev := e.Event
			it.Kind, it.Type = auditindex.KindEvent, ev.Type
			hash, fromTx := txs[ev.Tx]
			if fromTx {
				it.Tx = hex.EncodeToString(hash[:])
			}
			for _, a := range ev.Attrs {
				it.Attrs = append(it.Attrs, auditindex.Attr{Key: a.Key, Value: a.Value})
			}
			for _, acct := range auditindex.Accounts(ev.Type, ev.Attrs) {
				addr, _ := identity.ParseDID(acct.Value)
				w.account(addr, i)
				if fromTx {
					w.history(addr, txLeaf[ev.Tx], acct.Key)
				}
			}
			for _, r := range auditindex.Resources(ev.Type, ev.Attrs) {
				w.resource(r, i)
			}
		}
		w.kind(it.Type, i)
		if err := w.item(it); err != nil {
			return nil, err
		}
		b.Items = append(b.Items, it)
		last = sha256.Sum256(raw)
		n++
	}
	next := Cursor{Size: i, Height: cur.Height, Last: last}
	if len(blocks) > 0 {
		next.Height = blocks[len(blocks)-1].Height
	}
	if err := w.commit(next); err != nil {
		return nil, err
	}
	return blocks, nil
}

func height(e leaf.Entry) int64 {
	if e.Tx != nil {
		return e.Tx.Height
	}
	return e.Event.Height
}

// writer gathers one batch: the keys, the counts it adds to and the
// history roles it merges.
type writer struct {
	db     *pebble.DB
	b      *pebble.Batch
	err    error
	counts map[string]uint64
	seen   map[string]bool // index keys already set in this batch
	roles  map[string][]string
	order  []string
}

func newWriter(db *pebble.DB) *writer {
	return &writer{db: db, b: db.NewBatch(), counts: map[string]uint64{}, seen: map[string]bool{}, roles: map[string][]string{}}
}

func (w *writer) set(k, v []byte) {
	if w.err == nil {
		w.err = w.b.Set(k, v, nil)
	}
}

// posting sets an index key and counts it once.
func (w *writer) posting(countKey, key []byte) {
	if w.seen[string(key)] {
		return
	}
	w.seen[string(key)] = true
	w.set(key, nil)
	w.counts[string(countKey)]++
}

func (w *writer) account(a identity.Address, i uint64) {
	w.posting(cat(prefCount, prefAcct, a[:]), acctKey(a, i))
}

func (w *writer) resource(r string, i uint64) {
	w.posting(cat(prefCount, prefRes, []byte(r)), termKey(prefRes, r, i))
}

func (w *writer) kind(t string, i uint64) {
	w.posting(cat(prefCount, prefKind, []byte(t)), termKey(prefKind, t, i))
}

func (w *writer) history(a identity.Address, txLeaf uint64, role string) {
	k := string(cat(prefHist, a[:], be(txLeaf)))
	r, ok := w.roles[k]
	if !ok {
		w.order = append(w.order, k)
	}
	if !slices.Contains(r, role) {
		w.roles[k] = append(r, role)
	}
}

func (w *writer) block(h int64, first uint64, t time.Time) {
	v := be(first)
	if !t.IsZero() {
		v = append(v, be(uint64(t.UnixNano()))...)
		w.set(cat(prefTime, be(uint64(t.UnixNano())), be(uint64(h))), nil)
	}
	w.set(cat(prefBlock, be(uint64(h))), v)
}

func (w *writer) item(it auditindex.Item) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	w.set(cat(prefItem, be(it.Index)), v)
	return nil
}

func (w *writer) commit(c Cursor) error {
	defer w.b.Close()
	for _, k := range w.order {
		// A transaction's leaf and events are in one block, so one
		// batch: its roles are complete here.
		v, _ := json.Marshal(w.roles[k])
		w.set([]byte(k), v)
	}
	for k, n := range w.counts {
		old, err := pebblestore.ReadCopy(w.db, []byte(k))
		if err != nil {
			return err
		}
		if len(old) == 8 {
			n += binary.BigEndian.Uint64(old)
		}
		w.set([]byte(k), be(n))
	}
	w.set(keyCursor, append(append(be(c.Size), be(uint64(c.Height))...), c.Last[:]...))
	if w.err != nil {
		return w.err
	}
	return w.b.Commit(pebble.NoSync) // derived: a crash loses only what is rebuilt
}

func acctKey(a identity.Address, i uint64) []byte { return cat(prefAcct, a[:], be(i)) }

func termKey(pref []byte, term string, i uint64) []byte {
	return cat(pref, []byte(term), []byte{0}, be(i))
}

func cat(parts ...[]byte) []byte {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func be(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

// noBound is Filter.To when the range has no end.
const noBound = math.MaxUint64
