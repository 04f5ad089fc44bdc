// Package ledgertest is the in-memory chain the module tests drive: a
// genesis of named, deterministic keys and validators, blocks at times the
// test chooses over a ledger.MemReader, transactions signed with tracked
// nonces and simulated gas, and after genesis and every block the checks
// every module owes the ledger: value is conserved, the audit log grows by
// exactly the block's leaves, the app hash moves. A module adds the checks
// of its own books with AddCheck.
package ledgertest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Key layout the checks read. The ledger exports AccountPrefix; the bucket
// and audit prefixes are checked against ReadBucket and audit.Load, so a
// change of layout fails loudly rather than silently skipping checks.
const (
	BucketPrefix = "bucket/"
	AuditPrefix  = "audit/"
)

// T0 is the default genesis time.
var T0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultGas is the gas limit of a transaction whose simulation fails.
const DefaultGas = 1_000_000

// LateGas is an Options.Gas for tests that run a block long after the
// state they simulated (they jump hours, and a lease touched later settles
// and judges more): twice what a client asks for, and more. Only the gas
// used is paid.
func LateGas(used uint64) uint64 { return 2*(used+client.GasMargin(used)) + 100_000 }

// Key derives the key called name from seed, so tests are repeatable and
// fast (no mnemonic): the same seed and name give the same key anywhere.
func Key(seed, name string) *identity.Key {
	s := sha256.Sum256([]byte(seed + "/" + name))
	return &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(s[:])}
}

// Options shape a chain. Zero values give the defaults.
type Options struct {
	ChainID  string           // default "test"
	Registry *ledger.Registry // default ledger.DefaultRegistry()
	// Params default to ledger.DefaultParams with FeeEpochBlocks lifted
	// out of reach, so fees stay where they were paid.
	Params *ledger.Params
	// Seed is what Key derives every key of the chain from; default
	// "stratus-test-key".
	Seed string
	// Funded names the keys funded at genesis, each with Balance (default
	// 1,000,000 STR).
	Funded  []string
	Balance uint64
	// Powers gives one validator each, named val<i>, operated by key
	// op<i> with consensus key cons<i>; default {1}. FundOperators funds
	// the operators with Balance.
	Powers        []int64
	FundOperators bool
	Genesis       map[string]any // the modules' genesis sections
	// GenesisEvents is how many events the modules' genesis emits, each a
	// leaf of the audit log before the chain.genesis event.
	GenesisEvents int
	Time          time.Time // genesis time; default T0
	// HashTag is hashed with each height into the block hash; default
	// "block".
	HashTag string
	// Gas turns the gas a simulation used into the limit Tx signs with;
	// default GasUsed + client.GasMargin, what a client asks for.
	Gas func(used uint64) uint64
}

// Check is a check run on the chain after genesis and every block.
type Check func(t testing.TB, c *Chain)

type block struct {
	h   ledger.Header
	txs [][]byte
	app []byte
}

// Chain is the ledger with a registry of modules over a MemReader, driven
// block by block. Its fields are the test's to read; a test may set Wrap,
// Checks, Watch and a Nonce between blocks, and write St to stage a state
// no transaction could reach.
type Chain struct {
	T       testing.TB
	M       *ledger.Machine
	St      ledger.MemReader
	ChainID string
	Params  ledger.Params
	Seed    string
	Ops     []*identity.Key // validator operators, as Options.Powers
	Vals    []ledger.Validator
	Powers  []int64
	Supply  uint64 // minted at genesis
	Genesis []byte // the app state InitChain ran

	Now     time.Time
	Height  int64
	AppHash []byte

	AuditSize uint64
	AuditRoot []byte

	// Nonce is the next nonce Tx signs with for each key that signed or
	// was funded at genesis; after each block it is what state says.
	Nonce map[identity.Address]uint64
	// Fees is what each account has paid in fees so far.
	Fees map[identity.Address]uint64

	// What the last block gave back.
	Results   []ledger.TxResult
	EndEvents []ledger.Event
	Changes   ledger.Changes

	// Wrap, if set, wraps committed state for the next blocks (to count
	// what they read).
	Wrap func(ledger.Reader) ledger.Reader
	// Checks run after every block, after conservation. Fork copies them;
	// a test whose checks close over state of its own sets the fork's.
	Checks []Check
	// Watch, if set, renders the state a failed transaction must leave
	// as it was (Fails compares it before and after).
	Watch func(c *Chain) string

	reg     *ledger.Registry
	genTime time.Time
	hashTag string
	gas     func(uint64) uint64
	blocks  []block
}

// New builds the genesis o describes, runs InitChain and checks the
// result.
func New(t testing.TB, o Options) *Chain {
	t.Helper()
	if o.ChainID == "" {
		o.ChainID = "test"
	}
	if o.Registry == nil {
		o.Registry = ledger.DefaultRegistry()
	}
	p := ledger.DefaultParams()
	p.FeeEpochBlocks = 1_000_000_000
	if o.Params != nil {
		p = *o.Params
	}
	if o.Seed == "" {
		o.Seed = "stratus-test-key"
	}
	if o.Balance == 0 {
		o.Balance = 1_000_000 * money.UstrPerSTR
	}
	if len(o.Powers) == 0 {
		o.Powers = []int64{1}
	}
	if o.Time.IsZero() {
		o.Time = T0
	}
	if o.HashTag == "" {
		o.HashTag = "block"
	}
	if o.Gas == nil {
		o.Gas = func(used uint64) uint64 { return used + client.GasMargin(used) }
	}
	c := &Chain{
		T: t, M: ledger.New(o.Registry), St: ledger.MemReader{}, ChainID: o.ChainID, Params: p, Seed: o.Seed, Powers: o.Powers,
		Now: o.Time, Nonce: map[identity.Address]uint64{}, Fees: map[identity.Address]uint64{},
		reg: o.Registry, genTime: o.Time, hashTag: o.HashTag, gas: o.Gas,
	}
	g := ledger.Genesis{Params: p}
	fund := func(k *identity.Key) {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: o.Balance})
		c.Supply += o.Balance
		c.Nonce[k.Address()] = 0
	}
	for _, name := range o.Funded {
		fund(c.Key(name))
	}
	for i, pw := range o.Powers {
		op := c.Key(fmt.Sprintf("op%d", i))
		c.Ops = append(c.Ops, op)
		if o.FundOperators {
			fund(op)
		}
		c.Vals = append(c.Vals, ledger.Validator{
			Name: fmt.Sprintf("val%d", i), Operator: op.Address(),
			ConsPubKey: c.Key(fmt.Sprintf("cons%d", i)).Priv.Public().(ed25519.PublicKey), Power: pw,
		})
	}
	g.Validators = c.Vals
	app, err := g.MarshalAppState(o.Genesis)
	if err != nil {
		t.Fatalf("MarshalAppState: %v", err)
	}
	c.Genesis = app
	ch, err := c.M.InitChain(ledger.MemReader{}, ledger.Header{ChainID: c.ChainID, Time: c.Now}, app)
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	c.St.Apply(ch.Writes)
	c.AppHash = ch.AppHash
	if want := 1 + uint64(o.GenesisEvents); ch.AuditSize != want {
		t.Errorf("genesis audit size = %d, want %d (%d module events and the chain.genesis event)", ch.AuditSize, want, o.GenesisEvents)
	}
	c.AuditSize, c.AuditRoot = ch.AuditSize, ch.AuditRoot
	CheckConservation(t, c.M, c.St, 0, c.Supply)
	return c
}

// Key is the chain's key called name.
func (c *Chain) Key(name string) *identity.Key { return Key(c.Seed, name) }

// AddCheck adds a check to run after every block, and runs it now.
func (c *Chain) AddCheck(f Check) {
	c.T.Helper()
	c.Checks = append(c.Checks, f)
	f(c.T, c)
}

// Fork copies the chain, so one history can be continued two ways.
func (c *Chain) Fork() *Chain {
	d := *c
	d.St = maps.Clone(c.St)
	d.Nonce = maps.Clone(c.Nonce)
	d.Fees = maps.Clone(c.Fees)
	d.blocks = append([]block(nil), c.blocks...)
	d.Checks = append([]Check(nil), c.Checks...)
	return &d
}

// --- transactions ---

// Tx signs msg from k with the next nonce, the minimum gas price and a gas
// limit from a simulation on the current state (Options.Gas). A message
// that fails its own Validate fails the ante checks and uses no nonce.
func (c *Chain) Tx(k *identity.Key, msg ledger.Msg) []byte {
	c.T.Helper()
	return c.TxGas(k, msg, c.Estimate(k, msg))
}

// Estimate is the gas limit Tx signs msg from k with: Options.Gas of what
// a simulation on the current state uses, or DefaultGas if it fails.
func (c *Chain) Estimate(k *identity.Key, msg ledger.Msg) uint64 {
	c.T.Helper()
	probe := &ledger.Tx{ChainID: c.ChainID, Nonce: c.Nonce[k.Address()], GasLimit: c.Params.MaxBlockGas, GasPrice: c.Params.MinGasPrice, Msg: msg}
	if err := probe.Sign(k); err != nil {
		c.T.Fatalf("Sign: %v", err)
	}
	sim, err := c.M.Simulate(c.St, ledger.Header{ChainID: c.ChainID, Height: c.Height + 1}, probe.Bytes())
	if err != nil || sim.Code != ledger.CodeOK {
		return DefaultGas
	}
	return c.gas(sim.GasUsed)
}

// TxGas signs msg from k with the next nonce and gas limit gas.
func (c *Chain) TxGas(k *identity.Key, msg ledger.Msg, gas uint64) []byte {
	c.T.Helper()
	tx := &ledger.Tx{ChainID: c.ChainID, Nonce: c.Nonce[k.Address()], GasLimit: gas, GasPrice: c.Params.MinGasPrice, Msg: msg}
	if err := tx.Sign(k); err != nil {
		c.T.Fatalf("Sign: %v", err)
	}
	if msg.Validate() == nil {
		c.Nonce[k.Address()]++
	}
	return tx.Bytes()
}

// RawMsg is a message whose encoding the test writes by hand, under
// another message's type name: how a hostile client would send bytes the
// module's own encoder never writes.
type RawMsg struct {
	Typ string
	B   []byte
}

func (m *RawMsg) Type() string                 { return m.Typ }
func (m *RawMsg) Encode(w *codec.Writer)       { w.Fixed(m.B) }
func (m *RawMsg) Decode(r *codec.Reader) error { m.B = r.Fixed(r.Remaining()); return r.Err() }
func (m *RawMsg) Validate() error              { return nil }

// RawTx signs hand-written message bytes; it uses no nonce, as such a
// transaction never gets past decoding.
func (c *Chain) RawTx(k *identity.Key, typ string, b []byte) []byte {
	c.T.Helper()
	tx := &ledger.Tx{ChainID: c.ChainID, Nonce: c.Nonce[k.Address()], GasLimit: DefaultGas, GasPrice: c.Params.MinGasPrice, Msg: &RawMsg{Typ: typ, B: b}}
	if err := tx.Sign(k); err != nil {
		c.T.Fatalf("Sign: %v", err)
	}
	return tx.Bytes()
}

// --- blocks ---

// HeaderAt is the header of the next block, at time at.
func (c *Chain) HeaderAt(at time.Time) ledger.Header {
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(c.hashTag), uint64(c.Height+1)))
	return ledger.Header{ChainID: c.ChainID, Height: c.Height + 1, Time: at, Hash: hash[:], PrevAppHash: c.AppHash}
}

// NextHeader is the header of the next block, a second after the last.
func (c *Chain) NextHeader() ledger.Header { return c.HeaderAt(c.Now.Add(time.Second)) }

// Block runs a block of txs a second after the last one.
func (c *Chain) Block(txs ...[]byte) []ledger.TxResult {
	c.T.Helper()
	return c.BlockAt(c.Now.Add(time.Second), txs...)
}

// BlockAfter runs a block of txs dt after the last one.
func (c *Chain) BlockAfter(dt time.Duration, txs ...[]byte) []ledger.TxResult {
	c.T.Helper()
	return c.BlockAt(c.Now.Add(dt), txs...)
}

// Advance runs an empty block d after the last one.
func (c *Chain) Advance(d time.Duration) {
	c.T.Helper()
	c.BlockAt(c.Now.Add(d))
}

// BlockAt runs a block of txs at time at (signatures verified by the
// block), persists it, and checks each result, the audit log's growth,
// conservation and every registered check.
func (c *Chain) BlockAt(at time.Time, txs ...[]byte) []ledger.TxResult {
	c.T.Helper()
	t := c.T
	if at.Before(c.Now) {
		t.Fatalf("block time %v is before the last block's %v", at, c.Now)
	}
	hdr := c.HeaderAt(at)
	var r ledger.Reader = c.St
	if c.Wrap != nil {
		r = c.Wrap(r)
	}
	b, err := c.M.BeginBlock(r, hdr)
	if err != nil {
		t.Fatalf("BeginBlock %d: %v", hdr.Height, err)
	}
	var results []ledger.TxResult
	leaves := uint64(0)
	for i, raw := range txs {
		res := b.Deliver(raw, false)
		if res.Hash != ledger.HashTx(raw) {
			t.Errorf("block %d tx %d: result hash %v, want %v", hdr.Height, i, res.Hash, ledger.HashTx(raw))
		}
		if res.Code != ledger.CodeOK && len(res.Events) != 0 {
			t.Errorf("block %d tx %d failed (%d: %s) but has events %v", hdr.Height, i, res.Code, res.Log, res.Events)
		}
		if (res.Code == ledger.CodeOK) != (res.Log == "") {
			t.Errorf("block %d tx %d: code %d with log %q", hdr.Height, i, res.Code, res.Log)
		}
		if res.Tx != nil {
			c.Fees[res.Tx.Signer] += res.Fee
		}
		results = append(results, res)
		leaves += 1 + uint64(len(res.Events))
	}
	if len(b.Results) != len(results) {
		t.Errorf("block %d: Block.Results has %d entries, want %d", hdr.Height, len(b.Results), len(results))
	}
	ch, evs, err := b.End()
	if err != nil {
		t.Fatalf("End of block %d: %v", hdr.Height, err)
	}
	leaves += uint64(len(evs))
	c.St.Apply(ch.Writes)

	if want := c.AuditSize + leaves; ch.AuditSize != want {
		t.Errorf("block %d: audit size %d, want %d (%d before, %d txs, %d leaves)", hdr.Height, ch.AuditSize, want, c.AuditSize, len(txs), leaves)
	}
	if rootChanged := !bytes.Equal(ch.AuditRoot, c.AuditRoot); rootChanged != (leaves > 0) {
		t.Errorf("block %d: audit root changed = %v with %d new leaves", hdr.Height, rootChanged, leaves)
	}
	if bytes.Equal(ch.AppHash, c.AppHash) {
		t.Errorf("block %d: app hash did not change", hdr.Height)
	}
	c.Height, c.Now, c.AppHash = hdr.Height, at, ch.AppHash
	c.AuditSize, c.AuditRoot = ch.AuditSize, ch.AuditRoot
	c.Results, c.EndEvents, c.Changes = results, evs, ch
	c.blocks = append(c.blocks, block{h: hdr, txs: txs, app: ch.AppHash})
	for a := range c.Nonce {
		c.Nonce[a] = c.Account(a).Nonce
	}
	CheckConservation(t, c.M, c.St, c.Height, c.Supply)
	for _, f := range c.Checks {
		f(t, c)
	}
	return results
}

// OKAt runs a block at time at in which every transaction must succeed.
func (c *Chain) OKAt(at time.Time, txs ...[]byte) []ledger.TxResult {
	c.T.Helper()
	res := c.BlockAt(at, txs...)
	for i, r := range res {
		if r.Code != ledger.CodeOK {
			typ := "undecodable"
			if r.Tx != nil {
				typ = r.Tx.MsgType
			}
			c.T.Fatalf("block %d tx %d (%s): code %d: %s", c.Height, i, typ, r.Code, r.Log)
		}
	}
	return res
}

// OKAfter runs a block dt after the last in which every transaction must
// succeed.
func (c *Chain) OKAfter(dt time.Duration, txs ...[]byte) []ledger.TxResult {
	c.T.Helper()
	return c.OKAt(c.Now.Add(dt), txs...)
}

// Do runs msg from k in a block of its own a second after the last.
func (c *Chain) Do(k *identity.Key, msg ledger.Msg) ledger.TxResult {
	c.T.Helper()
	return c.Block(c.Tx(k, msg))[0]
}

// OK is Do of a message that must succeed.
func (c *Chain) OK(k *identity.Key, msg ledger.Msg) ledger.TxResult {
	c.T.Helper()
	return c.OKAfter(time.Second, c.Tx(k, msg))[0]
}

// Fails runs tx in a block of its own a second after the last, wants it to
// fail with code and a log containing want, and, with Watch set, to leave
// the watched state as it was.
func (c *Chain) Fails(tx []byte, code uint32, want string) ledger.TxResult {
	c.T.Helper()
	var before string
	if c.Watch != nil {
		before = c.Watch(c)
	}
	r := c.Block(tx)[0]
	typ := "undecodable"
	if r.Tx != nil {
		typ = r.Tx.MsgType
	}
	if r.Code != code || !strings.Contains(r.Log, want) {
		c.T.Fatalf("%s: code %d (%s), want %d with %q", typ, r.Code, r.Log, code, want)
	}
	if c.Watch != nil && c.Watch(c) != before {
		c.T.Fatalf("%s failed but changed the watched state", typ)
	}
	return r
}

// Events is every event of the last block: its transactions', then its
// end's.
func (c *Chain) Events() []ledger.Event {
	var out []ledger.Event
	for _, r := range c.Results {
		out = append(out, r.Events...)
	}
	return append(out, c.EndEvents...)
}

// Replay runs the chain's blocks again on a fresh machine and state and
// checks every app hash and the final state.
func (c *Chain) Replay() {
	c.T.Helper()
	t := c.T
	m := ledger.New(c.reg)
	st := ledger.MemReader{}
	ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: c.ChainID, Time: c.genTime}, c.Genesis)
	if err != nil {
		t.Fatalf("replay InitChain: %v", err)
	}
	st.Apply(ch.Writes)
	for _, blk := range c.blocks {
		b, err := m.BeginBlock(st, blk.h)
		if err != nil {
			t.Fatalf("replay BeginBlock %d: %v", blk.h.Height, err)
		}
		for _, raw := range blk.txs {
			b.Deliver(raw, false)
		}
		ch, _, err := b.End()
		if err != nil {
			t.Fatalf("replay End %d: %v", blk.h.Height, err)
		}
		st.Apply(ch.Writes)
		if !bytes.Equal(ch.AppHash, blk.app) {
			t.Fatalf("replay: block %d app hash %x, first run %x", blk.h.Height, ch.AppHash, blk.app)
		}
	}
	if len(st) != len(c.St) {
		t.Fatalf("replay: %d keys in state, first run %d", len(st), len(c.St))
	}
	for k, v := range c.St {
		if !bytes.Equal(st[k], v) {
			t.Fatalf("replay: key %q differs", k)
		}
	}
}

// --- checks ---

// CheckConservation checks that the balances bucket is the sum of every
// account's balance, that the buckets m lists add up to the supply, that no
// value sits in a bucket m does not list, that the supply is still what
// genesis minted, and that every other denomination's balances add up to
// its supply.
func CheckConservation(t testing.TB, m *ledger.Machine, st ledger.MemReader, height int64, minted uint64) {
	t.Helper()
	bucket := func(name string) uint64 {
		t.Helper()
		v, err := ledger.ReadBucket(st, name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var sum uint64
	for k, v := range st {
		if !strings.HasPrefix(k, ledger.AccountPrefix) {
			continue
		}
		if len(k) != len(ledger.AccountPrefix)+len(identity.Address{}) {
			t.Errorf("account key %q has the wrong length", k)
		}
		var err error
		if sum, err = money.Add(sum, ledger.DecodeAccountValue(v).Balance); err != nil {
			t.Fatalf("height %d: balances overflow: %v", height, err)
		}
	}
	if bal := bucket(ledger.BucketBalances); sum != bal {
		t.Errorf("height %d: accounts hold %d but the balances bucket says %d", height, sum, bal)
	}

	listed := map[string]bool{}
	var total uint64
	for _, name := range m.Buckets() {
		if listed[name] {
			t.Errorf("bucket %q is listed twice", name)
		}
		listed[name] = true
		var err error
		if total, err = money.Add(total, bucket(name)); err != nil {
			t.Fatalf("height %d: buckets overflow: %v", height, err)
		}
	}
	for k, v := range st {
		name, ok := strings.CutPrefix(k, BucketPrefix)
		if !ok {
			continue
		}
		if got := bucket(name); got != binary.BigEndian.Uint64(v) {
			t.Fatalf("bucket key layout changed: %q holds %x but ReadBucket(%q) = %d", k, v, name, got)
		}
		if !listed[name] && binary.BigEndian.Uint64(v) != 0 {
			t.Errorf("height %d: bucket %q holds value but is not in Machine.Buckets()", height, name)
		}
	}
	supply, err := ledger.ReadSupply(st)
	if err != nil {
		t.Fatal(err)
	}
	checkDenoms(t, st, height)
	if total != supply {
		t.Errorf("height %d: buckets hold %d but supply is %d", height, total, supply)
	}
	if supply != minted {
		t.Errorf("height %d: supply is %d, want %d as minted at genesis", height, supply, minted)
	}
}

// checkDenoms checks that every denomination's balances add up to its
// supply, and that none has balances without a supply.
func checkDenoms(t testing.TB, st ledger.MemReader, height int64) {
	t.Helper()
	sums := map[string]uint64{}
	supplies := map[string]uint64{}
	for k := range st {
		if d, a, ok := ledger.DenomKey([]byte(k)); ok {
			v, err := ledger.ReadDenomBalance(st, d, a)
			if err != nil {
				t.Fatal(err)
			}
			if sums[d], err = money.Add(sums[d], v); err != nil {
				t.Fatalf("height %d: %s balances overflow: %v", height, d, err)
			}
		} else if d, ok := ledger.DenomSupplyKey([]byte(k)); ok {
			v, err := ledger.ReadDenomSupply(st, d)
			if err != nil {
				t.Fatal(err)
			}
			supplies[d] = v
		}
	}
	for d, s := range supplies {
		if sums[d] != s {
			t.Errorf("height %d: %s balances add up to %d, supply %d", height, d, sums[d], s)
		}
	}
	for d := range sums {
		if _, ok := supplies[d]; !ok {
			t.Errorf("height %d: %s has balances but no supply", height, d)
		}
	}
}

// --- reading state ---

// Account is an account as committed state has it.
func (c *Chain) Account(a identity.Address) ledger.Account {
	c.T.Helper()
	acct, err := ledger.ReadAccount(c.St, a)
	if err != nil {
		c.T.Fatal(err)
	}
	return acct
}

// Balance is an account's balance.
func (c *Chain) Balance(a identity.Address) uint64 {
	c.T.Helper()
	return c.Account(a).Balance
}

// Bucket is what a bucket holds.
func (c *Chain) Bucket(name string) uint64 {
	c.T.Helper()
	v, err := ledger.ReadBucket(c.St, name)
	if err != nil {
		c.T.Fatal(err)
	}
	return v
}

// SupplyNow is the supply state records.
func (c *Chain) SupplyNow() uint64 {
	c.T.Helper()
	v, err := ledger.ReadSupply(c.St)
	if err != nil {
		c.T.Fatal(err)
	}
	return v
}

// Query is a query context on committed state.
func (c *Chain) Query() *ledger.Context {
	c.T.Helper()
	ctx, err := c.M.NewQueryContext(c.St, c.ChainID, c.Height, c.Now)
	if err != nil {
		c.T.Fatal(err)
	}
	return ctx
}

// AuditLog loads the audit log from committed state.
func (c *Chain) AuditLog() *audit.Log {
	c.T.Helper()
	l, err := audit.Load(PrefixKV{c.St, AuditPrefix})
	if err != nil {
		c.T.Fatalf("audit.Load: %v", err)
	}
	return l
}

// PrefixKV is an audit.KV over a MemReader under a prefix. Set writes
// straight into the map; the tests only read through it.
type PrefixKV struct {
	M ledger.MemReader
	P string
}

func (p PrefixKV) Get(k []byte) []byte { return p.M[p.P+string(k)] }
func (p PrefixKV) Set(k, v []byte)     { p.M[p.P+string(k)] = bytes.Clone(v) }

// State is committed state without the keys skip names, for comparison.
func (c *Chain) State(skip func(k string) bool) map[string]string {
	out := map[string]string{}
	for k, v := range c.St {
		if skip == nil || !skip(k) {
			out[k] = string(v)
		}
	}
	return out
}

// DiffKeys lists, quoted and sorted, the keys whose values differ between
// a and b.
func DiffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	sort.Strings(out)
	return out
}

// Find is the first event of type typ in evs, or nil.
func Find(evs []ledger.Event, typ string) *ledger.Event {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

// AttrU64 is an event's attribute key as a number; it fails the test if
// the attribute is not one.
func AttrU64(t testing.TB, e ledger.Event, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(e.Get(key), 10, 64)
	if err != nil {
		t.Fatalf("event %s attribute %s = %q: %v", e.Type, key, e.Get(key), err)
	}
	return v
}
