package market_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// smWorkload drives a chain with a random mix of everything the market
// does, good and bad. It keeps no model of the market: the harness checks
// conservation and every lease's and provider's books after each block,
// and a replay checks determinism.
type smWorkload struct {
	t      *testing.T
	r      *rand.Rand
	c      *smChain
	health map[identity.Address]uint32 // per-mille of probes a provider answers
	totals map[string]uint32           // op, provider, epoch -> probes reported
	stats  map[string]int
	at     time.Time // the next block's time
	// The state as the last block left it.
	leases []market.Lease
	provs  []market.Provider
}

func (w *smWorkload) epoch() int64 { return w.at.UnixMilli() / w.c.epochMs() }

// healthAt is the share of probes a provider answers in an epoch, per
// mille. provider4 fails in bursts: down for three epochs out of seven.
func (w *smWorkload) healthAt(a identity.Address, e int64) uint32 {
	if a == w.c.providers[4].Address() && e%7 < 3 {
		return 0
	}
	return w.health[a]
}

// dodge is a provider's close timed just before one of its SLA windows
// ends, when it expects a breach: the block that carries it comes a few
// milliseconds to seconds before the end. It returns the block time and
// the close, or false if no SLA lease has a window ending soon.
func (w *smWorkload) dodge() (time.Time, []byte, bool) {
	c := w.c
	var best *market.Lease
	var end int64
	for i := range w.leases {
		l := &w.leases[i]
		if (l.State != market.LeaseActive && l.State != market.LeaseGrace) || l.SLA.TargetBps == 0 {
			continue
		}
		e := l.WindowStartMs + l.SLA.WindowSeconds*1000
		if e-c.Now.UnixMilli() > 5_000 && e-c.Now.UnixMilli() < 30*60_000 && (best == nil || e < end) {
			best, end = l, e
		}
	}
	if best == nil {
		return time.Time{}, nil, false
	}
	at := time.UnixMilli(end - 1 - w.r.Int64N(5_000)).UTC()
	return at, c.Tx(w.providerKey(best.Provider), &market.CloseLease{ID: best.ID}), true
}

func (w *smWorkload) pick(keys []*identity.Key) *identity.Key { return keys[w.r.IntN(len(keys))] }

func (w *smWorkload) providerKey(a identity.Address) *identity.Key {
	for _, k := range w.c.providers {
		if k.Address() == a {
			return k
		}
	}
	return nil
}

func (w *smWorkload) offers() []market.Offer {
	r := w.r
	var out []market.Offer
	rule := func(base uint64) market.Rule {
		switch r.IntN(3) {
		case 0:
			return market.Rule{Kind: "fixed", Price: base/2 + r.Uint64N(base)}
		case 1:
			return market.Rule{Kind: "reference", MultiplierBps: 5000 + r.Uint64N(10_000)}
		}
		return market.Rule{Kind: "utilization", Price: base/2 + r.Uint64N(base), SlopeBps: r.Uint64N(30_000)}
	}
	if r.IntN(3) > 0 {
		out = append(out, market.Offer{Class: market.ClassStorage, Capacity: (1 + r.Uint64N(200)) * smGiB, Pricing: rule(400_000_000)})
	}
	if len(out) == 0 || r.IntN(2) == 0 {
		out = append(out, market.Offer{Class: market.ClassCompute, Capacity: 1 + r.Uint64N(64), Pricing: rule(3_000_000)})
	}
	return out
}

// good returns a message that may well succeed, and who sends it.
func (w *smWorkload) good() (*identity.Key, ledger.Msg, string) {
	r, c := w.r, w.c
	provs, leases := w.provs, w.leases
	var open, pending []market.Lease
	for _, l := range leases {
		switch l.State {
		case market.LeasePending:
			pending = append(pending, l)
			open = append(open, l)
		case market.LeaseActive, market.LeaseGrace:
			open = append(open, l)
		}
	}
	switch n := r.IntN(100); {
	case n < 8:
		k := w.pick(c.providers)
		coll := c.mp.MinCollateral + r.Uint64N(500*smSTR)
		return k, &market.RegisterProvider{Endpoint: fmt.Sprintf("https://%s.example", k.Name), Region: "eu", Offers: w.offers(), Collateral: coll}, "register"
	case n < 12 && len(provs) > 0:
		p := provs[r.IntN(len(provs))]
		m := &market.UpdateProvider{}
		switch r.IntN(3) {
		case 0:
			m.AddCollateral = 1 + r.Uint64N(50*smSTR)
		case 1:
			m.Offers = w.offers()
		default:
			m.Region = "us"
		}
		return w.providerKey(p.Operator), m, "update"
	case n < 14 && len(provs) > 0:
		return w.providerKey(provs[r.IntN(len(provs))].Operator), &market.RetireProvider{}, "retire"
	case n < 18:
		return w.pick(c.providers), &market.Unbond{}, "unbond"
	case n < 45:
		m := &market.OpenLease{Class: market.ClassCompute, Quantity: 1 + r.Uint64N(8)}
		if r.IntN(2) == 0 {
			m.Class, m.Quantity = market.ClassStorage, (1+r.Uint64N(20))*smGiB+r.Uint64N(smGiB)
		}
		// Deposits from a few minutes' worth to months'.
		m.Deposit = 1 + r.Uint64N([]uint64{2_000, 200_000, 20 * smSTR}[r.IntN(3)])
		if r.IntN(4) == 0 {
			m.MaxPrice = r.Uint64N(500_000_000)
		}
		if r.IntN(5) == 0 && len(provs) > 0 {
			a := provs[r.IntN(len(provs))].Operator
			m.Provider = &a
		}
		if r.IntN(5) < 2 {
			m.SLA = market.SLA{TargetBps: 9000 + r.Uint64N(1000), WindowSeconds: (1 + r.Int64N(3)) * c.mp.EpochSeconds}
		}
		if r.IntN(3) == 0 {
			a := 1 + r.Uint64N(9998)
			b := 1 + r.Uint64N(9999-a)
			m.Split = []market.Payee{{To: "provider", Bps: a}, {To: c.creator.Address().String(), Bps: b}, {To: market.PayeeTreasury, Bps: 10_000 - a - b}}
			r.Shuffle(len(m.Split), func(i, j int) { m.Split[i], m.Split[j] = m.Split[j], m.Split[i] })
		}
		m.Float = r.IntN(5) == 0
		if m.Float && m.MaxPrice == 0 {
			// A floating lease needs a ceiling; some bind, most do not.
			m.MaxPrice = 1 + r.Uint64N(1_000_000_000)
		}
		return w.pick(c.consumers), m, "open"
	case n < 65 && len(pending) > 0:
		l := pending[r.IntN(len(pending))]
		k := w.providerKey(l.Provider)
		if r.IntN(10) == 0 {
			k = w.pick(c.consumers)
		}
		return k, &market.AckLease{ID: l.ID}, "ack"
	case n < 75 && len(leases) > 0:
		l := leases[r.IntN(len(leases))]
		if len(open) > 0 && r.IntN(5) > 0 {
			l = open[r.IntN(len(open))]
		}
		return w.pick(c.consumers), &market.TopupLease{ID: l.ID, Amount: 1 + r.Uint64N(100_000)}, "topup"
	case n < 83 && len(leases) > 0:
		l := leases[r.IntN(len(leases))]
		if len(open) > 0 && r.IntN(5) > 0 {
			l = open[r.IntN(len(open))]
		}
		var k *identity.Key
		switch r.IntN(6) {
		case 0:
			k = w.providerKey(l.Provider)
		case 1:
			k = c.stranger
		default:
			for _, ck := range c.consumers {
				if ck.Address() == l.Consumer {
					k = ck
				}
			}
		}
		return k, &market.CloseLease{ID: l.ID}, "close"
	case n < 90 && len(provs) > 0:
		// An extra report, often late (for the last epoch) or duplicated.
		return w.probe(r.IntN(len(c.Ops)), w.epoch()-int64(r.IntN(2)))
	case n < 96:
		// A consumer who closes early: a lease still pending, or one
		// acknowledged in the last few minutes.
		var early []market.Lease
		for _, l := range leases {
			if l.State == market.LeasePending || (l.State == market.LeaseActive && c.Now.UnixMilli()-l.ActivatedMs < 5*60_000) {
				early = append(early, l)
			}
		}
		if len(early) == 0 {
			return nil, nil, ""
		}
		l := early[r.IntN(len(early))]
		for _, ck := range c.consumers {
			if ck.Address() == l.Consumer {
				return ck, &market.CloseLease{ID: l.ID}, "close early"
			}
		}
	}
	return nil, nil, ""
}

// probe is validator i's report for epoch e: mostly counts that grow, now
// and then a duplicate; op3 sometimes lies.
func (w *smWorkload) probe(i int, e int64) (*identity.Key, ledger.Msg, string) {
	r := w.r
	m := &market.ProbeReport{Epoch: e}
	for _, p := range w.provs {
		if r.IntN(8) == 0 {
			continue
		}
		key := fmt.Sprintf("%d/%x/%d", i, p.Operator[:4], e)
		total := w.totals[key] + 1 + uint32(r.IntN(20))
		if r.IntN(30) == 0 {
			total = w.totals[key]
		}
		w.totals[key] = max(w.totals[key], total)
		ok := uint32(uint64(total) * uint64(w.healthAt(p.Operator, e)) / 1000)
		switch {
		case i == 3 && r.IntN(3) == 0:
			// op3 lies at random.
			ok = uint32(r.IntN(int(total) + 1))
		case i == 2 && r.IntN(4) == 0:
			// op2 covers for the providers: all up.
			ok = total
		}
		if total > 0 {
			m.Results = append(m.Results, market.ProbeRow{Provider: p.Operator, OK: ok, Total: total})
		}
	}
	if len(m.Results) == 0 {
		return nil, nil, ""
	}
	return w.c.Ops[i], m, "probe"
}

// bad returns a message that must fail, and whether it fails in the ante
// checks (or in decoding, when raw is set).
func (w *smWorkload) bad() (k *identity.Key, msg ledger.Msg, raw []byte, kind string) {
	r, c := w.r, w.c
	cons := w.pick(c.consumers)
	switch r.IntN(9) {
	case 0:
		return cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: 1, Split: []market.Payee{{To: "provider", Bps: 5000}, {To: market.PayeeTreasury, Bps: 4999}}}, nil, "bad split"
	case 1:
		return cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 0, Deposit: 5}, nil, "zero quantity"
	case 2:
		return cons, nil, []byte(`{"class": "compute","quantity":"1","deposit":"5","sla":{"target_bps":0,"window_seconds":0}}`), "non-canonical"
	case 3:
		return cons, &market.ProbeReport{Epoch: w.epoch(), Results: []market.ProbeRow{{Provider: c.providers[0].Address(), OK: 1, Total: 1}}}, nil, "probe by a consumer"
	case 4:
		return c.Ops[0], &market.ProbeReport{Epoch: w.epoch() - 2 - r.Int64N(3), Results: []market.ProbeRow{{Provider: c.providers[0].Address(), OK: 1, Total: 1 << 30}}}, nil, "stale probe"
	case 5:
		return c.stranger, &market.CloseLease{ID: 1 + r.Uint64N(10)}, nil, "close by a stranger"
	case 6:
		// Beyond MaxCapacity: refused by its own validation.
		return cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 1 << 63, Deposit: 5, MaxPrice: 1 << 62}, nil, "overflowing quantity"
	case 7:
		return cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: 5, Float: true}, nil, "floating without a max price"
	}
	return cons, &market.TopupLease{ID: 1, Amount: 1 << 63}, nil, "top-up beyond the balance"
}

func runSMWorkload(t *testing.T, seed uint64, blocks int) map[string]int {
	p := smDefaultParams()
	// Five-minute epochs: a window every 5 to 15 minutes, which a chain
	// that stops for two days judges one by one when it comes back.
	p.GraceSeconds, p.EpochSeconds = 600, 300
	// Small budgets and short retention, so that the workload carries
	// judgements and pruning over blocks, and prunes leases, windows and
	// prices.
	p.MaxJudgementsPerBlock, p.MaxPrunePerBlock = 40, 25
	p.RetentionSeconds, p.PriceHistoryRetentionSeconds = 2*86_400, 86_400
	c := newSMChain(t, smOpts{consumers: 6, providers: 6, powers: []int64{1, 1, 2, 3}, params: &p, feeEpoch: 7,
		genesis: []market.GenesisProvider{smProvider(market.ClassStorage, 100*smGiB, 300_000_000), smProvider(market.ClassCompute, 32, 2_000_000)}})
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &smWorkload{t: t, r: r, c: c, health: map[identity.Address]uint32{}, totals: map[string]uint32{}, stats: map[string]int{}}
	for i, k := range c.providers {
		w.health[k.Address()] = []uint32{1000, 999, 995, 950, 600, 0}[i]
	}
	for range blocks {
		var dt time.Duration
		switch n := r.IntN(10); {
		case n < 5:
			dt = time.Second + time.Duration(r.Int64N(int64(30*time.Second)))
		case n < 7:
			dt = 30*time.Second + time.Duration(r.Int64N(int64(5*time.Minute)))
		case n < 9:
			dt = 5*time.Minute + time.Duration(r.Int64N(int64(3*time.Hour)))
		default:
			dt = 3*time.Hour + time.Duration(r.Int64N(int64(45*time.Hour)))
		}
		dt = dt.Truncate(time.Millisecond)
		w.at = c.Now.Add(dt)
		w.leases, w.provs = c.leases(), c.allProviders()
		var txs [][]byte
		var kinds []string
		var mustFail []bool
		if r.IntN(6) == 0 {
			if at, tx, ok := w.dodge(); ok {
				w.at = at
				txs, kinds, mustFail = append(txs, tx), append(kinds, "close before window end"), append(mustFail, false)
			}
		}
		// Most blocks carry most validators' reports for the epoch.
		if len(w.provs) > 0 && r.IntN(10) < 7 {
			for i := range c.Ops {
				if r.IntN(10) < 9 {
					if k, msg, kind := w.probe(i, w.epoch()); msg != nil {
						txs = append(txs, c.Tx(k, msg))
						kinds, mustFail = append(kinds, kind), append(mustFail, false)
					}
				}
			}
		}
		// Providers mostly acknowledge what they were given.
		for _, l := range w.leases {
			if l.State == market.LeasePending && r.IntN(10) < 6 {
				txs = append(txs, c.Tx(w.providerKey(l.Provider), &market.AckLease{ID: l.ID}))
				kinds, mustFail = append(kinds, "ack"), append(mustFail, false)
			}
		}
		for range r.IntN(9) {
			if r.IntN(10) == 0 {
				k, msg, raw, kind := w.bad()
				if raw != nil {
					txs = append(txs, c.RawTx(k, "market/open_lease", raw))
				} else {
					txs = append(txs, c.Tx(k, msg))
				}
				kinds, mustFail = append(kinds, kind), append(mustFail, true)
				continue
			}
			k, msg, kind := w.good()
			if msg == nil || k == nil {
				continue
			}
			txs = append(txs, c.Tx(k, msg))
			kinds, mustFail = append(kinds, kind), append(mustFail, false)
		}
		before := len(w.leases)
		res := c.BlockAt(w.at, txs...)
		if n := len(c.leases()); n < before {
			w.stats["pruned lease"] += before - n
		}
		for i, rs := range res {
			if mustFail[i] && rs.Code == ledger.CodeOK {
				t.Fatalf("height %d: %s succeeded", c.Height, kinds[i])
			}
			if rs.Code == ledger.CodeInternal {
				t.Fatalf("height %d: %s: internal error %s", c.Height, kinds[i], rs.Log)
			}
			w.stats[fmt.Sprintf("tx %s %d", kinds[i], rs.Code)]++
		}
		for _, ev := range c.Events() {
			w.stats["event "+ev.Type]++
			switch ev.Type {
			case "lease.closed":
				w.stats["closed "+ev.Get("reason")]++
			case market.EventSLAJudged:
				if ev.Get("pro_rata") == "true" {
					w.stats["judged pro rata"]++
				}
			case market.EventSLABreach:
				if ev.Get("pro_rata") == "true" {
					w.stats["breach pro rata"]++
				}
				if ev.Get("shortfall") != "0" {
					w.stats["breach with shortfall"]++
				}
			}
		}
	}
	c.Replay()
	var lines []string
	for k, v := range w.stats {
		lines = append(lines, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(lines)
	t.Logf("seed %d: %d blocks to %v, %d leases\n%s", seed, c.Height, c.Now.Sub(smT0), len(c.leases()), strings.Join(lines, "\n"))
	return w.stats
}

// TestSMRandomWorkload: 150 blocks, 1 s to 2 days apart, of a random mix of
// registrations, updates, retirements, unbonding, leases opened,
// acknowledged, topped up and closed, probe reports and bad input. After
// every block value is conserved and every lease's money adds up (the
// harness); at the end a fresh machine replays the blocks to the same app
// hashes and state.
func TestSMRandomWorkload(t *testing.T) {
	all := map[string]int{}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			for k, v := range runSMWorkload(t, seed, 150) {
				all[k] += v
			}
		})
	}
	if t.Failed() {
		return
	}
	// The workload must have exercised what it claims to.
	for _, want := range []string{
		"event provider.registered", "event provider.updated", "event provider.retiring", "event provider.unbonded",
		"event lease.opened", "event lease.active", "event lease.grace", "event lease.topup", "event lease.rerated",
		"event sla.breach", "event lease.migrate", "event bank.fees_distributed",
		"closed consumer", "closed provider", "closed escrow", "closed unacknowledged", "closed sla",
		"tx probe 0", "tx probe 9", "tx unbond 9", "tx ack 2", "tx close 2", "tx topup 9",
		"tx bad split 1", "tx non-canonical 1", "tx probe by a consumer 2", "tx stale probe 1", "tx overflowing quantity 1",
		"tx floating without a max price 1",
		"tx close early 0", "tx close before window end 0", "judged pro rata", "breach pro rata",
		"event sla.judged", "event price.reference", "event market.due_carried", "pruned lease",
	} {
		if all[want] == 0 {
			t.Errorf("the workload never produced %q", want)
		}
	}
}

// TestSMRandomWorkloadCapacityIndex is the workload on another seed. The
// harness checks the capacity index against the active providers after
// every block (retirements included), here as in every test.
func TestSMRandomWorkloadCapacityIndex(t *testing.T) {
	stats := runSMWorkload(t, 4, 150)
	if stats["event provider.retiring"] == 0 {
		t.Errorf("the workload retired no provider")
	}
}
