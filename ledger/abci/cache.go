package abci

import (
	"sync"

	"github.com/stratus-cloud/stratus/ledger"
)

// sigCache remembers hashes of transactions whose signatures this node has
// verified, so FinalizeBlock does not verify them again. Only verified
// hashes go in; anything else is verified when executed. When full it starts
// over, which costs verifications, never correctness.
type sigCache struct {
	mu  sync.Mutex
	max int
	m   map[ledger.Hash]struct{}
}

func newSigCache(max int) *sigCache { return &sigCache{max: max, m: make(map[ledger.Hash]struct{})} }

func (c *sigCache) has(h ledger.Hash) bool {
	c.mu.Lock()
	_, ok := c.m[h]
	c.mu.Unlock()
	return ok
}

func (c *sigCache) add(h ledger.Hash) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[h] = struct{}{}
	c.mu.Unlock()
}

func (c *sigCache) remove(h ledger.Hash) {
	c.mu.Lock()
	delete(c.m, h)
	c.mu.Unlock()
}

// waiters delivers commit records to callers waiting on a hash.
type waiters struct {
	mu sync.Mutex
	m  map[ledger.Hash][]chan TxRecord
}

func newWaiters() *waiters { return &waiters{m: make(map[ledger.Hash][]chan TxRecord)} }

func (w *waiters) add(h ledger.Hash) (<-chan TxRecord, func()) {
	ch := make(chan TxRecord, 1)
	w.mu.Lock()
	w.m[h] = append(w.m[h], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.m[h]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(w.m, h)
		} else {
			w.m[h] = list
		}
	}
}

func (w *waiters) notify(h ledger.Hash, r TxRecord) {
	w.mu.Lock()
	list := w.m[h]
	delete(w.m, h)
	w.mu.Unlock()
	for _, c := range list {
		c <- r
	}
}
