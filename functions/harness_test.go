package functions_test

// The harness for the functions module's state-machine tests: a chain over
// memory with the market and functions modules, driven block by block with
// block times the test chooses, checking after every block that value is
// conserved and every deployment's books add up.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

const chainID = "functions-sm"

const str = money.UstrPerSTR

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testKey(name string) *identity.Key {
	seed := sha256.Sum256([]byte("stratus-functions-sm/" + name))
	return &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
}

type chain struct {
	t       testing.TB
	m       *ledger.Machine
	st      ledger.MemReader
	lp      ledger.Params
	fp      functions.Params
	now     time.Time
	height  int64
	appHash []byte
	supply  uint64
	nonce   map[identity.Address]uint64
	// fees is what each account has paid in fees so far.
	fees map[identity.Address]uint64

	users     []*identity.Key
	providers []*identity.Key // compute providers registered at genesis
	creator   *identity.Key   // a payee
	stranger  *identity.Key

	results   []ledger.TxResult
	endEvents []ledger.Event
	writes    []ledger.Change // the last block's
}

// moduleWrites counts the last block's writes under functions/.
func (c *chain) moduleWrites() int {
	n := 0
	for _, w := range c.writes {
		if strings.HasPrefix(string(w.Key), functions.Prefix) {
			n++
		}
	}
	return n
}

// testParams are the defaults with a 10 s evaluation.
func testParams() functions.Params { return functions.DefaultParams() }

func newChain(t testing.TB, fp functions.Params, nProviders int) *chain {
	t.Helper()
	lp := ledger.DefaultParams()
	lp.FeeEpochBlocks = 1_000_000_000
	c := &chain{
		t: t, m: ledger.New(ledger.DefaultRegistry(market.Module{}, functions.Module{})), st: ledger.MemReader{},
		lp: lp, fp: fp, now: t0, nonce: map[identity.Address]uint64{}, fees: map[identity.Address]uint64{},
		creator: testKey("creator"), stranger: testKey("stranger"),
	}
	g := ledger.Genesis{Params: lp}
	fund := func(k *identity.Key) {
		bal := uint64(1_000_000 * str)
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: bal})
		c.supply += bal
		c.nonce[k.Address()] = 0
	}
	for i := range 2 {
		k := testKey(fmt.Sprintf("user%d", i))
		c.users = append(c.users, k)
		fund(k)
	}
	mg := market.DefaultGenesis()
	for i := range nProviders {
		k := testKey(fmt.Sprintf("provider%d", i))
		c.providers = append(c.providers, k)
		fund(k)
		mg.Providers = append(mg.Providers, market.GenesisProvider{Operator: k.Address(), RegisterProvider: market.RegisterProvider{
			Endpoint: "https://provider.example", Region: "eu",
			// 0.01 STR per cu-hour: 2,777,777 nano-ustr per cu-second.
			Offers:     []market.Offer{{Class: market.ClassCompute, Capacity: 16, Pricing: market.Rule{Kind: "fixed", Price: 2_777_777}}},
			Collateral: 1000 * str,
		}})
	}
	fund(c.creator)
	fund(c.stranger)
	op := testKey("op0")
	fund(op)
	g.Validators = []ledger.Validator{{Name: "val0", Operator: op.Address(), ConsPubKey: testKey("cons0").Priv.Public().(ed25519.PublicKey), Power: 1}}
	app, err := g.MarshalAppState(map[string]any{"market": mg, "functions": functions.Genesis{Params: fp}})
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

// tx signs msg from k with the next nonce; a message that fails its own
// Validate uses no nonce.
func (c *chain) tx(k *identity.Key, msg ledger.Msg) []byte {
	c.t.Helper()
	tx := &ledger.Tx{ChainID: chainID, Nonce: c.nonce[k.Address()], GasLimit: c.estimate(k, msg), GasPrice: c.lp.MinGasPrice, Msg: msg}
	if err := tx.Sign(k); err != nil {
		c.t.Fatal(err)
	}
	if msg.Validate() == nil {
		c.nonce[k.Address()]++
	}
	return tx.Bytes()
}

// defaultGas is the gas limit of a transaction whose simulation fails.
const defaultGas = 1_000_000

// estimate is a gas limit for msg from a simulation on the current state:
// twice what a client would ask for, and more, since tests run the block
// long after (a lease touched later settles more). Only the gas used is
// paid.
func (c *chain) estimate(k *identity.Key, msg ledger.Msg) uint64 {
	c.t.Helper()
	probe := &ledger.Tx{ChainID: chainID, Nonce: c.nonce[k.Address()], GasLimit: c.lp.MaxBlockGas, GasPrice: c.lp.MinGasPrice, Msg: msg}
	if err := probe.Sign(k); err != nil {
		c.t.Fatal(err)
	}
	sim, err := c.m.Simulate(c.st, ledger.Header{ChainID: chainID, Height: c.height + 1}, probe.Bytes())
	if err != nil || sim.Code != ledger.CodeOK {
		return defaultGas
	}
	return 2*(sim.GasUsed+client.GasMargin(sim.GasUsed)) + 100_000
}

func (c *chain) block(dt time.Duration, txs ...[]byte) []ledger.TxResult {
	c.t.Helper()
	at := c.now.Add(dt)
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("functions-block"), uint64(c.height+1)))
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
		if r.Tx != nil {
			c.fees[r.Tx.Signer] += r.Fee
		}
	}
	ch, evs, err := b.End()
	if err != nil {
		c.t.Fatalf("End: %v", err)
	}
	c.st.Apply(ch.Writes)
	c.height, c.now, c.appHash = h.Height, at, ch.AppHash
	c.results, c.endEvents, c.writes = res, evs, ch.Writes
	for a := range c.nonce {
		acct, _ := ledger.ReadAccount(c.st, a)
		c.nonce[a] = acct.Nonce
	}
	c.check()
	return res
}

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

// fails runs msg, wants code and a log containing want, and checks that
// neither the functions nor the market state changed.
func (c *chain) fails(k *identity.Key, msg ledger.Msg, code uint32, want string) {
	c.t.Helper()
	before := c.moduleState()
	r := c.do(k, msg)
	if r.Code != code || !strings.Contains(r.Log, want) {
		c.t.Fatalf("%s: code %d (%s), want %d with %q", msg.Type(), r.Code, r.Log, code, want)
	}
	if after := c.moduleState(); after != before {
		c.t.Fatalf("%s failed but changed state", msg.Type())
	}
}

// moduleState renders the functions module's state and the market's
// leases; block-time bookkeeping that EndBlock does on its own (the
// evaluation queue) is left out.
func (c *chain) moduleState() string {
	var sb strings.Builder
	c.st.Iterate([]byte("functions/dep/"), func(k, v []byte) error {
		var d functions.Deployment
		json.Unmarshal(v, &d)
		d.DueMs, d.LowSinceMs = 0, 0
		b, _ := json.Marshal(d)
		fmt.Fprintf(&sb, "%q=%s\n", k, b)
		return nil
	})
	for _, p := range []string{"functions/seq/", "functions/byname/", "functions/byprov/", "functions/bylease/", "functions/spec/", "functions/cron/", "market/lease/"} {
		c.st.Iterate([]byte(p), func(k, v []byte) error { fmt.Fprintf(&sb, "%q=%q\n", k, v); return nil })
	}
	return sb.String()
}

// check asserts conservation of value and every deployment's books.
func (c *chain) check() {
	c.t.Helper()
	var accts uint64
	for k, v := range c.st {
		if strings.HasPrefix(k, ledger.AccountPrefix) {
			accts += ledger.DecodeAccountValue(v).Balance
		}
	}
	if bal := c.bucket(ledger.BucketBalances); accts != bal {
		c.t.Fatalf("height %d: accounts hold %d, the balances bucket %d", c.height, accts, bal)
	}
	total := new(big.Int)
	for _, b := range c.m.Buckets() {
		total.Add(total, new(big.Int).SetUint64(c.bucket(b)))
	}
	supply, _ := ledger.ReadSupply(c.st)
	if !total.IsUint64() || total.Uint64() != supply || supply != c.supply {
		c.t.Fatalf("height %d: buckets hold %v, supply %d, genesis minted %d", c.height, total, supply, c.supply)
	}
	var escrow, pending uint64
	for _, d := range c.deployments() {
		escrow += d.Escrow
		pending += d.Pending
		if d.Deposited != d.Escrow+d.Charged+d.ReplicaFunding+d.Refunded {
			c.t.Fatalf("height %d: deployment %d: deposited %d != escrow %d + charged %d + replica funding %d + refunded %d",
				c.height, d.ID, d.Deposited, d.Escrow, d.Charged, d.ReplicaFunding, d.Refunded)
		}
		paid := d.PaidBefore + d.Pending
		for _, p := range d.Payees {
			paid += p.Paid
		}
		if paid != d.Charged {
			c.t.Fatalf("height %d: deployment %d: payees were paid %d, charged %d", c.height, d.ID, paid, d.Charged)
		}
		if d.Charged > d.Spec.SpendLimit && d.State != functions.StateRemoved {
			c.t.Fatalf("height %d: deployment %d charged %d over its spend limit %d", c.height, d.ID, d.Charged, d.Spec.SpendLimit)
		}
		if d.Reserved > d.Escrow {
			c.t.Fatalf("height %d: deployment %d keeps back %d of an escrow of %d", c.height, d.ID, d.Reserved, d.Escrow)
		}
		if d.State == functions.StateSuspended && (len(d.Replicas) != 0 || len(d.CronNextMs) != 0 || (d.DueMs != 0 && d.ReservedUntilMs == 0)) {
			c.t.Fatalf("height %d: suspended deployment %d still has replicas %v, cron %v or is due at %d", c.height, d.ID, d.Replicas, d.CronNextMs, d.DueMs)
		}
		if d.Pending >= uint64(len(d.Payees)) && d.Pending > 0 {
			c.t.Fatalf("height %d: deployment %d has %d pending for %d payees", c.height, d.ID, d.Pending, len(d.Payees))
		}
	}
	var leaseEscrow uint64
	c.st.Iterate([]byte("market/lease/"), func(_, v []byte) error {
		var l market.Lease
		json.Unmarshal(v, &l)
		leaseEscrow += l.Escrow
		return nil
	})
	if got := c.bucket(market.BucketEscrow); got != leaseEscrow {
		c.t.Fatalf("height %d: market escrow bucket %d, leases hold %d", c.height, got, leaseEscrow)
	}
	if got := c.bucket(functions.BucketEscrow); got != escrow {
		c.t.Fatalf("height %d: functions escrow bucket %d, deployments hold %d", c.height, got, escrow)
	}
	if got := c.bucket(functions.BucketPayouts); got != pending {
		c.t.Fatalf("height %d: functions payouts bucket %d, deployments pend %d", c.height, got, pending)
	}
}

func (c *chain) bucket(name string) uint64 {
	v, err := ledger.ReadBucket(c.st, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func (c *chain) balance(a identity.Address) uint64 {
	acct, _ := ledger.ReadAccount(c.st, a)
	return acct.Balance
}

func (c *chain) deployments() []functions.Deployment {
	var out []functions.Deployment
	c.st.Iterate([]byte("functions/dep/"), func(_, v []byte) error {
		var d functions.Deployment
		if err := json.Unmarshal(v, &d); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, d)
		return nil
	})
	return out
}

func (c *chain) query() *ledger.Context {
	c.t.Helper()
	ctx, err := c.m.NewQueryContext(c.st, chainID, c.height, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	return ctx
}

func (c *chain) dep(id uint64) *functions.DeploymentView {
	c.t.Helper()
	v, err := functions.GetDeployment(c.query(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func (c *chain) lease(id uint64) market.Lease {
	c.t.Helper()
	l, err := market.GetLease(c.query(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return l.Lease
}

func (c *chain) providerKey(a identity.Address) *identity.Key {
	for _, k := range c.providers {
		if k.Address() == a {
			return k
		}
	}
	c.t.Fatalf("no provider key for %s", a)
	return nil
}

// ackAll has every provider acknowledge its pending leases, in one block.
func (c *chain) ackAll() {
	c.t.Helper()
	var txs [][]byte
	for _, p := range c.providers {
		ids, err := market.PendingFor(c.query(), p.Address())
		if err != nil {
			c.t.Fatal(err)
		}
		for _, id := range ids {
			txs = append(txs, c.tx(p, &market.AckLease{ID: id}))
		}
	}
	for i, r := range c.block(time.Second, txs...) {
		if r.Code != ledger.CodeOK {
			c.t.Fatalf("ack %d: %s", i, r.Log)
		}
	}
}

func find(evs []ledger.Event, typ string) []ledger.Event {
	var out []ledger.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func attrU64(t testing.TB, e ledger.Event, k string) uint64 {
	t.Helper()
	var v uint64
	if _, err := fmt.Sscan(e.Get(k), &v); err != nil {
		t.Fatalf("event %s attr %s=%q: %v", e.Type, k, e.Get(k), err)
	}
	return v
}

// moduleID is a valid object ID.
var moduleID = func() string {
	var id storage.ID
	copy(id[:], bytes.Repeat([]byte{7}, len(id)))
	return id.String()
}()

func spec() functions.Spec {
	return functions.Spec{
		Module: moduleID, SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000,
		Routes: []string{"/"},
		Env:    map[string]string{"GREETING": "hello", "LOG_LEVEL": "info"},
		// The spec's defaults, written out as the CLI does.
		MaxRequestBytes:  1 << 20,
		MaxResponseBytes: 16 << 20,
		Scaling:          functions.Scaling{Min: 1, Max: 3, TargetConcurrency: 8, CooldownSeconds: 60},
		SpendLimit:       100 * str,
	}
}

// deploy deploys s from the first user, acknowledges the replicas and
// returns the deployment's id.
func (c *chain) deploy(name string, s functions.Spec, deposit uint64) uint64 {
	c.t.Helper()
	r := c.ok(c.users[0], &functions.Deploy{Name: name, Spec: s, Deposit: deposit})
	ev := find(r.Events, "function.deployed")
	if len(ev) != 1 {
		c.t.Fatalf("deploy: events %v", r.Events)
	}
	c.ackAll()
	return attrU64(c.t, ev[0], "deployment")
}

// report sends a usage report from provider k in its own block.
func (c *chain) report(k *identity.Key, m *functions.UsageReport) ledger.TxResult {
	c.t.Helper()
	return c.do(k, m)
}

func (c *chain) epoch() int64 { return c.now.UnixMilli() / (c.fp.EpochSeconds * 1000) }
