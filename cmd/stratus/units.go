package main

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

var byteUnits = map[string]uint64{
	"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// parseQuantity reads a lease quantity for a class: bytes for storage
// ("1GiB", "512MiB"), compute units for compute ("2cu").
func parseQuantity(s, class string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, errs.E(errs.Invalid, "quantity %q needs a number and a unit, e.g. 1GiB or 2cu", s)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	var mult uint64
	switch class {
	case market.ClassStorage:
		mult = byteUnits[unit]
	case market.ClassCompute:
		if unit == "cu" {
			mult = 1
		}
	}
	if mult == 0 {
		want := "B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)"
		if class == market.ClassCompute {
			want = "cu"
		}
		return 0, errs.E(errs.Invalid, "quantity %q: %s is measured in %s", s, class, want)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errs.E(errs.Invalid, "quantity %q is not a number", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).SetUint64(mult)))
	if !r.IsInt() || r.Sign() <= 0 || !r.Num().IsUint64() {
		return 0, errs.E(errs.Invalid, "quantity %q must come to a positive whole number of %s", s, map[string]string{market.ClassStorage: "bytes", market.ClassCompute: "cu"}[class])
	}
	return r.Num().Uint64(), nil
}

var periods = map[string]uint64{"second": 1, "s": 1, "minute": 60, "hour": 3600, "h": 3600, "day": 86400, "month": 30 * 86400}

// parsePrice reads a price for a class into nano-ustr per unit-second. It
// takes "AMOUNT/UNIT-PERIOD" ("1STR/GiB-month", "0.01STR/cu-hour") or a
// bare number of nano-ustr per unit-second ("385802469").
func parsePrice(s, class string) (uint64, error) {
	if v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64); err == nil {
		return v, nil
	}
	amount, per, ok := strings.Cut(s, "/")
	unit, period, ok2 := strings.Cut(strings.ToLower(per), "-")
	if !ok || !ok2 {
		return 0, errs.E(errs.Invalid, "price %q: write it as 1STR/GiB-month, 0.01STR/cu-hour, or nano-ustr per unit-second", s)
	}
	a, err := money.Parse(amount)
	if err != nil {
		return 0, err
	}
	var unitsPerPriceUnit uint64 // how many priced units (GiB or cu) one quoted unit is
	switch {
	case class == market.ClassStorage && unit == "gib":
		unitsPerPriceUnit = 1
	case class == market.ClassStorage && unit == "tib":
		unitsPerPriceUnit = 1024
	case class == market.ClassCompute && unit == "cu":
		unitsPerPriceUnit = 1
	default:
		return 0, errs.E(errs.Invalid, "price %q: %s is priced per GiB or TiB (storage) or per cu (compute)", s, class)
	}
	secs := periods[period]
	if secs == 0 {
		return 0, errs.E(errs.Invalid, "price %q: the period is second, minute, hour, day or month", s)
	}
	n := new(big.Int).Mul(new(big.Int).SetUint64(a), big.NewInt(market.NanoPerUstr))
	n.Div(n, new(big.Int).SetUint64(secs*unitsPerPriceUnit))
	if !n.IsUint64() || n.Sign() == 0 {
		return 0, errs.E(errs.Invalid, "price %q is out of range", s)
	}
	return n.Uint64(), nil
}

// formatPrice shows a price per unit-second in the unit people think in,
// rounded to the nearest ustr (prices are stored per second, so a round
// monthly price comes back a hair under).
func formatPrice(nano uint64, class string) string {
	secs, unit := uint64(3600), "/cu-hour"
	if class == market.ClassStorage {
		secs, unit = 30*86400, "/GiB-month"
	}
	n := new(big.Int).Mul(new(big.Int).SetUint64(nano), new(big.Int).SetUint64(secs))
	n.Add(n, big.NewInt(market.NanoPerUstr/2))
	n.Div(n, big.NewInt(market.NanoPerUstr))
	if !n.IsUint64() {
		return "a lot" + unit
	}
	return money.Format(n.Uint64()) + unit
}

func mulDivFloor(a, b, c uint64) uint64 {
	q, _, err := money.MulDiv(a, b, c)
	if err != nil {
		return ^uint64(0)
	}
	return q
}

// parseRule reads a pricing rule: "fixed=PRICE", "reference=MULTIPLIER"
// (1.1 is 10% above the reference) or "utilization=BASE,SLOPE" (slope 0.5:
// 50% dearer when full).
func parseRule(s, class string) (market.Rule, error) {
	kind, arg, _ := strings.Cut(s, "=")
	switch kind {
	case "fixed":
		p, err := parsePrice(arg, class)
		return market.Rule{Kind: "fixed", Price: p}, err
	case "reference", "ref":
		bps, err := parseBpsFactor(arg)
		return market.Rule{Kind: "reference", MultiplierBps: bps}, err
	case "utilization", "util":
		base, slope, ok := strings.Cut(arg, ",")
		if !ok {
			return market.Rule{}, errs.E(errs.Invalid, "utilization pricing is utilization=BASE_PRICE,SLOPE, e.g. utilization=1STR/GiB-month,0.5")
		}
		p, err := parsePrice(base, class)
		if err != nil {
			return market.Rule{}, err
		}
		bps, err := parseBpsFactor(slope)
		return market.Rule{Kind: "utilization", Price: p, SlopeBps: bps}, err
	}
	return market.Rule{}, errs.E(errs.Invalid, "pricing %q: use fixed=PRICE, reference=MULTIPLIER or utilization=BASE,SLOPE", s)
}

// parseBpsFactor reads a factor such as 1.1 as basis points (11000).
func parseBpsFactor(s string) (uint64, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() < 0 {
		return 0, errs.E(errs.Invalid, "%q is not a factor such as 1.1", s)
	}
	r.Mul(r, big.NewRat(10_000, 1))
	if !r.IsInt() || !r.Num().IsUint64() {
		return 0, errs.E(errs.Invalid, "factor %q has more than 4 decimals", s)
	}
	return r.Num().Uint64(), nil
}
