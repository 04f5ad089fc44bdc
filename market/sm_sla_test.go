package market_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// smProbe is one validator's probe counts for an epoch; Total 0 means it
// sends no report.
type smProbe struct{ OK, Total uint32 }

// slaCase is a chain with four validators of equal power and one lease with
// an SLA: 1 cu of compute at 777,777,777 nano-ustr per cu-second from
// provider0, opened at t0+1s and acknowledged at t0+2s, so its windows
// begin at genesis (an epoch boundary).
type slaCase struct {
	c      *smChain
	id     uint64
	act    time.Time
	rate   uint64
	n      int64 // window length in epochs
	e0     int64 // genesis epoch, where windows begin
	target uint64
	judged int64 // windows judged so far
}

const slaPrice = 777_777_777

func newSLACase(t *testing.T, windowEpochs int64, target uint64) *slaCase {
	t.Helper()
	s := newSLACaseDeposit(t, windowEpochs, target, 10*smSTR)
	if l := s.c.lease(s.id); l.DueMs != s.c.epochStart(s.e0+windowEpochs+1).UnixMilli() {
		t.Fatalf("after ack: due %d; want %d, when the first window is judged", l.DueMs, s.c.epochStart(s.e0+windowEpochs+1).UnixMilli())
	}
	return s
}

// newSLACaseDeposit is newSLACase with another deposit.
func newSLACaseDeposit(t *testing.T, windowEpochs int64, target, deposit uint64) *slaCase {
	t.Helper()
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, slaPrice)}})
	s := &slaCase{c: c, rate: smRate(slaPrice, 1, market.ClassCompute), n: windowEpochs, target: target, e0: c.epoch()}
	s.id = c.open(time.Second, c.consumers[0], &market.OpenLease{
		Class: market.ClassCompute, Quantity: 1, Deposit: deposit,
		SLA: market.SLA{TargetBps: target, WindowSeconds: windowEpochs * c.mp.EpochSeconds},
	})
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: s.id}))
	s.act = c.Now
	if l := c.lease(s.id); l.WindowStartMs != smT0.UnixMilli() {
		t.Fatalf("after ack: window from %d; want %d", l.WindowStartMs, smT0.UnixMilli())
	}
	return s
}

// paidAt is what the lease has paid in all by time at, if it was settled
// then: floor(rate x active ms / 10^12).
func (s *slaCase) paidAt(at time.Time) uint64 {
	u, _ := smAccrued(s.rate, max(at.Sub(s.act).Milliseconds(), 0))
	return u
}

// windowCharges is what the lease paid over window k, [start, end): what it
// had paid by the end less what it had paid by the start. Settlement is
// split at the window's end, so this is exact.
func (s *slaCase) windowCharges(k int64) uint64 {
	return s.paidAt(s.c.epochStart(s.e0+(k+1)*s.n)) - s.paidAt(s.c.epochStart(s.e0+k*s.n))
}

// report delivers, 1 s into epoch e+1, each validator's report for epoch e.
func (s *slaCase) report(e int64, probes [4]smProbe) {
	s.c.T.Helper()
	c := s.c
	var txs [][]byte
	for i, p := range probes {
		if p.Total == 0 {
			continue
		}
		txs = append(txs, c.Tx(c.Ops[i], &market.ProbeReport{Epoch: e, Results: []market.ProbeRow{{Provider: c.providers[0].Address(), OK: p.OK, Total: p.Total}}}))
	}
	c.OKAt(c.epochStart(e+1).Add(time.Second), txs...)
}

// window reports every epoch of the next window with the same probes, then
// runs a block 1 ms before the window is judged (one epoch after it ends)
// and one at that moment. It returns the window's record and the consumer's
// balance and the collateral bucket's growth over the judging block.
func (s *slaCase) window(t *testing.T, probes [4]smProbe) (w market.Window, consGain, collLoss uint64) {
	t.Helper()
	c := s.c
	k := s.judged
	for e := s.e0 + k*s.n; e < s.e0+(k+1)*s.n; e++ {
		s.report(e, probes)
	}
	due := c.epochStart(s.e0 + (k+1)*s.n + 1)
	c.OKAt(due.Add(-time.Millisecond))
	if _, ok := c.window(s.id, uint64(k)); ok || c.leaseEvent("sla.breach", s.id) != nil {
		t.Fatalf("window %d judged before its due time", k)
	}
	cons := c.consumers[0].Address()
	consBefore, collBefore := c.Balance(cons), c.Bucket(market.BucketCollateral)
	c.OKAt(due)
	w, ok := c.window(s.id, uint64(k))
	if !ok {
		t.Fatalf("window %d not judged at %v", k, due)
	}
	if w.Index != uint64(k) || w.StartMs != c.epochStart(s.e0+k*s.n).UnixMilli() || w.EndMs != c.epochStart(s.e0+(k+1)*s.n).UnixMilli() {
		t.Fatalf("window %d record %+v", k, w)
	}
	s.judged++
	// Charges are exactly what the lease paid in the window: settlement is
	// split at the window's end, so what accrued after it (up to the
	// judging block) is the next window's, and the rounding carried at the
	// end goes with it.
	if own := s.windowCharges(k); w.Charges != own {
		t.Errorf("window %d charges %d, want exactly %d, what accrued in [%d, %d)", k, w.Charges, own, w.StartMs, w.EndMs)
	}
	if l := c.lease(s.id); l.State != market.LeaseClosed {
		if l.WindowStartMs != w.EndMs || l.SettledMs != due.UnixMilli() {
			t.Errorf("after window %d: next window from %d, settled at %d; want from %d, settled at %d", k, l.WindowStartMs, l.SettledMs, w.EndMs, due.UnixMilli())
		}
		// A window longer than an epoch is still running when the one
		// before is judged: it has the charges since its start.
		if next := s.paidAt(due) - s.paidAt(time.UnixMilli(w.EndMs)); s.n > 1 && l.WindowCharges != next {
			t.Errorf("after window %d: the next window has charges %d, want %d, what accrued since it began", k, l.WindowCharges, next)
		}
	}
	return w, c.Balance(cons) - consBefore, collBefore - c.Bucket(market.BucketCollateral)
}

// smRefund is the SLA schedule: a share of the window's charges,
// RefundBpsPerPoint for each percentage point (rounded up) below the
// target, at most all of them, and at most the provider's collateral.
func smRefund(p market.Params, charges, target, avail, collateral uint64) uint64 {
	points := (target - avail + 99) / 100
	share := min(points*p.RefundBpsPerPoint, 10_000)
	return min(smMulDiv(charges, share, 10_000), collateral)
}

var (
	probesOK   = smProbe{OK: 100, Total: 100}
	probes95   = smProbe{OK: 95, Total: 100}
	probesDown = smProbe{OK: 0, Total: 100}
	noReport   = smProbe{}
)

// TestSMSLABreachRefund: availability of 95% against a 99% target is 4
// points short (rounded up), so 40% of the window's charges go back to the
// consumer from the provider's collateral, with an sla.breach event.
func TestSMSLABreachRefund(t *testing.T) {
	s := newSLACase(t, 3, 9900)
	c := s.c
	prov := c.providers[0].Address()
	collBefore := c.mustProvider(prov).Collateral
	// Three validators see 95%; the fourth claims 100%.
	w, gain, loss := s.window(t, [4]smProbe{probes95, probes95, probes95, probesOK})
	if !w.Quorum || !w.Breach || w.AvailabilityBps != 9500 {
		t.Fatalf("window %+v, want a breach at 9500 with quorum", w)
	}
	want := smRefund(c.mp, w.Charges, 9900, 9500, collBefore)
	if want != w.Charges*4000/10_000 || w.Refund != want || gain != want || loss != want {
		t.Fatalf("refund %d (consumer +%d, collateral -%d), want %d = 40%% of %d", w.Refund, gain, loss, want, w.Charges)
	}
	ev := c.leaseEvent("sla.breach", s.id)
	if ev == nil || ev.Get("provider") != prov.String() || ev.Get("availability_bps") != "9500" || ev.Get("target_bps") != "9900" || ledgertest.AttrU64(t, *ev, "refund") != want {
		t.Fatalf("sla.breach event %v", ev)
	}
	l := c.lease(s.id)
	p := c.mustProvider(prov)
	if l.SLARefunded != want || l.ConsecutiveBreaches != 1 || l.WindowCount != 1 || l.State != market.LeaseActive {
		t.Errorf("lease after the breach: %+v", l)
	}
	if p.Collateral != collBefore-want || p.Breaches != 1 || p.Score != 9000 {
		t.Errorf("provider after the breach: collateral %d breaches %d score %d; want %d, 1, 9000", p.Collateral, p.Breaches, p.Score, collBefore-want)
	}
	// A good window resets the run of breaches and raises the score.
	w, gain, _ = s.window(t, [4]smProbe{probesOK, probesOK, probesOK, probesOK})
	if w.Breach || !w.Quorum || w.AvailabilityBps != 10_000 || gain != 0 {
		t.Fatalf("good window %+v", w)
	}
	if l, p := c.lease(s.id), c.mustProvider(prov); l.ConsecutiveBreaches != 0 || p.Score != 9100 {
		t.Errorf("after a good window: %d consecutive breaches, score %d", l.ConsecutiveBreaches, p.Score)
	}
	c.Replay()
}

// TestSMSLAWindowCharges: a window's charges are what the lease cost over
// that window, [StartMs, EndMs), so the refund is a share of exactly those.
// For window 0 (from activation at t0+2s to t0+180s): floor(777,777,777 x
// 178,000 / 10^12) = 138 ustr, and 40% of it is 55.
func TestSMSLAWindowCharges(t *testing.T) {
	s := newSLACase(t, 3, 9900)
	w, gain, _ := s.window(t, [4]smProbe{probes95, probes95, probes95, probes95})
	if w.Charges != 138 || w.Refund != 55 || gain != 55 {
		t.Errorf("window 0: charges %d refund %d (consumer +%d); want 138, 55", w.Charges, w.Refund, gain)
	}
	w, _, _ = s.window(t, [4]smProbe{probes95, probes95, probes95, probes95})
	want, _ := smAccrued(s.rate, 358_000)
	if w.Charges != want-138 {
		t.Errorf("window 1: charges %d, want %d", w.Charges, want-138)
	}
}

// TestSMSLAConsecutiveBreaches: MaxConsecutiveBreaches (3) breaches in a
// row close the lease with reason "sla" and a lease.migrate event; a good
// window in between starts the count again; a window without a quorum
// neither counts nor resets.
func TestSMSLAConsecutiveBreaches(t *testing.T) {
	bad := [4]smProbe{{OK: 50, Total: 100}, {OK: 50, Total: 100}, {OK: 50, Total: 100}, {OK: 50, Total: 100}}
	good := [4]smProbe{probesOK, probesOK, probesOK, probesOK}
	none := [4]smProbe{probesDown, noReport, noReport, probesDown}
	for _, tc := range []struct {
		name    string
		windows [][4]smProbe
	}{
		{"three in a row", [][4]smProbe{bad, bad, bad}},
		{"reset by a good window", [][4]smProbe{bad, good, bad, bad, bad}},
		{"no quorum is no verdict", [][4]smProbe{bad, none, bad, none, bad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSLACase(t, 2, 9900)
			c := s.c
			prov := c.providers[0].Address()
			var refunds uint64
			var lastEnd int64
			run, breaches := 0, uint64(0)
			for i, probes := range tc.windows {
				w, gain, loss := s.window(t, probes)
				lastEnd = w.EndMs
				refunds += w.Refund
				l := c.lease(s.id)
				last := i == len(tc.windows)-1
				// The consumer gets the SLA refund, and when the lease
				// closes what is left in escrow.
				escrowBack := uint64(0)
				if last {
					escrowBack = l.Refunded
				}
				if w.Breach {
					run++
					breaches++
					// 50% is 49 points short: all of the window's charges.
					if w.AvailabilityBps != 5000 || w.Charges == 0 || w.Refund != w.Charges || gain != w.Refund+escrowBack || loss != w.Refund {
						t.Fatalf("window %d: %+v, consumer +%d, collateral -%d", i, w, gain, loss)
					}
				} else {
					if w.Quorum {
						run = 0
					}
					if w.Refund != 0 || gain != 0 || loss != 0 {
						t.Fatalf("window %d without a breach: %+v, consumer +%d, collateral -%d", i, w, gain, loss)
					}
				}
				if l.ConsecutiveBreaches != uint32(run) || (l.State == market.LeaseClosed) != last {
					t.Fatalf("after window %d: %d consecutive breaches, state %s; want %d, closed only after the last", i, l.ConsecutiveBreaches, l.State, run)
				}
			}
			l := c.lease(s.id)
			if l.CloseReason != "sla" || l.SLARefunded != refunds || l.Refunded != l.Deposited-l.Settled {
				t.Errorf("closed lease %+v", l)
			}
			// The provider was paid up to the moment the lease closed, not
			// just to the end of the last window.
			// (The carried fraction of a ustr is dropped at the close.)
			paid := s.paidAt(c.Now)
			if l.ClosedMs != c.Now.UnixMilli() || l.SettledMs != l.ClosedMs || l.Settled != paid || l.AccruedPico != 0 || l.Settled <= s.paidAt(time.UnixMilli(lastEnd)) {
				t.Errorf("closed at %d, settled at %d: %d ustr + %d pico; want both at %d, %d + 0", l.ClosedMs, l.SettledMs, l.Settled, l.AccruedPico, c.Now.UnixMilli(), paid)
			}
			closed := c.leaseEvent("lease.closed", s.id)
			if closed == nil || closed.Get("reason") != "sla" || ledgertest.AttrU64(t, *closed, "refund") != l.Refunded {
				t.Errorf("lease.closed event %v", closed)
			}
			mig := c.leaseEvent("lease.migrate", s.id)
			if mig == nil || mig.Get("provider") != prov.String() || mig.Get("consumer") != c.consumers[0].Address().String() ||
				mig.Get("class") != market.ClassCompute || mig.Get("quantity") != "1" {
				t.Errorf("lease.migrate event %v", mig)
			}
			p := c.mustProvider(prov)
			if p.OpenLeases != 0 || p.Breaches != breaches || smOfferOf(p, market.ClassCompute).Used != 0 {
				t.Errorf("provider after migration: %+v", p)
			}
		})
	}
}

// TestSMSLAMinority: availability is the highest value that validators with
// more than two thirds of the power report at least. One validator of four
// can neither pull it down nor lift it; two of four are no quorum.
func TestSMSLAMinority(t *testing.T) {
	honest := smProbe{OK: 199, Total: 200} // 9950, above the 9900 target
	poor := smProbe{OK: 180, Total: 200}   // 9000
	for _, tc := range []struct {
		name   string
		probes [4]smProbe
		avail  uint64
		quorum bool
	}{
		{"all honest", [4]smProbe{honest, honest, honest, honest}, 9950, true},
		{"one liar says down", [4]smProbe{honest, honest, probesDown, honest}, 9950, true},
		{"one liar says up", [4]smProbe{poor, probesOK, poor, poor}, 9000, true},
		{"three of four report", [4]smProbe{poor, poor, noReport, poor}, 9000, true},
		{"honest spread, liar down", [4]smProbe{{OK: 199, Total: 200}, {OK: 1988, Total: 2000}, probesDown, {OK: 1986, Total: 2000}}, 9930, true},
		{"two of four say down", [4]smProbe{probesDown, noReport, probesDown, noReport}, 0, false},
		{"two of four say up", [4]smProbe{probesOK, probesOK, noReport, noReport}, 0, false},
		{"one reports", [4]smProbe{noReport, noReport, noReport, probesDown}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSLACase(t, 1, 9900)
			w, gain, _ := s.window(t, tc.probes)
			breach := tc.quorum && tc.avail < 9900
			if w.AvailabilityBps != tc.avail || w.Quorum != tc.quorum || w.Breach != breach {
				t.Fatalf("window %+v; want availability %d, quorum %v, breach %v", w, tc.avail, tc.quorum, breach)
			}
			if (s.c.leaseEvent("sla.breach", s.id) != nil) != breach {
				t.Errorf("sla.breach event: %v, want %v", s.c.leaseEvent("sla.breach", s.id), breach)
			}
			want := uint64(0)
			if breach {
				want = smRefund(s.c.mp, w.Charges, 9900, tc.avail, 1000*smSTR)
			}
			if w.Refund != want || gain != want {
				t.Errorf("refund %d (consumer +%d), want %d", w.Refund, gain, want)
			}
			if l := s.c.lease(s.id); l.ConsecutiveBreaches != map[bool]uint32{true: 1}[breach] {
				t.Errorf("consecutive breaches %d", l.ConsecutiveBreaches)
			}
		})
	}
}

// TestSMSLARefundCappedByCollateral: a refund never exceeds what the
// provider has locked.
func TestSMSLARefundCappedByCollateral(t *testing.T) {
	p := smDefaultParams()
	p.MinCollateral = 1
	c := newSMChain(t, smOpts{params: &p, genesis: []market.GenesisProvider{func() market.GenesisProvider {
		g := smProvider(market.ClassCompute, 100, 100_000_000_000) // 100 ustr/s
		g.Collateral = 7
		return g
	}()}})
	s := &slaCase{c: c, rate: 100_000_000_000, n: 1, target: 9900, e0: c.epoch()}
	s.id = c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: 10 * smSTR, SLA: market.SLA{TargetBps: 9900, WindowSeconds: 60}})
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: s.id}))
	s.act = c.Now
	w, gain, loss := s.window(t, [4]smProbe{probesDown, probesDown, probesDown, probesDown})
	if !w.Breach || w.Refund != 7 || gain != 7 || loss != 7 || c.mustProvider(c.providers[0].Address()).Collateral != 0 {
		t.Fatalf("window %+v, consumer +%d, collateral -%d; want the 7 ustr of collateral", w, gain, loss)
	}
	w, gain, _ = s.window(t, [4]smProbe{probesDown, probesDown, probesDown, probesDown})
	if !w.Breach || w.Refund != 0 || gain != 0 {
		t.Fatalf("second window %+v: nothing is left to refund", w)
	}
}

// TestSMSLAProviderCannotDodge: a provider that closes the lease after a
// window in breach has ended, before it is due to be judged, still pays the
// refund; a close by the consumer, or a top-up, judges the window at once
// too. The refund is all of the window's charges (the provider was down:
// 99 points short).
func TestSMSLAProviderCannotDodge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		touch func(s *slaCase) []byte
	}{
		{"the provider closes", func(s *slaCase) []byte { return s.c.Tx(s.c.providers[0], &market.CloseLease{ID: s.id}) }},
		{"the consumer closes", func(s *slaCase) []byte { return s.c.Tx(s.c.consumers[0], &market.CloseLease{ID: s.id}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSLACase(t, 1, 9900)
			c := s.c
			s.report(s.e0, [4]smProbe{probesDown, probesDown, probesDown, probesDown})
			cons := c.consumers[0].Address()
			before, collBefore := c.Balance(cons), c.Bucket(market.BucketCollateral)
			c.OKAfter(10*time.Second, tc.touch(s))
			if c.leaseEvent("sla.breach", s.id) == nil {
				t.Errorf("no sla.breach for the window that ended before the lease was touched")
			}
			w, ok := c.window(s.id, 0)
			charges := s.windowCharges(0)
			if !ok || !w.Breach || !w.Quorum || w.AvailabilityBps != 0 || w.Charges != charges || charges == 0 || w.Refund != charges {
				t.Fatalf("window 0 %+v (recorded %v); want a breach with charges and refund %d", w, ok, charges)
			}
			l := c.lease(s.id)
			if l.SLARefunded != charges || collBefore-c.Bucket(market.BucketCollateral) != charges {
				t.Errorf("SLA refund %d, collateral down by %d; want %d", l.SLARefunded, collBefore-c.Bucket(market.BucketCollateral), charges)
			}
			got := c.Balance(cons) - before
			if tc.name != "the provider closes" {
				got += c.Results[0].Fee // the consumer sent it
			}
			switch tc.name {
			case "the consumer tops up":
				if l.State != market.LeaseActive || l.WindowCount != 1 || got != charges-1 {
					t.Errorf("after the top-up: %s, %d windows, consumer %+d net of the fee; want active, 1, %d", l.State, l.WindowCount, int64(got), charges-1)
				}
			default:
				if l.State != market.LeaseClosed || got != l.Refunded+l.SLARefunded {
					t.Errorf("consumer got %d, escrow refund %d, SLA refund %d", got, l.Refunded, l.SLARefunded)
				}
			}
		})
	}
}

// TestSMSLAEscrowCloseJudges: a lease whose escrow runs out in the epoch
// after a window ended, before that window is due to be judged, closes for
// escrow; the window it paid for in full is judged first, as when the
// consumer or provider closes it, and the consumer is refunded for the
// breach.
func TestSMSLAEscrowCloseJudges(t *testing.T) {
	// 68 ustr at 0.777... ustr/s lasts 87.429 s from activation at t0+2s:
	// past window 0's end at t0+60s, out at t0+89.429s.
	s := newSLACaseDeposit(t, 1, 9900, 68)
	c := s.c
	out := s.act.Add(time.Duration(smCeilMs(s.rate, 68)) * time.Millisecond)
	end := c.epochStart(s.e0 + 1)
	if !out.After(end) || !out.Before(end.Add(time.Duration(c.mp.EpochSeconds)*time.Second)) {
		t.Fatalf("expected figures: out at %v, window 0 ends at %v", out, end)
	}
	c.OKAt(end) // the lease (in grace from the start) is settled to the window's end
	s.report(s.e0, [4]smProbe{probesDown, probesDown, probesDown, probesDown})
	c.OKAt(out.Add(-time.Millisecond))
	if l := c.lease(s.id); l.State == market.LeaseClosed {
		t.Fatalf("closed before the escrow ran out: %+v", l)
	}
	cons := c.consumers[0].Address()
	before := c.Balance(cons)
	c.OKAt(out)
	l := c.lease(s.id)
	if l.State != market.LeaseClosed || l.CloseReason != "escrow" || l.Settled != 68 {
		t.Fatalf("lease %+v, want closed for escrow with all 68 paid", l)
	}
	charges := s.windowCharges(0)
	w, ok := c.window(s.id, 0)
	if !ok || !w.Breach || w.Charges != charges || w.Refund != charges || l.SLARefunded != charges || c.Balance(cons)-before != charges {
		t.Errorf("window 0 %+v (recorded %v), SLA refund %d, consumer +%d; want a breach refunding its %d of charges",
			w, ok, l.SLARefunded, c.Balance(cons)-before, charges)
	}
}

// TestSMSLAWindowChargesInGrace: the lease goes into grace (an event of the
// due queue that settles it) in the epoch after window 0 ended, before the
// window is judged. The window's charges still stop at its end; what
// accrued after it is the next window's.
func TestSMSLAWindowChargesInGrace(t *testing.T) {
	// The grace period (an hour at the rate) needs 2,799 ustr; with 2,866
	// deposited the escrow covers less from about t0+88s.
	s := newSLACaseDeposit(t, 1, 9900, 2866)
	c := s.c
	if need := smMulDiv(s.rate, uint64(c.mp.GraceSeconds), 1e9); need != 2799 {
		t.Fatalf("expected figures: grace needs %d", need)
	}
	w, _, _ := s.window(t, [4]smProbe{probes95, probes95, probes95, probes95})
	if c.lease(s.id).State != market.LeaseGrace {
		t.Fatalf("lease not in grace by %v", c.Now)
	}
	if want := smRefund(c.mp, s.windowCharges(0), 9900, 9500, 1000*smSTR); w.Refund != want {
		t.Errorf("window 0 refund %d, want %d: 40%% of its own charges %d", w.Refund, want, s.windowCharges(0))
	}
	// Window 1 has what accrued after window 0's end (the helper checks).
	s.window(t, [4]smProbe{probes95, probes95, probes95, probes95})
}

// TestSMProbeReportRules: who may report, for which epoch, and how a later
// report replaces an earlier one.
func TestSMProbeReportRules(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, 1000)}})
	prov := c.providers[0].Address()
	e0 := c.epoch()
	c.OKAt(c.epochStart(e0 + 5).Add(time.Second))
	rep := func(e int64, ok, total uint32) *market.ProbeReport {
		return &market.ProbeReport{Epoch: e0 + e, Results: []market.ProbeRow{{Provider: prov, OK: ok, Total: total}}}
	}
	for _, tc := range []struct {
		name string
		from func() []byte
		code uint32
	}{
		{"current epoch", func() []byte { return c.Tx(c.Ops[0], rep(5, 1, 2)) }, ledger.CodeOK},
		{"previous epoch", func() []byte { return c.Tx(c.Ops[0], rep(4, 1, 2)) }, ledger.CodeOK},
		{"more probes replace", func() []byte { return c.Tx(c.Ops[0], rep(5, 3, 3)) }, ledger.CodeOK},
		{"same count again", func() []byte { return c.Tx(c.Ops[0], rep(5, 3, 3)) }, ledger.CodeConflict},
		{"fewer probes", func() []byte { return c.Tx(c.Ops[0], rep(5, 1, 1)) }, ledger.CodeConflict},
		{"another validator", func() []byte { return c.Tx(c.Ops[1], rep(5, 1, 1)) }, ledger.CodeOK},
		{"stale epoch", func() []byte { return c.Tx(c.Ops[0], rep(3, 1, 10)) }, ledger.CodeInvalid},
		{"future epoch", func() []byte { return c.Tx(c.Ops[0], rep(6, 1, 10)) }, ledger.CodeInvalid},
		{"not a validator", func() []byte { return c.Tx(c.providers[0], rep(5, 1, 10)) }, ledger.CodeUnauthorized},
		{"unknown provider", func() []byte {
			return c.Tx(c.Ops[2], &market.ProbeReport{Epoch: e0 + 5, Results: []market.ProbeRow{{Provider: c.stranger.Address(), OK: 1, Total: 1}}})
		}, ledger.CodeNotFound},
	} {
		res := c.BlockAfter(time.Millisecond, tc.from())
		if res[0].Code != tc.code {
			t.Errorf("%s: code %d (%s), want %d", tc.name, res[0].Code, res[0].Log, tc.code)
		}
	}
	op := c.Ops[0].Address()
	key := append(binary.BigEndian.AppendUint64([]byte("market/probe/"), uint64(e0+5)), prov[:]...)
	got := c.St[string(append(key, op[:]...))]
	if want := []byte{0, 0, 0, 3, 0, 0, 0, 3}; string(got) != string(want) {
		t.Errorf("op0's stored counts for epoch 5: %x, want %x (the later report)", got, want)
	}
}
