// Package pebblestore keeps the ledger's state in Pebble. Everything a block
// changes (state, the app hash, the height and the node's transaction index)
// is written in one synced batch, so after a crash the store is at the last
// committed height or the one before, never in between.
//
// It does not know what the keys mean; the ledger and the ABCI adapter do.
package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
)

// Key spaces: state is committed by the app hash; meta and index are the
// node's own bookkeeping.
const (
	prefState = "s/"
	prefIndex = "x/"
	keyHeight = "m/height"
	keyApp    = "m/apphash"
)

// Store is a Pebble database holding ledger state.
type Store struct {
	db *pebble.DB
}

// Open opens or creates the store in dir.
func Open(dir string) (*Store, error) {
	opts := &pebble.Options{Logger: quietLogger{}}
	opts.Cache = pebble.NewCache(256 << 20)
	defer opts.Cache.Unref()
	opts.MemTableSize = 32 << 20
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, errs.E(errs.Conflict, "cannot open the state store in %s: %v (is another stratus process using this home?)", dir, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) get(key []byte) ([]byte, error) { return ReadCopy(s.db, key) }

// ReadCopy copies key's value out of r; a missing key is (nil, nil).
func ReadCopy(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// Get reads a state key; it implements ledger.Reader.
func (s *Store) Get(key []byte) ([]byte, error) {
	k := make([]byte, 0, len(prefState)+len(key))
	return s.get(append(append(k, prefState...), key...))
}

// Last returns the last committed height and app hash (0 and nil if none).
func (s *Store) Last() (int64, []byte, error) {
	h, err := s.get([]byte(keyHeight))
	if err != nil {
		return 0, nil, err
	}
	app, err := s.get([]byte(keyApp))
	if err != nil || h == nil {
		return 0, nil, err
	}
	return int64(binary.BigEndian.Uint64(h)), app, nil
}

// IndexEntry is a node-local record written with a block, outside the app
// hash: the transaction index.
type IndexEntry struct {
	Key   []byte
	Value []byte
}

// Commit writes a block's state changes, its height and app hash, and index
// entries in one synced batch.
func (s *Store) Commit(height int64, appHash []byte, writes []ledger.Change, index []IndexEntry) error {
	b := s.db.NewBatch()
	defer b.Close()
	key := make([]byte, 0, 128)
	for _, c := range writes {
		key = append(append(key[:0], prefState...), c.Key...)
		var err error
		if c.Delete {
			err = b.Delete(key, nil)
		} else {
			err = b.Set(key, c.Value, nil)
		}
		if err != nil {
			return err
		}
	}
	for _, e := range index {
		key = append(append(key[:0], prefIndex...), e.Key...)
		if err := b.Set(key, e.Value, nil); err != nil {
			return err
		}
	}
	if err := b.Set([]byte(keyHeight), binary.BigEndian.AppendUint64(nil, uint64(height)), nil); err != nil {
		return err
	}
	if err := b.Set([]byte(keyApp), appHash, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// Index reads an index entry.
func (s *Store) Index(key []byte) ([]byte, error) {
	return s.get(append([]byte(prefIndex), key...))
}

// IterateState calls fn for each state key under prefix, in key order.
func (s *Store) IterateState(prefix []byte, fn func(key, value []byte) error) error {
	return iterate(s.db, prefix, fn)
}

// Iterate is IterateState; it implements ledger.Reader. ledger.ErrStop from
// fn ends the walk without error.
func (s *Store) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return stopOK(iterate(s.db, prefix, fn))
}

// Iterate walks the snapshot's state under prefix; see Store.Iterate.
func (s *Snapshot) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return stopOK(iterate(s.snap, prefix, fn))
}

func stopOK(err error) error {
	if errors.Is(err, ledger.ErrStop) {
		return nil
	}
	return err
}

type iterReader interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

func iterate(r iterReader, prefix []byte, fn func(key, value []byte) error) error {
	lower := append([]byte(prefState), prefix...)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: UpperBound(lower)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key()[len(prefState):], it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// UpperBound is the least key above every key with prefix p, as Pebble's
// IterOptions.UpperBound wants it; nil (no bound) when p is all 0xff.
func UpperBound(p []byte) []byte {
	u := bytes.Clone(p)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] < 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(f string, a ...any) {
	fmt.Printf("pebble: "+f+"\n", a...)
}
func (quietLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// Snapshot is a consistent read-only view of committed state at one height.
type Snapshot struct{ snap *pebble.Snapshot }

// Snapshot returns a view that later commits do not change. Close it.
func (s *Store) Snapshot() *Snapshot { return &Snapshot{snap: s.db.NewSnapshot()} }

// Get reads a state key; it implements ledger.Reader.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	return ReadCopy(s.snap, append([]byte(prefState), key...))
}

// Height returns the height the snapshot was taken at.
func (s *Snapshot) Height() int64 {
	v, closer, err := s.snap.Get([]byte(keyHeight))
	if err != nil {
		return 0
	}
	defer closer.Close()
	return int64(binary.BigEndian.Uint64(v))
}

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.snap.Close() }
