package functions

import (
	"math/bits"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// EventCharged: a provider's usage report was charged to a deployment.
// Attributes deployment, provider, sequence, calls (in this report), mib_ms,
// amount (ustr charged for this report), charged (the deployment's total),
// state and, on a replica's last report, final.
const EventCharged = "function.charged"

// Per-replica instance limits, as the providers' runtime applies them.
const (
	// DefaultInstances is a replica's instance limit when its spec has no
	// scaling.target_concurrency.
	DefaultInstances = 8
	// MaxInstances caps any replica's concurrent instances.
	MaxInstances = 256
)

// Instances is how many calls of sp one replica runs at once:
// scaling.target_concurrency, at most MaxInstances.
func Instances(sp Spec) uint64 {
	c := uint64(sp.Scaling.TargetConcurrency)
	if c == 0 {
		c = DefaultInstances
	}
	return min(c, MaxInstances)
}

// ConcurrencyLimit is the most concurrency one replica of sp may report:
// its instances, and as many calls waiting for one. Waiting calls count,
// so that the autoscaler sees demand beyond target x replicas.
func ConcurrencyLimit(sp Spec) uint64 { return 2 * Instances(sp) }

// memMiB is sp's memory limit in MiB, rounded up, as the runtime meters it.
func memMiB(sp Spec) uint64 { return (sp.MemoryBytes + 1<<20 - 1) >> 20 }

// mulSat is a*b, or the largest uint64 when that overflows.
func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return ^uint64(0)
	}
	return lo
}

func addSat(a, b uint64) uint64 {
	if c := a + b; c >= a {
		return c
	}
	return ^uint64(0)
}

// UsageBound is the most usage one replica of sp can have served in
// elapsedMs of block time. The span is widened by one report epoch (a
// report delayed on its way) and one timeout (a call is metered when it
// ends, so calls running at the previous report, or at a lease's close,
// are in this one): e = elapsed + epoch + timeout. At most Instances calls
// run at a time, each taking at least 1/Params.CallsPerInstanceMs ms, so
// calls <= instances x e x calls_per_instance_ms; and each call holds its
// memory limit for at most its wall time, billed in whole ms rounded up,
// so MiB-ms <= memory MiB x (instances x e + calls).
func UsageBound(p Params, sp Spec, elapsedMs int64) (calls, mibMs uint64) {
	e := boundSpan(p, sp, elapsedMs)
	calls = mulSat(mulSat(Instances(sp), e), p.callsPerInstanceMs())
	mibMs = mulSat(memMiB(sp), addSat(mulSat(Instances(sp), e), calls))
	return calls, mibMs
}

// boundSpan is the span UsageBound allows for elapsedMs, in ms.
func boundSpan(p Params, sp Spec, elapsedMs int64) uint64 {
	return addSat(uint64(max(elapsedMs, 0))+uint64(p.EpochSeconds)*msPerSecond, sp.TimeoutMs)
}

// checkBounds refuses a report beyond what the spec and the elapsed time
// allow (docs/functions.md, "Usage reports").
func checkBounds(p Params, d *Deployment, m *UsageReport, elapsedMs int64) error {
	sp := d.Spec
	if lim := ConcurrencyLimit(sp); uint64(m.PeakConcurrency) > lim {
		return errs.E(errs.Invalid, "usage report peak_concurrency %d is above %d, what one replica of deployment %d can run and queue (%d instances and as many waiting)",
			m.PeakConcurrency, lim, d.ID, Instances(sp))
	}
	perCall := mulSat(memMiB(sp), sp.TimeoutMs)
	if m.MiBMs > mulSat(m.Calls, perCall) {
		return errs.E(errs.Invalid, "usage report has %d MiB-ms for %d calls: deployment %d allows at most %d per call (%d MiB for %d ms)",
			m.MiBMs, m.Calls, d.ID, perCall, memMiB(sp), sp.TimeoutMs)
	}
	maxCalls, _ := UsageBound(p, sp, elapsedMs)
	if m.Calls > maxCalls {
		return errs.E(errs.Invalid, "usage report has %d calls: one replica of deployment %d can serve at most %d in the %d ms since its previous report, one epoch and one timeout (%d instances, %d calls a ms each)",
			m.Calls, d.ID, maxCalls, max(elapsedMs, 0), Instances(sp), p.callsPerInstanceMs())
	}
	e := boundSpan(p, sp, elapsedMs)
	if maxMiB := mulSat(memMiB(sp), addSat(mulSat(Instances(sp), e), m.Calls)); m.MiBMs > maxMiB {
		return errs.E(errs.Invalid, "usage report has %d MiB-ms: one replica of deployment %d can use at most %d in the %d ms since its previous report, one epoch and one timeout (%d MiB x (%d instances x ms + %d calls))",
			m.MiBMs, d.ID, maxMiB, max(elapsedMs, 0), memMiB(sp), Instances(sp), m.Calls)
	}
	return nil
}

// noteClosed keeps the usage that replica r of d served before its lease
// closed at closedMs billable: its provider may send one final report
// until Params.FinalReportSeconds later, and the escrow it could charge
// (UsageBound of the span since its last report) is kept back until then.
func (s *store) noteClosed(d *Deployment, r Replica, closedMs int64) error {
	p := s.params()
	u, err := s.usage(d.ID, r.Provider)
	if err != nil {
		return err
	}
	from := max(u.ReportMs, r.OpenedMs)
	if u.FinalUntilMs != 0 {
		from = min(from, u.FinalFromMs) // an earlier close not reported yet
	}
	calls, mibMs := UsageBound(p, d.Spec, closedMs-from)
	hi, lo, ok := Cost(p, calls, mibMs)
	reserve := ^uint64(0)
	if ok && hi < nanoPerUstr {
		q, rem := bits.Div64(hi, lo, nanoPerUstr)
		reserve = addSat(q, min(rem, 1))
	}
	var spendLeft uint64
	if d.Charged < d.Spec.SpendLimit {
		spendLeft = d.Spec.SpendLimit - d.Charged
	}
	spendLeft -= min(spendLeft, d.Reserved)
	reserve = min(reserve, d.available(), spendLeft)
	d.Reserved += reserve
	until := closedMs + p.FinalReportSeconds*msPerSecond
	d.ReservedUntilMs = max(d.ReservedUntilMs, until)
	u.FinalLease, u.FinalFromMs, u.ClosedMs, u.FinalUntilMs = r.Lease, from, closedMs, until
	u.Reserve += reserve
	s.putJSON(key(prefSeq, d.ID, r.Provider), u)
	return nil
}

// releaseReserve ends the keeping back of escrow for final reports once
// their time is up; a removed deployment's rest goes back to its owner.
func (s *store) releaseReserve(d *Deployment) error {
	if d.ReservedUntilMs == 0 || s.nowMs() < d.ReservedUntilMs {
		return nil
	}
	d.Reserved, d.ReservedUntilMs = 0, 0
	if d.State != StateRemoved {
		s.refresh(d)
		return nil
	}
	if err := s.flushPending(d); err != nil {
		return err
	}
	amt := d.Escrow
	if err := s.refund(d, amt); err != nil {
		return err
	}
	Events.Refunded.Emit(s.ctx, depID(d), ledger.FormatInt(amt))
	return nil
}

// loseReplica drops replica r of d, whose lease l the market closed
// (escrow gone, an SLA breach, its provider), keeping the usage served
// before the close billable, and emits function.replica_lost.
func (s *store) loseReplica(d *Deployment, r Replica, l *market.Lease) error {
	if err := s.noteClosed(d, r, l.ClosedMs); err != nil {
		return err
	}
	s.dropReplica(d, r)
	Events.ReplicaLost.Emit(s.ctx, depID(d), ledger.FormatInt(r.Lease), r.Provider.String(), l.CloseReason)
	return nil
}

func usageReport(ctx *ledger.Context, signer identity.Address, m *UsageReport) error {
	s := newStore(ctx)
	p := s.params()
	d, err := s.deployment(m.Deployment)
	if err != nil {
		return err
	}
	now := s.nowMs()
	idx := -1
	for i, r := range d.Replicas {
		if r.Provider == signer {
			idx = i
		}
	}
	if idx >= 0 {
		r := d.Replicas[idx]
		l, err := s.leaseState(r.Lease)
		if err != nil {
			return err
		}
		switch {
		case l.State == market.LeaseClosed:
			// Closed since the last evaluation: this is its final report.
			if err := s.loseReplica(d, r, l); err != nil {
				return err
			}
			idx = -1
		case !isLive(l.State):
			return errs.E(errs.Unauthorized, "your replica of deployment %d, lease %d, is %s, not active: acknowledge the lease first", d.ID, r.Lease, l.State)
		}
	}
	u, err := s.usage(d.ID, signer)
	if err != nil {
		return err
	}
	final := idx < 0 && u.FinalUntilMs != 0 && now <= u.FinalUntilMs
	switch {
	case idx < 0 && !final && d.State == StateRemoved:
		return errs.E(errs.Conflict, "deployment %d was removed: its usage can no longer be reported", d.ID)
	case idx < 0 && !final && u.FinalUntilMs != 0:
		return errs.E(errs.Unauthorized, "your replica of deployment %d, lease %d, closed at %d: its final report was due by %d",
			d.ID, u.FinalLease, u.ClosedMs, u.FinalUntilMs)
	case idx < 0 && !final:
		return errs.E(errs.Unauthorized, "%s holds no replica of deployment %d: only its replicas' providers report its usage", signer, d.ID)
	}
	if cur := now / (p.EpochSeconds * msPerSecond); m.Epoch > cur {
		return errs.E(errs.Invalid, "usage report epoch %d is after the block's epoch %d", m.Epoch, cur)
	}
	if m.Sequence <= u.Sequence {
		return errs.E(errs.Conflict, "usage report %d for deployment %d is not after %d, the last one %s sent: a duplicated or replayed report is never charged twice; send the next sequence number",
			m.Sequence, d.ID, u.Sequence, signer)
	}
	if m.Epoch < u.Epoch {
		return errs.E(errs.Invalid, "usage report epoch %d is before epoch %d, which %s already reported", m.Epoch, u.Epoch, signer)
	}
	elapsed := u.ClosedMs - u.FinalFromMs
	if !final {
		elapsed = now - max(u.ReportMs, d.Replicas[idx].OpenedMs)
	}
	if err := checkBounds(p, d, m, elapsed); err != nil {
		return err
	}
	calls, err := money.Add(d.Calls, m.Calls)
	if err != nil {
		return errs.E(errs.Invalid, "usage report: the deployment's call count would overflow")
	}
	mibms, err := money.Add(d.MiBMs, m.MiBMs)
	if err != nil {
		return errs.E(errs.Invalid, "usage report: the deployment's MiB-ms would overflow")
	}
	if u.Calls, err = money.Add(u.Calls, m.Calls); err != nil {
		return errs.E(errs.Invalid, "usage report: the provider's call count would overflow")
	}
	if u.MiBMs, err = money.Add(u.MiBMs, m.MiBMs); err != nil {
		return errs.E(errs.Invalid, "usage report: the provider's MiB-ms would overflow")
	}
	d.Calls, d.MiBMs = calls, mibms
	var amt, provPaid uint64
	if final {
		// Charged from the whole escrow, the part kept back for it
		// included, and then that part is freed.
		own := min(d.Reserved, u.Reserve)
		amt, provPaid, err = s.charge(d, signer, m.Calls, m.MiBMs, true, own)
		d.Reserved -= own
		u.FinalLease, u.FinalFromMs, u.ClosedMs, u.FinalUntilMs, u.Reserve = 0, 0, 0, 0, 0
		s.refresh(d)
	} else {
		amt, provPaid, err = s.charge(d, signer, m.Calls, m.MiBMs, false, 0)
		r := &d.Replicas[idx]
		r.ReportMs, r.AvgConcurrency, r.PeakConcurrency = now, m.AvgConcurrency, m.PeakConcurrency
		switch {
		case m.ModuleError != "" && m.ModuleError != d.ModuleError:
			d.ModuleError = m.ModuleError
			Events.ModuleError.Emit(ctx, depID(d), signer.String(), m.ModuleError)
		case m.ModuleError == "" && m.Calls > 0:
			d.ModuleError = ""
		}
	}
	if err != nil {
		return err
	}
	u.Sequence, u.Epoch, u.ReportMs = m.Sequence, m.Epoch, now
	u.Paid += provPaid
	s.putJSON(key(prefSeq, d.ID, signer), u)
	s.putDeployment(d)
	fin := ""
	if final {
		fin = "true"
	}
	Events.Charged.Emit(ctx, depID(d), signer.String(), ledger.FormatInt(m.Sequence), ledger.FormatInt(m.Calls),
		ledger.FormatInt(m.MiBMs), ledger.FormatInt(amt), ledger.FormatInt(d.Charged), d.State, fin)
	return nil
}

// Cost returns what calls and MiB-ms cost under p, in nano-ustr, as a
// 128-bit value (hi, lo); overflow past 128 bits reports ok false.
func Cost(p Params, calls, mibMs uint64) (hi, lo uint64, ok bool) {
	h1, l1 := bits.Mul64(calls, p.PricePerCall)
	h2, l2 := bits.Mul64(mibMs, p.PricePerMiBMs)
	lo, c := bits.Add64(l1, l2, 0)
	hi, c2 := bits.Add64(h1, h2, c)
	return hi, lo, c2 == 0
}

// charge bills usage to d: the cost plus the carried fraction, in whole
// ustr, at most d's room; it returns what was charged and what the
// reporting provider was paid of it. A charge cut short forgives the rest.
//
// A final report (final) may also take own, the escrow kept back for it,
// but not what is kept back for other final reports.
func (s *store) charge(d *Deployment, provider identity.Address, calls, mibMs uint64, final bool, own uint64) (uint64, uint64, error) {
	if d.State == StateExhausted && !final {
		// Nothing can be charged; the provider should have answered 402.
		return 0, 0, nil
	}
	hi, lo, ok := Cost(s.params(), calls, mibMs)
	lo, c := bits.Add64(lo, d.AccruedNano, 0)
	hi, c2 := bits.Add64(hi, 0, c)
	var owed, frac uint64
	if !ok || c2 != 0 || hi >= nanoPerUstr {
		owed = ^uint64(0) // beyond any escrow
	} else {
		owed, frac = bits.Div64(hi, lo, nanoPerUstr)
	}
	room, _ := d.room()
	if final {
		room = min(d.available()+own, d.Spec.SpendLimit-min(d.Spec.SpendLimit, d.Charged))
	}
	if owed > room {
		owed, frac = room, 0 // the rest is forgiven
	}
	d.AccruedNano = frac
	d.LastProvider = provider
	paid, err := s.pay(d, provider, owed)
	if err != nil {
		return 0, 0, err
	}
	s.refresh(d)
	return owed, paid, nil
}

// pay moves amt of d's escrow to its payees. Each payee's total is
// floor(split charged x bps / 10000), so rounding never drifts; what no
// payee is owed yet waits in the payouts bucket. It returns what went to
// the reporting provider as "provider".
func (s *store) pay(d *Deployment, provider identity.Address, amt uint64) (uint64, error) {
	if amt == 0 {
		return 0, nil
	}
	if err := s.ctx.MoveBucket(BucketEscrow, BucketPayouts, amt); err != nil {
		return 0, err
	}
	d.Escrow -= amt
	d.Charged += amt
	d.SplitCharged += amt
	d.Pending += amt
	var toProv uint64
	for i := range d.Payees {
		py := &d.Payees[i]
		due, _, err := money.MulDiv(d.SplitCharged, py.Bps, 10_000)
		if err != nil {
			return 0, err
		}
		if due <= py.Paid {
			continue
		}
		to := py.To
		if to == payeeProvider {
			to = provider.String()
			toProv += due - py.Paid
		}
		if err := s.payTo(to, due-py.Paid); err != nil {
			return 0, err
		}
		d.Pending -= due - py.Paid
		py.Paid = due
	}
	return toProv, nil
}

func (s *store) payTo(to string, amt uint64) error {
	if to == market.PayeeTreasury {
		return s.ctx.MoveBucket(BucketPayouts, ledger.BucketTreasury, amt)
	}
	a, err := identity.ParseDID(to)
	if err != nil {
		return errs.E(errs.Internal, "functions: payee %q: %v", to, err)
	}
	return s.ctx.Credit(BucketPayouts, a, amt)
}

// flushPending pays what rounding left pending to the first payee ("provider"
// is the last provider charged).
func (s *store) flushPending(d *Deployment) error {
	if d.Pending == 0 {
		return nil
	}
	first := &d.Payees[0]
	to := first.To
	if to == payeeProvider {
		if d.LastProvider.IsZero() {
			return errs.E(errs.Internal, "functions: deployment %d has pending payouts but no provider was charged", d.ID)
		}
		to = d.LastProvider.String()
		u, err := s.usage(d.ID, d.LastProvider)
		if err != nil {
			return err
		}
		u.Paid += d.Pending
		s.putJSON(key(prefSeq, d.ID, d.LastProvider), u)
	}
	if err := s.payTo(to, d.Pending); err != nil {
		return err
	}
	first.Paid += d.Pending
	d.Pending = 0
	return nil
}
