package objects

import (
	"math/bits"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// RenewCost is what renewing an object's lease of rate nano-ustr per second
// for secs seconds costs: ceil(rate x secs / 10^9) ustr, at least 1, so a
// renewal always buys at least the time asked for. It fails with Invalid on
// overflow.
func RenewCost(rate, secs uint64) (uint64, error) {
	amt, rem, err := money.MulDiv(rate, secs, market.NanoPerUstr)
	if err != nil {
		return 0, errs.E(errs.Invalid, "renewing for %d seconds at %d nano-ustr/s overflows: renew for less", secs, rate)
	}
	if rem > 0 || amt == 0 {
		amt++
	}
	return amt, nil
}

func renew(ctx *ledger.Context, signer identity.Address, m *Renew) error {
	s := newStore(ctx)
	_, o, err := s.objectByID(m.ID)
	if err != nil {
		return err
	}
	if len(o.Leases) == 0 {
		return errs.E(errs.Invalid, "object %s has no leases to renew: it is empty and costs nothing", o.ID)
	}
	var total uint64
	for _, sh := range o.Leases {
		l, err := market.StoredLease(ctx, sh.Lease)
		if err != nil {
			return err
		}
		amt, err := RenewCost(l.Rate, m.Seconds)
		if err != nil {
			return err
		}
		if err := market.TopupLeaseFor(ctx, signer, &market.TopupLease{ID: sh.Lease, Amount: amt}); err != nil {
			return err
		}
		if total, err = money.Add(total, amt); err != nil {
			return err
		}
	}
	until, err := paidUntil(ctx, o)
	if err != nil {
		return err
	}
	Events.Renewed.Emit(ctx, o.ID, signer.String(), ledger.FormatInt(m.Seconds), ledger.FormatInt(total), ledger.FormatInt(uint64(until)))
	return nil
}

// picoPerUstr: a rate in nano-ustr per second accrues pico-ustr per ms.
const picoPerUstr = 1_000_000_000_000

// paidUntil is when the first of the object's leases runs out of escrow at
// its current rate, in unix ms: the object is dropped then unless renewed.
// It is 0 for an object without leases (the empty object, which costs
// nothing), and math.MaxInt64 if no lease ever runs out.
func paidUntil(ctx *ledger.Context, o *Object) (int64, error) {
	if len(o.Leases) == 0 {
		return 0, nil
	}
	var until int64 = 1<<63 - 1
	for _, sh := range o.Leases {
		l, err := market.StoredLease(ctx, sh.Lease)
		if err != nil {
			return 0, err
		}
		until = min(until, leaseEnd(l))
	}
	return until, nil
}

// leaseEnd is when a lease's escrow runs out at its current rate, as the
// market schedules its close: settled-to plus ceil((escrow in pico-ustr -
// the carried fraction) / rate) ms. A closed lease ended when it closed.
func leaseEnd(l *market.Lease) int64 {
	switch {
	case l.State == market.LeaseClosed:
		return l.ClosedMs
	case l.Rate == 0:
		return 1<<63 - 1
	}
	hi, lo := bits.Mul64(l.Escrow, picoPerUstr)
	lo, b := bits.Sub64(lo, l.AccruedPico, 0)
	hi -= b
	if hi >= l.Rate {
		return 1<<63 - 1
	}
	ms, rem := bits.Div64(hi, lo, l.Rate)
	if rem > 0 {
		ms++
	}
	if ms >= 1<<62 {
		return 1<<63 - 1
	}
	return l.SettledMs + int64(ms)
}
