package fnspec

import (
	"math/big"
	"strconv"
	"strings"
)

var sizeUnits = map[string]uint64{"b": 1, "kib": KiB, "mib": MiB, "gib": GiB}

// parseSize is ParseSize, reporting false and why ("has no unit") instead
// of an error.
func parseSize(s string) (uint64, string, bool) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		return 0, "has no unit", false
	}
	if i == 0 {
		return 0, "does not start with a number", false
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		switch unit {
		case "k", "kb", "m", "mb", "g", "gb", "t", "tb", "tib":
			return 0, "uses the decimal unit " + strconv.Quote(t[i:]), false
		}
		return 0, "has unknown unit " + strconv.Quote(t[i:]), false
	}
	if len(num) > 24 {
		return 0, "is too large", false
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") {
		return 0, "is not a number", false
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return 0, "is not a whole number of bytes", false
	}
	if !r.Num().IsUint64() {
		return 0, "is too large", false
	}
	return r.Num().Uint64(), "", true
}

// FormatSize prints a size in the largest binary unit that divides it
// exactly, so each size has one spelling: 67108864 is "64MiB", 1536 is
// "1536B" and 0 is "0B". ParseSize reads it back.
func FormatSize(n uint64) string {
	for _, u := range []struct {
		name string
		mult uint64
	}{{"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatUint(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}
