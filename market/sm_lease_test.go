package market_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// TestSMStorage30Days: 1 GiB of storage for 30 days at a fixed 385,802,469
// nano-ustr per GiB-second (1 STR a GiB-month). The provider gets exactly
// floor(rate x 30 days in ms / 10^12) ustr, and the fraction is carried,
// whether the 30 days pass in one block or in many irregular ones with the
// lease settled at arbitrary moments in between.
func TestSMStorage30Days(t *testing.T) {
	const price = 385_802_469
	const month = 30 * 24 * time.Hour
	const deposit = 2 * smSTR
	rate := smRate(price, smGiB, market.ClassStorage)
	wantPaid, wantPico := smAccrued(rate, month.Milliseconds())
	// The headline figures: 999,999.999648 ustr accrue; 999,999 are paid.
	if rate != price || wantPaid != 999_999 || wantPico != 999_648_000_000 {
		t.Fatalf("expected figures: rate %d, paid %d, carry %d", rate, wantPaid, wantPico)
	}

	run := func(t *testing.T, irregular bool) (paid uint64) {
		c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 10*smGiB, price)}})
		cons, prov := c.consumers[0], c.providers[0]
		consBefore, feesBefore := c.Balance(cons.Address()), c.Fees[cons.Address()]
		id := c.open(10*time.Second, cons, &market.OpenLease{Class: market.ClassStorage, Quantity: smGiB, Deposit: deposit})
		c.OKAfter(7*time.Second+123*time.Millisecond, c.Tx(prov, &market.AckLease{ID: id}))
		act := c.Now
		provBefore := c.Balance(prov.Address())
		if l := c.lease(id); l.State != market.LeaseActive || l.Rate != rate || l.ActivatedMs != act.UnixMilli() {
			t.Fatalf("after ack: %+v", l)
		}
		txs := 1
		end := act.Add(month)
		if irregular {
			r := rand.New(rand.NewPCG(30, 1))
			for {
				next := c.Now.Add(time.Second + time.Duration(r.Int64N(int64(6*time.Hour))))
				if !next.Before(end) {
					break
				}
				if r.IntN(3) > 0 {
					c.OKAt(next)
					continue
				}
				// A top-up touches the lease and settles it to now.
				c.OKAt(next, c.Tx(cons, &market.TopupLease{ID: id, Amount: 1}))
				txs++
				l := c.lease(id)
				u, p := smAccrued(rate, next.Sub(act).Milliseconds())
				if l.SettledMs != next.UnixMilli() || l.Settled != u || l.AccruedPico != p || l.Split[0].Paid != u {
					t.Fatalf("at %v: settled %d + %d pico at %d; want %d + %d at %d", next.Sub(act), l.Settled, l.AccruedPico, l.SettledMs, u, p, next.UnixMilli())
				}
			}
		}
		c.OKAt(end, c.Tx(cons, &market.CloseLease{ID: id}))
		txs++
		l := c.lease(id)
		if l.State != market.LeaseClosed || l.CloseReason != "consumer" {
			t.Fatalf("lease not closed by the consumer: %+v", l)
		}
		// The 0.999648 ustr still carried can no longer be paid: the
		// closed lease drops it.
		if l.Settled != wantPaid || l.AccruedPico != 0 || l.Split[0].Paid != wantPaid || l.Pending != 0 || l.SettledMs != end.UnixMilli() {
			t.Errorf("settled %d (+%d pico) at %d, provider paid %d, pending %d; want %d (+0, the %d dropped) at %d, %d, 0",
				l.Settled, l.AccruedPico, l.SettledMs, l.Split[0].Paid, l.Pending, wantPaid, wantPico, end.UnixMilli(), wantPaid)
		}
		if got := c.Balance(prov.Address()) - provBefore; got != wantPaid {
			t.Errorf("provider's balance grew by %d, want %d", got, wantPaid)
		}
		if l.Refunded != l.Deposited-wantPaid {
			t.Errorf("refunded %d of %d deposited; want %d", l.Refunded, l.Deposited, l.Deposited-wantPaid)
		}
		if got, want := c.Balance(cons.Address()), consBefore-(c.Fees[cons.Address()]-feesBefore)-wantPaid; got != want {
			t.Errorf("consumer's balance %d, want %d (%d fees and %d paid)", got, want, txs, wantPaid)
		}
		if ev := c.leaseEvent("lease.closed", id); ev == nil || ev.Get("reason") != "consumer" || ledgertest.AttrU64(t, *ev, "refund") != l.Refunded {
			t.Errorf("lease.closed event %v, want reason consumer refund %d", ev, l.Refunded)
		}
		c.Replay()
		return l.Split[0].Paid
	}
	var one, many uint64
	t.Run("one block", func(t *testing.T) { one = run(t, false) })
	t.Run("irregular blocks", func(t *testing.T) { many = run(t, true) })
	if one != many {
		t.Errorf("paid %d in one block but %d over many", one, many)
	}
}

// TestSMThreeWaySplit: payments split 9000/700/300 between the provider, an
// app creator and the treasury. After every settlement of an odd amount,
// each payee has had floor(settled x bps / 10000) in all, the rest waits in
// the payouts bucket, and on close it goes to the first payee. Nothing is
// lost.
func TestSMThreeWaySplit(t *testing.T) {
	// 1 cu at 10^9 nano-ustr per cu-second: exactly 1 ustr a second.
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, 1_000_000_000)}})
	cons, prov, app := c.consumers[0], c.providers[0], c.creator
	bps := []uint64{9000, 700, 300}
	split := []market.Payee{{To: "provider", Bps: bps[0]}, {To: app.Address().String(), Bps: bps[1]}, {To: market.PayeeTreasury, Bps: bps[2]}}
	id := c.open(time.Second, cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: 100_000, Split: split})
	c.OKAfter(time.Second, c.Tx(prov, &market.AckLease{ID: id}))
	act := c.Now
	provBefore, appBefore, treasuryBefore := c.Balance(prov.Address()), c.Balance(app.Address()), c.Bucket(ledger.BucketTreasury)
	if l := c.lease(id); l.Rate != 1_000_000_000 || l.Split[0].To != prov.Address().String() {
		t.Fatalf("lease %+v", l)
	}

	expect := func(settled uint64) (paid [3]uint64, pending uint64) {
		pending = settled
		for i, b := range bps {
			paid[i] = smMulDiv(settled, b, 10_000)
			pending -= paid[i]
		}
		return paid, pending
	}
	check := func(settled uint64, paid [3]uint64, pending uint64) {
		t.Helper()
		l := c.lease(id)
		if l.Settled != settled || l.Pending != pending {
			t.Fatalf("settled %d pending %d; want %d, %d", l.Settled, l.Pending, settled, pending)
		}
		for i := range paid {
			if l.Split[i].Paid != paid[i] {
				t.Fatalf("after %d settled, payee %d (%d bps) paid %d; want %d", settled, i, bps[i], l.Split[i].Paid, paid[i])
			}
		}
		if got := c.Balance(prov.Address()) - provBefore; got != paid[0] {
			t.Fatalf("provider received %d, want %d", got, paid[0])
		}
		if got := c.Balance(app.Address()) - appBefore; got != paid[1] {
			t.Fatalf("app creator received %d, want %d", got, paid[1])
		}
		if got := c.Bucket(ledger.BucketTreasury) - treasuryBefore; got != paid[2] {
			t.Fatalf("treasury grew by %d, want %d", got, paid[2])
		}
		if got := c.Bucket(market.BucketPayouts); got != pending {
			t.Fatalf("payouts bucket %d, want %d", got, pending)
		}
	}
	for _, ms := range []int64{1500, 3000, 7250, 11_000, 13_999, 29_000, 33_001, 101_000, 1_001_000, 12_345_678} {
		c.OKAt(act.Add(time.Duration(ms)*time.Millisecond), c.Tx(cons, &market.TopupLease{ID: id, Amount: 1}))
		settled := uint64(ms / 1000)
		paid, pending := expect(settled)
		check(settled, paid, pending)
	}
	// The headline: of 12,345 ustr, 11,110 + 864 + 370 are paid and 1 waits.
	if paid, pending := expect(12_345); paid != [3]uint64{11_110, 864, 370} || pending != 1 {
		t.Fatalf("expected figures: %v + %d", paid, pending)
	}
	c.OKAt(act.Add(12_345_999*time.Millisecond), c.Tx(cons, &market.CloseLease{ID: id}))
	check(12_345, [3]uint64{11_111, 864, 370}, 0)
	l := c.lease(id)
	if l.Refunded != l.Deposited-12_345 || l.Deposited != 100_010 {
		t.Errorf("deposited %d refunded %d; want 100010 and %d", l.Deposited, l.Refunded, 100_010-12_345)
	}
}

// escrowCase is a compute lease whose escrow runs out: 3 cu at
// 1,234,567,891 nano-ustr per cu-second, rate 3,703,703,673 nano-ustr/s,
// 20,000 ustr deposited. The grace period of an hour needs 13,333 ustr.
type escrowCase struct {
	c          *smChain
	id         uint64
	act        time.Time
	rate, need uint64
	deposit    uint64
	graceMs    int64 // from activation, when the escrow first covers less than the grace period
	outMs      int64 // from activation, when it is gone
}

func newEscrowCase(t *testing.T) *escrowCase {
	const price, qty, deposit = 1_234_567_891, 3, 20_000
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 10, price)}})
	e := &escrowCase{c: c, rate: smRate(price, qty, market.ClassCompute), deposit: deposit}
	e.need = smMulDiv(e.rate, uint64(c.mp.GraceSeconds), 1e9)
	// Grace begins when rate x t has paid deposit-need+1: escrow <= need-1.
	e.graceMs = smCeilMs(e.rate, deposit-e.need+1)
	e.outMs = smCeilMs(e.rate, deposit)
	if e.rate != 3_703_703_673 || e.need != 13_333 || e.graceMs != 1_800_361 || e.outMs != 5_400_001 {
		t.Fatalf("expected figures: rate %d need %d grace at %d ms out at %d ms", e.rate, e.need, e.graceMs, e.outMs)
	}
	e.id = c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassCompute, Quantity: qty, Deposit: deposit})
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: e.id}))
	e.act = c.Now
	// Settlement is lazy: the lease is next due when, at most, the escrow
	// might fall under the grace period.
	if l := c.lease(e.id); l.DueMs != e.act.UnixMilli()+e.outMs-c.mp.GraceSeconds*1000 || l.DueMs > e.act.UnixMilli()+e.graceMs {
		t.Fatalf("due at %d, want %d", l.DueMs, e.act.UnixMilli()+e.outMs-c.mp.GraceSeconds*1000)
	}
	return e
}

func (e *escrowCase) at(ms int64) time.Time { return e.act.Add(time.Duration(ms) * time.Millisecond) }

// toGrace runs blocks up to grace and checks it begins exactly on time.
func (e *escrowCase) toGrace(t *testing.T) {
	t.Helper()
	c := e.c
	c.OKAt(e.at(e.graceMs - 1))
	if l := c.lease(e.id); l.State != market.LeaseActive || c.leaseEvent("lease.grace", e.id) != nil {
		t.Fatalf("1 ms before grace: state %s, events %v", l.State, c.Events())
	}
	c.OKAt(e.at(e.graceMs))
	ev := c.leaseEvent("lease.grace", e.id)
	if ev == nil {
		t.Fatalf("no lease.grace event when the escrow fell under the grace period: %v", c.Events())
	}
	l := c.lease(e.id)
	if l.State != market.LeaseGrace || l.Escrow != e.need-1 || ledgertest.AttrU64(t, *ev, "escrow") != e.need-1 {
		t.Fatalf("in grace: state %s escrow %d (event %v); want grace with %d", l.State, l.Escrow, ev, e.need-1)
	}
}

// TestSMEscrowRunsOut: grace begins the moment the escrow covers less than
// GraceSeconds, and the lease closes with reason "escrow" the moment it is
// gone: everything deposited was paid, nothing is refunded, the provider's
// capacity is freed.
func TestSMEscrowRunsOut(t *testing.T) {
	e := newEscrowCase(t)
	c := e.c
	e.toGrace(t)
	c.OKAt(e.at(e.outMs - 1))
	// Untouched since grace began (settlement is lazy), still open.
	if l := c.lease(e.id); l.State != market.LeaseGrace || l.SettledMs != e.at(e.graceMs).UnixMilli() {
		t.Fatalf("1 ms before the escrow is gone: %s settled at %d", l.State, l.SettledMs)
	}
	consBefore := c.Balance(c.consumers[0].Address())
	provBefore := c.Balance(c.providers[0].Address())
	c.OKAt(e.at(e.outMs))
	ev := c.leaseEvent("lease.closed", e.id)
	if ev == nil || ev.Get("reason") != "escrow" || ev.Get("refund") != "0" {
		t.Fatalf("lease.closed event %v, want reason escrow, refund 0", ev)
	}
	l := c.lease(e.id)
	if l.State != market.LeaseClosed || l.Settled != e.deposit || l.Refunded != 0 || l.ClosedMs != c.Now.UnixMilli() {
		t.Fatalf("closed lease %+v", l)
	}
	if got := c.Balance(c.providers[0].Address()) - provBefore; got != e.need-1 {
		t.Errorf("provider got %d in the last block, want the %d left since grace began", got, e.need-1)
	}
	if got := c.Balance(c.consumers[0].Address()); got != consBefore {
		t.Errorf("consumer's balance moved from %d to %d when the escrow ran out", consBefore, got)
	}
	p := c.mustProvider(c.providers[0].Address())
	if p.OpenLeases != 0 || smOfferOf(p, market.ClassCompute).Used != 0 {
		t.Errorf("provider still holds the lease: %+v", p)
	}
	c.Replay()
}

// TestSMEscrowCloseInGrace: a consumer who closes during grace gets back
// exactly what is left.
func TestSMEscrowCloseInGrace(t *testing.T) {
	e := newEscrowCase(t)
	c := e.c
	e.toGrace(t)
	cons := c.consumers[0]
	before := c.Balance(cons.Address())
	const later = 1_000_500
	c.OKAt(e.at(e.graceMs+later), c.Tx(cons, &market.CloseLease{ID: e.id}))
	paid, _ := smAccrued(e.rate, e.graceMs+later)
	left := e.deposit - paid
	l := c.lease(e.id)
	if l.Refunded != left || l.Settled != paid || l.CloseReason != "consumer" {
		t.Fatalf("closed in grace: refunded %d settled %d reason %q; want %d, %d, consumer", l.Refunded, l.Settled, l.CloseReason, left, paid)
	}
	if got := c.Balance(cons.Address()) - before; got != left-c.Results[0].Fee {
		t.Errorf("consumer got back %d net, want %d", got, left-c.Results[0].Fee)
	}
}

// TestSMEscrowJump: a block long after the escrow is gone closes the lease
// for escrow at once; it pays the deposit and no more.
func TestSMEscrowJump(t *testing.T) {
	e := newEscrowCase(t)
	c := e.c
	c.OKAt(e.at(30 * e.outMs))
	l := c.lease(e.id)
	if l.State != market.LeaseClosed || l.CloseReason != "escrow" || l.Settled != e.deposit || l.Split[0].Paid != e.deposit || l.Refunded != 0 {
		t.Fatalf("after a long jump: %+v", l)
	}
	if c.leaseEvent("lease.closed", e.id) == nil {
		t.Errorf("no lease.closed event")
	}
}

// TestSMTopupInGrace: a top-up during grace brings the lease back to active
// with reason "topup", and reschedules it: it is next due when the larger
// escrow falls under the grace period, and grace begins again exactly then.
func TestSMTopupInGrace(t *testing.T) {
	e := newEscrowCase(t)
	c := e.c
	e.toGrace(t)
	const topup = 10_000
	c.OKAt(e.at(e.graceMs+10_000), c.Tx(c.consumers[0], &market.TopupLease{ID: e.id, Amount: topup}))
	ev := c.leaseEvent("lease.active", e.id)
	if ev == nil || ev.Get("reason") != "topup" {
		t.Fatalf("lease.active event %v, want reason topup", ev)
	}
	if ev := c.leaseEvent("lease.topup", e.id); ev == nil || ledgertest.AttrU64(t, *ev, "amount") != topup {
		t.Fatalf("lease.topup event %v", ev)
	}
	total := e.deposit + topup
	l := c.lease(e.id)
	outMs := smCeilMs(e.rate, total)
	if l.State != market.LeaseActive || l.Deposited != total || l.DueMs != e.at(outMs).UnixMilli()-c.mp.GraceSeconds*1000 {
		t.Fatalf("after top-up: state %s deposited %d due %d; want active, %d, %d", l.State, l.Deposited, l.DueMs, total, e.at(outMs).UnixMilli()-c.mp.GraceSeconds*1000)
	}
	grace2 := smCeilMs(e.rate, total-e.need+1)
	c.OKAt(e.at(grace2 - 1))
	if c.lease(e.id).State != market.LeaseActive {
		t.Fatalf("back in grace early")
	}
	c.OKAt(e.at(grace2))
	if c.leaseEvent("lease.grace", e.id) == nil || c.lease(e.id).State != market.LeaseGrace {
		t.Fatalf("grace did not begin again at %d ms", grace2)
	}
	// A top-up too small to cover the grace period leaves it in grace.
	c.OKAfter(time.Second, c.Tx(c.consumers[0], &market.TopupLease{ID: e.id, Amount: 1}))
	if c.lease(e.id).State != market.LeaseGrace || c.leaseEvent("lease.active", e.id) != nil {
		t.Fatalf("a 1 ustr top-up ended grace")
	}
	c.OKAt(e.at(smCeilMs(e.rate, total+1)))
	if l := c.lease(e.id); l.CloseReason != "escrow" || l.Settled != total+1 {
		t.Fatalf("after the top-ups ran out: %+v", l)
	}
}

// TestSMUnacknowledged: a lease that its provider does not acknowledge
// within AckTimeoutSeconds is cancelled with reason "unacknowledged" and
// everything deposited (top-ups too) is refunded.
func TestSMUnacknowledged(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 10*smGiB, 1000)}})
	cons := c.consumers[0]
	before, fees := c.Balance(cons.Address()), c.Fees[cons.Address()]
	id := c.open(time.Second, cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 5 * smGiB, Deposit: 50_000})
	opened := c.Now
	if p := c.mustProvider(c.providers[0].Address()); smOfferOf(p, market.ClassStorage).Used != 5*smGiB || p.OpenLeases != 1 {
		t.Fatalf("capacity not reserved at open: %+v", p)
	}
	c.OKAfter(time.Second, c.Tx(cons, &market.TopupLease{ID: id, Amount: 7}))
	timeout := opened.Add(time.Duration(c.mp.AckTimeoutSeconds) * time.Second)
	c.OKAt(timeout.Add(-time.Millisecond))
	if l := c.lease(id); l.State != market.LeasePending {
		t.Fatalf("1 ms before the timeout: %s", l.State)
	}
	c.OKAt(timeout)
	ev := c.leaseEvent("lease.closed", id)
	if ev == nil || ev.Get("reason") != "unacknowledged" || ledgertest.AttrU64(t, *ev, "refund") != 50_007 {
		t.Fatalf("lease.closed %v, want reason unacknowledged, refund 50007", ev)
	}
	if paid := c.Fees[cons.Address()] - fees; c.Balance(cons.Address()) != before-paid {
		t.Errorf("consumer has %d, want %d: all but the two fees", c.Balance(cons.Address()), before-paid)
	}
	if p := c.mustProvider(c.providers[0].Address()); smOfferOf(p, market.ClassStorage).Used != 0 || p.OpenLeases != 0 {
		t.Errorf("capacity not freed: %+v", p)
	}
	// Too late now.
	res := c.BlockAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: id}))
	if res[0].Code != ledger.CodeConflict {
		t.Errorf("ack of a cancelled lease: code %d (%s), want conflict", res[0].Code, res[0].Log)
	}
}

// TestSMAckAfterTimeout: an acknowledgement that arrives in a block at or
// after the ack timeout is too late: the lease is cancelled and refunded,
// as if the ack had come a block later. One a millisecond before it counts.
func TestSMAckAfterTimeout(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 10*smGiB, 1000)}})
	id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassStorage, Quantity: smGiB, Deposit: 50_000})
	late := c.Now.Add(time.Duration(c.mp.AckTimeoutSeconds) * time.Second)
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"1 ms before the timeout", late.Add(-time.Millisecond), true},
		{"at the timeout", late, false},
		{"an hour after the timeout", late.Add(time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.fork()
			c.T = t
			cons := c.consumers[0].Address()
			before := c.Balance(cons)
			res := c.BlockAt(tc.at, c.Tx(c.providers[0], &market.AckLease{ID: id}))
			l := c.lease(id)
			if tc.ok {
				if res[0].Code != ledger.CodeOK || l.State != market.LeaseActive || l.ActivatedMs != tc.at.UnixMilli() {
					t.Fatalf("ack in time: code %d (%s), lease %s activated at %d", res[0].Code, res[0].Log, l.State, l.ActivatedMs)
				}
				return
			}
			if res[0].Code != ledger.CodeConflict || len(res[0].Events) != 0 {
				t.Errorf("late ack: code %d (%s), events %v; want conflict, none", res[0].Code, res[0].Log, res[0].Events)
			}
			if l.State != market.LeaseClosed || l.CloseReason != "unacknowledged" || l.Refunded != 50_000 || l.Settled != 0 || l.ActivatedMs != 0 {
				t.Errorf("lease after a late ack: %s %q refunded %d settled %d activated %d", l.State, l.CloseReason, l.Refunded, l.Settled, l.ActivatedMs)
			}
			if ev := c.leaseEvent("lease.closed", id); ev == nil || ev.Get("reason") != "unacknowledged" || c.leaseEvent("lease.active", id) != nil {
				t.Errorf("events %v: want lease.closed (unacknowledged), no lease.active", c.Events())
			}
			if got := c.Balance(cons) - before; got != 50_000 {
				t.Errorf("consumer got back %d, want the 50000 deposited", got)
			}
		})
	}
}

// TestSMCloseRules: a pending lease closed by its consumer is refunded in
// full; the provider may close an active lease (reason "provider").
func TestSMCloseRules(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 10, 1_000_000_000)}})
	cons, prov := c.consumers[0], c.providers[0]
	a := c.open(time.Second, cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: 5000})
	c.OKAfter(time.Second, c.Tx(cons, &market.CloseLease{ID: a}))
	if l := c.lease(a); l.CloseReason != "consumer" || l.Refunded != 5000 || l.Settled != 0 {
		t.Errorf("pending lease closed: %+v", l)
	}
	b := c.open(time.Second, cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 2, Deposit: 5000})
	c.OKAfter(time.Second, c.Tx(prov, &market.AckLease{ID: b}))
	c.OKAfter(100*time.Second+250*time.Millisecond, c.Tx(prov, &market.CloseLease{ID: b}))
	// 2 ustr/s for 100.25 s: 200 paid, and the half ustr carried is dropped.
	if l := c.lease(b); l.CloseReason != "provider" || l.Settled != 200 || l.Refunded != 4800 || l.AccruedPico != 0 || l.SettledMs != c.Now.UnixMilli() {
		t.Errorf("active lease closed by its provider: %+v", l)
	}
}
