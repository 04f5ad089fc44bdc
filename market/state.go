package market

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Buckets the market holds value in.
const (
	BucketEscrow     = "escrow"
	BucketCollateral = "collateral"
	// BucketPayouts holds what a lease has paid out of escrow but rounding
	// has not yet given to any one payee: less than one ustr per payee.
	BucketPayouts = "payouts"
)

// Records in state are JSON: encoding/json writes a struct's fields in
// declaration order and sorts map keys, so every validator writes the same
// bytes for the same record.

// Key layout under "market/".
const (
	keyNextID   = "next_id"
	keyEpoch    = "epoch"
	keyIndexed  = "indexed"  // set once the offer index holds every provider
	prefProv    = "prov/"    // operator -> Provider
	prefLease   = "lease/"   // id -> Lease
	prefByCons  = "bycons/"  // consumer, id -> nil
	prefByProv  = "byprov/"  // provider, id -> nil
	prefDue     = "due/"     // ms, id -> nil
	prefRef     = "ref/"     // class -> reference price
	prefRefHist = "refhist/" // class, epoch -> price
	prefCap     = "cap/"     // class -> capacity and use
	prefWindow  = "window/"  // lease id, index -> Window
	prefProbe   = "probe/"   // epoch, provider, validator -> ok, total
	prefTally   = "tally/"   // provider, validator -> running tally (sla.go)
	prefWinBase = "winbase/" // lease id -> windowBase
	prefPrune   = "prune/"   // ms, kind, id[, index] -> nil: the retention queue
	prefIndex   = "index/"   // class, rule kind, price bound, operator -> nil (index.go)
)

// Prefix is the market's namespace in state.
const Prefix = "market/"

// store is the market's view of state during one message or block.
type store struct {
	ctx *ledger.Context
	kv  *ledger.PrefixKV
	p   *Params // read once
	// judged counts the SLA windows judged through this store, for gas
	// and the per-block cap.
	judged int
}

// storeKey opens the module's state, under Prefix; only this package holds
// it (ledger.StoreKey).
var storeKey = ledger.NewStoreKey(strings.TrimSuffix(Prefix, "/"))

func newStore(ctx *ledger.Context) *store { return &store{ctx: ctx, kv: ctx.Store(storeKey)} }

func u64key(prefix string, parts ...any) []byte {
	k := []byte(prefix)
	for _, p := range parts {
		switch v := p.(type) {
		case uint64:
			k = binary.BigEndian.AppendUint64(k, v)
		case int64:
			k = binary.BigEndian.AppendUint64(k, uint64(v))
		case identity.Address:
			k = append(k, v[:]...)
		case string:
			k = append(k, v...)
			k = append(k, '/')
		default:
			panic(fmt.Sprintf("market: bad key part %T", p))
		}
	}
	return k
}

func (s *store) getJSON(key []byte, v any) (bool, error) {
	b := s.kv.Get(key)
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, errs.E(errs.Internal, "market: corrupt record %q: %v", key, err)
	}
	return true, nil
}

func (s *store) putJSON(key []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("market: record does not marshal: %v", err))
	}
	s.kv.Set(key, b)
}

func (s *store) params() Params {
	if s.p != nil {
		return *s.p
	}
	p := *s.ctx.ModuleParams(Module{}.Name()).(*Params)
	s.p = &p
	return p
}

func (s *store) provider(a identity.Address) (*Provider, error) {
	var p Provider
	ok, err := s.getJSON(u64key(prefProv, a), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "%s is not a registered provider: see `stratus provider list`", a)
	}
	return &p, nil
}

func (s *store) putProvider(p *Provider) { s.putJSON(u64key(prefProv, p.Operator), p) }

func (s *store) lease(id uint64) (*Lease, error) {
	var l Lease
	ok, err := s.getJSON(u64key(prefLease, id), &l)
	if err != nil {
		return nil, err
	}
	if !ok {
		if id < s.peekNextID() {
			// Ids are handed out in order and a lease record goes only
			// when it is pruned.
			return nil, errs.E(errs.NotFound, "lease %d was closed and %w (%d s): it is no longer in state, but its events remain in the audit log",
				id, ErrPruned, s.params().RetentionSeconds)
		}
		return nil, errs.E(errs.NotFound, "no lease %d: see `stratus lease list`", id)
	}
	return &l, nil
}

// ErrPruned is wrapped by the NotFound error for a lease that closed and
// was pruned from state after the retention period.
var ErrPruned = errors.New("pruned from state after the retention period")

func (s *store) peekNextID() uint64 {
	if b := s.kv.Get([]byte(keyNextID)); len(b) == 8 {
		return binary.BigEndian.Uint64(b)
	}
	return 1
}

func (s *store) putLease(l *Lease) { s.putJSON(u64key(prefLease, l.ID), l) }

func (s *store) nextID() uint64 {
	b := s.kv.Get([]byte(keyNextID))
	id := uint64(1)
	if len(b) == 8 {
		id = binary.BigEndian.Uint64(b)
	}
	s.kv.Set([]byte(keyNextID), binary.BigEndian.AppendUint64(nil, id+1))
	return id
}

// schedule moves a lease's due entry to at (0 removes it).
func (s *store) schedule(l *Lease, at int64) {
	if l.DueMs == at {
		return
	}
	if l.DueMs != 0 {
		s.kv.Delete(u64key(prefDue, l.DueMs, l.ID))
	}
	l.DueMs = at
	if at != 0 {
		s.kv.Set(u64key(prefDue, at, l.ID), []byte{})
	}
}

// Capacity is a class's total offered capacity and reserved quantity over
// active providers.
type Capacity struct {
	Capacity uint64 `json:"capacity,string"`
	Used     uint64 `json:"used,string"`
}

func (s *store) capacity(class string) Capacity {
	var c Capacity
	s.getJSON(u64key(prefCap, class), &c)
	return c
}

// addCapacity changes a class's totals. Offers are bounded by MaxCapacity,
// so the deltas fit in int64; a total that would overflow is refused.
func (s *store) addCapacity(class string, dCap, dUsed int64) error {
	c := s.capacity(class)
	var err error
	if c.Capacity, err = addSigned(c.Capacity, dCap); err != nil {
		return errs.E(errs.Invalid, "the network's %s capacity would overflow: offer less", class)
	}
	if c.Used, err = addSigned(c.Used, dUsed); err != nil {
		return errs.E(errs.Internal, "market: %s use index out of range", class)
	}
	s.putJSON(u64key(prefCap, class), c)
	return nil
}

func addSigned(v uint64, d int64) (uint64, error) {
	if d >= 0 {
		return money.Add(v, uint64(d))
	}
	return money.Sub(v, uint64(-d))
}

func (s *store) reference(class string) uint64 {
	b := s.kv.Get(u64key(prefRef, class))
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (s *store) setReference(class string, epoch int64, price uint64) {
	v := binary.BigEndian.AppendUint64(nil, price)
	s.kv.Set(u64key(prefRef, class), v)
	s.kv.Set(u64key(prefRefHist, class, epoch), v)
}

func (s *store) nowMs() int64 { return s.ctx.Time.UnixMilli() }
