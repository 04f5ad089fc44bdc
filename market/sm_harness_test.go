package market_test

// The harness for the market's state-machine tests (sm_*_test.go): a chain
// over memory, driven block by block with block times the test chooses, and
// after every block a check of conservation and of every lease's and
// provider's books.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

const smChainID = "market-sm"

// smT0 is genesis time; it falls on an epoch boundary.
var smT0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// State layout the tests read (market/state.go, ledger/bank.go).
const (
	smLeasePrefix  = "market/lease/"
	smProvPrefix   = "market/prov/"
	smDuePrefix    = "market/due/"
	smWindowPrefix = "market/window/"
	smBucketPrefix = "bucket/"
	smAuditPrefix  = "audit/"
	smPico         = 1_000_000_000_000
	smGiB          = 1 << 30
	smSTR          = money.UstrPerSTR
)

func smKey(name string) *identity.Key {
	seed := sha256.Sum256([]byte("stratus-market-sm/" + name))
	return &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
}

// smOpts shapes a test chain; zero values give defaults.
type smOpts struct {
	consumers int     // funded consumer keys "consumer<i>"; default 3
	providers int     // funded provider keys "provider<i>"; default 4
	powers    []int64 // one validator each, operators "op<i>"; default 4 x 1
	balance   uint64  // each funded key; default 1,000,000 STR
	params    *market.Params
	refs      map[string]uint64
	// genesis registers these providers; Operator is filled from
	// provider<i> when zero.
	genesis  []market.GenesisProvider
	feeEpoch uint64 // ledger FeeEpochBlocks; default 1e9 (never)
}

type smBlock struct {
	h   ledger.Header
	txs [][]byte
	app []byte
}

// smChain is a chain of the ledger with the market module over a MemReader.
type smChain struct {
	t       testing.TB
	m       *ledger.Machine
	st      ledger.MemReader
	genesis []byte
	lp      ledger.Params
	mp      market.Params
	now     time.Time
	height  int64
	appHash []byte
	supply  uint64
	nonce   map[identity.Address]uint64
	// fees is what each account has paid in fees so far.
	fees map[identity.Address]uint64

	consumers []*identity.Key
	providers []*identity.Key
	ops       []*identity.Key // validator operators
	powers    []int64         // their voting power
	creator   *identity.Key   // an app creator, payee of splits
	stranger  *identity.Key   // funded, but no part in anything

	blocks []smBlock

	// What the last block gave back.
	results   []ledger.TxResult
	endEvents []ledger.Event

	// prev is every lease as the previous block left it, prevProv every
	// provider.
	prev     map[uint64]market.Lease
	prevProv map[identity.Address]market.Provider

	// wrap, if set, wraps committed state for the next blocks (to count
	// what they read).
	wrap func(ledger.Reader) ledger.Reader
}

func smDefaultParams() market.Params { return market.DefaultParams() }

func newSMChain(t testing.TB, o smOpts) *smChain {
	t.Helper()
	if o.consumers == 0 {
		o.consumers = 3
	}
	if o.providers == 0 {
		o.providers = 4
	}
	if o.powers == nil {
		o.powers = []int64{1, 1, 1, 1}
	}
	if o.balance == 0 {
		o.balance = 1_000_000 * smSTR
	}
	mp := smDefaultParams()
	if o.params != nil {
		mp = *o.params
	}
	lp := ledger.DefaultParams()
	lp.FeeEpochBlocks = 1_000_000_000
	if o.feeEpoch != 0 {
		lp.FeeEpochBlocks = o.feeEpoch
	}
	c := &smChain{
		t: t, m: ledger.New(ledger.DefaultRegistry(market.Module{})), st: ledger.MemReader{},
		lp: lp, mp: mp, now: smT0, nonce: map[identity.Address]uint64{}, fees: map[identity.Address]uint64{}, powers: o.powers,
		creator: smKey("creator"), stranger: smKey("stranger"),
	}
	g := ledger.Genesis{Params: lp}
	fund := func(k *identity.Key) {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: o.balance})
		c.supply += o.balance
		c.nonce[k.Address()] = 0
	}
	for i := range o.consumers {
		k := smKey(fmt.Sprintf("consumer%d", i))
		c.consumers = append(c.consumers, k)
		fund(k)
	}
	for i := range o.providers {
		k := smKey(fmt.Sprintf("provider%d", i))
		c.providers = append(c.providers, k)
		fund(k)
	}
	for i, pw := range o.powers {
		op := smKey(fmt.Sprintf("op%d", i))
		c.ops = append(c.ops, op)
		fund(op)
		g.Validators = append(g.Validators, ledger.Validator{
			Name: fmt.Sprintf("val%d", i), Operator: op.Address(),
			ConsPubKey: smKey(fmt.Sprintf("cons%d", i)).Priv.Public().(ed25519.PublicKey), Power: pw,
		})
	}
	fund(c.creator)
	fund(c.stranger)
	mg := market.Genesis{Params: mp, ReferencePrices: o.refs}
	if mg.ReferencePrices == nil {
		mg.ReferencePrices = market.DefaultReferencePrices()
	}
	for i, gp := range o.genesis {
		if gp.Operator.IsZero() {
			gp.Operator = c.providers[i].Address()
		}
		mg.Providers = append(mg.Providers, gp)
	}
	app, err := g.MarshalAppState(map[string]any{"market": mg})
	if err != nil {
		t.Fatalf("MarshalAppState: %v", err)
	}
	c.genesis = app
	ch, err := c.m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: smChainID, Time: smT0}, app)
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	c.st.Apply(ch.Writes)
	c.appHash = ch.AppHash
	c.check()
	return c
}

// smProvider is a genesis provider offering one class at a fixed price.
func smProvider(class string, capacity, price uint64) market.GenesisProvider {
	return market.GenesisProvider{RegisterProvider: market.RegisterProvider{
		Endpoint: "https://provider.example", Region: "eu",
		Offers:     []market.Offer{{Class: class, Capacity: capacity, Pricing: market.Rule{Kind: "fixed", Price: price}}},
		Collateral: 1000 * smSTR,
	}}
}

// fork copies the chain, so one history can be continued two ways.
func (c *smChain) fork() *smChain {
	d := *c
	d.st = maps.Clone(c.st)
	d.nonce = maps.Clone(c.nonce)
	d.fees = maps.Clone(c.fees)
	d.blocks = append([]smBlock(nil), c.blocks...)
	d.prev = maps.Clone(c.prev)
	d.prevProv = maps.Clone(c.prevProv)
	return &d
}

// tx signs msg from k with the next nonce, the minimum gas price and a gas
// limit from a simulation on the current state. A message that fails its own Validate fails the
// ante checks and uses no nonce.
func (c *smChain) tx(k *identity.Key, msg ledger.Msg) []byte {
	c.t.Helper()
	return c.txGas(k, msg, c.estimate(k, msg))
}

// smDefaultGas is the gas limit of a transaction whose simulation fails.
const smDefaultGas = 1_000_000

func (c *smChain) estimate(k *identity.Key, msg ledger.Msg) uint64 {
	c.t.Helper()
	probe := &ledger.Tx{ChainID: smChainID, Nonce: c.nonce[k.Address()], GasLimit: c.lp.MaxBlockGas, GasPrice: c.lp.MinGasPrice, Msg: msg}
	if err := probe.Sign(k); err != nil {
		c.t.Fatalf("Sign: %v", err)
	}
	sim, err := c.m.Simulate(c.st, ledger.Header{ChainID: smChainID, Height: c.height + 1}, probe.Bytes())
	if err != nil || sim.Code != ledger.CodeOK {
		return smDefaultGas
	}
	// The block may run long after the state simulated (tests jump
	// hours), and a lease touched later settles and judges more: twice
	// the estimate, and more. Only the gas used is paid.
	return 2*(sim.GasUsed+client.GasMargin(sim.GasUsed)) + 100_000
}

// txGas signs msg from k with the next nonce and gas limit gas.
func (c *smChain) txGas(k *identity.Key, msg ledger.Msg, gas uint64) []byte {
	c.t.Helper()
	tx := &ledger.Tx{ChainID: smChainID, Nonce: c.nonce[k.Address()], GasLimit: gas, GasPrice: c.lp.MinGasPrice, Msg: msg}
	if err := tx.Sign(k); err != nil {
		c.t.Fatalf("Sign: %v", err)
	}
	if msg.Validate() == nil {
		c.nonce[k.Address()]++
	}
	return tx.Bytes()
}

// rawMsg is a message whose encoding the test writes by hand, under
// another message's type name: how a hostile client would send bytes the
// market's own encoder never writes.
type rawMsg struct {
	typ string
	b   []byte
}

func (m *rawMsg) Type() string                 { return m.typ }
func (m *rawMsg) Encode(w *codec.Writer)       { w.Fixed(m.b) }
func (m *rawMsg) Decode(r *codec.Reader) error { m.b = r.Fixed(r.Remaining()); return r.Err() }
func (m *rawMsg) Validate() error              { return nil }

// rawTx signs hand-written message bytes; it uses no nonce, as such a
// transaction never gets past decoding.
func (c *smChain) rawTx(k *identity.Key, typ string, b []byte) []byte {
	c.t.Helper()
	tx := &ledger.Tx{ChainID: smChainID, Nonce: c.nonce[k.Address()], GasLimit: smDefaultGas, GasPrice: c.lp.MinGasPrice, Msg: &rawMsg{typ: typ, b: b}}
	if err := tx.Sign(k); err != nil {
		c.t.Fatalf("Sign: %v", err)
	}
	return tx.Bytes()
}

// block runs a block dt after the last one.
func (c *smChain) block(dt time.Duration, txs ...[]byte) []ledger.TxResult {
	c.t.Helper()
	return c.blockAt(c.now.Add(dt), txs...)
}

// blockAt runs a block at time at, persists it and checks every invariant.
func (c *smChain) blockAt(at time.Time, txs ...[]byte) []ledger.TxResult {
	c.t.Helper()
	if at.Before(c.now) {
		c.t.Fatalf("block time %v is before the last block's %v", at, c.now)
	}
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("sm-block"), uint64(c.height+1)))
	h := ledger.Header{ChainID: smChainID, Height: c.height + 1, Time: at, Hash: hash[:], PrevAppHash: c.appHash}
	var r ledger.Reader = c.st
	if c.wrap != nil {
		r = c.wrap(r)
	}
	b, err := c.m.BeginBlock(r, h)
	if err != nil {
		c.t.Fatalf("BeginBlock %d: %v", h.Height, err)
	}
	var res []ledger.TxResult
	for i, raw := range txs {
		r := b.Deliver(raw, false)
		if r.Code != ledger.CodeOK && len(r.Events) != 0 {
			c.t.Errorf("block %d tx %d failed (%d: %s) but has events %v", h.Height, i, r.Code, r.Log, r.Events)
		}
		res = append(res, r)
		if r.Tx != nil {
			c.fees[r.Tx.Signer] += r.Fee
		}
	}
	ch, evs, err := b.End()
	if err != nil {
		c.t.Fatalf("End of block %d: %v", h.Height, err)
	}
	c.st.Apply(ch.Writes)
	c.height, c.now, c.appHash = h.Height, at, ch.AppHash
	c.results, c.endEvents = res, evs
	c.blocks = append(c.blocks, smBlock{h: h, txs: txs, app: ch.AppHash})
	for a := range c.nonce {
		c.nonce[a] = c.account(a).Nonce
	}
	c.check()
	return res
}

// ok runs a block in which every transaction must succeed.
func (c *smChain) ok(dt time.Duration, txs ...[]byte) []ledger.TxResult {
	c.t.Helper()
	res := c.block(dt, txs...)
	for i, r := range res {
		if r.Code != ledger.CodeOK {
			c.t.Fatalf("block %d tx %d: code %d: %s", c.height, i, r.Code, r.Log)
		}
	}
	return res
}

// okAt is ok at a given time.
func (c *smChain) okAt(at time.Time, txs ...[]byte) []ledger.TxResult {
	c.t.Helper()
	return c.ok(at.Sub(c.now), txs...)
}

// open opens a lease in its own block and returns its id.
func (c *smChain) open(dt time.Duration, k *identity.Key, m *market.OpenLease) uint64 {
	c.t.Helper()
	res := c.ok(dt, c.tx(k, m))
	ev := smFind(res[0].Events, "lease.opened")
	if ev == nil {
		c.t.Fatalf("open: no lease.opened event in %v", res[0].Events)
	}
	return smAttrU64(c.t, *ev, "lease")
}

// replay runs the chain's blocks again on a fresh machine and state and
// checks every app hash and the final state.
func (c *smChain) replay() {
	c.t.Helper()
	m := ledger.New(ledger.DefaultRegistry(market.Module{}))
	st := ledger.MemReader{}
	ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: smChainID, Time: smT0}, c.genesis)
	if err != nil {
		c.t.Fatalf("replay InitChain: %v", err)
	}
	st.Apply(ch.Writes)
	for _, blk := range c.blocks {
		b, err := m.BeginBlock(st, blk.h)
		if err != nil {
			c.t.Fatalf("replay BeginBlock %d: %v", blk.h.Height, err)
		}
		for _, raw := range blk.txs {
			b.Deliver(raw, false)
		}
		ch, _, err := b.End()
		if err != nil {
			c.t.Fatalf("replay End %d: %v", blk.h.Height, err)
		}
		st.Apply(ch.Writes)
		if !bytes.Equal(ch.AppHash, blk.app) {
			c.t.Fatalf("replay: block %d app hash %x, first run %x", blk.h.Height, ch.AppHash, blk.app)
		}
	}
	if len(st) != len(c.st) {
		c.t.Fatalf("replay: %d keys in state, first run %d", len(st), len(c.st))
	}
	for k, v := range c.st {
		if !bytes.Equal(st[k], v) {
			c.t.Fatalf("replay: key %q differs", k)
		}
	}
}

// --- reading state ---

func (c *smChain) account(a identity.Address) ledger.Account {
	c.t.Helper()
	acct, err := ledger.ReadAccount(c.st, a)
	if err != nil {
		c.t.Fatal(err)
	}
	return acct
}

func (c *smChain) balance(a identity.Address) uint64 { return c.account(a).Balance }

func (c *smChain) bucket(name string) uint64 {
	c.t.Helper()
	v, err := ledger.ReadBucket(c.st, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func smLeaseKey(id uint64) string {
	return string(binary.BigEndian.AppendUint64([]byte(smLeasePrefix), id))
}

func (c *smChain) lease(id uint64) market.Lease {
	c.t.Helper()
	v, ok := c.st[smLeaseKey(id)]
	if !ok {
		c.t.Fatalf("no lease %d in state", id)
	}
	var l market.Lease
	if err := json.Unmarshal(v, &l); err != nil {
		c.t.Fatalf("lease %d: %v", id, err)
	}
	return l
}

func (c *smChain) provider(a identity.Address) (market.Provider, bool) {
	c.t.Helper()
	v, ok := c.st[smProvPrefix+string(a[:])]
	if !ok {
		return market.Provider{}, false
	}
	var p market.Provider
	if err := json.Unmarshal(v, &p); err != nil {
		c.t.Fatalf("provider %s: %v", a, err)
	}
	return p, true
}

func (c *smChain) mustProvider(a identity.Address) market.Provider {
	c.t.Helper()
	p, ok := c.provider(a)
	if !ok {
		c.t.Fatalf("provider %s is not in state", a)
	}
	return p
}

func smOfferOf(p market.Provider, class string) market.Offer {
	for _, o := range p.Offers {
		if o.Class == class {
			return o
		}
	}
	return market.Offer{}
}

func (c *smChain) window(id, index uint64) (market.Window, bool) {
	c.t.Helper()
	k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte(smWindowPrefix), id), index)
	v, ok := c.st[string(k)]
	if !ok {
		return market.Window{}, false
	}
	var w market.Window
	if err := json.Unmarshal(v, &w); err != nil {
		c.t.Fatalf("window %d/%d: %v", id, index, err)
	}
	return w, true
}

// ref is a class's reference price.
func (c *smChain) ref(class string) uint64 {
	c.t.Helper()
	v := c.st["market/ref/"+class+"/"]
	if len(v) != 8 {
		c.t.Fatalf("no %s reference price in state", class)
	}
	return binary.BigEndian.Uint64(v)
}

// refHist is a class's recorded reference price for an epoch.
func (c *smChain) refHist(class string, epoch int64) (uint64, bool) {
	v, ok := c.st[string(binary.BigEndian.AppendUint64([]byte("market/refhist/"+class+"/"), uint64(epoch)))]
	if !ok || len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// capIndex is the market's record of a class's capacity and use.
func (c *smChain) capIndex(class string) market.Capacity {
	c.t.Helper()
	var cp market.Capacity
	if v, ok := c.st["market/cap/"+class+"/"]; ok {
		if err := json.Unmarshal(v, &cp); err != nil {
			c.t.Fatal(err)
		}
	}
	return cp
}

func (c *smChain) epochMs() int64 { return c.mp.EpochSeconds * 1000 }

// epoch is the chain's current epoch.
func (c *smChain) epoch() int64 { return c.now.UnixMilli() / c.epochMs() }

// epochStart is the time an epoch begins.
func (c *smChain) epochStart(e int64) time.Time { return time.UnixMilli(e * c.epochMs()).UTC() }

func (c *smChain) leases() []market.Lease {
	var out []market.Lease
	for k, v := range c.st {
		if strings.HasPrefix(k, smLeasePrefix) {
			var l market.Lease
			if err := json.Unmarshal(v, &l); err != nil {
				c.t.Fatalf("lease record %q: %v", k, err)
			}
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (c *smChain) allProviders() []market.Provider {
	var out []market.Provider
	for k, v := range c.st {
		if strings.HasPrefix(k, smProvPrefix) {
			var p market.Provider
			if err := json.Unmarshal(v, &p); err != nil {
				c.t.Fatalf("provider record %q: %v", k, err)
			}
			if string(p.Operator[:]) != k[len(smProvPrefix):] {
				c.t.Fatalf("provider record %q holds operator %s", k, p.Operator)
			}
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Operator[:], out[j].Operator[:]) < 0 })
	return out
}

// nonAudit is committed state without the audit log, which every block
// changes.
func (c *smChain) nonAudit() map[string]string {
	out := map[string]string{}
	for k, v := range c.st {
		if !strings.HasPrefix(k, smAuditPrefix) {
			out[k] = string(v)
		}
	}
	return out
}

// --- events ---

// events is every event of the last block: its transactions', then its end's.
func (c *smChain) events() []ledger.Event {
	var out []ledger.Event
	for _, r := range c.results {
		out = append(out, r.Events...)
	}
	return append(out, c.endEvents...)
}

func smFind(evs []ledger.Event, typ string) *ledger.Event {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

// leaseEvent finds an event of type typ about lease id in the last block.
func (c *smChain) leaseEvent(typ string, id uint64) *ledger.Event {
	evs := c.events()
	for i := range evs {
		if evs[i].Type == typ && evs[i].Get("lease") == strconv.FormatUint(id, 10) {
			return &evs[i]
		}
	}
	return nil
}

func smAttrU64(t testing.TB, e ledger.Event, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(e.Get(key), 10, 64)
	if err != nil {
		t.Fatalf("event %s attribute %s = %q: %v", e.Type, key, e.Get(key), err)
	}
	return v
}

// --- arithmetic, written out independently with math/big ---

func smBig(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// smMulDiv is floor(a*b/c).
func smMulDiv(a, b, c uint64) uint64 {
	x := new(big.Int).Mul(smBig(a), smBig(b))
	return x.Quo(x, smBig(c)).Uint64()
}

// smAccrued is what a lease at rate (nano-ustr/s) has paid after ms of
// activity: whole ustr, and the carried pico-ustr.
func smAccrued(rate uint64, ms int64) (ustr, pico uint64) {
	x := new(big.Int).Mul(smBig(rate), big.NewInt(ms))
	q, r := new(big.Int).QuoRem(x, big.NewInt(smPico), new(big.Int))
	return q.Uint64(), r.Uint64()
}

// smCeilMs is the least ms at which rate x ms reaches ustr whole ustr.
func smCeilMs(rate, ustr uint64) int64 {
	x := new(big.Int).Mul(smBig(ustr), big.NewInt(smPico))
	x.Add(x, smBig(rate-1))
	return x.Quo(x, smBig(rate)).Int64()
}

// smRate is price x quantity / unit, rounded down.
func smRate(price, quantity uint64, class string) uint64 {
	unit := uint64(1)
	if class == market.ClassStorage {
		unit = smGiB
	}
	return smMulDiv(price, quantity, unit)
}

// --- invariants ---

// check runs after every block: the ledger's conservation, and the books
// of every lease and provider.
func (c *smChain) check() {
	t := c.t
	t.Helper()
	// Conservation: accounts add up to the balances bucket, the buckets to
	// the supply, the supply to what genesis minted; no value in a bucket
	// the machine does not list.
	var accts uint64
	for k, v := range c.st {
		if strings.HasPrefix(k, ledger.AccountPrefix) {
			accts += ledger.DecodeAccountValue(v).Balance
		}
	}
	if bal := c.bucket(ledger.BucketBalances); accts != bal {
		t.Fatalf("height %d: accounts hold %d, the balances bucket %d", c.height, accts, bal)
	}
	listed := map[string]bool{}
	total := new(big.Int)
	for _, b := range c.m.Buckets() {
		listed[b] = true
		total.Add(total, smBig(c.bucket(b)))
	}
	for k, v := range c.st {
		if name, ok := strings.CutPrefix(k, smBucketPrefix); ok && !listed[name] && binary.BigEndian.Uint64(v) != 0 {
			t.Fatalf("height %d: bucket %q holds value but is not in Machine.Buckets()", c.height, name)
		}
	}
	supply, err := ledger.ReadSupply(c.st)
	if err != nil {
		t.Fatal(err)
	}
	if !total.IsUint64() || total.Uint64() != supply || supply != c.supply {
		t.Fatalf("height %d: buckets hold %v, supply is %d, genesis minted %d", c.height, total, supply, c.supply)
	}
	for _, b := range []string{market.BucketEscrow, market.BucketCollateral, market.BucketPayouts} {
		if !listed[b] {
			t.Fatalf("Machine.Buckets() %v lacks the market's %q", c.m.Buckets(), b)
		}
	}

	// Leases.
	var escrow, pending uint64
	type use struct {
		open uint32
		used map[string]uint64
	}
	uses := map[identity.Address]*use{}
	dues := map[string]bool{}
	for k := range c.st {
		if strings.HasPrefix(k, smDuePrefix) {
			dues[k] = true
		}
	}
	leases := c.leases()
	for _, l := range leases {
		escrow += l.Escrow
		pending += l.Pending
		if l.Deposited != l.Escrow+l.Settled+l.Refunded {
			t.Fatalf("height %d lease %d: deposited %d != escrow %d + settled %d + refunded %d", c.height, l.ID, l.Deposited, l.Escrow, l.Settled, l.Refunded)
		}
		var paid, bps uint64
		for _, p := range l.Split {
			paid += p.Paid
			bps += p.Bps
		}
		if l.Settled != paid+l.Pending {
			t.Fatalf("height %d lease %d: settled %d != paid %d + pending %d", c.height, l.ID, l.Settled, paid, l.Pending)
		}
		if bps != 10_000 {
			t.Fatalf("height %d lease %d: split adds up to %d bps", c.height, l.ID, bps)
		}
		if l.Rate != smRate(l.Price, l.Quantity, l.Class) {
			t.Fatalf("height %d lease %d: rate %d, price %d x %d %s gives %d", c.height, l.ID, l.Rate, l.Price, l.Quantity, l.Class, smRate(l.Price, l.Quantity, l.Class))
		}
		if l.AccruedPico >= smPico {
			t.Fatalf("height %d lease %d: carried %d pico, a whole ustr or more", c.height, l.ID, l.AccruedPico)
		}
		dueKey := string(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte(smDuePrefix), uint64(l.DueMs)), l.ID))
		// Each payee's cumulative floor; at close the first takes the rest.
		for i, p := range l.Split {
			want := smMulDiv(l.Settled, p.Bps, 10_000)
			if p.Paid != want && !(i == 0 && l.State == market.LeaseClosed) {
				t.Fatalf("height %d lease %d payee %s: paid %d, want floor(%d x %d / 10000) = %d", c.height, l.ID, p.To, p.Paid, l.Settled, p.Bps, want)
			}
		}
		switch l.State {
		case market.LeasePending:
			if l.Settled != 0 || l.Refunded != 0 || l.AccruedPico != 0 {
				t.Fatalf("height %d pending lease %d has moved money: %+v", c.height, l.ID, l)
			}
			if l.DueMs != l.OpenedMs+c.mp.AckTimeoutSeconds*1000 || !dues[dueKey] {
				t.Fatalf("height %d pending lease %d: due at %d (queued %v), want its ack timeout %d", c.height, l.ID, l.DueMs, dues[dueKey], l.OpenedMs+c.mp.AckTimeoutSeconds*1000)
			}
			delete(dues, dueKey)
		case market.LeaseActive, market.LeaseGrace:
			// Nothing is rounded away: whole ustr paid plus the carry are
			// exactly rate x active time up to the last settlement (a
			// floating lease's rate changes; see the per-block check below).
			if !l.Float {
				want := new(big.Int).Mul(smBig(l.Rate), big.NewInt(l.SettledMs-l.ActivatedMs))
				if got := smPaidPico(l); got.Cmp(want) != 0 {
					t.Fatalf("height %d lease %d: settled %d ustr + %d pico, but rate %d x %d ms = %v pico", c.height, l.ID, l.Settled, l.AccruedPico, l.Rate, l.SettledMs-l.ActivatedMs, want)
				}
			}
			if l.Escrow == 0 || l.Pending >= uint64(len(l.Split)) || l.SettledMs > c.now.UnixMilli() {
				t.Fatalf("height %d open lease %d: escrow %d, pending %d, settled at %d (now %d)", c.height, l.ID, l.Escrow, l.Pending, l.SettledMs, c.now.UnixMilli())
			}
			// No due entry only when the escrow outlasts 64 bits of
			// milliseconds and there is no SLA window to judge.
			// A due entry in the past is one EndBlock carried to the next
			// block, having reached max_judgements_per_block.
			overdue := l.DueMs <= c.now.UnixMilli() && smFind(c.endEvents, market.EventDueCarried) == nil
			if l.DueMs != 0 && (overdue || !dues[dueKey]) || l.DueMs == 0 && l.SLA.TargetBps > 0 {
				t.Fatalf("height %d open lease %d: due at %d (queued %v), now %d", c.height, l.ID, l.DueMs, dues[dueKey], c.now.UnixMilli())
			}
			if l.State == market.LeaseGrace && !l.Float && l.Escrow >= smMulDiv(l.Rate, uint64(c.mp.GraceSeconds), 1e9) {
				// Grace is left only by a top-up; the escrow only shrinks
				// otherwise, so a lease in grace covers less than the period.
				t.Fatalf("height %d lease %d in grace with escrow %d covering the grace period", c.height, l.ID, l.Escrow)
			}
			delete(dues, dueKey)
		case market.LeaseClosed:
			if l.Escrow != 0 || l.Pending != 0 || l.DueMs != 0 || l.CloseReason == "" || l.AccruedPico != 0 {
				t.Fatalf("height %d closed lease %d: escrow %d pending %d due %d reason %q carry %d", c.height, l.ID, l.Escrow, l.Pending, l.DueMs, l.CloseReason, l.AccruedPico)
			}
			// Every close of an active lease settles it to the moment it
			// closes (the provider is paid up to then), whatever the reason.
			if l.ActivatedMs != 0 && l.SettledMs != l.ClosedMs {
				t.Fatalf("height %d lease %d closed (%s) at %d but settled to %d", c.height, l.ID, l.CloseReason, l.ClosedMs, l.SettledMs)
			}
			switch l.CloseReason {
			case "unacknowledged":
				if l.Settled != 0 || l.Refunded != l.Deposited || l.ActivatedMs != 0 {
					t.Fatalf("height %d unacknowledged lease %d: %+v", c.height, l.ID, l)
				}
			case "escrow":
				// All of it was paid, and (checked per block below) no more
				// than accrued.
				if l.Settled != l.Deposited || l.Refunded != 0 {
					t.Fatalf("height %d lease %d closed for escrow: %+v", c.height, l.ID, l)
				}
			}
		default:
			t.Fatalf("height %d lease %d in state %q", c.height, l.ID, l.State)
		}
		c.checkAccrual(l)
		if l.State != market.LeaseClosed {
			u := uses[l.Provider]
			if u == nil {
				u = &use{used: map[string]uint64{}}
				uses[l.Provider] = u
			}
			u.open++
			u.used[l.Class] += l.Quantity
		}
	}
	// A lease leaves state only when it is pruned: closed, the retention
	// period after its close.
	present := map[uint64]bool{}
	for _, l := range leases {
		present[l.ID] = true
	}
	for id, p := range c.prev {
		if !present[id] && (p.State != market.LeaseClosed || p.ClosedMs+c.mp.RetentionSeconds*1000 > c.now.UnixMilli()) {
			t.Fatalf("height %d: lease %d (%s, closed at %d) left state before its retention ran out", c.height, id, p.State, p.ClosedMs)
		}
	}
	c.checkJudged(leases)
	c.prev = make(map[uint64]market.Lease, len(leases))
	for _, l := range leases {
		c.prev[l.ID] = l
	}
	if len(dues) != 0 {
		t.Fatalf("height %d: due entries for no open lease: %v", c.height, slicesOfKeys(dues))
	}
	if b := c.bucket(market.BucketEscrow); b != escrow {
		t.Fatalf("height %d: leases hold %d in escrow, the bucket %d", c.height, escrow, b)
	}
	if b := c.bucket(market.BucketPayouts); b != pending {
		t.Fatalf("height %d: leases have %d pending, the payouts bucket %d", c.height, pending, b)
	}

	// Providers.
	var collateral uint64
	capIdx := map[string]market.Capacity{}
	for _, p := range c.allProviders() {
		collateral += p.Collateral
		u := uses[p.Operator]
		delete(uses, p.Operator)
		if u == nil {
			u = &use{used: map[string]uint64{}}
		}
		if p.OpenLeases != u.open {
			t.Fatalf("height %d provider %s: open_leases %d, but %d leases are open", c.height, p.Operator, p.OpenLeases, u.open)
		}
		for _, o := range p.Offers {
			if o.Used != u.used[o.Class] || o.Used > o.Capacity {
				t.Fatalf("height %d provider %s %s: used %d of %d, but open leases hold %d", c.height, p.Operator, o.Class, o.Used, o.Capacity, u.used[o.Class])
			}
			if p.State == market.ProviderActive {
				ci := capIdx[o.Class]
				ci.Capacity += o.Capacity
				ci.Used += o.Used
				capIdx[o.Class] = ci
			}
		}
		if p.Score > 10_000 {
			t.Fatalf("height %d provider %s: score %d", c.height, p.Operator, p.Score)
		}
	}
	if len(uses) != 0 {
		t.Fatalf("height %d: open leases of unknown providers: %v", c.height, uses)
	}
	// The offer index (market/index/<class>/<rule><bound><operator>) has a
	// key for each offer of each active provider, and no other.
	index := map[string]bool{}
	for k := range c.st {
		if strings.HasPrefix(k, "market/index/") {
			index[k] = true
		}
	}
	for _, p := range c.allProviders() {
		if p.State != market.ProviderActive {
			continue
		}
		for _, o := range p.Offers {
			bound := o.Pricing.Price
			if o.Pricing.Kind == "reference" {
				bound = o.Pricing.MultiplierBps
			}
			k := binary.BigEndian.AppendUint64([]byte("market/index/"+o.Class+"/"+o.Pricing.Kind[:1]), bound)
			k = append(k, p.Operator[:]...)
			if !index[string(k)] {
				t.Fatalf("height %d: provider %s's %s offer is not in the offer index", c.height, p.Operator, o.Class)
			}
			delete(index, string(k))
		}
	}
	if len(index) != 0 {
		t.Fatalf("height %d: offer index keys for no active offer: %v", c.height, slicesOfKeys(index))
	}
	if b := c.bucket(market.BucketCollateral); b != collateral {
		t.Fatalf("height %d: providers hold %d collateral, the bucket %d", c.height, collateral, b)
	}
	// market/cap/<class>/ is the capacity and use of the active providers
	// (a retiring provider takes both out; see TestSMCapacityIndexAfterRetire).
	for _, class := range market.Classes {
		if got := c.capIndex(class); got != capIdx[class] {
			t.Fatalf("height %d: market/cap/%s/ = %+v, but the active providers offer %+v", c.height, class, got, capIdx[class])
		}
	}
}

func slicesOfKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%x", k))
	}
	sort.Strings(out)
	return out
}

func smPaidPico(l market.Lease) *big.Int {
	return new(big.Int).Add(new(big.Int).Mul(smBig(l.Settled), big.NewInt(smPico)), smBig(l.AccruedPico))
}

// checkAccrual checks a lease's settlement since the previous block: what
// it paid (whole ustr and carry) grew by exactly the rate it had then times
// the time settled, or by less only when the escrow ran out. A lease that
// closed drops its carry (a fraction of a ustr that can no longer be
// paid): its whole ustr are exactly the whole ustr that accrued. Within a
// block a lease is settled in pieces (to its SLA windows' ends, then to the
// block's time), which add up to the same; and a floating lease is re-rated
// only after, so the previous block's rate paid for the whole interval,
// whatever rate it has now.
func (c *smChain) checkAccrual(l market.Lease) {
	t := c.t
	t.Helper()
	p, ok := c.prev[l.ID]
	if !ok || p.State == market.LeasePending {
		if l.ActivatedMs != 0 && (l.Settled != 0 || l.AccruedPico != 0 || l.SettledMs != l.ActivatedMs) {
			t.Fatalf("height %d lease %d, acknowledged in this block, has paid %d (+%d pico) by %d", c.height, l.ID, l.Settled, l.AccruedPico, l.SettledMs)
		}
		return
	}
	if p.State == market.LeaseClosed {
		if l.Settled != p.Settled || l.Refunded != p.Refunded || l.SLARefunded != p.SLARefunded || l.AccruedPico != p.AccruedPico || l.State != market.LeaseClosed {
			t.Fatalf("height %d closed lease %d changed: %+v -> %+v", c.height, l.ID, p, l)
		}
		return
	}
	if l.SettledMs < p.SettledMs {
		t.Fatalf("height %d lease %d settled at %d, before %d", c.height, l.ID, l.SettledMs, p.SettledMs)
	}
	want := new(big.Int).Add(smPaidPico(p), new(big.Int).Mul(smBig(p.Rate), big.NewInt(l.SettledMs-p.SettledMs)))
	got := smPaidPico(l)
	if l.State == market.LeaseClosed && l.Settled == l.Deposited && l.Refunded == 0 && (l.CloseReason == "escrow" || l.CloseReason == "sla") {
		// Whatever accrued beyond the escrow is forgiven: the lease paid
		// all it had, and no more than accrued. (A lease closed for "sla"
		// is first settled to now, and after a chain's long stop that may
		// take all its escrow too.)
		if new(big.Int).Mul(smBig(l.Settled), big.NewInt(smPico)).Cmp(want) > 0 {
			t.Fatalf("height %d lease %d paid %d, more than the %v pico accrued", c.height, l.ID, l.Settled, want)
		}
		return
	}
	if l.State == market.LeaseClosed {
		if whole := new(big.Int).Quo(want, big.NewInt(smPico)); l.AccruedPico != 0 || !whole.IsUint64() || l.Settled != whole.Uint64() {
			t.Fatalf("height %d lease %d closed having paid %d ustr + %d pico, want floor(%v / 10^12) = %v and no carry (%v before, rate %d for %d ms)",
				c.height, l.ID, l.Settled, l.AccruedPico, want, whole, smPaidPico(p), p.Rate, l.SettledMs-p.SettledMs)
		}
		return
	}
	if got.Cmp(want) != 0 {
		t.Fatalf("height %d lease %d: paid %v pico, want %v (%v before, rate %d for %d ms)", c.height, l.ID, got, want, smPaidPico(p), p.Rate, l.SettledMs-p.SettledMs)
	}
}

// checkJudged checks the SLA books of the windows judged in the last block
// against the leases and providers: each new window's refund and shortfall
// are the schedule's share of its charges, and they add up to what the
// lease's sla_refunded and sla_shortfall grew by; each provider's breaches,
// shortfall and collateral moved by exactly its leases' new windows (and
// the collateral it added).
func (c *smChain) checkJudged(leases []market.Lease) {
	t := c.t
	t.Helper()
	type delta struct{ refund, shortfall, breaches uint64 }
	byProv := map[identity.Address]*delta{}
	// Windows judged in EndBlock, after every transaction of the block:
	// their availability must be what the reports in state say.
	inEnd := map[[2]uint64]bool{}
	for _, ev := range c.endEvents {
		if ev.Type == market.EventSLAJudged {
			inEnd[[2]uint64{smAttrU64(t, ev, "lease"), smAttrU64(t, ev, "window")}] = true
		}
	}
	for _, l := range leases {
		p := c.prev[l.ID]
		from := uint64(0)
		if _, ok := c.prev[l.ID]; ok {
			from = p.WindowCount
		}
		var d delta
		for i := from; i < l.WindowCount; i++ {
			w, ok := c.window(l.ID, i)
			if !ok && l.WindowCount-from <= 1440 {
				t.Fatalf("height %d lease %d: window %d judged in this block is not in state", c.height, l.ID, i)
			}
			if !ok {
				continue // skipped unjudged after a long stop (maxJudgedWindows)
			}
			if w.Breach != (w.Quorum && w.AvailabilityBps < l.SLA.TargetBps) || w.EndMs <= w.StartMs && !w.ProRata || w.EndMs > c.now.UnixMilli() {
				t.Fatalf("height %d lease %d: window %+v (target %d)", c.height, l.ID, w, l.SLA.TargetBps)
			}
			if inEnd[[2]uint64{l.ID, i}] {
				end := w.EndMs / c.epochMs()
				if w.ProRata {
					end = c.now.UnixMilli()/c.epochMs() + 1
				}
				if avail, quorum := c.availability(l.Provider, w.StartMs/c.epochMs(), end); avail != w.AvailabilityBps || quorum != w.Quorum {
					t.Fatalf("height %d lease %d: window %+v, but the reports in state for epochs [%d, %d) give availability %d, quorum %v",
						c.height, l.ID, w, w.StartMs/c.epochMs(), end, avail, quorum)
				}
			}
			due := uint64(0)
			if w.Breach {
				points := (l.SLA.TargetBps - w.AvailabilityBps + 99) / 100
				due = smMulDiv(w.Charges, min(points*c.mp.RefundBpsPerPoint, 10_000), 10_000)
				d.breaches++
			}
			if w.Refund+w.Shortfall != due {
				t.Fatalf("height %d lease %d: window %+v refunds %d + %d short, the schedule says %d", c.height, l.ID, w, w.Refund, w.Shortfall, due)
			}
			if w.ProRata && (l.State != market.LeaseClosed || w.EndMs != l.ClosedMs || i != l.WindowCount-1) {
				t.Fatalf("height %d lease %d: pro-rata window %+v of a lease %s at %d", c.height, l.ID, w, l.State, l.ClosedMs)
			}
			d.refund += w.Refund
			d.shortfall += w.Shortfall
		}
		if l.SLARefunded-p.SLARefunded != d.refund || l.SLAShortfall-p.SLAShortfall != d.shortfall {
			t.Fatalf("height %d lease %d: sla_refunded %d -> %d and sla_shortfall %d -> %d, but its new windows refund %d and fall short %d",
				c.height, l.ID, p.SLARefunded, l.SLARefunded, p.SLAShortfall, l.SLAShortfall, d.refund, d.shortfall)
		}
		// A lease with an SLA that closed while it ran had its open window
		// judged, pro rata, at the close.
		if l.State == market.LeaseClosed && p.State != market.LeaseClosed && (p.State == market.LeaseActive || p.State == market.LeaseGrace) &&
			l.SLA.TargetBps > 0 && l.WindowStartMs != l.ClosedMs {
			t.Fatalf("height %d lease %d closed (%s) at %d with its window from %d unjudged", c.height, l.ID, l.CloseReason, l.ClosedMs, l.WindowStartMs)
		}
		pd := byProv[l.Provider]
		if pd == nil {
			pd = &delta{}
			byProv[l.Provider] = pd
		}
		pd.refund += d.refund
		pd.shortfall += d.shortfall
		pd.breaches += d.breaches
	}
	added := map[identity.Address]uint64{}
	for _, ev := range c.events() {
		switch ev.Type {
		case "provider.registered":
			a, _ := identity.ParseDID(ev.Get("provider"))
			added[a] += smAttrU64(t, ev, "collateral")
		case "provider.updated":
			a, _ := identity.ParseDID(ev.Get("provider"))
			added[a] += smAttrU64(t, ev, "add_collateral")
		}
	}
	provs := c.allProviders()
	for _, p := range provs {
		if c.height == 0 {
			break // genesis: no events to read what was added
		}
		d := byProv[p.Operator]
		if d == nil {
			d = &delta{}
		}
		old := c.prevProv[p.Operator] // zero if registered in this block
		if p.Breaches-old.Breaches != d.breaches || p.RefundShortfall-old.RefundShortfall != d.shortfall ||
			p.Collateral+d.refund != old.Collateral+added[p.Operator] {
			t.Fatalf("height %d provider %s: breaches %d -> %d, shortfall %d -> %d, collateral %d -> %d (+%d added); its leases' new windows: %+v",
				c.height, p.Operator, old.Breaches, p.Breaches, old.RefundShortfall, p.RefundShortfall, old.Collateral, p.Collateral, added[p.Operator], *d)
		}
	}
	c.prevProv = make(map[identity.Address]market.Provider, len(provs))
	for _, p := range provs {
		c.prevProv[p.Operator] = p
	}
}

// availability is the SLA rule computed the long way, from every epoch's
// probe counts in state: each validator's successful probes over its
// probes for epochs [from, to), then the highest value that validators
// with more than two thirds of the power report at least.
func (c *smChain) availability(prov identity.Address, from, to int64) (uint64, bool) {
	type vote struct {
		avail uint64
		power int64
	}
	var votes []vote
	var total int64
	for i, op := range c.ops {
		total += c.powers[i]
		var ok, all uint64
		for e := from; e < to; e++ {
			k := append(binary.BigEndian.AppendUint64([]byte("market/probe/"), uint64(e)), prov[:]...)
			a := op.Address()
			if v := c.st[string(append(k, a[:]...))]; len(v) == 8 {
				ok += uint64(binary.BigEndian.Uint32(v))
				all += uint64(binary.BigEndian.Uint32(v[4:]))
			}
		}
		if all > 0 {
			votes = append(votes, vote{ok * 10_000 / all, c.powers[i]})
		}
	}
	sort.SliceStable(votes, func(i, j int) bool { return votes[i].avail > votes[j].avail })
	var acc int64
	for _, v := range votes {
		acc += v.power
		if 3*acc > 2*total {
			return v.avail, true
		}
	}
	return 0, false
}
