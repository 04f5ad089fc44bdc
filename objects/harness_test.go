package objects_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

const chainID = "objects-sm"

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testKey(name string) *identity.Key {
	seed := sha256.Sum256([]byte("stratus-objects-sm/" + name))
	k := &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
	knownKeys.Store(k.Address(), k)
	return k
}

// knownKeys maps the address of every key testKey made to the key, so that
// receipts can be signed by the providers a manifest names.
var knownKeys sync.Map // identity.Address -> *identity.Key

// rc returns msg with the storage receipts of every provider its manifest
// names, signed for owner and valid for storage.ReceiptLifetime from the
// chain's time, as the providers would sign them once they hold the
// shards. It fails the test if a provider's key is not known.
func (c *chain) rc(owner *identity.Key, msg *objects.Commit) *objects.Commit {
	c.t.Helper()
	out := *msg
	out.Receipts = receipts(c.t, msg.Manifest, owner.Address(), c.now.Add(storage.ReceiptLifetime))
	return &out
}

// receipts signs manifest's receipts for owner, valid until expires, with
// the keys of the providers it names (in its provider table's order).
func receipts(t *testing.T, manifest []byte, owner identity.Address, expires time.Time) []storage.Receipt {
	t.Helper()
	m, err := storage.DecodeManifest(manifest)
	if err != nil {
		return nil // an undecodable manifest has no providers; the commit is refused for it
	}
	var out []storage.Receipt
	for _, did := range m.Providers() {
		k := providerKey(t, did)
		out = append(out, storage.SignReceipt(k, manifest, owner, expires))
	}
	return out
}

// providerKey returns the key of the provider did, made by testKey.
func providerKey(t *testing.T, did string) *identity.Key {
	t.Helper()
	a, err := identity.ParseDID(did)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := knownKeys.Load(a)
	if !ok {
		t.Fatalf("no test key for provider %s", did)
	}
	return k.(*identity.Key)
}

// chain is the ledger with the market and objects modules over memory.
type chain struct {
	t       *testing.T
	m       *ledger.Machine
	st      ledger.MemReader
	lp      ledger.Params
	now     time.Time
	height  int64
	appHash []byte
	supply  uint64

	users     []*identity.Key // consumers
	providers []*identity.Key // storage providers registered at genesis

	results   []ledger.TxResult
	endEvents []ledger.Event
}

func newChain(t *testing.T) *chain {
	t.Helper()
	return newChainWith(t, objects.DefaultParams())
}

// newChainWith is newChain with the objects module's parameters p in
// genesis and, with vals, that many validators (operators op0, op1, ...,
// power 1 each).
func newChainWith(t *testing.T, p objects.Params, vals ...int) *chain {
	t.Helper()
	lp := ledger.DefaultParams()
	lp.FeeEpochBlocks = 1_000_000_000
	c := &chain{t: t, m: ledger.New(ledger.DefaultRegistry(market.Module{}, objects.Module{})), st: ledger.MemReader{}, lp: lp, now: t0}
	g := ledger.Genesis{Params: lp}
	bal := uint64(1_000_000 * money.UstrPerSTR)
	fund := func(k *identity.Key) {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: bal})
		c.supply += bal
	}
	for i := range 2 {
		k := testKey(fmt.Sprintf("user%d", i))
		c.users = append(c.users, k)
		fund(k)
	}
	mg := market.DefaultGenesis()
	for i := range 3 {
		k := testKey(fmt.Sprintf("provider%d", i))
		c.providers = append(c.providers, k)
		fund(k)
		mg.Providers = append(mg.Providers, market.GenesisProvider{Operator: k.Address(), RegisterProvider: market.RegisterProvider{
			Endpoint: "https://provider.example", Region: "eu",
			Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 30, Pricing: market.Rule{Kind: "fixed", Price: 1_000_000_000}}},
			Collateral: 1000 * money.UstrPerSTR,
		}})
	}
	nv := 1
	if len(vals) > 0 {
		nv = vals[0]
	}
	for i := range nv {
		op := testKey(fmt.Sprintf("op%d", i))
		fund(op)
		g.Validators = append(g.Validators, ledger.Validator{Name: fmt.Sprintf("val%d", i), Operator: op.Address(),
			ConsPubKey: testKey(fmt.Sprintf("cons%d", i)).Priv.Public().(ed25519.PublicKey), Power: 1})
	}
	app, err := g.MarshalAppState(map[string]any{"market": mg, "objects": objects.Genesis{Params: p}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: chainID, Time: t0}, app)
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	c.st.Apply(ch.Writes)
	c.appHash = ch.AppHash
	c.check()
	return c
}

func (c *chain) tx(k *identity.Key, msg ledger.Msg) []byte {
	c.t.Helper()
	acct, err := ledger.ReadAccount(c.st, k.Address())
	if err != nil {
		c.t.Fatal(err)
	}
	return c.txGas(k, msg, c.estimate(k, msg, acct.Nonce))
}

// defaultGas is the gas limit of a transaction whose simulation fails.
const defaultGas = 1_000_000

// estimate is the gas a client would sign msg with: what a simulation on
// the current state uses, plus the client's margin.
func (c *chain) estimate(k *identity.Key, msg ledger.Msg, nonce uint64) uint64 {
	c.t.Helper()
	probe := &ledger.Tx{ChainID: chainID, Nonce: nonce, GasLimit: c.lp.MaxBlockGas, GasPrice: c.lp.MinGasPrice, Msg: msg}
	if err := probe.Sign(k); err != nil {
		c.t.Fatal(err)
	}
	sim, err := c.m.Simulate(c.st, ledger.Header{ChainID: chainID, Height: c.height + 1}, probe.Bytes())
	if err != nil || sim.Code != ledger.CodeOK {
		return defaultGas
	}
	return sim.GasUsed + client.GasMargin(sim.GasUsed)
}

// txGas signs msg from k with the next nonce, gas limit gas and the
// minimum gas price.
func (c *chain) txGas(k *identity.Key, msg ledger.Msg, gas uint64) []byte {
	c.t.Helper()
	acct, err := ledger.ReadAccount(c.st, k.Address())
	if err != nil {
		c.t.Fatal(err)
	}
	tx := &ledger.Tx{ChainID: chainID, Nonce: acct.Nonce, GasLimit: gas, GasPrice: c.lp.MinGasPrice, Msg: msg}
	if err := tx.Sign(k); err != nil {
		c.t.Fatal(err)
	}
	return tx.Bytes()
}

// rawMsg sends hand-written message bytes under a type name.
type rawMsg struct {
	typ string
	b   []byte
}

func (m *rawMsg) Type() string                 { return m.typ }
func (m *rawMsg) Encode(w *codec.Writer)       { w.Fixed(m.b) }
func (m *rawMsg) Decode(r *codec.Reader) error { m.b = r.Fixed(r.Remaining()); return r.Err() }
func (m *rawMsg) Validate() error              { return nil }

// block runs one block dt after the last, each tx in it; txs are built by
// the callbacks so that nonces are read after the previous block.
func (c *chain) block(dt time.Duration, txs ...[]byte) []ledger.TxResult {
	c.t.Helper()
	at := c.now.Add(dt)
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("objects-block"), uint64(c.height+1)))
	h := ledger.Header{ChainID: chainID, Height: c.height + 1, Time: at, Hash: hash[:], PrevAppHash: c.appHash}
	b, err := c.m.BeginBlock(c.st, h)
	if err != nil {
		c.t.Fatalf("BeginBlock: %v", err)
	}
	var res []ledger.TxResult
	for _, raw := range txs {
		r := b.Deliver(raw, false)
		if r.Code != ledger.CodeOK && len(r.Events) != 0 {
			c.t.Errorf("failed tx has events %v", r.Events)
		}
		res = append(res, r)
	}
	ch, evs, err := b.End()
	if err != nil {
		c.t.Fatalf("End: %v", err)
	}
	c.st.Apply(ch.Writes)
	c.height, c.now, c.appHash = h.Height, at, ch.AppHash
	c.results, c.endEvents = res, evs
	c.check()
	return res
}

// do runs one transaction in its own block and returns its result.
func (c *chain) do(k *identity.Key, msg ledger.Msg) ledger.TxResult {
	c.t.Helper()
	return c.block(time.Second, c.tx(k, msg))[0]
}

func (c *chain) ok(k *identity.Key, msg ledger.Msg) ledger.TxResult {
	c.t.Helper()
	r := c.do(k, msg)
	if r.Code != ledger.CodeOK {
		c.t.Fatalf("%s: code %d: %s", msg.Type(), r.Code, r.Log)
	}
	return r
}

func (c *chain) fails(k *identity.Key, msg ledger.Msg, code uint32) ledger.TxResult {
	c.t.Helper()
	return c.failsTx(c.tx(k, msg), msg.Type(), code)
}

func (c *chain) failsTx(tx []byte, typ string, code uint32) ledger.TxResult {
	c.t.Helper()
	before := c.moduleState()
	r := c.block(time.Second, tx)[0]
	if r.Code != code {
		c.t.Fatalf("%s: code %d (%s), want %d", typ, r.Code, r.Log, code)
	}
	if after := c.moduleState(); after != before {
		c.t.Fatalf("%s failed but changed market or objects state", typ)
	}
	return r
}

// moduleState renders the market's and objects' state, for comparison.
func (c *chain) moduleState() string {
	var sb strings.Builder
	c.st.Iterate([]byte("objects/"), func(k, v []byte) error { fmt.Fprintf(&sb, "%q=%q\n", k, v); return nil })
	c.st.Iterate([]byte("market/lease/"), func(k, v []byte) error { fmt.Fprintf(&sb, "%q=%q\n", k, v); return nil })
	return sb.String()
}

// check asserts conservation of value after every block.
func (c *chain) check() {
	c.t.Helper()
	var accts uint64
	for k, v := range c.st {
		if strings.HasPrefix(k, ledger.AccountPrefix) {
			accts += ledger.DecodeAccountValue(v).Balance
		}
	}
	bal, _ := ledger.ReadBucket(c.st, ledger.BucketBalances)
	if accts != bal {
		c.t.Fatalf("height %d: accounts hold %d, the balances bucket %d", c.height, accts, bal)
	}
	total := new(big.Int)
	for _, b := range c.m.Buckets() {
		v, err := ledger.ReadBucket(c.st, b)
		if err != nil {
			c.t.Fatal(err)
		}
		total.Add(total, new(big.Int).SetUint64(v))
	}
	supply, err := ledger.ReadSupply(c.st)
	if err != nil {
		c.t.Fatal(err)
	}
	if !total.IsUint64() || total.Uint64() != supply || supply != c.supply {
		c.t.Fatalf("height %d: buckets hold %v, supply %d, genesis minted %d", c.height, total, supply, c.supply)
	}
	// The market's escrow bucket is exactly its leases' escrow, as stored:
	// a module that settled a lease without saving it would break this.
	q := c.query()
	var escrow uint64
	for id := uint64(1); ; id++ {
		l, err := market.StoredLease(q, id)
		if errs.Is(err, errs.NotFound) {
			break
		}
		if err != nil {
			c.t.Fatal(err)
		}
		escrow += l.Escrow
	}
	if b, _ := ledger.ReadBucket(c.st, market.BucketEscrow); b != escrow {
		c.t.Fatalf("height %d: the escrow bucket holds %d, the leases %d", c.height, b, escrow)
	}
}

// balance is an account's balance now.
func (c *chain) balance(k *identity.Key) uint64 {
	c.t.Helper()
	a, err := ledger.ReadAccount(c.st, k.Address())
	if err != nil {
		c.t.Fatal(err)
	}
	return a.Balance
}

func find(evs []ledger.Event, typ string) *ledger.Event {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

// openLease opens and acknowledges a storage lease of quantity bytes from
// user k with provider p and returns its id.
func (c *chain) openLease(k, p *identity.Key, quantity uint64, ack bool) uint64 {
	c.t.Helper()
	return c.openLeaseDeposit(k, p, quantity, 10*money.UstrPerSTR, ack)
}

// openLeaseDeposit is openLease with a deposit of deposit ustr.
func (c *chain) openLeaseDeposit(k, p *identity.Key, quantity, deposit uint64, ack bool) uint64 {
	c.t.Helper()
	pa := p.Address()
	r := c.ok(k, &market.OpenLease{Class: market.ClassStorage, Quantity: quantity, Deposit: deposit, Provider: &pa})
	ev := find(r.Events, "lease.opened")
	var id uint64
	fmt.Sscan(ev.Get("lease"), &id)
	if ack {
		c.ok(p, &market.AckLease{ID: id})
	}
	return id
}

func (c *chain) lease(id uint64) market.Lease {
	c.t.Helper()
	ctx, err := c.m.NewQueryContext(c.st, chainID, c.height, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	l, err := market.GetLease(ctx, id)
	if err != nil {
		c.t.Fatal(err)
	}
	return l.Lease
}

func (c *chain) query() *ledger.Context {
	c.t.Helper()
	ctx, err := c.m.NewQueryContext(c.st, chainID, c.height, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	return ctx
}

// testParams: 2+1 coding, 1 KiB segments.
var testParams = storage.Params{K: 2, M: 1, SegmentSize: 1024, LeafSize: 64}

// manifest encodes data and places shard j of every segment on provs[j%len].
func manifest(t *testing.T, data []byte, provs ...*identity.Key) (*storage.Manifest, []byte) {
	t.Helper()
	e, err := storage.NewEncoder(testParams)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += int(testParams.SegmentSize) {
		if _, err := e.EncodeSegment(data[off:min(len(data), off+int(testParams.SegmentSize))]); err != nil {
			t.Fatal(err)
		}
	}
	m := e.Manifest()
	for i := range m.Segments {
		for j := range m.Segments[i].Shards {
			m.Segments[i].Shards[j].Provider = provs[j%len(provs)].Address().String()
		}
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func encode(t *testing.T, m ledger.Msg) []byte {
	t.Helper()
	w := codec.NewWriter(256)
	m.Encode(w)
	return w.Bytes()
}
