package objects_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

const chainID = "objects-sm"

const seed = "stratus-objects-sm"

var t0 = ledgertest.T0

func testKey(name string) *identity.Key {
	k := ledgertest.Key(seed, name)
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
	c.T.Helper()
	out := *msg
	out.Receipts = receipts(c.T, msg.Manifest, owner.Address(), c.Now.Add(storage.ReceiptLifetime))
	return &out
}

// receipts signs manifest's receipts for owner, valid until expires, with
// the keys of the providers it names (in its provider table's order).
func receipts(t testing.TB, manifest []byte, owner identity.Address, expires time.Time) []storage.Receipt {
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
func providerKey(t testing.TB, did string) *identity.Key {
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

// chain is a ledgertest chain with the market and objects modules, whose
// check after every block also checks the market's escrow against its
// leases.
type chain struct {
	*ledgertest.Chain

	users     []*identity.Key // consumers
	providers []*identity.Key // storage providers registered at genesis
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
	c := &chain{}
	funded := []string{"user0", "user1"}
	for _, n := range funded {
		c.users = append(c.users, testKey(n))
	}
	mg := market.DefaultGenesis()
	for i := range 3 {
		k := testKey(fmt.Sprintf("provider%d", i))
		c.providers = append(c.providers, k)
		funded = append(funded, k.Name)
		mg.Providers = append(mg.Providers, market.GenesisProvider{Operator: k.Address(), RegisterProvider: market.RegisterProvider{
			Endpoint: "https://provider.example", Region: "eu",
			Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 30, Pricing: market.Rule{Kind: "fixed", Price: 1_000_000_000}}},
			Collateral: 1000 * money.UstrPerSTR,
		}})
	}
	powers := []int64{1}
	if len(vals) > 0 {
		powers = make([]int64, vals[0])
	}
	for i := range powers {
		powers[i] = 1
		testKey(fmt.Sprintf("op%d", i)) // known, to sign as the validator
	}
	c.Chain = ledgertest.New(t, ledgertest.Options{
		ChainID: chainID, Registry: ledger.DefaultRegistry(market.Module{}, objects.Module{}), Seed: seed,
		Funded: funded, Powers: powers, FundOperators: true,
		Genesis:       map[string]any{"market": mg, "objects": objects.Genesis{Params: p}},
		GenesisEvents: len(mg.Providers), HashTag: "objects-block",
	})
	c.Watch = moduleState
	c.AddCheck(c.check)
	return c
}

func (c *chain) fails(k *identity.Key, msg ledger.Msg, code uint32) ledger.TxResult {
	c.T.Helper()
	return c.Fails(c.Tx(k, msg), code, "")
}

// moduleState renders the market's and objects' state, which a failed
// transaction must leave as it was.
func moduleState(c *ledgertest.Chain) string {
	var sb strings.Builder
	c.St.Iterate([]byte("objects/"), func(k, v []byte) error { fmt.Fprintf(&sb, "%q=%q\n", k, v); return nil })
	c.St.Iterate([]byte("market/lease/"), func(k, v []byte) error { fmt.Fprintf(&sb, "%q=%q\n", k, v); return nil })
	return sb.String()
}

// check runs after genesis and every block, after the chain's
// conservation check.
func (c *chain) check(t testing.TB, _ *ledgertest.Chain) {
	t.Helper()
	// The market's escrow bucket is exactly its leases' escrow, as stored:
	// a module that settled a lease without saving it would break this.
	q := c.Query()
	var escrow uint64
	for id := uint64(1); ; id++ {
		l, err := market.StoredLease(q, id)
		if errs.Is(err, errs.NotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		escrow += l.Escrow
	}
	if b := c.Bucket(market.BucketEscrow); b != escrow {
		t.Fatalf("height %d: the escrow bucket holds %d, the leases %d", c.Height, b, escrow)
	}
}

// balance is an account's balance now.
func (c *chain) balance(k *identity.Key) uint64 {
	c.T.Helper()
	return c.Balance(k.Address())
}

// openLease opens and acknowledges a storage lease of quantity bytes from
// user k with provider p and returns its id.
func (c *chain) openLease(k, p *identity.Key, quantity uint64, ack bool) uint64 {
	c.T.Helper()
	return c.openLeaseDeposit(k, p, quantity, 10*money.UstrPerSTR, ack)
}

// openLeaseDeposit is openLease with a deposit of deposit ustr.
func (c *chain) openLeaseDeposit(k, p *identity.Key, quantity, deposit uint64, ack bool) uint64 {
	c.T.Helper()
	pa := p.Address()
	r := c.OK(k, &market.OpenLease{Class: market.ClassStorage, Quantity: quantity, Deposit: deposit, Provider: &pa})
	ev := ledgertest.Find(r.Events, "lease.opened")
	if ev == nil {
		c.T.Fatalf("open: no lease.opened event in %v", r.Events)
	}
	id := ledgertest.AttrU64(c.T, *ev, "lease")
	if ack {
		c.OK(p, &market.AckLease{ID: id})
	}
	return id
}

func (c *chain) lease(id uint64) market.Lease {
	c.T.Helper()
	l, err := market.GetLease(c.Query(), id)
	if err != nil {
		c.T.Fatal(err)
	}
	return l.Lease
}

// testParams: 2+1 coding, 1 KiB segments.
var testParams = storage.Params{K: 2, M: 1, SegmentSize: 1024, LeafSize: 64}

// manifest encodes data and places shard j of every segment on provs[j%len].
func manifest(t testing.TB, data []byte, provs ...*identity.Key) (*storage.Manifest, []byte) {
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

func encode(t testing.TB, m ledger.Msg) []byte {
	t.Helper()
	w := codec.NewWriter(256)
	m.Encode(w)
	return w.Bytes()
}
