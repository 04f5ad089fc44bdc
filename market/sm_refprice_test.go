package market_test

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/market"
)

// smNextRef is the reference price rule of docs/pricing.md written out
// with math/big: u = used/capacity in bps (rounded down; 0 without
// capacity), d = clamp(u - target, -target, target),
// next = max(floor(ref x (10000 target + step d) / (10000 target)), min).
func smNextRef(ref, used, capacity uint64, p market.Params) uint64 {
	t := int64(p.TargetUtilizationBps)
	u := int64(0)
	if capacity > 0 {
		u = int64(smMulDiv(min(used, capacity), 10_000, capacity))
	}
	d := min(max(u-t, -t), t)
	num := new(big.Int).Mul(smBig(ref), big.NewInt(10_000*t+int64(p.MaxPriceStepBps)*d))
	next := num.Quo(num, big.NewInt(10_000*t)).Uint64()
	return max(next, p.MinReferencePrice)
}

// TestSMReferencePriceEpochs: each epoch the reference price of each class
// moves with that class's utilization against the 70% target, by at most
// MaxPriceStepBps (12.5%), never below MinReferencePrice, and the price of
// every epoch is kept under market/refhist/<class>/<epoch>. A provider
// priced at the reference quotes the current one; a floating lease follows
// it at each epoch boundary, a fixed one keeps its rate.
func TestSMReferencePriceEpochs(t *testing.T) {
	const storageRef, computeRef = 385_802_469, 2000
	refRule := smProvider(market.ClassStorage, 100*smGiB, 1)
	refRule.Offers[0].Pricing = market.Rule{Kind: "reference", MultiplierBps: 10_000}
	c := newSMChain(t, smOpts{
		refs:    map[string]uint64{market.ClassStorage: storageRef, market.ClassCompute: computeRef},
		genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 100*smGiB, 1), refRule},
	})
	p := c.mp
	// The headline: an epoch with no storage leased moves 385,802,469 down
	// by the full 12.5% step.
	if got := smNextRef(storageRef, 0, 200*smGiB, p); got != 337_577_160 {
		t.Fatalf("expected figure: %d", got)
	}
	e0 := c.epoch()
	for _, class := range market.Classes {
		want := map[string]uint64{market.ClassStorage: storageRef, market.ClassCompute: computeRef}[class]
		if got, ok := c.refHist(class, e0); !ok || got != want || c.ref(class) != want {
			t.Fatalf("genesis %s reference %d (history %d, %v), want %d", class, c.ref(class), got, ok, want)
		}
	}
	cons, p0, p1 := c.consumers[0], c.providers[0], c.providers[1]
	p0a, p1a := p0.Address(), p1.Address()
	nextID := uint64(1)
	// A floating lease of 10 GiB on the reference-priced provider, for the
	// whole test.
	c.OKAt(c.epochStart(e0).Add(10*time.Second),
		c.Tx(cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 10 * smGiB, Deposit: 1000 * smSTR, Provider: &p1a, Float: true, MaxPrice: 2 * storageRef}),
		c.Tx(p1, &market.AckLease{ID: nextID}))
	floatID := nextID
	nextID++

	// Storage in use (GiB of 200) during each epoch, the floating lease's
	// 10 included.
	plan := []uint64{10, 70, 140, 200, 200, 100, 10, 10, 30, 150}
	var open []uint64
	refs := map[string]uint64{market.ClassStorage: storageRef, market.ClassCompute: computeRef}
	for k, usedGiB := range plan {
		e := e0 + int64(k)
		// Mid-epoch: close the last epoch's leases and lease what the plan
		// says, on the fixed provider first.
		var txs [][]byte
		for _, id := range open {
			txs = append(txs, c.Tx(cons, &market.CloseLease{ID: id}))
		}
		open = nil
		v := usedGiB - 10
		var refLease uint64
		for i, q := range []uint64{min(v, 100), v - min(v, 100)} {
			if q == 0 {
				continue
			}
			prov, k := &p0a, p0
			if i == 1 {
				prov, k = &p1a, p1
				refLease = nextID
			}
			txs = append(txs,
				c.Tx(cons, &market.OpenLease{Class: market.ClassStorage, Quantity: q * smGiB, Deposit: 1000 * smSTR, Provider: prov}),
				c.Tx(k, &market.AckLease{ID: nextID}))
			open = append(open, nextID)
			nextID++
		}
		c.OKAt(c.epochStart(e).Add(30*time.Second), txs...)
		if ci := c.capIndex(market.ClassStorage); ci.Used != usedGiB*smGiB || ci.Capacity != 200*smGiB {
			t.Fatalf("epoch %d: storage index %+v, want %d GiB of 200 used", k, ci, usedGiB)
		}
		for _, class := range market.Classes {
			if got := c.ref(class); got != refs[class] {
				t.Fatalf("epoch %d: %s reference moved mid-epoch to %d", k, class, got)
			}
		}
		if refLease != 0 {
			if l := c.lease(refLease); l.Price != refs[market.ClassStorage] {
				t.Errorf("epoch %d: a lease at the reference was priced %d, the reference is %d", k, l.Price, refs[market.ClassStorage])
			}
		}

		// The first block of the next epoch moves the prices.
		c.OKAt(c.epochStart(e + 1))
		for _, class := range market.Classes {
			var want uint64
			if class == market.ClassStorage {
				want = smNextRef(refs[class], usedGiB*smGiB, 200*smGiB, p)
			} else {
				want = smNextRef(refs[class], 0, 0, p)
			}
			got := c.ref(class)
			if got != want {
				t.Fatalf("epoch %d -> %d: %s reference %d, want %d (utilization %d GiB of 200)", k, k+1, class, got, want, usedGiB)
			}
			if h, ok := c.refHist(class, e+1); !ok || h != got {
				t.Errorf("epoch %d: %s history %d (%v), want %d", k+1, class, h, ok, got)
			}
			old := refs[class]
			if (got > old && (got-old)*10_000 > old*p.MaxPriceStepBps) || (got < old && (old-got)*10_000 > old*p.MaxPriceStepBps+10_000) {
				t.Errorf("%s moved from %d to %d, more than %d bps", class, old, got, p.MaxPriceStepBps)
			}
			refs[class] = got
		}
		if l := c.lease(floatID); l.Price != refs[market.ClassStorage] || l.Rate != smRate(l.Price, l.Quantity, market.ClassStorage) {
			t.Errorf("epoch %d: the floating lease is priced %d, the reference is %d", k+1, l.Price, refs[market.ClassStorage])
		}
	}
	// The compute class, with no capacity at all, sank to the floor.
	if refs[market.ClassCompute] != p.MinReferencePrice {
		t.Errorf("compute reference %d, want the floor %d", refs[market.ClassCompute], p.MinReferencePrice)
	}
	// The fixed-rate leases kept their price; the floating one moved.
	for _, id := range open {
		l := c.lease(id)
		if l.Float || (l.Provider == p1a && l.Price == refs[market.ClassStorage]) {
			t.Errorf("lease %d: float %v price %d", id, l.Float, l.Price)
		}
	}
	c.Replay()
}

// TestSMFloatRerateOverflow: a provider that raises its price so far that a
// floating lease's rate no longer fits in 64 bits must not stop the chain:
// the epoch's re-rating of that lease cannot fail the block, and the lease
// keeps its old rate. So too for a price whose rate rounds to zero.
func TestSMFloatRerateOverflow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		class    string
		quantity uint64
		price    uint64 // the provider's price at the start
		absurd   uint64 // and the one it moves to
	}{
		// 20 cu at 2^63 nano-ustr per cu-second is 2^67.3 nano-ustr a second.
		{"rate overflows", market.ClassCompute, 20, 1_000_000_000, 1 << 63},
		// Half a GiB at 1 nano-ustr per GiB-second is half a nano-ustr a
		// second: a rate of zero.
		{"rate rounds to zero", market.ClassStorage, smGiB / 2, 1000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(tc.class, 100*smGiB, tc.price)}})
			prov := c.providers[0]
			id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: tc.class, Quantity: tc.quantity, Deposit: 10 * smSTR, Float: true, MaxPrice: math.MaxUint64})
			c.OKAfter(time.Second, c.Tx(prov, &market.AckLease{ID: id}))
			before := c.lease(id)
			if before.Price != tc.price || before.Rate == 0 {
				t.Fatalf("lease %+v", before)
			}
			c.OKAfter(time.Second, c.Tx(prov, &market.UpdateProvider{Offers: []market.Offer{{Class: tc.class, Capacity: 100 * smGiB, Pricing: market.Rule{Kind: "fixed", Price: tc.absurd}}}}))
			at := c.epochStart(c.epoch() + 1)
			b, err := c.M.BeginBlock(c.St, c.HeaderAt(at))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.End(); err != nil {
				t.Fatalf("end of the epoch's first block: %v", err)
			}
			c.OKAt(at)
			l := c.lease(id)
			if l.State != market.LeaseActive || l.Price != before.Price || l.Rate != before.Rate || l.SettledMs != at.UnixMilli() || l.DueMs <= at.UnixMilli() {
				t.Errorf("after the epoch: %s, price %d rate %d settled %d due %d; want active at the old price %d, rate %d, settled at %d, due later",
					l.State, l.Price, l.Rate, l.SettledMs, l.DueMs, before.Price, before.Rate, at.UnixMilli())
			}
			if ev := c.leaseEvent("lease.rerated", id); ev != nil {
				t.Errorf("lease.rerated %v for a price it cannot use", ev)
			}
			// A usable price again is taken at the next epoch.
			c.OKAfter(time.Second, c.Tx(prov, &market.UpdateProvider{Offers: []market.Offer{{Class: tc.class, Capacity: 100 * smGiB, Pricing: market.Rule{Kind: "fixed", Price: 2 * tc.price}}}}))
			c.OKAt(c.epochStart(c.epoch() + 1))
			if l := c.lease(id); l.Price != 2*tc.price || l.Rate != smRate(2*tc.price, tc.quantity, tc.class) || c.leaseEvent("lease.rerated", id) == nil {
				t.Errorf("after a usable price: price %d rate %d, want %d", l.Price, l.Rate, 2*tc.price)
			}
			c.Replay()
		})
	}
}

// TestSMFloatMaxPrice: a floating lease follows its provider's price at
// each epoch, but never above its maximum price.
func TestSMFloatMaxPrice(t *testing.T) {
	const price, maxPrice = 1_000_000_000, 1_500_000_000
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, price)}})
	prov := c.providers[0]
	id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassCompute, Quantity: 3, Deposit: 10 * smSTR, Float: true, MaxPrice: maxPrice})
	c.OKAfter(time.Second, c.Tx(prov, &market.AckLease{ID: id}))
	for _, tc := range []struct{ offer, want uint64 }{
		{2 * price, maxPrice},
		{maxPrice, maxPrice},
		{price / 2, price / 2},
		{maxPrice + 1, maxPrice},
	} {
		before := c.lease(id).Price
		c.OKAfter(time.Second, c.Tx(prov, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassCompute, Capacity: 100, Pricing: market.Rule{Kind: "fixed", Price: tc.offer}}}}))
		// The change waits for the epoch boundary.
		if l := c.lease(id); l.Price != before {
			t.Fatalf("re-rated mid-epoch from %d to %d", before, l.Price)
		}
		c.OKAt(c.epochStart(c.epoch() + 1))
		if l := c.lease(id); l.Price != tc.want || l.Rate != smRate(tc.want, 3, market.ClassCompute) {
			t.Errorf("provider at %d: lease priced %d rate %d, want %d", tc.offer, l.Price, l.Rate, tc.want)
		}
	}
	c.Replay()
}

// TestSMReferencePriceGap: a chain that was down for several epochs steps
// each reference price once per epoch that passed, as if it had not been
// down, and records every epoch's price.
func TestSMReferencePriceGap(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 10*smGiB, 1000)}})
	p0 := c.providers[0].Address()
	// 9 GiB of 10 used: 90% against the 70% target, so storage goes up
	// each epoch; compute, with no capacity, goes down to the floor.
	id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassStorage, Quantity: 9 * smGiB, Deposit: 100 * smSTR, Provider: &p0})
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: id}))
	e0 := c.epoch()
	refs := map[string]uint64{market.ClassStorage: c.ref(market.ClassStorage), market.ClassCompute: c.ref(market.ClassCompute)}
	used := map[string][2]uint64{market.ClassStorage: {9 * smGiB, 10 * smGiB}, market.ClassCompute: {0, 0}}
	// One block, 7 epochs and a bit later.
	const gap = 7
	c.OKAt(c.epochStart(e0 + gap).Add(17 * time.Second))
	for _, class := range market.Classes {
		want := refs[class]
		for e := e0 + 1; e <= e0+gap; e++ {
			want = smNextRef(want, used[class][0], used[class][1], c.mp)
			if h, ok := c.refHist(class, e); !ok || h != want {
				t.Errorf("%s history for epoch %d: %d (%v), want %d", class, e, h, ok, want)
			}
		}
		if got := c.ref(class); got != want {
			t.Errorf("%s reference after %d epochs: %d, want %d", class, gap, got, want)
		}
		if _, ok := c.refHist(class, e0+gap+1); ok {
			t.Errorf("%s has a price for an epoch still to come", class)
		}
	}
	// The same as a chain that was never down.
	d := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 10*smGiB, 1000)}})
	d.open(time.Second, d.consumers[0], &market.OpenLease{Class: market.ClassStorage, Quantity: 9 * smGiB, Deposit: 100 * smSTR, Provider: &p0})
	d.OKAfter(time.Second, d.Tx(d.providers[0], &market.AckLease{ID: id}))
	for e := e0 + 1; e <= e0+gap; e++ {
		d.OKAt(d.epochStart(e))
	}
	for _, class := range market.Classes {
		if c.ref(class) != d.ref(class) {
			t.Errorf("%s: %d after the gap, %d on a chain that was never down", class, c.ref(class), d.ref(class))
		}
	}
	c.Replay()
}

// TestSMReferencePriceLongGap: after a gap longer than a day of epochs, a
// block takes at most 1440 steps (maxCatchUpEpochs), for the last 1440
// epochs.
func TestSMReferencePriceLongGap(t *testing.T) {
	c := newSMChain(t, smOpts{})
	e0 := c.epoch()
	const gap = 2000
	c.OKAt(c.epochStart(e0 + gap))
	steps := 0
	for e := e0 + 1; e <= e0+gap; e++ {
		if _, ok := c.refHist(market.ClassStorage, e); ok {
			steps++
			if e <= e0+gap-1440 {
				t.Errorf("a price for epoch %d, more than 1440 epochs back", e)
			}
		} else if e > e0+gap-1440 {
			t.Errorf("no price for epoch %d, one of the last 1440", e)
		}
	}
	if steps != 1440 {
		t.Errorf("%d steps, want 1440", steps)
	}
	// With nothing offered, each step is down by 12.5% until the floor.
	if got := c.ref(market.ClassStorage); got != c.mp.MinReferencePrice {
		t.Errorf("storage reference %d after the gap, want the floor %d", got, c.mp.MinReferencePrice)
	}
}
