package functions

import (
	"math/bits"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

func usageReport(ctx *ledger.Context, signer identity.Address, m *UsageReport) error {
	s := newStore(ctx)
	p := s.params()
	d, err := s.deployment(m.Deployment)
	if err != nil {
		return err
	}
	if d.State == StateRemoved {
		return errs.E(errs.Conflict, "deployment %d was removed: its usage can no longer be reported", d.ID)
	}
	idx := -1
	for i, r := range d.Replicas {
		if r.Provider == signer {
			idx = i
		}
	}
	if idx < 0 {
		return errs.E(errs.Unauthorized, "%s holds no replica of deployment %d: only its replicas' providers report its usage", signer, d.ID)
	}
	st, _, err := s.leaseState(d.Replicas[idx].Lease)
	if err != nil {
		return err
	}
	if !isLive(st) {
		return errs.E(errs.Unauthorized, "your replica of deployment %d, lease %d, is %s, not active: acknowledge the lease first", d.ID, d.Replicas[idx].Lease, st)
	}
	now := s.nowMs()
	if cur := now / (p.EpochSeconds * msPerSecond); m.Epoch > cur {
		return errs.E(errs.Invalid, "usage report epoch %d is after the block's epoch %d", m.Epoch, cur)
	}
	u, err := s.usage(d.ID, signer)
	if err != nil {
		return err
	}
	if m.Sequence <= u.Sequence {
		return errs.E(errs.Conflict, "usage report %d for deployment %d is not after %d, the last one %s sent: a duplicated or replayed report is never charged twice; send the next sequence number",
			m.Sequence, d.ID, u.Sequence, signer)
	}
	if m.Epoch < u.Epoch {
		return errs.E(errs.Invalid, "usage report epoch %d is before epoch %d, which %s already reported", m.Epoch, u.Epoch, signer)
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
	amt, provPaid, err := s.charge(d, signer, m.Calls, m.MiBMs)
	if err != nil {
		return err
	}
	u.Sequence, u.Epoch = m.Sequence, m.Epoch
	u.Paid += provPaid
	s.putJSON(key(prefSeq, d.ID, signer), u)
	r := &d.Replicas[idx]
	r.ReportMs, r.AvgConcurrency, r.PeakConcurrency = now, m.AvgConcurrency, m.PeakConcurrency
	s.putDeployment(d)
	ctx.Emit("function.charged", attrDep(d.ID), attr("provider", signer.String()),
		attr("sequence", ledger.FormatInt(m.Sequence)), attr("calls", ledger.FormatInt(m.Calls)),
		attr("mib_ms", ledger.FormatInt(m.MiBMs)), attr("amount", ledger.FormatInt(amt)),
		attr("charged", ledger.FormatInt(d.Charged)), attr("state", d.State))
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
func (s *store) charge(d *Deployment, provider identity.Address, calls, mibMs uint64) (uint64, uint64, error) {
	if d.State == StateExhausted {
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
