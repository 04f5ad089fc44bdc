package provider

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// memChain is the ledger with the market and objects modules over memory,
// and a Ledger that reads it: a provider's view of a real chain, without
// a node. Blocks are made by the test; the provider reads between them.
type memChain struct {
	t      *testing.T
	m      *ledger.Machine
	lp     ledger.Params
	mu     sync.Mutex // guards st, now and height against the provider's reads
	st     ledger.MemReader
	now    time.Time
	height int64
	hash   []byte
	ends   []ledger.Event // the last block's end-block events
}

const memChainID = "provider-chain"

func newMemChain(t *testing.T, provider identity.Address, users ...*identity.Key) *memChain {
	t.Helper()
	lp := ledger.DefaultParams()
	lp.FeeEpochBlocks = 1_000_000_000
	c := &memChain{t: t, m: ledger.New(ledger.DefaultRegistry(market.Module{}, objects.Module{})), lp: lp, st: ledger.MemReader{},
		now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := ledger.Genesis{Params: lp}
	for _, a := range append([]identity.Address{provider}, func() (as []identity.Address) {
		for _, u := range users {
			as = append(as, u.Address())
		}
		return
	}()...) {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: a, Balance: 1_000_000 * money.UstrPerSTR})
	}
	mg := market.DefaultGenesis()
	mg.Providers = []market.GenesisProvider{{Operator: provider, RegisterProvider: market.RegisterProvider{
		Endpoint: "https://provider.example", Region: "eu",
		Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 30, Pricing: market.Rule{Kind: "fixed", Price: 1_000_000_000}}},
		Collateral: 1000 * money.UstrPerSTR,
	}}}
	seed := sha256.Sum256([]byte("provider-chain validator"))
	g.Validators = []ledger.Validator{{Name: "val0", Operator: provider, ConsPubKey: ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey), Power: 1}}
	app, err := g.MarshalAppState(map[string]any{"market": mg})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: memChainID, Time: c.now}, app)
	if err != nil {
		t.Fatal(err)
	}
	c.st.Apply(ch.Writes)
	c.hash = ch.AppHash
	return c
}

// block runs one block dt after the last with one transaction of k's, if
// msg is not nil, and returns its result.
func (c *memChain) block(dt time.Duration, k *identity.Key, msg ledger.Msg) ledger.TxResult {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	at := c.now.Add(dt)
	hash := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(c.height+1)))
	h := ledger.Header{ChainID: memChainID, Height: c.height + 1, Time: at, Hash: hash[:], PrevAppHash: c.hash}
	b, err := c.m.BeginBlock(c.st, h)
	if err != nil {
		c.t.Fatal(err)
	}
	var res ledger.TxResult
	if msg != nil {
		acct, err := ledger.ReadAccount(c.st, k.Address())
		if err != nil {
			c.t.Fatal(err)
		}
		// A generous gas limit: only the gas used is paid.
		tx := &ledger.Tx{ChainID: memChainID, Nonce: acct.Nonce, GasLimit: 10_000_000, GasPrice: c.lp.MinGasPrice, Msg: msg}
		if err := tx.Sign(k); err != nil {
			c.t.Fatal(err)
		}
		res = b.Deliver(tx.Bytes(), false)
	}
	ch, evs, err := b.End()
	if err != nil {
		c.t.Fatal(err)
	}
	c.st.Apply(ch.Writes)
	c.height, c.now, c.hash, c.ends = h.Height, at, ch.AppHash, evs
	c.conserved()
	return res
}

// conserved checks that every bucket adds up to the supply, and that the
// market's escrow bucket is its leases' escrow, after every block.
func (c *memChain) conserved() {
	c.t.Helper()
	var total uint64
	for _, b := range c.m.Buckets() {
		v, err := ledger.ReadBucket(c.st, b)
		if err != nil {
			c.t.Fatal(err)
		}
		total += v
	}
	supply, err := ledger.ReadSupply(c.st)
	if err != nil || total != supply {
		c.t.Fatalf("height %d: buckets hold %d, supply %d (%v)", c.height, total, supply, err)
	}
	var escrow uint64
	for id := uint64(1); ; id++ {
		l, err := market.StoredLease(c.query(), id)
		if err != nil {
			break
		}
		escrow += l.Escrow
	}
	if b, _ := ledger.ReadBucket(c.st, market.BucketEscrow); b != escrow {
		c.t.Fatalf("height %d: the escrow bucket holds %d, the leases %d", c.height, b, escrow)
	}
}

func (c *memChain) ok(k *identity.Key, msg ledger.Msg) ledger.TxResult {
	c.t.Helper()
	r := c.block(time.Second, k, msg)
	if r.Code != ledger.CodeOK {
		c.t.Fatalf("%s: %s", msg.Type(), r.Log)
	}
	return r
}

func (c *memChain) query() *ledger.Context {
	ctx, err := c.m.NewQueryContext(c.st, memChainID, c.height, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	return ctx
}

// openLease opens and acknowledges a storage lease of k's with provider p.
func (c *memChain) openLease(k, p *identity.Key, quantity, deposit uint64) uint64 {
	c.t.Helper()
	pa := p.Address()
	r := c.ok(k, &market.OpenLease{Class: market.ClassStorage, Quantity: quantity, Deposit: deposit, Provider: &pa})
	var id uint64
	for _, ev := range r.Events {
		if ev.Type == "lease.opened" {
			fmt.Sscan(ev.Get("lease"), &id)
		}
	}
	c.ok(p, &market.AckLease{ID: id})
	return id
}

// Quota implements Ledger from the chain's state.
func (c *memChain) Quota(_ context.Context, consumer, provider identity.Address) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.query()
	ids, err := market.LeasesOf(q, provider, true)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, id := range ids {
		l, err := market.StoredLease(q, id)
		if err != nil {
			return 0, err
		}
		if l.Consumer == consumer && l.Class == market.ClassStorage && l.State != market.LeaseClosed {
			sum += l.Quantity
		}
	}
	return sum, nil
}

// Refs implements Ledger from the chain's state.
func (c *memChain) Refs(_ context.Context, provider identity.Address, h shardstore.Hash, owner identity.Address) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if owner == (identity.Address{}) {
		return objects.ShardRefs(c.query(), provider, storage.Hash(h)), nil
	}
	return objects.ShardRefsOf(c.query(), provider, storage.Hash(h), owner), nil
}

func (c *memChain) CanRead(_ context.Context, provider identity.Address, h shardstore.Hash, reader identity.Address) (bool, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.query()
	return objects.CanRead(q, provider, storage.Hash(h), reader, q.Time.UnixMilli())
}

// TestUnpaidObjectsShardsAreCollected replays attack 1 of issue 10 up to the
// provider's disk: alice stores an object whose only lease runs out of
// escrow. The chain drops the object (object.expired, reason unpaid) and its
// references; mallory then cannot commit a copy of the public manifest on a
// lease of his own (the provider gives no receipt to whom stored nothing);
// and the provider's
// collector deletes them, freeing alice's quota. Before, the object stayed
// with its references above zero, and the shards were kept unpaid forever.
func TestUnpaidObjectsShardsAreCollected(t *testing.T) {
	ctx := context.Background()
	prov, alice, mallory := key("provider"), key("alice"), key("mallory")
	c := newMemChain(t, prov.Address(), alice, mallory)
	f := startWith(t, t.TempDir(), newFakeLedger(), c, 1<<30)
	// The provider signs receipts on the chain's clock, which the ledger checks them against.
	chainNow := func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
	f.svc.keep.now = chainNow

	// 1 MiB at 1 ustr per GiB-second is 976,562 nano-ustr/s, 1 ustr every
	// 1,024 s: 4,000 ustr last about 47 days.
	const deposit = 4000
	lease := c.openLease(alice, prov, 1<<20, deposit)
	p := storage.Params{K: 1, M: 0, SegmentSize: 8192, LeafSize: storage.DefaultLeafSize}
	enc, err := storage.NewEncoder(p)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []shardstore.Hash
	for i, n := range []int{8192, 8192, 3616} {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i*31 + j*7)
		}
		es, err := enc.EncodeSegment(data)
		if err != nil {
			t.Fatal(err)
		}
		h := shardstore.Hash(es.Segment.Shards[0].Hash)
		if err := f.c.PutShard(ctx, f.svc.URL(), alice, h, es.Shards[0]); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	man := enc.Manifest()
	for i := range man.Segments {
		man.Segments[i].Shards[0].Provider = prov.Address().String()
	}
	raw, err := man.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.c.Receipt(ctx, f.svc.URL(), alice, prov.Address(), raw)
	if err != nil {
		t.Fatal(err)
	}
	c.ok(alice, &objects.Commit{Manifest: raw, Leases: []uint64{lease}, Public: true, Receipts: []storage.Receipt{rc}})
	held := f.svc.keep.holding(alice.Address())
	if held != 8192+8192+3616 {
		t.Fatalf("alice holds %d bytes", held)
	}

	// Paid for: an hour on, the collector keeps every shard.
	t1 := time.Now().Add(time.Hour)
	if n, err := f.svc.gc(ctx, t1); err != nil || n != 0 {
		t.Fatalf("gc while the object is paid = %d, %v", n, err)
	}

	// The lease runs dry: the object goes in that block.
	v, err := objects.GetObject(c.query(), man.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	c.block(time.UnixMilli(v.PaidUntilMs).Sub(c.now), nil, nil)
	var expired *ledger.Event
	for i, ev := range c.ends {
		if ev.Type == objects.EventExpired {
			expired = &c.ends[i]
		}
	}
	if expired == nil || expired.Get(objects.AttrReason) != objects.ReasonUnpaid || expired.Get(objects.AttrID) != man.ID().String() {
		t.Fatalf("object.expired = %+v in %v", expired, c.ends)
	}
	if l, err := market.StoredLease(c.query(), lease); err != nil || l.State != market.LeaseClosed || l.Settled != deposit || l.Refunded != 0 {
		t.Fatalf("the lease: %+v, %v", l, err)
	}

	// Mallory cannot commit a copy of the public manifest on his own lease:
	// the provider holds no shard of his, so it gives him no receipt, and
	// alice's receipt is for alice.
	mlease := c.openLease(mallory, prov, 1<<20, 10*money.UstrPerSTR)
	if _, err := f.c.Receipt(ctx, f.svc.URL(), mallory, prov.Address(), raw); errs.KindOf(err) != errs.Unauthorized {
		t.Fatalf("mallory's receipt request: %v, want Unauthorized", err)
	}
	if r := c.block(time.Second, mallory, &objects.Commit{Manifest: raw, Leases: []uint64{mlease}, Public: true, Receipts: []storage.Receipt{rc}}); r.Code != ledger.CodeInvalid {
		t.Fatalf("mallory's copy with alice's receipt: code %d (%s)", r.Code, r.Log)
	}
	for _, h := range hashes {
		a, _ := c.Refs(ctx, prov.Address(), h, alice.Address())
		m, _ := c.Refs(ctx, prov.Address(), h, mallory.Address())
		if a != 0 || m != 0 {
			t.Fatalf("shard %s: alice %d refs, mallory %d; want 0, 0", h, a, m)
		}
	}

	// Past the grace of the last check, the collector deletes alice's
	// shards: mallory never stored them, so nobody's claim is left.
	if n, err := f.svc.gc(ctx, t1.Add(time.Hour)); err != nil || n != len(hashes) {
		t.Fatalf("gc after the object went = %d, %v; want %d deleted", n, err, len(hashes))
	}
	for _, h := range hashes {
		if f.stored(t, h) {
			t.Errorf("shard %s of the unpaid object is still stored", h)
		}
	}
	if held := f.svc.keep.holding(alice.Address()); held != 0 || f.used(t) != 0 {
		t.Fatalf("after gc alice holds %d bytes and the store uses %d; want 0, 0", held, f.used(t))
	}
}

// TestGCKeepsOnlyReferencedOwnersCopies: of two consumers who stored the
// same shard, the one whose own object uses it keeps its claim; the other's
// claim goes (freeing its quota), and with the last claim the shard.
func TestGCKeepsOnlyReferencedOwnersCopies(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice, bob, carol := key("alice"), key("bob"), key("carol")
	for _, k := range []*identity.Key{alice, bob} {
		f.ledger.setQuota(k.Address(), 1<<20)
	}
	h, d := shard("stored twice ", 6_000)
	for _, k := range []*identity.Key{alice, bob} {
		if err := f.c.PutShard(ctx, f.svc.URL(), k, h, d); err != nil {
			t.Fatal(err)
		}
	}
	// Bob's object uses it, and carol's copy of a manifest places it too;
	// alice's object is gone.
	f.ledger.setRefs(h, bob, 1)
	f.ledger.setRefs(h, carol, 1)
	t1 := time.Now().Add(time.Hour)
	if n, err := f.svc.gc(ctx, t1); err != nil || n != 0 {
		t.Fatalf("gc = %d, %v; want the shard kept for bob", n, err)
	}
	if !f.stored(t, h) || f.svc.keep.holding(alice.Address()) != 0 || f.svc.keep.holding(bob.Address()) != 6_000 {
		t.Fatalf("stored %v, alice holds %d, bob %d; want kept, 0, 6000", f.stored(t, h),
			f.svc.keep.holding(alice.Address()), f.svc.keep.holding(bob.Address()))
	}
	// Bob's object goes too: carol's manifest keeps nothing.
	f.ledger.setRefs(h, bob, 0)
	if n, err := f.svc.gc(ctx, t1.Add(time.Hour)); err != nil || n != 1 || f.stored(t, h) {
		t.Fatalf("gc after bob's object went = %d, %v (stored %v); want it deleted", n, err, f.stored(t, h))
	}
}
