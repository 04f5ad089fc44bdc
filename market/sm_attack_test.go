package market_test

// The attacks of issue 10 on the market, replayed: each must now fail.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// countingReader counts what a block reads from committed state: every Get,
// and every key an iteration visits. The ledger's block cache reads a key
// from committed state once per block, so this is the number of distinct
// keys the block read.
type countingReader struct {
	r           ledger.Reader
	gets, walks int
}

func (c *countingReader) Get(k []byte) ([]byte, error) { c.gets++; return c.r.Get(k) }

func (c *countingReader) Iterate(p []byte, fn func(k, v []byte) error) error {
	return c.r.Iterate(p, func(k, v []byte) error { c.walks++; return fn(k, v) })
}

// TestSMAttackJudgingCostBounded replays attack 3: 100 leases acknowledged
// in one epoch, each with a 30-day SLA window (43,200 epochs of 60 s), on
// 10 providers. Judging used to read one probe record per epoch per
// validator: 172,800 reads per provider, 1.7 million for the block. Now a
// window reads each validator's running tally and the tallies from its
// start, O(validators); and EndBlock judges at most max_judgements_per_block
// (here 40) windows, carrying the rest: 40, 40, then 20 windows in three
// blocks, each reading a few hundred keys.
func TestSMAttackJudgingCostBounded(t *testing.T) {
	const nProv, nLeases, cap = 10, 100, 40
	p := smDefaultParams()
	p.MaxJudgementsPerBlock = cap
	var gen []market.GenesisProvider
	for range nProv {
		gen = append(gen, smProvider(market.ClassCompute, 100, 1_000_000_000)) // 1 ustr/s per cu
	}
	c := newSMChain(t, smOpts{providers: nProv, params: &p, genesis: gen})
	e0 := c.epoch()
	window := int64(30 * 24 * 3600)
	var opens [][]byte
	for i := range nLeases {
		prov := c.providers[i%nProv].Address()
		opens = append(opens, c.Tx(c.consumers[i%len(c.consumers)], &market.OpenLease{
			Class: market.ClassCompute, Quantity: 1, Deposit: 5 * smSTR, Provider: &prov,
			SLA: market.SLA{TargetBps: 9900, WindowSeconds: window},
		}))
	}
	c.OKAfter(time.Second, opens...)
	var acks [][]byte
	for id := uint64(1); id <= nLeases; id++ {
		acks = append(acks, c.Tx(c.providers[(id-1)%nProv], &market.AckLease{ID: id}))
	}
	c.OKAfter(time.Second, acks...)
	if c.epoch() != e0 {
		t.Fatalf("expected figures: acknowledged in epoch %d, not %d", c.epoch(), e0)
	}
	// Every validator sees every provider down in the first two epochs.
	for e := e0; e < e0+2; e++ {
		var txs [][]byte
		for _, op := range c.Ops {
			m := &market.ProbeReport{Epoch: e}
			for _, k := range c.providers {
				m.Results = append(m.Results, market.ProbeRow{Provider: k.Address(), OK: 0, Total: 100})
			}
			txs = append(txs, c.Tx(op, m))
		}
		c.OKAt(c.epochStart(e+1).Add(time.Second), txs...)
	}
	// Up to a second before the windows are judged, nothing is.
	due := smT0.Add(time.Duration(window+c.mp.EpochSeconds) * time.Second)
	c.OKAt(due.Add(-time.Second))
	var judged []uint64
	for blk := 0; len(judged) < nLeases; blk++ {
		if blk == 3 {
			t.Fatalf("after 3 blocks only %d windows judged", len(judged))
		}
		cr := &countingReader{r: c.St}
		c.Wrap = func(ledger.Reader) ledger.Reader { return cr }
		c.OKAt(due.Add(time.Duration(blk) * time.Second))
		c.Wrap = nil
		n := 0
		for _, ev := range c.EndEvents {
			if ev.Type == market.EventSLAJudged {
				n++
				judged = append(judged, ledgertest.AttrU64(t, ev, "lease"))
				if ev.Get("breach") != "true" || ev.Get("availability_bps") != "0" {
					t.Errorf("lease %s window judged %v, want a breach at 0", ev.Get("lease"), ev)
				}
			}
		}
		carried := ledgertest.Find(c.EndEvents, market.EventDueCarried) != nil
		want := min(cap, nLeases-len(judged)+n)
		if n != want || carried != (len(judged) < nLeases) {
			t.Fatalf("block %d judged %d windows (carried: %v), want %d", blk, n, carried, want)
		}
		// The reads of a block that judges 40 windows: for each window
		// the lease, its window base and its provider; for each provider
		// each validator's tally and its count of the epoch before the
		// windows began; and the block's own bookkeeping (prices, due
		// queue, accounts, audit log).
		reads := cr.gets + cr.walks
		t.Logf("block %d: %d windows judged, %d gets and %d keys walked", blk, n, cr.gets, cr.walks)
		if reads > 500 {
			t.Errorf("block %d read %d keys to judge %d windows; want at most 500 (the old judging read 172,800 per provider)", blk, reads, n)
		}
	}
	for i, id := range judged {
		if i > 0 && id <= judged[i-1] {
			t.Fatalf("windows judged out of due order: %v", judged)
		}
		l := c.lease(id)
		w, ok := c.window(id, 0)
		if !ok || !w.Breach || w.Refund != w.Charges || w.Charges == 0 || l.SLARefunded != w.Refund || l.WindowCount != 1 {
			t.Fatalf("lease %d: window %+v (%v), lease %+v", id, w, ok, l)
		}
	}
	c.Replay()
}

// TestSMAttackProviderClosesBeforeWindowEnds replays attack 7. A provider
// that is down for a whole 3-epoch window (99 points short of 99%) owes the
// consumer all of the window's charges. The one that stays pays them when
// the window is judged: refund 138, one breach, score 9000. The one that
// closes the lease a second before the window ends used to keep what it was
// paid (137 ustr) with no breach and its score whole; now its close judges
// the open window pro rata, on the reports in so far (the first two
// epochs): it refunds the 137 it was paid for the window, counts the
// breach and loses the score all the same.
func TestSMAttackProviderClosesBeforeWindowEnds(t *testing.T) {
	down := [4]smProbe{probesDown, probesDown, probesDown, probesDown}
	s := newSLACase(t, 3, 9900)
	c := s.c
	prov, cons := c.providers[0].Address(), c.consumers[0].Address()
	s.report(s.e0, down)
	s.report(s.e0+1, down)
	stays := c.fork()

	// The provider stays: the window is judged one epoch after it ends.
	{
		s2 := *s
		s2.c = stays
		s2.report(s.e0+2, down)
		before := stays.Balance(cons)
		stays.OKAt(stays.epochStart(s.e0 + 4))
		w, _ := stays.window(s.id, 0)
		gain := stays.Balance(cons) - before
		p := stays.mustProvider(prov)
		if w.Charges != 138 || w.Refund != 138 || gain != 138 || !w.Breach || w.ProRata || p.Breaches != 1 || p.Score != 9000 {
			t.Fatalf("provider stays: window %+v, consumer +%d, breaches %d, score %d; want refund 138, 1, 9000", w, gain, p.Breaches, p.Score)
		}
	}

	// The provider closes 1 s before the window's end.
	end := c.epochStart(s.e0 + 3)
	before, collBefore := c.Balance(cons), c.Bucket(market.BucketCollateral)
	c.OKAt(end.Add(-time.Second), c.Tx(c.providers[0], &market.CloseLease{ID: s.id}))
	l := c.lease(s.id)
	w, ok := c.window(s.id, 0)
	p := c.mustProvider(prov)
	paid := s.paidAt(end.Add(-time.Second))
	if paid != 137 || l.Settled != 137 {
		t.Fatalf("expected figures: paid %d by the close, lease settled %d; want 137", paid, l.Settled)
	}
	if !ok || !w.ProRata || !w.Breach || !w.Quorum || w.AvailabilityBps != 0 || w.EndMs != end.Add(-time.Second).UnixMilli() || w.Charges != 137 || w.Refund != 137 {
		t.Fatalf("provider closes: window %+v (recorded %v); want a pro-rata breach refunding the 137 paid", w, ok)
	}
	if l.SLARefunded != 137 || l.State != market.LeaseClosed || l.CloseReason != "provider" {
		t.Errorf("closed lease %+v", l)
	}
	if got := c.Balance(cons) - before; got != 137+l.Refunded || collBefore-c.Bucket(market.BucketCollateral) != 137 {
		t.Errorf("consumer +%d, collateral -%d; want the escrow back (%d) and 137 from collateral", got, collBefore-c.Bucket(market.BucketCollateral), l.Refunded)
	}
	if p.Breaches != 1 || p.Score != 9000 || l.ConsecutiveBreaches != 1 {
		t.Errorf("provider after closing: %d breaches, score %d; want 1, 9000", p.Breaches, p.Score)
	}
	ev := c.leaseEvent(market.EventSLABreach, s.id)
	if ev == nil || ev.Get("pro_rata") != "true" || ledgertest.AttrU64(t, *ev, "refund") != 137 {
		t.Errorf("sla.breach event %v", ev)
	}
	c.Replay()
}

// TestSMCloseJudgesOpenWindowProRata: every close judges the open window
// on the reports so far, whoever closes and for whatever reason; a window
// with no reports yet has no quorum and no verdict; a window that meets
// its target gives the score back as a whole one does.
func TestSMCloseJudgesOpenWindowProRata(t *testing.T) {
	for _, tc := range []struct {
		name    string
		probes  [4]smProbe
		closer  func(s *slaCase) *identity.Key
		breach  bool
		quorum  bool
		refund  func(charges uint64) uint64
		reports int64 // epochs reported before the close
	}{
		{"consumer closes, provider 95%", [4]smProbe{probes95, probes95, probes95, probes95}, func(s *slaCase) *identity.Key { return s.c.consumers[0] }, true, true,
			func(ch uint64) uint64 { return ch * 4000 / 10_000 }, 2},
		{"provider closes, provider fine", [4]smProbe{probesOK, probesOK, probesOK, probesOK}, func(s *slaCase) *identity.Key { return s.c.providers[0] }, false, true,
			func(uint64) uint64 { return 0 }, 2},
		{"provider closes before any report", [4]smProbe{probesDown, probesDown, probesDown, probesDown}, func(s *slaCase) *identity.Key { return s.c.providers[0] }, false, false,
			func(uint64) uint64 { return 0 }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSLACase(t, 5, 9900)
			c := s.c
			for e := s.e0; e < s.e0+tc.reports; e++ {
				s.report(e, tc.probes)
			}
			at := c.epochStart(s.e0 + 2).Add(30 * time.Second)
			c.OKAt(at, c.Tx(tc.closer(s), &market.CloseLease{ID: s.id}))
			w, ok := c.window(s.id, 0)
			charges := s.paidAt(at)
			if !ok || !w.ProRata || w.Charges != charges || w.Breach != tc.breach || w.Quorum != tc.quorum || w.Refund != tc.refund(charges) || w.EndMs != at.UnixMilli() {
				t.Fatalf("window %+v (recorded %v); want pro rata, charges %d, breach %v, quorum %v, refund %d", w, ok, charges, tc.breach, tc.quorum, tc.refund(charges))
			}
			if ev := c.leaseEvent(market.EventSLAJudged, s.id); ev == nil || ev.Get("pro_rata") != "true" {
				t.Errorf("sla.judged event %v", ev)
			}
			p := c.mustProvider(c.providers[0].Address())
			wantScore := map[bool]uint32{true: 9000, false: 10_000}[tc.breach]
			if p.Score != wantScore {
				t.Errorf("score %d, want %d", p.Score, wantScore)
			}
		})
	}
}

// TestSMDrainedProviderGetsNoLeases: a provider whose collateral SLA
// refunds have drained below min_collateral gets no new lease, whether the
// market chooses or the consumer names it, and GetProviderView says why.
// A refund the collateral cannot pay in full records the shortfall (in the
// sla.breach event, the window, the lease and the provider) instead of
// passing as 0. Adding collateral makes the provider eligible again.
func TestSMDrainedProviderGetsNoLeases(t *testing.T) {
	p := smDefaultParams()
	p.MinCollateral = 50
	cheap := smProvider(market.ClassCompute, 100, 100_000_000_000) // 100 ustr/s
	cheap.Collateral = 60
	dear := smProvider(market.ClassCompute, 100, 200_000_000_000)
	c := newSMChain(t, smOpts{params: &p, genesis: []market.GenesisProvider{cheap, dear}})
	s := &slaCase{c: c, rate: 100_000_000_000, n: 1, target: 9900, e0: c.epoch()}
	prov0 := c.providers[0].Address()
	s.id = c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: 10 * smSTR,
		SLA: market.SLA{TargetBps: 9900, WindowSeconds: 60}})
	if l := c.lease(s.id); l.Provider != prov0 {
		t.Fatalf("the market chose %s, want the cheaper %s", l.Provider, prov0)
	}
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.AckLease{ID: s.id}))
	s.act = c.Now
	down := [4]smProbe{probesDown, probesDown, probesDown, probesDown}
	w, gain, loss := s.window(t, down)
	// 58 s at 100 ustr/s is 5,800 due; the collateral holds 60.
	if w.Charges != 5800 || w.Refund != 60 || w.Shortfall != 5740 || gain != 60 || loss != 60 {
		t.Fatalf("window %+v, consumer +%d, collateral -%d; want 60 refunded and 5740 short", w, gain, loss)
	}
	ev := c.leaseEvent(market.EventSLABreach, s.id)
	if ev == nil || ledgertest.AttrU64(t, *ev, "refund") != 60 || ledgertest.AttrU64(t, *ev, "shortfall") != 5740 {
		t.Errorf("sla.breach event %v", ev)
	}
	// The next window's refund is all shortfall, and says so.
	w, _, _ = s.window(t, down)
	if w.Refund != 0 || w.Shortfall != w.Charges || w.Charges == 0 {
		t.Errorf("second window %+v: want nothing refunded and all of it short", w)
	}
	l, pv := c.lease(s.id), c.mustProvider(prov0)
	if l.SLAShortfall != 5740+w.Shortfall || pv.RefundShortfall != l.SLAShortfall || pv.Collateral != 0 {
		t.Errorf("lease shortfall %d, provider shortfall %d, collateral %d", l.SLAShortfall, pv.RefundShortfall, pv.Collateral)
	}

	q, err := c.M.NewQueryContext(c.St, smChainID, c.Height, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	view, err := market.GetProviderView(q, prov0)
	if err != nil || view.TakesNewLeases || view.NoNewLeases != market.NoLeasesCollateral || view.MinCollateral != 50 ||
		view.Reason != "its collateral 0STR is below the minimum of 0.00005STR a provider needs to take new leases" {
		t.Fatalf("view %+v, %v", view, err)
	}
	// The market passes it over for the dearer provider.
	id := c.open(time.Second, c.consumers[1], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR})
	if got := c.lease(id).Provider; got != c.providers[1].Address() {
		t.Errorf("the market chose %s for a new lease, want %s", got, c.providers[1].Address())
	}
	// Named, it refuses, saying why.
	res := c.BlockAfter(time.Second, c.Tx(c.consumers[1], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR, Provider: &prov0}))
	if res[0].Code != ledger.CodeConflict || !strings.Contains(res[0].Log, "takes no new leases: its collateral 0STR is below the minimum") {
		t.Errorf("open naming the drained provider: %d %s", res[0].Code, res[0].Log)
	}
	// Topped up, it takes leases again.
	c.OKAfter(time.Second, c.Tx(c.providers[0], &market.UpdateProvider{AddCollateral: 50}))
	id = c.open(time.Second, c.consumers[1], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR, Provider: &prov0})
	if c.lease(id).Provider != prov0 {
		t.Errorf("lease %d not on the topped-up provider", id)
	}
	c.Replay()
}

// TestSMRetention: a closed lease and its judged windows leave state the
// retention period after the close and the judgement, a probe count and a
// reference price after theirs; at most max_prune_per_block records go in
// a block, oldest first, and the rest wait. A query for a pruned lease
// answers NotFound and says it was pruned; the audit log keeps the events.
func TestSMRetention(t *testing.T) {
	p := smDefaultParams()
	p.RetentionSeconds, p.PriceHistoryRetentionSeconds, p.MaxPrunePerBlock = 600, 300, 3
	c := newSMChain(t, smOpts{params: &p, genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, slaPrice)}})
	e0 := c.epoch()
	var ids []uint64
	for i := range 3 {
		ids = append(ids, c.open(time.Second, c.consumers[i], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR,
			SLA: market.SLA{TargetBps: 9900, WindowSeconds: 60}}))
	}
	var acks [][]byte
	for _, id := range ids {
		acks = append(acks, c.Tx(c.providers[0], &market.AckLease{ID: id}))
	}
	c.OKAfter(time.Second, acks...)
	s := &slaCase{c: c}
	s.report(e0, [4]smProbe{probesOK, probesOK, probesOK, probesOK})
	c.OKAt(c.epochStart(e0 + 2)) // window 0 of each lease judged
	for _, id := range ids {
		if _, ok := c.window(id, 0); !ok {
			t.Fatalf("lease %d: window 0 not judged", id)
		}
	}
	judgedAt := c.Now
	var closes [][]byte
	for i, id := range ids {
		closes = append(closes, c.Tx(c.consumers[i], &market.CloseLease{ID: id}))
	}
	c.OKAfter(10*time.Second, closes...)
	closedAt := c.Now
	// Each close judged window 1, which had ended, and window 2 pro rata.
	for _, id := range ids {
		if w, ok := c.window(id, 2); !ok || !w.ProRata {
			t.Fatalf("lease %d: window 2 %+v (%v)", id, w, ok)
		}
	}

	retention := time.Duration(p.RetentionSeconds) * time.Second
	c.OKAt(judgedAt.Add(retention - time.Millisecond))
	for _, id := range ids {
		if _, ok := c.window(id, 0); !ok {
			t.Fatalf("lease %d: window 0 pruned before its retention ran out", id)
		}
	}
	// Window 0 of the three leases goes first (judged first), three a block.
	c.OKAt(judgedAt.Add(retention))
	for _, id := range ids {
		if _, ok := c.window(id, 0); ok {
			t.Errorf("lease %d: window 0 still in state after its retention", id)
		}
	}
	// Six windows judged at the close and three leases: three a block.
	count := func(prefix string) int {
		n := 0
		for k := range c.St {
			if strings.HasPrefix(k, prefix) {
				n++
			}
		}
		return n
	}
	// Windows go before their leases.
	for i, want := range [][2]int{{6, 3}, {3, 3}, {0, 3}, {0, 0}} {
		c.OKAt(closedAt.Add(retention + time.Duration(i-1)*time.Millisecond))
		if w, l := count(smWindowPrefix), count(smLeasePrefix); w != want[0] || l != want[1] {
			t.Fatalf("block %d: %d windows and %d leases in state, want %d and %d", i, w, l, want[0], want[1])
		}
	}
	for _, id := range ids {
		if _, ok := c.St[smLeaseKey(id)]; ok {
			t.Errorf("lease %d still in state after its retention", id)
		}
	}
	for k := range c.St {
		for _, pre := range []string{"market/bycons/", "market/byprov/", "market/winbase/", "market/window/", "market/prune/"} {
			if strings.HasPrefix(k, pre) {
				t.Errorf("%q left in state", k)
			}
		}
	}
	q, err := c.M.NewQueryContext(c.St, smChainID, c.Height, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = market.GetLease(q, ids[0])
	if !errors.Is(err, market.ErrPruned) || errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "pruned from state after the retention period") {
		t.Errorf("GetLease of a pruned lease: %v", err)
	}
	if _, err := market.GetLease(q, 99); errors.Is(err, market.ErrPruned) || errs.KindOf(err) != errs.NotFound {
		t.Errorf("GetLease of a lease that never was: %v", err)
	}
	if got, _ := market.LeasesOf(q, c.consumers[0].Address(), false); len(got) != 0 {
		t.Errorf("consumer0's leases after pruning: %v", got)
	}
	// The price history keeps the last 300 s (five epochs) and the rest
	// went, oldest first, a few a block.
	for range 10 {
		c.OKAfter(time.Second)
	}
	horizon := (c.Now.UnixMilli() - p.PriceHistoryRetentionSeconds*1000) / c.epochMs()
	if _, ok := c.refHist(market.ClassStorage, horizon-1); ok {
		t.Errorf("reference price of epoch %d still in the history", horizon-1)
	}
	if _, ok := c.refHist(market.ClassStorage, horizon); !ok {
		t.Errorf("reference price of epoch %d pruned early", horizon)
	}
	// Probe counts go after probe_retention_seconds.
	probeKey := func() bool {
		for k := range c.St {
			if strings.HasPrefix(k, "market/probe/") {
				return true
			}
		}
		return false
	}
	if !probeKey() {
		t.Fatalf("no probe counts in state")
	}
	c.OKAt(c.epochStart(e0 + 1).Add(time.Duration(p.ProbeRetentionSeconds) * time.Second))
	c.OKAfter(time.Second)
	if probeKey() {
		t.Errorf("probe counts in state after their retention")
	}
	c.Replay()
}

// TestSMLateJudgementSameAvailability: with max_judgements_per_block at 1,
// six leases' windows fall behind, up to several epochs, while the
// validators keep reporting (different counts each epoch, and the current
// epoch's as it goes). A window judged late reads per-epoch counts the
// running tallies no longer hold one by one; the harness checks every
// window judged in EndBlock against the sum of its epochs' counts in state.
func TestSMLateJudgementSameAvailability(t *testing.T) {
	p := smDefaultParams()
	p.MaxJudgementsPerBlock = 1
	c := newSMChain(t, smOpts{params: &p, powers: []int64{1, 2, 3, 4}, genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, slaPrice)}})
	e0 := c.epoch()
	var opens, acks [][]byte
	for i := range 6 {
		opens = append(opens, c.Tx(c.consumers[i%3], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR,
			SLA: market.SLA{TargetBps: 9500, WindowSeconds: 60}}))
	}
	c.OKAfter(time.Second, opens...)
	for id := uint64(1); id <= 6; id++ {
		acks = append(acks, c.Tx(c.providers[0], &market.AckLease{ID: id}))
	}
	c.OKAfter(time.Second, acks...)
	prov := c.providers[0].Address()
	totals := map[[2]int64]uint32{}
	report := func(i int, e int64) []byte {
		k := [2]int64{int64(i), e}
		totals[k] += 20
		ok := totals[k] - uint32((e*int64(i+3))%7)*2
		return c.Tx(c.Ops[i], &market.ProbeReport{Epoch: e, Results: []market.ProbeRow{{Provider: prov, OK: ok, Total: totals[k]}}})
	}
	maxLate := int64(0)
	for e := e0 + 1; e < e0+14; e++ {
		var txs [][]byte
		for i := range c.Ops {
			txs = append(txs, report(i, e-1))
			if (int64(i)+e)%3 != 0 {
				txs = append(txs, report(i, e))
			}
		}
		c.OKAt(c.epochStart(e).Add(time.Second), txs...)
		for _, ev := range c.EndEvents {
			if ev.Type == market.EventSLAJudged {
				maxLate = max(maxLate, (c.Now.UnixMilli()-int64(ledgertest.AttrU64(t, ev, "end_ms")))/c.epochMs())
			}
		}
	}
	if maxLate < 5 {
		t.Errorf("windows judged at most %d epochs late; the test wants some more than the tallies' 4 recent epochs", maxLate)
	}
	c.Replay()
}

// TestSMAttackChoosingReadsBounded is the market's part of attack 8: an
// open_lease that lets the market choose read every provider, so a block of
// such transactions cost providers x transactions. The offer index orders
// offers by price, and choosing walks only those that could win. With 300
// providers (100 at a fixed price, 100 at the reference price, 100 on a
// utilization curve, all the same price when unused, the worst case for
// ties), a block of 60 open_lease transactions reads a few keys for each,
// where it walked 300 providers for each (18,000) before.
func TestSMAttackChoosingReadsBounded(t *testing.T) {
	const nProv, nOpen = 300, 60
	ref := market.DefaultReferencePrices()[market.ClassStorage]
	var gen []market.GenesisProvider
	for i := range nProv {
		g := smProvider(market.ClassStorage, 1<<40, ref)
		switch i % 3 {
		case 1:
			g.Offers[0].Pricing = market.Rule{Kind: "reference", MultiplierBps: 10_000}
		case 2:
			g.Offers[0].Pricing = market.Rule{Kind: "utilization", Price: ref, SlopeBps: 5000}
		}
		gen = append(gen, g)
	}
	c := newSMChain(t, smOpts{providers: nProv, genesis: gen})
	defer market.SetVerifyChoose(false)()
	var txs [][]byte
	for i := range nOpen {
		txs = append(txs, c.Tx(c.consumers[i%len(c.consumers)], &market.OpenLease{Class: market.ClassStorage, Quantity: smGiB, Deposit: smSTR}))
	}
	cr := &countingReader{r: c.St}
	c.Wrap = func(ledger.Reader) ledger.Reader { return cr }
	c.OKAfter(time.Millisecond, txs...) // in the genesis epoch: the reference price has not moved
	c.Wrap = nil
	t.Logf("%d open_lease: %d gets, %d keys walked", nOpen, cr.gets, cr.walks)
	if reads := cr.gets + cr.walks; reads > 10*nOpen {
		t.Errorf("%d open_lease transactions read %d keys; want at most %d", nOpen, reads, 10*nOpen)
	}
	// Every lease went where a walk over every provider would have put it
	// (the fixed-price provider with the lowest address: all cost the
	// same, and all have the top score).
	provs := c.allProviders()
	for id := uint64(1); id <= nOpen; id++ {
		l := c.lease(id)
		var want identity.Address
		for _, p := range provs {
			if p.Offers[0].Pricing.Kind == "fixed" || p.Offers[0].Pricing.Kind == "reference" {
				want = p.Operator
				break
			}
		}
		if l.Provider != want {
			t.Fatalf("lease %d went to %s, want %s", id, l.Provider, want)
		}
	}
}

// TestSMLongStopSkipsWindows: after the chain stops for 2,000 one-epoch
// windows, the lease's first event judges 1,440 of them (without reports:
// no quorum), skips to the last that ended, and goes on; the windows after
// the restart are judged on their own reports (the harness checks each
// against the per-epoch counts), not on those from before the stop.
func TestSMLongStopSkipsWindows(t *testing.T) {
	s := newSLACase(t, 1, 9900)
	c := s.c
	s.window(t, [4]smProbe{probes95, probes95, probes95, probes95})
	restart := s.e0 + 2 + 2000
	c.OKAt(c.epochStart(restart).Add(time.Second))
	l := c.lease(s.id)
	if l.State != market.LeaseActive || l.WindowCount < 1441 || l.WindowStartMs != c.epochStart(restart-1).UnixMilli() {
		t.Fatalf("after the stop: %d windows counted, window from %d (want %d); %+v", l.WindowCount, l.WindowStartMs, c.epochStart(restart-1).UnixMilli(), l)
	}
	first := l.WindowCount
	good := [4]smProbe{probesOK, probesOK, probesOK, {OK: 90, Total: 100}}
	for e := restart - 1; e < restart+3; e++ {
		var txs [][]byte
		for i, p := range good {
			txs = append(txs, c.Tx(c.Ops[i], &market.ProbeReport{Epoch: e + 1, Results: []market.ProbeRow{{Provider: c.providers[0].Address(), OK: p.OK / 2, Total: p.Total / 2}}}))
			txs = append(txs, c.Tx(c.Ops[i], &market.ProbeReport{Epoch: e, Results: []market.ProbeRow{{Provider: c.providers[0].Address(), OK: p.OK, Total: p.Total}}}))
		}
		res := c.BlockAt(c.epochStart(e+1).Add(2*time.Second), txs...)
		for i, r := range res {
			// The report for the epoch before the restart's block was
			// already made, with the same count, by the previous block.
			if r.Code != ledger.CodeOK && r.Code != ledger.CodeConflict {
				t.Fatalf("epoch %d tx %d: %d %s", e, i, r.Code, r.Log)
			}
		}
	}
	l = c.lease(s.id)
	var quorum int
	for i := first; i < l.WindowCount; i++ {
		if w, ok := c.window(s.id, i); ok && w.Quorum {
			quorum++
			if w.Breach || w.AvailabilityBps != 10_000 {
				t.Errorf("window %d after the restart: %+v, want 100%% (the validators holding 2/3 of the power saw it all up)", i, w)
			}
		}
	}
	if quorum < 2 {
		t.Errorf("only %d windows after the restart had a quorum", quorum)
	}
	c.Replay()
}

// TestSMOfferIndexBuiltForOldState: a chain whose state was made before the
// offer index existed gets it built in its next block (the harness checks
// the index against the providers after every block), and the market
// chooses from it.
func TestSMOfferIndexBuiltForOldState(t *testing.T) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{smProvider(market.ClassCompute, 100, 2000), smProvider(market.ClassCompute, 100, 1000)}})
	for k := range c.St {
		if strings.HasPrefix(k, "market/index/") || k == "market/indexed" {
			delete(c.St, k)
		}
	}
	c.OKAfter(time.Second)
	id := c.open(time.Second, c.consumers[0], &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR})
	if got := c.lease(id).Provider; got != c.providers[1].Address() {
		t.Errorf("lease went to %s, want the cheaper %s", got, c.providers[1].Address())
	}
}
