package market

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// candidate is a provider that could take a lease, at a price.
type candidate struct {
	prov  *Provider
	price uint64
}

// choose picks the provider for a lease: among active providers offering
// the class with room for the quantity, at an effective price within
// maxPrice, the cheapest; then the highest score; then the lowest address.
func (s *store) choose(m *OpenLease) (*candidate, error) {
	ref := s.reference(m.Class)
	var best *candidate
	consider := func(p *Provider) error {
		o := p.offer(m.Class)
		if s.noNewLeases(p) != "" || o == nil || o.Capacity-o.Used < m.Quantity {
			return nil
		}
		price, err := EffectivePrice(o.Pricing, ref, *o, m.Quantity)
		if err != nil || price == 0 || (m.MaxPrice != 0 && price > m.MaxPrice) {
			return nil
		}
		c := &candidate{prov: p, price: price}
		if best == nil || c.price < best.price ||
			(c.price == best.price && (c.prov.Score > best.prov.Score ||
				(c.prov.Score == best.prov.Score && bytes.Compare(c.prov.Operator[:], best.prov.Operator[:]) < 0))) {
			best = c
		}
		return nil
	}
	if m.Provider != nil {
		p, err := s.provider(*m.Provider)
		if err != nil {
			return nil, err
		}
		if s.noNewLeases(p) != "" {
			return nil, errs.E(errs.Conflict, "provider %s takes no new leases: %s", p.Operator, s.noNewLeasesReason(p))
		}
		consider(p)
		if best == nil {
			return nil, errs.E(errs.Conflict, "provider %s cannot take this lease: it lacks %s capacity, or costs more than the lease's maximum price", *m.Provider, m.Class)
		}
		return best, nil
	}
	bound := func() uint64 {
		b := ^uint64(0)
		if m.MaxPrice != 0 {
			b = m.MaxPrice
		}
		if best != nil {
			b = min(b, best.price)
		}
		return b
	}
	if err := s.walkIndex(m.Class, ref, bound, func() *candidate { return best }, consider); err != nil {
		return nil, err
	}
	if verifyChoose {
		// consider replaces best only with a better candidate.
		found := best
		err := s.kv.Iterate([]byte(prefProv), func(_, v []byte) error {
			var p Provider
			if err := jsonUnmarshal(v, &p); err != nil {
				return err
			}
			return consider(&p)
		})
		if err != nil {
			return nil, err
		}
		if best != found {
			return nil, errs.E(errs.Internal, "market: the offer index chose %+v, a walk over every provider %+v", found, best)
		}
	}
	if best == nil {
		return nil, errs.E(errs.NotFound, "no provider offers %d %s of %s within your price: raise --max-price or lower --quantity (see `stratus provider list`)", m.Quantity, map[string]string{ClassStorage: "bytes", ClassCompute: "cu"}[m.Class], m.Class)
	}
	return best, nil
}

// verifyChoose makes choose check the index's choice against a walk over
// every provider (tests set it).
var verifyChoose bool

func openLease(ctx *ledger.Context, signer identity.Address, m *OpenLease) (uint64, error) {
	s := newStore(ctx)
	p := s.params()
	if m.SLA.TargetBps > 0 && m.SLA.WindowSeconds%p.EpochSeconds != 0 {
		return 0, errs.E(errs.Invalid, "the SLA window must be a whole number of %d-second epochs", p.EpochSeconds)
	}
	c, err := s.choose(m)
	if err != nil {
		return 0, err
	}
	rate, err := LeaseRate(c.price, m.Quantity, m.Class)
	if err != nil {
		return 0, err
	}
	if rate == 0 {
		return 0, errs.E(errs.Invalid, "the lease's rate rounds to zero: ask for more")
	}
	split, err := resolveSplit(m.Split, c.prov.Operator)
	if err != nil {
		return 0, err
	}
	if err := ctx.Debit(signer, BucketEscrow, m.Deposit); err != nil {
		return 0, err
	}
	now := s.nowMs()
	l := &Lease{
		ID: s.nextID(), Consumer: signer, Provider: c.prov.Operator, Class: m.Class, Quantity: m.Quantity,
		Float: m.Float, MaxPrice: m.MaxPrice, Price: c.price, Rate: rate, State: LeasePending, Split: split,
		SLA: m.SLA, Deposited: m.Deposit, Escrow: m.Deposit, OpenedMs: now, SettledMs: now,
	}
	// The capacity is reserved from the start, so a provider is never
	// promised twice.
	o := c.prov.offer(m.Class)
	o.Used += m.Quantity
	c.prov.OpenLeases++
	s.putProvider(c.prov)
	if err := s.addCapacity(m.Class, 0, int64(m.Quantity)); err != nil {
		return 0, err
	}
	s.kv.Set(u64key(prefByCons, signer, l.ID), []byte{})
	s.kv.Set(u64key(prefByProv, c.prov.Operator, l.ID), []byte{})
	s.schedule(l, now+p.AckTimeoutSeconds*msPerSecond)
	s.putLease(l)
	Events.LeaseOpened.Emit(ctx, ledger.FormatInt(l.ID), signer.String(), c.prov.Operator.String(), m.Class,
		ledger.FormatInt(m.Quantity), ledger.FormatInt(rate), ledger.FormatInt(m.Deposit), "")
	return l.ID, nil
}

func resolveSplit(in []Payee, provider identity.Address) ([]Payee, error) {
	if len(in) == 0 {
		return []Payee{{To: provider.String(), Bps: 10_000}}, nil
	}
	out := make([]Payee, len(in))
	for i, p := range in {
		if p.To == "provider" {
			p.To = provider.String()
		}
		out[i] = Payee{To: p.To, Bps: p.Bps}
	}
	seen := map[string]bool{}
	for _, p := range out {
		if seen[p.To] {
			return nil, errs.E(errs.Invalid, "payee %s appears twice in the split", p.To)
		}
		seen[p.To] = true
	}
	return out, nil
}

func ackLease(ctx *ledger.Context, signer identity.Address, m *AckLease) error {
	s := newStore(ctx)
	l, err := s.lease(m.ID)
	if err != nil {
		return err
	}
	if l.Provider != signer {
		return errs.E(errs.Unauthorized, "only lease %d's provider %s can acknowledge it", l.ID, l.Provider)
	}
	if l.State != LeasePending {
		return errs.E(errs.Conflict, "lease %d is %s, not pending", l.ID, l.State)
	}
	now := s.nowMs()
	if now >= l.OpenedMs+s.params().AckTimeoutSeconds*msPerSecond {
		return errs.E(errs.Conflict, "lease %d was not acknowledged in time and is being cancelled", l.ID)
	}
	l.State, l.ActivatedMs, l.SettledMs = LeaseActive, now, now
	if l.SLA.TargetBps > 0 {
		// Windows are aligned to epochs, so probe counts map onto them.
		ep := s.params().EpochSeconds * msPerSecond
		l.WindowStartMs = now - now%ep
		if err := s.startWindow(l); err != nil {
			return err
		}
	}
	s.reschedule(l)
	s.putLease(l)
	Events.LeaseActive.Emit(ctx, ledger.FormatInt(l.ID), signer.String(), "")
	return nil
}

func topupLease(ctx *ledger.Context, signer identity.Address, m *TopupLease) error {
	s := newStore(ctx)
	l, err := s.lease(m.ID)
	if err != nil {
		return err
	}
	if l.State == LeaseClosed {
		return errs.E(errs.Conflict, "lease %d is closed: open a new one", l.ID)
	}
	// Anyone may top up, so a top-up must not get a window judged before
	// the validators' reports for it are in.
	if err := s.settleJudging(l, s.nowMs()-s.params().EpochSeconds*msPerSecond); err != nil {
		return err
	}
	s.chargeJudging()
	if l.State == LeaseClosed {
		s.putLease(l)
		return errs.E(errs.Conflict, "lease %d ran out of escrow and closed", l.ID)
	}
	if err := ctx.Debit(signer, BucketEscrow, m.Amount); err != nil {
		return err
	}
	if l.Escrow, err = money.Add(l.Escrow, m.Amount); err != nil {
		return err
	}
	if l.Deposited, err = money.Add(l.Deposited, m.Amount); err != nil {
		return err
	}
	if l.State == LeaseGrace && !s.inGrace(l) {
		l.State = LeaseActive
		Events.LeaseActive.Emit(ctx, ledger.FormatInt(l.ID), "", "topup")
	}
	s.reschedule(l)
	s.putLease(l)
	Events.LeaseTopup.Emit(ctx, ledger.FormatInt(l.ID), ledger.FormatInt(m.Amount))
	return nil
}

func closeLease(ctx *ledger.Context, signer identity.Address, m *CloseLease) error {
	return closeLeaseBy(ctx, signer, m.ID, true)
}

func closeLeaseBy(ctx *ledger.Context, signer identity.Address, id uint64, ask bool) error {
	s := newStore(ctx)
	l, err := s.lease(id)
	if err != nil {
		return err
	}
	if l.Consumer != signer && l.Provider != signer {
		return errs.E(errs.Unauthorized, "only lease %d's consumer or provider can close it", l.ID)
	}
	if l.State == LeaseClosed {
		return errs.E(errs.Conflict, "lease %d is already closed", l.ID)
	}
	if ask {
		for _, h := range hooks(ctx) {
			if err := h.BeforeLeaseClose(ctx, l, signer); err != nil {
				return err
			}
		}
	}
	reason := "consumer"
	if signer == l.Provider {
		reason = "provider"
	}
	if err := s.settle(l); err != nil {
		return err
	}
	if l.State != LeaseClosed {
		if err := s.close(l, reason); err != nil {
			return err
		}
	}
	s.chargeJudging()
	s.putLease(l)
	return nil
}

// chargeJudging charges the running transaction for the SLA windows it got
// judged: each reads every validator's tally and writes a window record.
func (s *store) chargeJudging() {
	if s.judged > 0 {
		s.ctx.ConsumeGas(uint64(s.judged)*s.params().JudgementGas, "judging SLA windows")
	}
}

// settle brings a lease's payments up to now: first every SLA window that
// has ended is settled to its end and judged, so each window's refund is
// computed from what was paid in that window; then the rest is settled, and a
// lease whose escrow is gone closes.
func (s *store) settle(l *Lease) error { return s.settleJudging(l, s.nowMs()) }

// exhaustedBy reports whether the lease's escrow runs out by t.
func (s *store) exhaustedBy(l *Lease, t int64) bool {
	if t <= l.SettledMs {
		return l.Escrow == 0
	}
	hi, lo := bits.Mul64(l.Rate, uint64(t-l.SettledMs))
	lo, c := bits.Add64(lo, l.AccruedPico, 0)
	hi += c
	eh, el := bits.Mul64(l.Escrow, picoPerUstr)
	return hi > eh || (hi == eh && lo >= el)
}

// maxJudgedWindows bounds the windows one settlement judges; after a long
// halt the rest are skipped unjudged (there were no reports for them).
const maxJudgedWindows = 1440

// settleJudging settles a lease to now, judging the SLA windows that ended
// by judgeBy on the way.
func (s *store) settleJudging(l *Lease, judgeBy int64) error {
	for judged := 0; l.State == LeaseActive || l.State == LeaseGrace; judged++ {
		if l.SLA.TargetBps == 0 {
			break
		}
		win := l.SLA.WindowSeconds * msPerSecond
		end := l.WindowStartMs + win
		if end > judgeBy || end > s.nowMs() {
			break
		}
		if judged == maxJudgedWindows {
			// Skip to the last window that ended; its charges are what
			// the skipped time paid.
			skip := (min(judgeBy, s.nowMs()) - end) / win
			l.WindowStartMs += skip * win
			l.WindowCount += uint64(skip)
			end = l.WindowStartMs + win
			if err := s.startWindow(l); err != nil {
				return err
			}
		}
		if err := s.settleTo(l, end); err != nil {
			return err
		}
		if err := s.endWindow(l); err != nil {
			return err
		}
	}
	if l.State != LeaseActive && l.State != LeaseGrace {
		return nil
	}
	if end := l.WindowStartMs + l.SLA.WindowSeconds*msPerSecond; l.SLA.TargetBps > 0 && end <= s.nowMs() {
		// The window has ended but waits for its judgement: what accrues
		// after its end belongs to the next window.
		if err := s.settleTo(l, end); err != nil {
			return err
		}
		inWindow := l.WindowCharges
		if err := s.settleTo(l, s.nowMs()); err != nil {
			return err
		}
		l.LateCharges += l.WindowCharges - inWindow
		l.WindowCharges = inWindow
	} else if err := s.settleTo(l, s.nowMs()); err != nil {
		return err
	}
	if l.Escrow == 0 {
		return s.close(l, "escrow")
	}
	return nil
}

// settleTo pays what accrued from the last settlement to t: rate x elapsed
// time leaves escrow in whole ustr, and the fraction is carried. It never
// closes the lease; an empty escrow is the caller's to act on.
func (s *store) settleTo(l *Lease, t int64) error {
	if (l.State != LeaseActive && l.State != LeaseGrace) || t <= l.SettledMs {
		return nil
	}
	// pico = rate (nano/s) x elapsed (ms) + carried fraction, in 128 bits.
	hi, lo := bits.Mul64(l.Rate, uint64(t-l.SettledMs))
	lo, c := bits.Add64(lo, l.AccruedPico, 0)
	hi += c
	var owed, frac uint64
	if hi >= picoPerUstr {
		owed, frac = ^uint64(0), 0 // beyond any escrow
	} else {
		owed, frac = bits.Div64(hi, lo, picoPerUstr)
	}
	l.SettledMs = t
	if owed >= l.Escrow {
		owed, frac = l.Escrow, 0 // the rest of what accrued is forgiven
	}
	l.AccruedPico = frac
	if err := s.pay(l, owed); err != nil {
		return err
	}
	if l.State == LeaseActive && l.Escrow > 0 && s.inGrace(l) {
		l.State = LeaseGrace
		Events.LeaseGrace.Emit(s.ctx, ledger.FormatInt(l.ID), ledger.FormatInt(l.Escrow))
	}
	return nil
}

// pay moves amt from the lease's escrow to its payees. Each payee's total is
// floor(settled x bps / 10000) over the lease's life, so rounding never
// drifts; what no payee is owed yet waits in the payouts bucket.
func (s *store) pay(l *Lease, amt uint64) error {
	if amt == 0 {
		return nil
	}
	if err := s.ctx.MoveBucket(BucketEscrow, BucketPayouts, amt); err != nil {
		return err
	}
	l.Escrow -= amt
	l.Settled += amt
	l.Pending += amt
	l.WindowCharges += amt
	for i := range l.Split {
		p := &l.Split[i]
		due, _, err := money.MulDiv(l.Settled, p.Bps, 10_000)
		if err != nil {
			return err
		}
		if due <= p.Paid {
			continue
		}
		if err := s.payTo(p.To, due-p.Paid); err != nil {
			return err
		}
		l.Pending -= due - p.Paid
		p.Paid = due
	}
	return nil
}

func (s *store) payTo(to string, amt uint64) error {
	if to == PayeeTreasury {
		return s.ctx.MoveBucket(BucketPayouts, ledger.BucketTreasury, amt)
	}
	a, err := identity.ParseDID(to)
	if err != nil {
		return err
	}
	return s.ctx.Credit(BucketPayouts, a, amt)
}

// inGrace reports whether the escrow covers less than the grace period.
func (s *store) inGrace(l *Lease) bool {
	need, _, err := money.MulDiv(l.Rate, uint64(s.params().GraceSeconds), NanoPerUstr)
	return err == nil && l.Escrow < need
}

// close ends a lease after it has been settled: the escrow goes back to
// the consumer, what rounding left pending goes to the first payee, and the
// provider's capacity is freed.
func (s *store) close(l *Lease, reason string) error {
	if err := s.judgeOnClose(l); err != nil {
		return err
	}
	if l.Escrow > 0 {
		if err := s.ctx.Credit(BucketEscrow, l.Consumer, l.Escrow); err != nil {
			return err
		}
		l.Refunded += l.Escrow
		l.Escrow = 0
	}
	if l.Pending > 0 {
		if err := s.payTo(l.Split[0].To, l.Pending); err != nil {
			return err
		}
		l.Split[0].Paid += l.Pending
		l.Pending = 0
	}
	if prov, err := s.provider(l.Provider); err == nil {
		if o := prov.offer(l.Class); o != nil {
			o.Used -= min(o.Used, l.Quantity)
		}
		if prov.OpenLeases > 0 {
			prov.OpenLeases--
		}
		s.putProvider(prov)
		if prov.State == ProviderActive {
			if err := s.addCapacity(l.Class, 0, -int64(l.Quantity)); err != nil {
				return err
			}
		}
	}
	l.AccruedPico = 0 // a fraction of a ustr that can no longer be paid
	l.State, l.CloseReason, l.ClosedMs = LeaseClosed, reason, s.nowMs()
	s.schedule(l, 0)
	s.kv.Delete(u64key(prefWinBase, l.ID))
	s.queuePrune(l.ClosedMs+s.params().RetentionSeconds*msPerSecond, pruneLease, l.ID)
	// The event carries the lease's final books, which stay in the audit
	// log after the record is pruned.
	Events.LeaseClosed.Emit(s.ctx, ledger.FormatInt(l.ID), reason, ledger.FormatInt(l.Refunded),
		l.Consumer.String(), l.Provider.String(), ledger.FormatInt(l.Deposited), ledger.FormatInt(l.Settled),
		ledger.FormatInt(l.SLARefunded), ledger.FormatInt(l.SLAShortfall))
	for _, h := range hooks(s.ctx) {
		if err := h.AfterLeaseClose(s.ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// reschedule puts the lease's next event in the due queue: the end of its
// SLA window, the moment its escrow falls under the grace period, or the
// moment it runs out, whichever comes first.
func (s *store) reschedule(l *Lease) {
	if l.State == LeaseClosed || l.State == LeasePending {
		return
	}
	next := int64(0)
	earliest := func(t int64) {
		if t > 0 && (next == 0 || t < next) {
			next = t
		}
	}
	if l.SLA.TargetBps > 0 {
		earliest(s.windowDue(l))
	}
	if l.Float {
		// A floating lease is re-rated at every epoch boundary: the first
		// block of an epoch visits every floating lease.
		ep := s.params().EpochSeconds * msPerSecond
		earliest((s.nowMs()/ep + 1) * ep)
	}
	if l.Rate > 0 {
		// ms until escrow is gone: (escrow x 1e12 - accrued) / rate.
		hi, lo := bits.Mul64(l.Escrow, picoPerUstr)
		lo, b := bits.Sub64(lo, l.AccruedPico, 0)
		hi -= b
		if hi < l.Rate {
			ms, rem := bits.Div64(hi, lo, l.Rate)
			if rem > 0 {
				ms++
			}
			if ms < 1<<62 {
				out := l.SettledMs + int64(ms)
				earliest(out)
				if l.State == LeaseActive {
					earliest(out - s.params().GraceSeconds*msPerSecond)
				}
			}
		}
	}
	if next != 0 && next <= s.nowMs() {
		next = s.nowMs() + 1
	}
	s.schedule(l, next)
}

// EventDueCarried says that EndBlock reached MaxJudgementsPerBlock with
// lease events still due (due_ms: the earliest of them); they run in the
// next blocks.
const EventDueCarried = "market.due_carried"

// processDue handles the lease events due by now, earliest first, until
// they have judged MaxJudgementsPerBlock SLA windows (an event that judges
// none counts as one); the rest stay in the queue for the next block.
func (s *store) processDue() error {
	now := s.nowMs()
	budget := int(s.params().MaxJudgementsPerBlock)
	for budget > 0 {
		// Keys are time then id, big-endian, so the walk is in due order.
		// An event handled here is rescheduled after now or dropped, so
		// the next walk starts past it.
		var ids []uint64
		var dues []int64
		err := s.kv.Iterate([]byte(prefDue), func(k, _ []byte) error {
			at := int64(binary.BigEndian.Uint64(k[len(prefDue):]))
			if at > now || len(ids) == budget+1 {
				return ledger.ErrStop
			}
			ids = append(ids, binary.BigEndian.Uint64(k[len(prefDue)+8:]))
			dues = append(dues, at)
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		for i, id := range ids {
			if budget <= 0 {
				// Looked at one more than the budget, to say so.
				Events.DueCarried.Emit(s.ctx, ledger.FormatInt(uint64(dues[i])))
				return nil
			}
			l, err := s.lease(id)
			if err != nil {
				return err
			}
			before := s.judged
			if err := s.due(l); err != nil {
				return err
			}
			s.putLease(l)
			budget -= max(1, s.judged-before)
		}
	}
	return nil
}

// due runs a lease's scheduled work.
func (s *store) due(l *Lease) error {
	now := s.nowMs()
	if l.State == LeasePending {
		if now >= l.OpenedMs+s.params().AckTimeoutSeconds*msPerSecond {
			return s.close(l, "unacknowledged")
		}
		return nil
	}
	// Windows are judged one epoch after they end, when the validators'
	// reports for their last epoch are in; but a lease about to close for
	// lack of escrow has every ended window judged first.
	judgeBy := now - s.params().EpochSeconds*msPerSecond
	if s.exhaustedBy(l, now) {
		judgeBy = now
	}
	if err := s.settleJudging(l, judgeBy); err != nil {
		return err
	}
	if l.Float && l.State != LeaseClosed {
		s.rerate(l)
	}
	s.reschedule(l)
	return nil
}

// windowDue is when a lease's current SLA window is judged: one epoch after
// it ends, so the validators' reports for its last epoch are in.
func (s *store) windowDue(l *Lease) int64 {
	return l.WindowStartMs + (l.SLA.WindowSeconds+s.params().EpochSeconds)*msPerSecond
}

// rerate sets a floating lease's price to its provider's effective price
// now, capped by the lease's maximum price. It is called right after a
// settlement, so the old rate has paid for all time up to now. A price it
// cannot use (an overflow, a rate of zero) leaves the old one: a provider
// must never be able to stop the chain by pricing itself absurdly.
func (s *store) rerate(l *Lease) {
	prov, err := s.provider(l.Provider)
	if err != nil {
		return
	}
	o := prov.offer(l.Class)
	if o == nil {
		return
	}
	// The lease's own quantity is already in o.Used.
	price, err := EffectivePrice(o.Pricing, s.reference(l.Class), *o, 0)
	if err != nil {
		return
	}
	if l.MaxPrice != 0 && price > l.MaxPrice {
		price = l.MaxPrice
	}
	if price == l.Price || price == 0 {
		return
	}
	rate, err := LeaseRate(price, l.Quantity, l.Class)
	if err != nil || rate == 0 {
		return
	}
	l.Price, l.Rate = price, rate
	Events.LeaseRerated.Emit(s.ctx, ledger.FormatInt(l.ID), ledger.FormatInt(price), ledger.FormatInt(rate))
}
