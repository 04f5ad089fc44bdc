package abci

import (
	"errors"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// errDBClosed is what a CometBFT database answers once its node has stopped.
var errDBClosed = errors.New("database closed: the node has stopped")

// dbProvider opens CometBFT's databases as CometBFT would, wrapped so that a
// read after Close is harmless.
//
// CometBFT's node closes its block store when it stops, but does not wait
// for every goroutine that reads it: the consensus reactor's
// queryMaj23Routine, for one, sleeps between reads and then loads a commit,
// and panics with "leveldb: closed" if the store closed meanwhile. A process
// that exits after Stop never sees this; one that stops a node and goes on
// (tests, or a restart in the same process) does.
func dbProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &closeSafeDB{DB: db}, nil
}

// closeSafeDB answers reads after Close as if the keys were absent, and
// makes Close wait for reads in flight.
type closeSafeDB struct {
	dbm.DB
	mu     sync.RWMutex
	closed bool
}

func (d *closeSafeDB) Get(key []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil
	}
	return d.DB.Get(key)
}

func (d *closeSafeDB) Has(key []byte) (bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false, nil
	}
	return d.DB.Has(key)
}

func (d *closeSafeDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errDBClosed
	}
	return d.DB.Iterator(start, end)
}

func (d *closeSafeDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errDBClosed
	}
	return d.DB.ReverseIterator(start, end)
}

func (d *closeSafeDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.DB.Close()
}
