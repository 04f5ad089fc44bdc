package market

import (
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/money"
)

// NextReference is the reference price for the next epoch, given this
// epoch's price and the class's utilization (used of capacity). In the
// manner of EIP-1559's base fee, the price moves by MaxPriceStepBps times
// how far utilization is from the target, relative to the target, and never
// by more than MaxPriceStepBps:
//
//	d    = clamp((u - t) / t, -1, 1)        u, t in bps
//	next = max(floor(ref x (1 + step x d)), MinReferencePrice)
//
// with all arithmetic in integers: next = ref x (10000 x t + step x (u - t))
// / (10000 x t), rounded down.
func NextReference(ref, used, capacity uint64, p Params) uint64 {
	t := p.TargetUtilizationBps
	if t == 0 || t > 10_000 {
		return ref
	}
	u := uint64(0)
	if capacity > 0 {
		u, _, _ = money.MulDiv(min(used, capacity), 10_000, capacity)
	}
	den := 10_000 * t
	var num uint64
	switch {
	case u >= 2*t: // d = +1
		num = den + p.MaxPriceStepBps*t
	case u >= t:
		num = den + p.MaxPriceStepBps*(u-t)
	default:
		num = den - p.MaxPriceStepBps*(t-u)
	}
	next, _, err := money.MulDiv(ref, num, den)
	if err != nil {
		next = ^uint64(0)
	}
	return max(next, p.MinReferencePrice)
}

// EffectivePrice is what an offer costs now, in nano-ustr per unit-second:
//
//	fixed:       Price
//	reference:   ref x MultiplierBps / 10000
//	utilization: Price x (10000 + SlopeBps x u / 10000) / 10000, u the
//	             offer's own utilization in bps, counting the quantity asked
//	             for
func EffectivePrice(r Rule, ref uint64, o Offer, extra uint64) (uint64, error) {
	switch r.Kind {
	case "fixed":
		return r.Price, nil
	case "reference":
		p, _, err := money.MulDiv(ref, r.MultiplierBps, 10_000)
		return p, err
	case "utilization":
		used := o.Used + extra
		u := uint64(10_000)
		if used < o.Capacity {
			u, _, _ = money.MulDiv(used, 10_000, o.Capacity)
		}
		factor := 10_000 + r.SlopeBps*u/10_000
		p, _, err := money.MulDiv(r.Price, factor, 10_000)
		return p, err
	}
	return 0, errs.E(errs.Invalid, "unknown pricing rule %q", r.Kind)
}

// LeaseRate is a lease's rate in nano-ustr per second: price per unit-second
// times quantity in units, rounded down (the rate is a term of the lease;
// no value is rounded away by it).
func LeaseRate(price, quantity uint64, class string) (uint64, error) {
	unit, ok := unitSize[class]
	if !ok {
		return 0, errs.E(errs.Invalid, "unknown resource class %q", class)
	}
	r, _, err := money.MulDiv(price, quantity, unit)
	if err != nil {
		return 0, errs.E(errs.Invalid, "the lease's rate overflows: ask for less")
	}
	return r, nil
}
