package market_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// The worked example of docs/pricing.md. Every figure there is a constant
// here, checked against the real functions and against a chain that plays
// the example block by block.
const (
	pwRef        = 385_802_469 // storage reference, nano-ustr per GiB-second: 1 STR per GiB-month
	pwUsedGiB    = 90          // of pwCapGiB: 90% utilization in the epoch
	pwCapGiB     = 100         //
	pwNextRef    = 399_581_128 // the next epoch's reference
	pwMultiplier = 11_000      // the provider's rule: reference x 1.1
	pwPrice      = 439_539_240 // effective price, nano-ustr per GiB-second
	pwQuantity   = 10 << 30    // 10 GiB, in bytes
	pwRate       = 4_395_392_400
	pwElapsedMs  = 5_000_500 // 1 h 23 min 20.5 s
	pwOwed       = 21_979    // ustr moved out of escrow at the first settlement
	pwCarryPico  = 159_696_200_000
	pwElapsed2Ms = 20_000 // a second settlement 20 s later
	pwOwed2      = 88
	pwCarryPico2 = 67_544_200_000
	pwGraceNeed  = 15_823 // escrow below this (one hour at the rate) means grace
)

var (
	pwSplitBps = [3]uint64{9000, 700, 300} // provider, app creator, treasury
	pwPaid1    = [3]uint64{19_781, 1_538, 659}
	pwPending1 = uint64(1)
	pwPaid2    = [3]uint64{19_860, 1_544, 662}
	pwPending2 = uint64(1)
)

func pwParams() market.Params {
	p := market.DefaultParams()
	p.TargetUtilizationBps, p.MaxPriceStepBps, p.MinReferencePrice = 7000, 1250, 1000
	return p
}

// pwSettle is lease.go's settlement written out: pico = rate x ms + carry;
// owed = pico / 10^12 ustr; the remainder is carried.
func pwSettle(rate, ms, carry uint64) (owed, nextCarry uint64) {
	pico := new(big.Int).Mul(new(big.Int).SetUint64(rate), new(big.Int).SetUint64(ms))
	pico.Add(pico, new(big.Int).SetUint64(carry))
	q, r := new(big.Int).QuoRem(pico, big.NewInt(1e12), new(big.Int))
	return q.Uint64(), r.Uint64()
}

// pwSplit is lease.go's cumulative-floor split: each payee has been paid
// floor(settled x bps / 10000) in all; the rest is pending.
func pwSplit(settled uint64, bps [3]uint64) (paid [3]uint64, pending uint64) {
	pending = settled
	for i, b := range bps {
		paid[i] = settled * b / 10_000
		pending -= paid[i]
	}
	return paid, pending
}

func TestPricingWorkedExample(t *testing.T) {
	p := pwParams()

	// 1. The reference price after an epoch at 90% utilization.
	capacity, used := uint64(pwCapGiB)<<30, uint64(pwUsedGiB)<<30
	if got := market.NextReference(pwRef, used, capacity, p); got != pwNextRef {
		t.Errorf("NextReference = %d, want %d", got, pwNextRef)
	}
	// The formula as the document writes it: ref x (10000 t + step (u - t)) / (10000 t).
	if want := uint64(pwRef) * (10_000*7000 + 1250*(9000-7000)) / (10_000 * 7000); want != pwNextRef {
		t.Errorf("documented formula gives %d, want %d", want, pwNextRef)
	}

	// 2. The provider's effective price under its reference rule.
	rule := market.Rule{Kind: "reference", MultiplierBps: pwMultiplier}
	offer := market.Offer{Class: market.ClassStorage, Capacity: capacity, Used: used, Pricing: rule}
	price, err := market.EffectivePrice(rule, pwNextRef, offer, pwQuantity)
	if err != nil || price != pwPrice {
		t.Errorf("EffectivePrice = %d, %v; want %d", price, err, pwPrice)
	}

	// 3. The lease's rate for 10 GiB.
	rate, err := market.LeaseRate(pwPrice, pwQuantity, market.ClassStorage)
	if err != nil || rate != pwRate {
		t.Errorf("LeaseRate = %d, %v; want %d", rate, err, pwRate)
	}
	if need := uint64(pwRate) * 3600 / market.NanoPerUstr; need != pwGraceNeed {
		t.Errorf("grace threshold = %d ustr, want %d", need, pwGraceNeed)
	}

	// 4. Settlement after 1 h 23 min 20.5 s, then 20 s more.
	owed, carry := pwSettle(pwRate, pwElapsedMs, 0)
	if owed != pwOwed || carry != pwCarryPico {
		t.Errorf("first settlement = %d ustr + %d pico, want %d + %d", owed, carry, pwOwed, pwCarryPico)
	}
	owed2, carry2 := pwSettle(pwRate, pwElapsed2Ms, carry)
	if owed2 != pwOwed2 || carry2 != pwCarryPico2 {
		t.Errorf("second settlement = %d ustr + %d pico, want %d + %d", owed2, carry2, pwOwed2, pwCarryPico2)
	}
	// Carrying loses nothing: the two settlements are one over the whole time.
	if all, c := pwSettle(pwRate, pwElapsedMs+pwElapsed2Ms, 0); all != owed+owed2 || c != carry2 {
		t.Errorf("one settlement over both periods = %d + %d pico, want %d + %d", all, c, owed+owed2, carry2)
	}

	// 5. The split.
	paid, pending := pwSplit(pwOwed, pwSplitBps)
	if paid != pwPaid1 || pending != pwPending1 {
		t.Errorf("first split = %v pending %d, want %v pending %d", paid, pending, pwPaid1, pwPending1)
	}
	paid, pending = pwSplit(pwOwed+pwOwed2, pwSplitBps)
	if paid != pwPaid2 || pending != pwPending2 {
		t.Errorf("second split = %v pending %d, want %v pending %d", paid, pending, pwPaid2, pwPending2)
	}

	// 6. An SLA breach on a window whose charges were the first
	// settlement: target 99.00%, availability 96.50%, 1000 bps per point.
	points := (uint64(9900) - 9650 + 99) / 100
	share := min(points*1000, 10_000)
	if refund := uint64(pwOwed) * share / 10_000; points != 3 || share != 3000 || refund != 6593 {
		t.Errorf("SLA refund: %d points, share %d bps, refund %d; want 3, 3000, 6593", points, share, uint64(pwOwed)*share/10_000)
	}
}

// TestPricingWorkedExampleOnChain plays the worked example on a ledger
// machine: a provider with 100 GiB at reference x 1.1; 90 GiB leased, an
// epoch boundary, then the example's 10 GiB lease, settled by two top-ups.
func TestPricingWorkedExampleOnChain(t *testing.T) {
	c := newPWChain(t)
	prov, cons, app := c.keys[0], c.keys[1], c.keys[2]
	provAddr := prov.Address()

	// Block 1 (epoch 0): 90 GiB leased and acknowledged.
	c.block(time.Second,
		c.tx(cons, &market.OpenLease{Class: market.ClassStorage, Quantity: pwUsedGiB << 30, Deposit: 1000 * money.UstrPerSTR, Provider: &provAddr}),
		c.tx(prov, &market.AckLease{ID: 1}))
	if got := c.reference(); got != pwRef {
		t.Fatalf("reference before the epoch = %d, want %d", got, pwRef)
	}
	// Block 2 (epoch 1): the reference moves with 90% utilization.
	c.block(60 * time.Second)
	if got := c.reference(); got != pwNextRef {
		t.Fatalf("reference after an epoch at 90%% = %d, want %d", got, pwNextRef)
	}
	// Block 3: the example's lease, with a three-way split.
	split := []market.Payee{{To: "provider", Bps: pwSplitBps[0]}, {To: app.Address().String(), Bps: pwSplitBps[1]}, {To: market.PayeeTreasury, Bps: pwSplitBps[2]}}
	c.block(61*time.Second,
		c.tx(cons, &market.OpenLease{Class: market.ClassStorage, Quantity: pwQuantity, Deposit: 1000 * money.UstrPerSTR, Split: split}),
		c.tx(prov, &market.AckLease{ID: 2}))
	l := c.lease(2)
	if l.Price != pwPrice || l.Rate != pwRate || l.State != market.LeaseActive {
		t.Fatalf("lease 2: price %d rate %d state %s; want %d, %d, %s", l.Price, l.Rate, l.State, pwPrice, pwRate, market.LeaseActive)
	}
	appBefore := c.Balance(app.Address())

	// Block 4: 5000.5 s later a top-up touches the lease and settles it.
	c.block(61*time.Second+pwElapsedMs*time.Millisecond, c.tx(cons, &market.TopupLease{ID: 2, Amount: 1}))
	c.checkLease(2, pwOwed, pwCarryPico, pwPaid1, pwPending1)
	if got := c.Balance(app.Address()) - appBefore; got != pwPaid1[1] {
		t.Errorf("app creator received %d, want %d", got, pwPaid1[1])
	}
	// Block 5: 20 s more.
	c.block(61*time.Second+(pwElapsedMs+pwElapsed2Ms)*time.Millisecond, c.tx(cons, &market.TopupLease{ID: 2, Amount: 1}))
	c.checkLease(2, pwOwed+pwOwed2, pwCarryPico2, pwPaid2, pwPending2)
	if got := c.Balance(app.Address()) - appBefore; got != pwPaid2[1] {
		t.Errorf("app creator received %d in all, want %d", got, pwPaid2[1])
	}
	l = c.lease(2)
	if l.Escrow != 1000*money.UstrPerSTR+2-pwOwed-pwOwed2 {
		t.Errorf("escrow = %d, want %d", l.Escrow, 1000*money.UstrPerSTR+2-pwOwed-pwOwed2)
	}
}

func TestNextReference(t *testing.T) {
	p := pwParams()
	const max64 = math.MaxUint64
	tests := []struct {
		name           string
		ref, used, cap uint64
		target         uint64 // 0: pwParams'
		noStep         bool
		want           uint64
	}{
		{name: "at target: unchanged", ref: pwRef, used: 7000, cap: 10_000, want: pwRef},
		{name: "90% against 70%: up by step x 2/7", ref: pwRef, used: 9000, cap: 10_000, want: pwNextRef},
		{name: "0%: down by the full step", ref: pwRef, used: 0, cap: 10_000, want: 337_577_160}, // x 0.875
		{name: "35%: down by half a step", ref: pwRef, used: 3500, cap: 10_000, want: 361_689_814},
		{name: "100% against 70%: up by step x 3/7", ref: pwRef, used: 10_000, cap: 10_000, want: 406_470_458},
		{name: "over capacity counts as 100%", ref: pwRef, used: 50_000, cap: 10_000, want: 406_470_458},
		{name: "2x target: up by the full step", ref: pwRef, used: 8000, cap: 10_000, target: 4000, want: 434_027_777}, // x 1.125
		{name: "above 2x target: still the full step", ref: pwRef, used: 10_000, cap: 10_000, target: 4000, want: 434_027_777},
		{name: "utilization rounds down", ref: 1_000_000, used: 1, cap: 3, target: 5000, want: 958_325}, // u = 3333
		{name: "floor", ref: 1000, used: 0, cap: 10_000, want: 1000},
		{name: "floor lifts a zero price", ref: 0, used: 10_000, cap: 10_000, want: 1000},
		{name: "no capacity: utilization 0, down", ref: pwRef, used: 0, cap: 0, want: 337_577_160},
		{name: "no capacity but used: still 0", ref: pwRef, used: 5, cap: 0, want: 337_577_160},
		{name: "step 0: never moves", ref: pwRef, used: 10_000, cap: 10_000, noStep: true, want: pwRef},
		{name: "huge ref at target", ref: max64, used: 7000, cap: 10_000, want: max64},
		{name: "huge ref down", ref: max64, used: 0, cap: 10_000, want: 7<<61 - 1},
		{name: "huge ref up saturates", ref: max64, used: 10_000, cap: 10_000, want: max64},
		{name: "huge quantities: u = 9999", ref: pwRef, used: max64 - 1, cap: max64, want: 406_463_569},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			if tc.target != 0 {
				q.TargetUtilizationBps = tc.target
			}
			if tc.noStep {
				q.MaxPriceStepBps = 0
			}
			if got := market.NextReference(tc.ref, tc.used, tc.cap, q); got != tc.want {
				t.Errorf("NextReference(%d, %d, %d) = %d, want %d", tc.ref, tc.used, tc.cap, got, tc.want)
			}
		})
	}
	// A target outside (0, 10000] leaves the price alone.
	for _, target := range []uint64{0, 10_001} {
		q := p
		q.TargetUtilizationBps = target
		if got := market.NextReference(pwRef, 0, 10_000, q); got != pwRef {
			t.Errorf("target %d: NextReference = %d, want %d unchanged", target, got, pwRef)
		}
	}
}

func TestEffectivePrice(t *testing.T) {
	curve := market.Rule{Kind: "utilization", Price: 1_000_000, SlopeBps: 20_000} // +200% at full use
	offer := func(capacity, used uint64) market.Offer {
		return market.Offer{Class: market.ClassCompute, Capacity: capacity, Used: used, Pricing: curve}
	}
	tests := []struct {
		name  string
		rule  market.Rule
		ref   uint64
		offer market.Offer
		extra uint64
		want  uint64
		err   bool
	}{
		{name: "fixed ignores the reference", rule: market.Rule{Kind: "fixed", Price: 123}, ref: pwRef, want: 123},
		{name: "fixed ignores use", rule: market.Rule{Kind: "fixed", Price: 123}, offer: offer(100, 100), extra: 50, want: 123},
		{name: "reference x 1.1", rule: market.Rule{Kind: "reference", MultiplierBps: 11_000}, ref: pwNextRef, want: pwPrice},
		{name: "reference x 1", rule: market.Rule{Kind: "reference", MultiplierBps: 10_000}, ref: pwRef, want: pwRef},
		{name: "reference x 0.3333 rounds down", rule: market.Rule{Kind: "reference", MultiplierBps: 3333}, ref: 1000, want: 333},
		{name: "reference overflow", rule: market.Rule{Kind: "reference", MultiplierBps: 20_000}, ref: math.MaxUint64, err: true},
		{name: "curve at 0%", rule: curve, offer: offer(100, 0), want: 1_000_000},
		{name: "curve at 50%, counting the ask", rule: curve, offer: offer(100, 40), extra: 10, want: 2_000_000},
		{name: "curve at 100%", rule: curve, offer: offer(100, 90), extra: 10, want: 3_000_000},
		{name: "curve over capacity", rule: curve, offer: offer(100, 95), extra: 10, want: 3_000_000},
		{name: "curve with no capacity", rule: curve, offer: offer(0, 0), want: 3_000_000},
		{name: "curve factor rounds down", rule: market.Rule{Kind: "utilization", Price: 7, SlopeBps: 3333}, offer: offer(2, 1), want: 8},                // factor 11666
		{name: "curve price rounds down", rule: market.Rule{Kind: "utilization", Price: 1_000_000, SlopeBps: 3333}, offer: offer(2, 1), want: 1_166_600}, // factor 11666
		{name: "curve overflow", rule: market.Rule{Kind: "utilization", Price: math.MaxUint64, SlopeBps: 10_000}, offer: offer(2, 2), err: true},
		{name: "unknown rule", rule: market.Rule{Kind: "auction"}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := market.EffectivePrice(tc.rule, tc.ref, tc.offer, tc.extra)
			if tc.err {
				if err == nil {
					t.Errorf("EffectivePrice = %d, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("EffectivePrice = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestLeaseRate(t *testing.T) {
	tests := []struct {
		name            string
		price, quantity uint64
		class           string
		want            uint64
		err             bool
	}{
		{name: "10 GiB", price: pwPrice, quantity: pwQuantity, class: market.ClassStorage, want: pwRate},
		{name: "1.5 GiB rounds down", price: 3, quantity: 3 << 29, class: market.ClassStorage, want: 4},
		{name: "one byte rounds to zero", price: pwPrice, quantity: 1, class: market.ClassStorage, want: 0},
		{name: "2 cu", price: 2_777_777_777, quantity: 2, class: market.ClassCompute, want: 5_555_555_554},
		{name: "overflow", price: math.MaxUint64, quantity: 2, class: market.ClassCompute, err: true},
		{name: "unknown class", price: 1, quantity: 1, class: "gpu", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := market.LeaseRate(tc.price, tc.quantity, tc.class)
			if tc.err {
				if err == nil {
					t.Errorf("LeaseRate = %d, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("LeaseRate = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// pwChain is a ledgertest chain with the market module for the worked
// example.
type pwChain struct {
	*ledgertest.Chain
	keys []*identity.Key // provider, consumer, app creator
}

const pwSeed = "stratus-pricing-test"

func newPWChain(t *testing.T) *pwChain {
	t.Helper()
	names := []string{"provider", "consumer", "app"}
	mg := market.DefaultGenesis()
	mg.Params = pwParams()
	mg.ReferencePrices = map[string]uint64{market.ClassStorage: pwRef, market.ClassCompute: 1_000_000}
	mg.Providers = []market.GenesisProvider{{Operator: ledgertest.Key(pwSeed, names[0]).Address(), RegisterProvider: market.RegisterProvider{
		Endpoint: "https://provider.example", Region: "eu",
		Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: pwCapGiB << 30, Pricing: market.Rule{Kind: "reference", MultiplierBps: pwMultiplier}}},
		Collateral: 1000 * money.UstrPerSTR,
	}}}
	p := ledger.DefaultParams()
	c := &pwChain{Chain: ledgertest.New(t, ledgertest.Options{
		ChainID: "pricing-test", Registry: ledger.DefaultRegistry(market.Module{}), Params: &p, Seed: pwSeed,
		Funded: names, Balance: 10_000 * money.UstrPerSTR,
		Genesis: map[string]any{"market": mg}, GenesisEvents: len(mg.Providers),
	})}
	for _, n := range names {
		c.keys = append(c.keys, c.Key(n))
	}
	return c
}

// tx signs msg with a generous gas limit: only the gas used is paid.
func (c *pwChain) tx(k *identity.Key, msg ledger.Msg) []byte {
	c.T.Helper()
	return c.TxGas(k, msg, 10_000_000)
}

// block executes a block at genesis time + at; every transaction must pass.
func (c *pwChain) block(at time.Duration, txs ...[]byte) {
	c.T.Helper()
	c.OKAt(ledgertest.T0.Add(at), txs...)
}

func (c *pwChain) reference() uint64 {
	v := c.St["market/ref/"+market.ClassStorage+"/"]
	if len(v) != 8 {
		c.T.Fatalf("no storage reference price in state")
	}
	return binary.BigEndian.Uint64(v)
}

func (c *pwChain) lease(id uint64) market.Lease {
	c.T.Helper()
	var l market.Lease
	if err := json.Unmarshal(c.St[string(binary.BigEndian.AppendUint64([]byte("market/lease/"), id))], &l); err != nil {
		c.T.Fatalf("lease %d: %v", id, err)
	}
	return l
}

func (c *pwChain) checkLease(id, settled, carry uint64, paid [3]uint64, pending uint64) {
	c.T.Helper()
	l := c.lease(id)
	if l.Settled != settled || l.AccruedPico != carry || l.Pending != pending {
		c.T.Errorf("lease %d: settled %d carry %d pending %d; want %d, %d, %d", id, l.Settled, l.AccruedPico, l.Pending, settled, carry, pending)
	}
	for i, p := range l.Split {
		if p.Paid != paid[i] {
			c.T.Errorf("lease %d payee %d (%s, %d bps) paid %d, want %d", id, i, p.To, p.Bps, p.Paid, paid[i])
		}
	}
}
