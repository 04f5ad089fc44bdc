package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/stratus-cloud/stratus/codec"
)

// Reader is committed state. The ledger never writes through it; changes
// leave a block as a sorted list and the caller persists them atomically.
// An error from Get is a storage failure, not a missing key (nil, nil).
type Reader interface {
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for each key under prefix in key order. The slices
	// are valid only during the call. An error from fn stops the walk and
	// is returned.
	Iterate(prefix []byte, fn func(key, value []byte) error) error
}

// ErrStop, returned by an Iterate callback, ends the walk early; Iterate
// then returns nil.
var ErrStop = errors.New("stop iteration")

type entry struct {
	val []byte
	del bool
}

type undo struct {
	key  string
	prev entry
	had  bool
}

// Cache is a write overlay over a Reader with an undo journal, so a failed
// message's writes can be rolled back without copying state. Its writes are
// kept in a map for lookups and, for order, in a B-tree, so walking a prefix
// costs the keys under it, not every write the block has made (which made a
// block's execution quadratic in its transactions). New keys go into the
// B-tree only when a walk needs the order: a block that never walks (a
// block of transfers) sorts its keys once, at the end.
type Cache struct {
	parent  Reader
	m       map[string]entry
	order   *btree.BTreeG[string] // keys of m, in order; pending ones not yet
	pending []string              // keys added to m since the last walk (some may be gone again)
	journal []undo
	// reads remembers what was read from the parent, which does not change
	// while the cache lives (a block, or the mempool's view until the next
	// commit), so a key touched twice costs one storage read.
	reads map[string][]byte
	// gas meters the running transaction's reads and writes; nil outside
	// one.
	gas *GasMeter
}

// NewCache returns an empty overlay over parent.
func NewCache(parent Reader) *Cache {
	return &Cache{parent: parent, m: make(map[string]entry, 256), order: btree.NewOrderedG[string](32), reads: make(map[string][]byte, 256)}
}

// Get returns the value of key, or nil. A storage failure panics: the state
// machine cannot continue deterministically without its state, and CometBFT
// replays the block after a restart.
func (c *Cache) Get(key []byte) []byte {
	if e, ok := c.m[string(key)]; ok {
		if c.gas != nil {
			c.gas.read(string(key), e.val)
		}
		if e.del {
			return nil
		}
		return e.val
	}
	v, ok := c.reads[string(key)]
	if !ok {
		var err error
		if v, err = c.parent.Get(key); err != nil {
			panic(fmt.Sprintf("ledger: state read failed: %v", err))
		}
		c.reads[string(key)] = v
	}
	if c.gas != nil {
		c.gas.read(string(key), v)
	}
	return v
}

// Set writes key. The value must not be modified afterwards.
func (c *Cache) Set(key, val []byte) { c.put(string(key), entry{val: val}) }

// Delete removes key.
func (c *Cache) Delete(key []byte) { c.put(string(key), entry{del: true}) }

func (c *Cache) put(k string, e entry) {
	if c.gas != nil {
		c.gas.write(k, e.val)
	}
	prev, had := c.m[k]
	c.journal = append(c.journal, undo{key: k, prev: prev, had: had})
	c.m[k] = e
	if !had {
		c.pending = append(c.pending, k)
	}
}

// Snapshot marks a point to Revert to.
func (c *Cache) Snapshot() int { return len(c.journal) }

// Revert undoes every write since snapshot s.
func (c *Cache) Revert(s int) {
	for i := len(c.journal) - 1; i >= s; i-- {
		u := c.journal[i]
		if u.had {
			c.m[u.key] = u.prev
		} else {
			// A pending key is skipped when the pending keys are placed.
			delete(c.m, u.key)
			if c.order.Len() > 0 {
				c.order.Delete(u.key)
			}
		}
	}
	c.journal = c.journal[:s]
}

// Seal forgets the journal: writes so far can no longer be reverted.
func (c *Cache) Seal() { c.journal = c.journal[:0] }

// Iterate calls fn for each live key under prefix, in key order, as the
// overlay sees it: its own writes over its parent's state. Its cost is the
// parent's keys under prefix plus the overlay's writes under prefix.
func (c *Cache) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	c.place()
	// The overlay's keys are copied out first, since fn may write.
	var mine []string
	collect := func(k string) bool { mine = append(mine, k); return true }
	if end, ok := prefixEnd(prefix); ok {
		c.order.AscendRange(string(prefix), end, collect)
	} else {
		c.order.AscendGreaterOrEqual(string(prefix), collect)
	}
	// Parents swallow ErrStop; remember it so the overlay's own keys after
	// the stop are not emitted.
	stopped := false
	user := fn
	fn = func(k, v []byte) error {
		err := user(k, v)
		if errors.Is(err, ErrStop) {
			stopped = true
		}
		return err
	}
	i := 0
	emitMine := func(limit string, all bool) error {
		for ; i < len(mine) && (all || mine[i] < limit); i++ {
			if e := c.m[mine[i]]; !e.del {
				if c.gas != nil {
					c.gas.step([]byte(mine[i]), e.val)
				}
				if err := fn([]byte(mine[i]), e.val); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := c.parent.Iterate(prefix, func(k, v []byte) error {
		if c.gas != nil {
			c.gas.step(k, v)
		}
		if err := emitMine(string(k), false); err != nil {
			return err
		}
		if i < len(mine) && mine[i] == string(k) {
			e := c.m[mine[i]]
			i++
			if e.del {
				return nil
			}
			return fn(k, e.val)
		}
		return fn(k, v)
	})
	if err == nil && !stopped {
		err = emitMine("", true)
	}
	if stopped || errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Change is one write for the caller to persist. Value is nil for a delete.
type Change struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// prefixEnd is the least key greater than every key with prefix p, if there
// is one (there is none when p is all 0xff bytes).
func prefixEnd(p []byte) (string, bool) {
	end := []byte(string(p))
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return string(end[:i+1]), true
		}
	}
	return "", false
}

// place puts the pending keys that are still written into the B-tree.
func (c *Cache) place() {
	for _, k := range c.pending {
		if _, ok := c.m[k]; ok {
			c.order.ReplaceOrInsert(k)
		}
	}
	c.pending = c.pending[:0]
}

// Changes returns the overlay's writes sorted by key.
func (c *Cache) Changes() []Change {
	out := make([]Change, 0, len(c.m))
	add := func(k string) {
		e := c.m[k]
		out = append(out, Change{Key: []byte(k), Value: e.val, Delete: e.del})
	}
	if c.order.Len() == 0 {
		// Nothing walked: sort the keys once.
		keys := make([]string, 0, len(c.m))
		for k := range c.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(k)
		}
		return out
	}
	c.place()
	c.order.Ascend(func(k string) bool { add(k); return true })
	return out
}

// hashChanges commits to a sorted change list.
func hashChanges(cs []Change) []byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, c := range cs {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(c.Key)))])
		h.Write(c.Key)
		if c.Delete {
			h.Write([]byte{0})
			continue
		}
		h.Write([]byte{1})
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(c.Value)))])
		h.Write(c.Value)
	}
	return h.Sum(nil)
}

// Attr is one key and value of an event.
type Attr struct{ Key, Value string }

// Event is something that happened in the state machine. Events go into the
// audit log with the transaction that caused them.
type Event struct {
	Type  string
	Attrs []Attr
}

// Get returns the value of an attribute, or "".
func (e Event) Get(key string) string {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

func (e Event) encode(w *codec.Writer) {
	w.String(e.Type)
	w.Uvarint(uint64(len(e.Attrs)))
	for _, a := range e.Attrs {
		w.String(a.Key)
		w.String(a.Value)
	}
}

// Context is what a handler sees: state, the block it runs in, and a place to
// emit events. It carries no wall clock and no randomness but the block's.
type Context struct {
	cache   *Cache
	reg     *Registry
	ChainID string
	Height  int64
	Time    time.Time
	// Entropy is the current block's hash: the only randomness there is.
	Entropy []byte
	Params  Params
	Check   bool // true in CheckTx: no block is being built
	// TxFee is the fee the current transaction paid before its message
	// ran, so handlers can explain a shortfall in the sender's terms.
	TxFee  uint64
	events []Event
	// params are every set of parameters as the context found them
	// (params.go).
	params map[string]*loadedParams
	// depth is how deeply the running message was dispatched (router.go).
	depth int
}

// Modules returns the registry's modules in order, for a module that calls
// the others through an interface they implement (market.LeaseHooks).
func (c *Context) Modules() []Module { return c.reg.modules }

// Iterate walks state under prefix in key order; see Cache.Iterate. Like
// Get, Set and Delete, it refuses keys that belong to the core or to a
// module (see StoreKey).
func (c *Context) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	checkUnowned(prefix)
	return c.cache.Iterate(prefix, fn)
}

// Get reads key from state: a key no module and not the core owns. A
// module's own state is reached through its StoreKey (Context.Store),
// another module's through that module's exported functions.
func (c *Context) Get(key []byte) []byte {
	checkUnowned(key)
	return c.cache.Get(key)
}

// Set writes key, which no module and not the core may own (see Get).
func (c *Context) Set(key, val []byte) {
	checkUnowned(key)
	c.cache.Set(key, val)
}

// Delete removes key, which no module and not the core may own (see Get).
func (c *Context) Delete(key []byte) {
	checkUnowned(key)
	c.cache.Delete(key)
}

// Emit records an event.
func (c *Context) Emit(typ string, attrs ...Attr) {
	c.events = append(c.events, Event{Type: typ, Attrs: attrs})
	if c.cache.gas != nil {
		c.cache.gas.event(&c.events[len(c.events)-1])
	}
}

// prefixed returns a view of state under prefix, for the core's own
// namespaces (the audit log).
func (c *Context) prefixed(prefix string) *PrefixKV { return &PrefixKV{c: c.cache, p: prefix} }

// Store returns the state of the module that holds k: everything under
// "<module>/". Only that module holds its key (an unexported package
// variable), so only its own code, and whoever it hands the view to,
// reaches its state: the context enforces each module's prefix.
func (c *Context) Store(k *StoreKey) *PrefixKV { return &PrefixKV{c: c.cache, p: k.prefix} }

// StoreKey is a module's capability on its own state, made once per module
// by NewStoreKey and kept unexported.
type StoreKey struct{ prefix string }

// Prefix returns the key prefix of the state the key opens, "<module>/".
func (k *StoreKey) Prefix() string { return k.prefix }

// coreNamespaces are the core's keys and key prefixes.
var coreNamespaces = []string{prefAccount, prefBucket, keySupply, prefParams, prefAudit, keyValidators, keyBlockTime}

var (
	storeKeysMu sync.RWMutex
	storeKeys   = map[string]bool{} // module prefixes claimed
)

// NewStoreKey claims the state under "<module>/" for a module. Each name is
// claimed once, and none may reach into the core's namespaces; a second
// claim panics (a programming error found when the program starts).
func NewStoreKey(module string) *StoreKey {
	p := module + "/"
	if module == "" || strings.ContainsAny(module, "/\x00") {
		panic(fmt.Sprintf("ledger: %q is not a module name", module))
	}
	for _, ns := range coreNamespaces {
		if strings.HasPrefix(p, ns) || strings.HasPrefix(ns, p) {
			panic(fmt.Sprintf("ledger: module %q would share the core's namespace %q", module, ns))
		}
	}
	storeKeysMu.Lock()
	defer storeKeysMu.Unlock()
	if storeKeys[p] {
		panic(fmt.Sprintf("ledger: module %q claimed its state twice", module))
	}
	storeKeys[p] = true
	return &StoreKey{prefix: p}
}

// checkUnowned panics if key lies in the core's namespaces or a module's
// state: those are reached only through their owners' code.
func checkUnowned(key []byte) {
	k := string(key)
	for _, ns := range coreNamespaces {
		if strings.HasPrefix(k, ns) || (len(k) < len(ns) && strings.HasPrefix(ns, k)) {
			panic(fmt.Sprintf("ledger: key %q is the core's: use the Context's methods for accounts, buckets and parameters", k))
		}
	}
	if i := strings.IndexByte(k, '/'); i >= 0 {
		storeKeysMu.RLock()
		owned := storeKeys[k[:i+1]]
		storeKeysMu.RUnlock()
		if owned {
			panic(fmt.Sprintf("ledger: key %q belongs to module %s: reach it through that module's exported functions", k, k[:i]))
		}
	}
}

// PrefixKV is state under a key prefix.
type PrefixKV struct {
	c *Cache
	p string
}

func (p *PrefixKV) key(k []byte) []byte {
	b := make([]byte, 0, len(p.p)+len(k))
	return append(append(b, p.p...), k...)
}

// Get reads a key under the prefix.
func (p *PrefixKV) Get(k []byte) []byte { return p.c.Get(p.key(k)) }

// Set writes a key under the prefix.
func (p *PrefixKV) Set(k, v []byte) { p.c.Set(p.key(k), v) }

// Delete removes a key under the prefix.
func (p *PrefixKV) Delete(k []byte) { p.c.Delete(p.key(k)) }

// Iterate walks keys under the prefix plus sub, passing them without the
// view's prefix.
func (p *PrefixKV) Iterate(sub []byte, fn func(key, value []byte) error) error {
	return p.c.Iterate(p.key(sub), func(k, v []byte) error { return fn(k[len(p.p):], v) })
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// FormatInt is strconv for event attributes.
func FormatInt(v uint64) string { return strconv.FormatUint(v, 10) }

// MemReader is a Reader over a map, for tests and genesis.
type MemReader map[string][]byte

// Get returns the value of key, or nil.
func (m MemReader) Get(key []byte) ([]byte, error) { return m[string(key)], nil }

// Iterate walks m's keys under prefix in order.
func (m MemReader) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn([]byte(k), m[k]); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Apply writes changes into m.
func (m MemReader) Apply(cs []Change) {
	for _, c := range cs {
		if c.Delete {
			delete(m, string(c.Key))
		} else {
			m[string(c.Key)] = bytes.Clone(c.Value)
		}
	}
}
