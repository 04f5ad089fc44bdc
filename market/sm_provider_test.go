package market_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

func smCode(t *testing.T, res []ledger.TxResult, i int, want uint32, what string) {
	t.Helper()
	if res[i].Code != want {
		t.Fatalf("%s: code %d (%s), want %d", what, res[i].Code, res[i].Log, want)
	}
}

// TestSMProviderLifecycle: register, update, retire and unbond. Collateral
// moves to the collateral bucket and back; unbonding is refused before
// retiring, while leases are open and before the unbonding delay.
func TestSMProviderLifecycle(t *testing.T) {
	c := newSMChain(t, smOpts{})
	k, cons := c.providers[1], c.consumers[0]
	a := k.Address()
	// fee is what the last block's (only) transaction paid.
	fee := func() uint64 { return c.Results[0].Fee }
	reg := &market.RegisterProvider{
		Endpoint: "https://p1.example:8443/stratus", Region: "us-east",
		Offers: []market.Offer{
			{Class: market.ClassCompute, Capacity: 50, Pricing: market.Rule{Kind: "fixed", Price: 5000}},
			{Class: market.ClassStorage, Capacity: 100 * smGiB, Pricing: market.Rule{Kind: "fixed", Price: 1000}},
		},
		Collateral: 150 * smSTR,
	}
	bal, coll := c.Balance(a), c.Bucket(market.BucketCollateral)
	res := c.OKAfter(time.Second, c.Tx(k, reg))
	if ev := ledgertest.Find(res[0].Events, "provider.registered"); ev == nil || ev.Get("provider") != a.String() || ledgertest.AttrU64(t, *ev, "collateral") != 150*smSTR {
		t.Fatalf("provider.registered event %v", res[0].Events)
	}
	if got := c.Balance(a); got != bal-150*smSTR-fee() {
		t.Errorf("balance %d, want %d", got, bal-150*smSTR-fee())
	}
	if got := c.Bucket(market.BucketCollateral); got != coll+150*smSTR {
		t.Errorf("collateral bucket %d, want %d", got, coll+150*smSTR)
	}
	p := c.mustProvider(a)
	if p.State != market.ProviderActive || p.Score != 10_000 || p.Collateral != 150*smSTR || p.Endpoint != reg.Endpoint ||
		p.Region != "us-east" || len(p.Offers) != 2 || p.Offers[0].Class != market.ClassStorage || p.RegisteredMs != c.Now.UnixMilli() {
		t.Errorf("registered provider %+v (offers in class order: storage, compute)", p)
	}
	if ci := c.capIndex(market.ClassStorage); ci.Capacity != 100*smGiB || ci.Used != 0 {
		t.Errorf("storage capacity index %+v", ci)
	}

	res = c.BlockAfter(time.Second, c.Tx(k, reg))
	smCode(t, res, 0, ledger.CodeConflict, "registering twice")
	low := *reg
	low.Collateral = c.mp.MinCollateral - 1
	res = c.BlockAfter(time.Second, c.Tx(c.providers[2], &low))
	smCode(t, res, 0, ledger.CodeInvalid, "collateral below the minimum")

	bal, coll = c.Balance(a), c.Bucket(market.BucketCollateral)
	c.OKAfter(time.Second, c.Tx(k, &market.UpdateProvider{AddCollateral: 10 * smSTR, Endpoint: "https://p1.example/v2"}))
	if p := c.mustProvider(a); p.Collateral != 160*smSTR || p.Endpoint != "https://p1.example/v2" || p.Region != "us-east" || len(p.Offers) != 2 {
		t.Errorf("after update: %+v", p)
	}
	if c.Balance(a) != bal-10*smSTR-fee() || c.Bucket(market.BucketCollateral) != coll+10*smSTR {
		t.Errorf("adding collateral moved %d from the balance, %d into the bucket", bal-c.Balance(a), c.Bucket(market.BucketCollateral)-coll)
	}

	id := c.open(time.Second, cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 5 * smGiB, Deposit: smSTR, Provider: &a})
	c.OKAfter(time.Second, c.Tx(k, &market.AckLease{ID: id}))
	offers := func(storage uint64) []market.Offer {
		return []market.Offer{{Class: market.ClassStorage, Capacity: storage, Pricing: market.Rule{Kind: "fixed", Price: 1000}}}
	}
	res = c.BlockAfter(time.Second, c.Tx(k, &market.UpdateProvider{Offers: offers(4 * smGiB)}))
	smCode(t, res, 0, ledger.CodeConflict, "capacity below what leases use")
	res = c.BlockAfter(time.Second, c.Tx(k, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassCompute, Capacity: 1, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}))
	smCode(t, res, 0, ledger.CodeConflict, "withdrawing a class in use")
	c.OKAfter(time.Second, c.Tx(k, &market.UpdateProvider{Offers: offers(5 * smGiB)}))
	if o := smOfferOf(c.mustProvider(a), market.ClassStorage); o.Capacity != 5*smGiB || o.Used != 5*smGiB {
		t.Errorf("storage offer after shrinking to what is used: %+v", o)
	}
	if ci := c.capIndex(market.ClassStorage); ci.Capacity != 5*smGiB || ci.Used != 5*smGiB {
		t.Errorf("storage capacity index %+v", ci)
	}
	if ci := c.capIndex(market.ClassCompute); ci.Capacity != 0 {
		t.Errorf("compute capacity index %+v after compute was withdrawn", ci)
	}

	res = c.BlockAfter(time.Second, c.Tx(k, &market.Unbond{}))
	smCode(t, res, 0, ledger.CodeConflict, "unbonding an active provider")
	res = c.OKAfter(time.Second, c.Tx(k, &market.RetireProvider{}))
	unbondAt := c.Now.Add(time.Duration(c.mp.UnbondingSeconds) * time.Second)
	if ev := ledgertest.Find(res[0].Events, "provider.retiring"); ev == nil || ledgertest.AttrU64(t, *ev, "unbond_at_ms") != uint64(unbondAt.UnixMilli()) {
		t.Errorf("provider.retiring event %v", res[0].Events)
	}
	if p := c.mustProvider(a); p.State != market.ProviderRetiring || p.UnbondAtMs != unbondAt.UnixMilli() {
		t.Errorf("retired provider %+v", p)
	}
	res = c.BlockAfter(time.Second,
		c.Tx(k, &market.RetireProvider{}),
		c.Tx(k, &market.UpdateProvider{Offers: offers(50 * smGiB)}),
		c.Tx(cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 1, Deposit: smSTR, Provider: &a}),
		c.Tx(cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 1, Deposit: smSTR}),
		c.Tx(k, &market.Unbond{}))
	smCode(t, res, 0, ledger.CodeConflict, "retiring twice")
	smCode(t, res, 1, ledger.CodeConflict, "changing a retiring provider's offers")
	smCode(t, res, 2, ledger.CodeConflict, "a lease pinned to a retiring provider")
	smCode(t, res, 3, ledger.CodeNotFound, "a lease with only a retiring provider")
	smCode(t, res, 4, ledger.CodeConflict, "unbonding with an open lease")

	// The lease goes on, paid as before, until it is closed.
	c.OKAfter(time.Minute, c.Tx(cons, &market.CloseLease{ID: id}))
	if p := c.mustProvider(a); p.OpenLeases != 0 || smOfferOf(p, market.ClassStorage).Used != 0 {
		t.Errorf("after the last lease closed: %+v", p)
	}
	c.OKAt(unbondAt.Add(-time.Millisecond))
	res = c.BlockAfter(0, c.Tx(k, &market.Unbond{}))
	smCode(t, res, 0, ledger.CodeConflict, "unbonding before the delay")

	bal, coll = c.Balance(a), c.Bucket(market.BucketCollateral)
	res = c.OKAt(unbondAt, c.Tx(k, &market.Unbond{}))
	if ev := ledgertest.Find(res[0].Events, "provider.unbonded"); ev == nil || ledgertest.AttrU64(t, *ev, "collateral") != 160*smSTR {
		t.Errorf("provider.unbonded event %v", res[0].Events)
	}
	if c.Balance(a) != bal+160*smSTR-fee() || c.Bucket(market.BucketCollateral) != coll-160*smSTR {
		t.Errorf("unbonding gave back %d, took %d from the bucket; want %d", c.Balance(a)+fee()-bal, coll-c.Bucket(market.BucketCollateral), 160*smSTR)
	}
	if _, ok := c.provider(a); ok {
		t.Errorf("the provider is still in state after unbonding")
	}
	res = c.BlockAfter(time.Second, c.Tx(k, &market.Unbond{}))
	smCode(t, res, 0, ledger.CodeNotFound, "unbonding twice")
	c.OKAfter(time.Second, c.Tx(k, reg))
	c.Replay()
}

// TestSMCapacityIndexAfterRetire: market/cap/<class>/ is "capacity and use
// over active providers". A retiring provider's capacity leaves it, and so
// must its leases' use, or the class's utilization (and so its reference
// price) stays inflated forever.
func TestSMCapacityIndexAfterRetire(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{
		smProvider(market.ClassStorage, 10*smGiB, 1000), smProvider(market.ClassStorage, 10*smGiB, 2000),
	}})
	p0 := c.providers[0].Address()
	id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassStorage, Quantity: 5 * smGiB, Deposit: smSTR, Provider: &p0})
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: id}))
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.RetireProvider{})) // the harness checks the index
	c.OKAfter(time.Second, c.Tx(c.consumers[0], &market.CloseLease{ID: id}))
	if ci := c.capIndex(market.ClassStorage); ci.Used != 0 || ci.Capacity != 10*smGiB {
		t.Errorf("storage index %+v, want 10 GiB of capacity, none used", ci)
	}
}

// TestSMCapacityOverflow: offered capacities add up without wrapping: a
// provider registering an absurd capacity cannot make the class look full
// and drive its reference price up. One offer holds at most MaxCapacity, and
// a registration that would take a class's total past 2^64-1 is refused.
func TestSMCapacityOverflow(t *testing.T) {
	t.Run("one absurd offer", func(t *testing.T) {
		c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 1000*smGiB, 1000)}})
		p0 := c.providers[0].Address()
		id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassStorage, Quantity: 100 * smGiB, Deposit: 10 * smSTR, Provider: &p0})
		c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: id}))
		ref := c.ref(market.ClassStorage)
		evil := func(capacity uint64) *market.RegisterProvider {
			return &market.RegisterProvider{
				Endpoint: "https://evil.example", Region: "x", Collateral: c.mp.MinCollateral,
				Offers: []market.Offer{{Class: market.ClassStorage, Capacity: capacity, Pricing: market.Rule{Kind: "fixed", Price: math.MaxUint64}}},
			}
		}
		// 1000 GiB + (2^64 - 900 GiB) would wrap to 100 GiB, all of it
		// "used"; and one more than MaxCapacity is refused as well. Both
		// fail their own validation: no fee, no nonce, no state.
		for _, capacity := range []uint64{math.MaxUint64 - 900*smGiB + 1, market.MaxCapacity + 1} {
			before := c.nonAudit()
			nonce := c.Account(c.providers[1].Address()).Nonce
			res := c.BlockAfter(time.Second, c.Tx(c.providers[1], evil(capacity)))
			smCode(t, res, 0, ledger.CodeInvalid, fmt.Sprintf("registering %d bytes", capacity))
			if _, ok := c.provider(c.providers[1].Address()); ok || c.Account(c.providers[1].Address()).Nonce != nonce {
				t.Fatalf("a refused registration of %d bytes registered, or used a nonce", capacity)
			}
			after := c.nonAudit()
			for k, v := range before {
				if strings.HasPrefix(k, "market/") && after[k] != v && !strings.HasPrefix(k, "market/lease/") && !strings.HasPrefix(k, "market/due/") {
					t.Errorf("a refused registration changed %q", k)
				}
			}
			if ci := c.capIndex(market.ClassStorage); ci.Capacity != 1000*smGiB || ci.Used != 100*smGiB {
				t.Errorf("storage capacity index %+v after refusing %d bytes", ci, capacity)
			}
		}
		// The most one offer may hold is accepted and counted in full.
		c.OKAfter(time.Second, c.Tx(c.providers[1], evil(market.MaxCapacity)))
		if ci := c.capIndex(market.ClassStorage); ci.Capacity != 1000*smGiB+market.MaxCapacity || ci.Used != 100*smGiB {
			t.Errorf("storage capacity index %+v, want %d of capacity, %d used", ci, 1000*smGiB+market.MaxCapacity, 100*smGiB)
		}
		c.OKAt(c.epochStart(c.epoch() + 1))
		if got, want := c.ref(market.ClassStorage), smNextRef(ref, 100*smGiB, 1000*smGiB+market.MaxCapacity, c.mp); got != want || got > ref {
			t.Errorf("reference price went from %d to %d at next to no utilization; want %d", ref, got, want)
		}
	})
	t.Run("a class total past 2^64", func(t *testing.T) {
		if testing.Short() {
			t.Skip("registers 2^14 providers")
		}
		// 2^14 - 1 providers offer MaxCapacity = 2^50 bytes each: the
		// total is 2^64 - 2^50, and room is left for 2^50 - 1 more.
		const n = 1<<14 - 1
		gen := make([]market.GenesisProvider, n)
		for i := range gen {
			gen[i] = smProvider(market.ClassStorage, market.MaxCapacity, 1000)
		}
		c := newSMChain(t, smOpts{providers: n + 2, genesis: gen})
		if ci := c.capIndex(market.ClassStorage); ci.Capacity != math.MaxUint64-market.MaxCapacity+1 {
			t.Fatalf("storage index after genesis %+v", ci)
		}
		ref := c.ref(market.ClassStorage)
		reg := func(capacity uint64) *market.RegisterProvider {
			return &market.RegisterProvider{
				Endpoint: "https://big.example", Region: "x", Collateral: c.mp.MinCollateral,
				Offers: []market.Offer{
					{Class: market.ClassCompute, Capacity: 10, Pricing: market.Rule{Kind: "fixed", Price: 1}},
					{Class: market.ClassStorage, Capacity: capacity, Pricing: market.Rule{Kind: "fixed", Price: 1}},
				},
			}
		}
		late, later := c.providers[n], c.providers[n+1]
		bal := c.Balance(late.Address())
		coll := c.Bucket(market.BucketCollateral)
		// In one block: exactly up to 2^64 - 1 fits; then nothing more,
		// by a registration or by an update.
		res := c.BlockAt(c.epochStart(c.epoch()+1),
			c.Tx(later, reg(market.MaxCapacity-1)),
			c.Tx(late, reg(market.MaxCapacity)),
			c.Tx(later, &market.UpdateProvider{Offers: reg(market.MaxCapacity).Offers}))
		smCode(t, res, 0, ledger.CodeOK, "a registration taking the storage total to 2^64-1")
		smCode(t, res, 1, ledger.CodeInvalid, "a registration taking the storage total past 2^64")
		smCode(t, res, 2, ledger.CodeInvalid, "an update taking the storage total past 2^64")
		for _, r := range res[1:] {
			if !strings.Contains(r.Log, "overflow") {
				t.Errorf("refusal %q does not say the total would overflow", r.Log)
			}
		}
		if _, ok := c.provider(late.Address()); ok || c.Balance(late.Address()) != bal-res[1].Fee || c.Bucket(market.BucketCollateral) != coll+c.mp.MinCollateral {
			t.Errorf("a refused registration registered or moved collateral")
		}
		if ci := c.capIndex(market.ClassStorage); ci.Capacity != math.MaxUint64 {
			t.Errorf("storage index %+v, want 2^64-1", ci)
		}
		// The compute offers: the accepted registration's, not the refused one's.
		if ci := c.capIndex(market.ClassCompute); ci.Capacity != 10 {
			t.Errorf("compute index %+v, want the 10 cu of the one registration that passed", ci)
		}
		if o := smOfferOf(c.mustProvider(later.Address()), market.ClassStorage); o.Capacity != market.MaxCapacity-1 {
			t.Errorf("the refused update changed the offer: %+v", o)
		}
		if got := c.ref(market.ClassStorage); got > ref {
			t.Errorf("reference price rose from %d to %d with nothing used", ref, got)
		}
	})
}

// TestSMProviderChoice: the market picks the cheapest eligible provider by
// effective price, then the highest score, then the lowest address; a
// pinned provider is taken if eligible; max price and capacity exclude.
func TestSMProviderChoice(t *testing.T) {
	const ref = 385_802_469 // the storage reference price
	fixed := func(capGiB, price uint64) market.GenesisProvider {
		return smProvider(market.ClassStorage, capGiB*smGiB, price)
	}
	rule := func(capGiB uint64, r market.Rule) market.GenesisProvider {
		g := fixed(capGiB, 1)
		g.Offers[0].Pricing = r
		return g
	}
	p0, p1 := smKey("provider0").Address(), smKey("provider1").Address()
	lower := 0
	if bytes.Compare(p1[:], p0[:]) < 0 {
		lower = 1
	}
	stranger := smKey("stranger").Address()
	pin := func(i int) *identity.Address {
		a := smKey([]string{"provider0", "provider1", "provider2", "provider3"}[i]).Address()
		return &a
	}
	for _, tc := range []struct {
		name  string
		provs []market.GenesisProvider
		open  market.OpenLease
		want  int // provider index, or -1 for an error
		price uint64
		code  uint32
	}{
		{"cheapest", []market.GenesisProvider{fixed(10, 300), fixed(10, 200), fixed(10, 250)}, market.OpenLease{Quantity: smGiB}, 1, 200, 0},
		{"without capacity skipped", []market.GenesisProvider{fixed(10, 300), fixed(1, 200), fixed(10, 250)}, market.OpenLease{Quantity: 2 * smGiB}, 2, 250, 0},
		{"exact capacity fits", []market.GenesisProvider{fixed(10, 300), fixed(2, 200)}, market.OpenLease{Quantity: 2 * smGiB}, 1, 200, 0},
		{"max price at the price", []market.GenesisProvider{fixed(10, 300), fixed(1, 200), fixed(10, 250)}, market.OpenLease{Quantity: 2 * smGiB, MaxPrice: 250}, 2, 250, 0},
		{"max price excludes", []market.GenesisProvider{fixed(10, 300), fixed(1, 200), fixed(10, 250)}, market.OpenLease{Quantity: 2 * smGiB, MaxPrice: 249}, -1, 0, ledger.CodeNotFound},
		{"pinned, not the cheapest", []market.GenesisProvider{fixed(10, 300), fixed(10, 200)}, market.OpenLease{Quantity: smGiB, Provider: pin(0)}, 0, 300, 0},
		{"pinned over max price", []market.GenesisProvider{fixed(10, 300), fixed(10, 200)}, market.OpenLease{Quantity: smGiB, Provider: pin(0), MaxPrice: 299}, -1, 0, ledger.CodeConflict},
		{"pinned without capacity", []market.GenesisProvider{fixed(1, 300), fixed(10, 200)}, market.OpenLease{Quantity: 2 * smGiB, Provider: pin(0)}, -1, 0, ledger.CodeConflict},
		{"pinned, not a provider", []market.GenesisProvider{fixed(10, 300)}, market.OpenLease{Quantity: smGiB, Provider: &stranger}, -1, 0, ledger.CodeNotFound},
		{"tie: lowest address", []market.GenesisProvider{fixed(10, 200), fixed(10, 200), fixed(10, 201)}, market.OpenLease{Quantity: smGiB}, lower, 200, 0},
		{"reference x multiplier", []market.GenesisProvider{rule(10, market.Rule{Kind: "reference", MultiplierBps: 9000}), fixed(10, ref*9/10+1)}, market.OpenLease{Quantity: smGiB}, 0, ref * 9 / 10, 0},
		{"reference x multiplier, dearer", []market.GenesisProvider{rule(10, market.Rule{Kind: "reference", MultiplierBps: 9000}), fixed(10, ref*9/10)}, market.OpenLease{Quantity: smGiB}, 1, ref * 9 / 10, 0},
		// Price x (1 + slope x u) with u the utilization counting the
		// quantity asked for: 5 of 10 GiB at slope 100% is 1500.
		{"utilization curve, half full", []market.GenesisProvider{rule(10, market.Rule{Kind: "utilization", Price: 1000, SlopeBps: 10_000}), fixed(10, 1400)}, market.OpenLease{Quantity: 5 * smGiB}, 1, 1400, 0},
		{"utilization curve, a fifth", []market.GenesisProvider{rule(10, market.Rule{Kind: "utilization", Price: 1000, SlopeBps: 10_000}), fixed(10, 1400)}, market.OpenLease{Quantity: 2 * smGiB}, 0, 1200, 0},
		{"nobody offers the class", []market.GenesisProvider{smProvider(market.ClassCompute, 100, 5)}, market.OpenLease{Quantity: smGiB}, -1, 0, ledger.CodeNotFound},
		{"nobody has room", []market.GenesisProvider{fixed(1, 5), fixed(1, 6)}, market.OpenLease{Quantity: smGiB + 1}, -1, 0, ledger.CodeNotFound},
		{"no providers at all", nil, market.OpenLease{Quantity: 1}, -1, 0, ledger.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMChain(t, smOpts{genesis: tc.provs})
			m := tc.open
			m.Class, m.Deposit = market.ClassStorage, smSTR
			res := c.BlockAfter(time.Second, c.Tx(c.consumers[0], &m))
			if tc.want < 0 {
				smCode(t, res, 0, tc.code, "open")
				if len(c.leases()) != 0 {
					t.Errorf("a refused open left a lease")
				}
				return
			}
			smCode(t, res, 0, ledger.CodeOK, "open")
			ev := ledgertest.Find(res[0].Events, "lease.opened")
			l := c.lease(ledgertest.AttrU64(t, *ev, "lease"))
			if l.Provider != c.providers[tc.want].Address() || ev.Get("provider") != l.Provider.String() {
				t.Fatalf("chose %s, want provider%d %s", l.Provider, tc.want, c.providers[tc.want].Address())
			}
			if l.Price != tc.price || l.Rate != smRate(tc.price, m.Quantity, market.ClassStorage) || ledgertest.AttrU64(t, *ev, "rate") != l.Rate {
				t.Errorf("price %d rate %d, want %d, %d", l.Price, l.Rate, tc.price, smRate(tc.price, m.Quantity, market.ClassStorage))
			}
		})
	}
}

// TestSMProviderChoiceByScore: at equal prices, a provider that breached an
// SLA (score 9000) loses to one that kept its promises, whatever their
// addresses.
func TestSMProviderChoiceByScore(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{
		smProvider(market.ClassCompute, 100, 1000), smProvider(market.ClassCompute, 100, 1000),
	}})
	p0, p1 := c.providers[0].Address(), c.providers[1].Address()
	first, second := c.providers[0], c.providers[1]
	if bytes.Compare(p1[:], p0[:]) < 0 {
		first, second = second, first
	}
	open := &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR, SLA: market.SLA{TargetBps: 9900, WindowSeconds: c.mp.EpochSeconds}}
	id := c.open(time.Second, c.consumers[0], open)
	if l := c.lease(id); l.Provider != first.Address() {
		t.Fatalf("at equal score the lower address should win")
	}
	c.OKAfter(time.Second, c.Tx(first, &market.AckLease{ID: id}))
	e := c.epoch()
	var reps [][]byte
	for _, op := range c.Ops {
		reps = append(reps, c.Tx(op, &market.ProbeReport{Epoch: e, Results: []market.ProbeRow{{Provider: first.Address(), OK: 0, Total: 10}}}))
	}
	c.OKAt(c.epochStart(e+1).Add(time.Second), reps...)
	c.OKAt(c.epochStart(e + 2))
	if p := c.mustProvider(first.Address()); p.Score != 9000 {
		t.Fatalf("score after a breach: %d", p.Score)
	}
	id2 := c.open(time.Second, c.consumers[1], open)
	if l := c.lease(id2); l.Provider != second.Address() {
		t.Errorf("lease went to %s; the provider with the better score is %s", l.Provider, second.Address())
	}
}
