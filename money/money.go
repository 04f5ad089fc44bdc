// Package money is STR arithmetic: amounts in ustr (10^-6 STR) as uint64,
// with every operation checked for overflow and underflow, and the parsing
// and printing of amounts as people write them ("5STR", "0.25STR", "1500ustr").
//
// It has no notion of accounts or balances; the ledger does.
package money

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
)

// Amount is a quantity of ustr.
type Amount = uint64

// UstrPerSTR is the number of base units in one STR.
const UstrPerSTR = 1_000_000

// ErrOverflow is returned when a result does not fit in 64 bits.
var ErrOverflow = errs.E(errs.Invalid, "amount overflows: the result exceeds 18446744073709.551615 STR")

// Add returns a+b, or ErrOverflow.
func Add(a, b Amount) (Amount, error) {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return 0, ErrOverflow
	}
	return s, nil
}

// Sub returns a-b, or an error of kind Insufficient when b > a.
func Sub(a, b Amount) (Amount, error) {
	d, borrow := bits.Sub64(a, b, 0)
	if borrow != 0 {
		return 0, errs.E(errs.Insufficient, "need %s but only %s is available", Format(b), Format(a))
	}
	return d, nil
}

// MulDiv returns a*b/c rounded down, and the remainder, computed in 128 bits.
// It fails when c is zero or the quotient does not fit in 64 bits.
func MulDiv(a, b, c uint64) (q, rem uint64, err error) {
	if c == 0 {
		return 0, 0, errs.E(errs.Invalid, "division by zero")
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 0, 0, ErrOverflow
	}
	q, rem = bits.Div64(hi, lo, c)
	return q, rem, nil
}

// Format prints an amount in STR with as many decimals as it needs, e.g.
// "5STR", "0.25STR", "0.000001STR".
func Format(a Amount) string {
	whole, frac := a/UstrPerSTR, a%UstrPerSTR
	if frac == 0 {
		return strconv.FormatUint(whole, 10) + "STR"
	}
	f := strings.TrimRight(strconv.FormatUint(frac+UstrPerSTR, 10)[1:], "0")
	return strconv.FormatUint(whole, 10) + "." + f + "STR"
}

// Parse reads an amount written with a unit: "5STR", "0.25STR", "1500ustr"
// (case-insensitive, spaces allowed before the unit). A bare number is
// refused, because guessing the unit would move a million times too much or
// too little.
func Parse(s string) (Amount, error) {
	orig := s
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return 0, errs.E(errs.Invalid, "amount %.20q... is too long", orig)
	}
	lower := strings.ToLower(s)
	var num string
	var scale bool
	switch {
	case strings.HasSuffix(lower, "ustr"):
		num = strings.TrimSpace(s[:len(s)-4])
	case strings.HasSuffix(lower, "str"):
		num, scale = strings.TrimSpace(s[:len(s)-3]), true
	default:
		if unit := strings.TrimLeft(s, "0123456789. "); unit != "" && unit != s && letters(unit) {
			return 0, errs.E(errs.Invalid, "amount %q has the unit %q, which is not one of Stratus's: amounts are in STR or ustr (1STR = 1000000ustr), such as 5STR, 0.25STR or 1500ustr", orig, unit)
		}
		if s != "" && letters(s) {
			return 0, errs.E(errs.Invalid, "amount %q is not a number: write it as 5STR, 0.25STR or 1500ustr", orig)
		}
		return 0, errs.E(errs.Invalid, "amount %q has no unit: write it as 5STR, 0.25STR or 1500ustr", orig)
	}
	if num == "" {
		return 0, errs.E(errs.Invalid, "amount %q has no number: write it as 5STR, 0.25STR or 1500ustr", orig)
	}
	whole, frac, hasDot := strings.Cut(num, ".")
	if !scale && hasDot {
		return 0, errs.E(errs.Invalid, "amount %q: ustr is the smallest unit and cannot have decimals", orig)
	}
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) || (hasDot && frac == "") {
		return 0, errs.E(errs.Invalid, "amount %q is not a number: write it as 5STR, 0.25STR or 1500ustr", orig)
	}
	if len(frac) > 6 {
		return 0, errs.E(errs.Invalid, "amount %q has more than 6 decimals: 1ustr (0.000001STR) is the smallest unit", orig)
	}
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, errs.E(errs.Invalid, "amount %q is too large", orig)
		}
	}
	if !scale {
		return w, nil
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	hi, lo := bits.Mul64(w, UstrPerSTR)
	total, carry := bits.Add64(lo, f, 0)
	if hi != 0 || carry != 0 {
		return 0, errs.E(errs.Invalid, "amount %q is too large", orig)
	}
	return total, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatUstr prints an amount as a decimal string of ustr, the form JSON uses.
func FormatUstr(a Amount) string { return strconv.FormatUint(a, 10) }

// ParseUstr reads a decimal string of ustr, the form JSON uses.
func ParseUstr(s string) (Amount, error) {
	if !digits(s) || s == "" || len(s) > 20 {
		return 0, errs.E(errs.Invalid, "amount %q is not a whole number of ustr", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errs.E(errs.Invalid, "amount %q is too large", s)
	}
	return v, nil
}

// letters reports whether s is ASCII letters only, as a unit would be.
func letters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
