package money_test

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/money"
)

const max = math.MaxUint64

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    money.Amount
		wantErr string // a substring of the error; "" means success
	}{
		{"5STR", 5_000_000, ""},
		{"0.25STR", 250_000, ""},
		{"1500ustr", 1500, ""},
		{"0ustr", 0, ""},
		{"0STR", 0, ""},
		{"0.000001STR", 1, ""},
		{"1.5STR", 1_500_000, ""},
		{"1.500000STR", 1_500_000, ""},
		{"5 STR", 5_000_000, ""},
		{"  7 ustr  ", 7, ""},
		{"5str", 5_000_000, ""},
		{"5Str", 5_000_000, ""},
		{"12USTR", 12, ""},
		{"007ustr", 7, ""},
		{".5STR", 500_000, ""},
		{"18446744073709551615ustr", max, ""},
		{"18446744073709.551615STR", max, ""},
		{"18446744073709STR", 18446744073709_000000, ""},

		{"5", 0, "no unit"},
		{"", 0, "no unit"},
		{"STR", 0, "no number"},
		{" ustr", 0, "no number"},
		{"0.1234567STR", 0, "more than 6 decimals"},
		{"1.5ustr", 0, "cannot have decimals"},
		{"1.STR", 0, "not a number"},
		{".STR", 0, "not a number"},
		{"-5STR", 0, "not a number"},
		{"+5STR", 0, "not a number"},
		{"1e6ustr", 0, "not a number"},
		{"0x10ustr", 0, "not a number"},
		{"1,5STR", 0, "not a number"},
		{"1.2.3STR", 0, "not a number"},
		{"5 S TR", 0, "no unit"},
		{"5BTC", 0, `amount "5BTC" has the unit "BTC", which is not one of Stratus's: amounts are in STR or ustr (1STR = 1000000ustr), such as 5STR, 0.25STR or 1500ustr`},
		{"0.5 eth", 0, `has the unit "eth"`},
		{"5STRs", 0, `has the unit "STRs"`},
		{"1e6", 0, "no unit"},
		{"5 u STR", 0, "not a number"},
		{"18446744073709551616ustr", 0, "too large"},
		{"18446744073709.551616STR", 0, "too large"},
		{"18446744073710STR", 0, "too large"},
		{"99999999999999999999999STR", 0, "too large"},
		{strings.Repeat("1", 65) + "ustr", 0, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := money.Parse(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.in, err)
				}
				if got != tt.want {
					t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) = %d, want an error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if k := errs.KindOf(err); k != errs.Invalid {
				t.Errorf("Parse(%q) error kind = %s, want %s", tt.in, k, errs.Invalid)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   money.Amount
		want string
	}{
		{0, "0STR"},
		{1, "0.000001STR"},
		{10, "0.00001STR"},
		{100, "0.0001STR"},
		{250_000, "0.25STR"},
		{1_000_000, "1STR"},
		{1_500_000, "1.5STR"},
		{5_000_001, "5.000001STR"},
		{max, "18446744073709.551615STR"},
	}
	for _, tt := range tests {
		if got := money.Format(tt.in); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := money.Parse(tt.want); err != nil || back != tt.in {
			t.Errorf("Parse(Format(%d)) = %d, %v", tt.in, back, err)
		}
	}
}

func TestUstr(t *testing.T) {
	tests := []struct {
		in      string
		want    money.Amount
		wantErr bool
	}{
		{"0", 0, false},
		{"1500", 1500, false},
		{"18446744073709551615", max, false},
		{"", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"1.0", 0, true},
		{" 1", 0, true},
		{"1STR", 0, true},
		{"18446744073709551616", 0, true},
		{"000000000000000000001", 0, true}, // 21 digits
	}
	for _, tt := range tests {
		got, err := money.ParseUstr(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseUstr(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseUstr(%q) error kind = %s", tt.in, errs.KindOf(err))
		}
		if err == nil {
			if back, err := money.ParseUstr(money.FormatUstr(got)); err != nil || back != got {
				t.Errorf("ParseUstr(FormatUstr(%d)) = %d, %v", got, back, err)
			}
		}
	}
}

func TestAddSub(t *testing.T) {
	tests := []struct {
		a, b    money.Amount
		sum     money.Amount
		sumErr  bool
		diff    money.Amount
		diffErr bool
	}{
		{5, 3, 8, false, 2, false},
		{0, 0, 0, false, 0, false},
		{3, 5, 8, false, 0, true},
		{max, 0, max, false, max, false},
		{max, 1, 0, true, max - 1, false},
		{max, max, 0, true, 0, false},
		{1 << 63, 1 << 63, 0, true, 0, false},
		{0, max, max, false, 0, true},
	}
	for _, tt := range tests {
		s, err := money.Add(tt.a, tt.b)
		if (err != nil) != tt.sumErr || s != tt.sum {
			t.Errorf("Add(%d, %d) = %d, %v; want %d, error %v", tt.a, tt.b, s, err, tt.sum, tt.sumErr)
		}
		if err != nil && !errors.Is(err, money.ErrOverflow) {
			t.Errorf("Add(%d, %d) error = %v, want ErrOverflow", tt.a, tt.b, err)
		}
		d, err := money.Sub(tt.a, tt.b)
		if (err != nil) != tt.diffErr || d != tt.diff {
			t.Errorf("Sub(%d, %d) = %d, %v; want %d, error %v", tt.a, tt.b, d, err, tt.diff, tt.diffErr)
		}
		if err != nil && errs.KindOf(err) != errs.Insufficient {
			t.Errorf("Sub(%d, %d) error kind = %s, want %s", tt.a, tt.b, errs.KindOf(err), errs.Insufficient)
		}
	}
}

func TestMulDiv(t *testing.T) {
	tests := []struct {
		a, b, c   uint64
		q, rem    uint64
		wantKind  errs.Kind
		overflows bool
	}{
		{a: 10, b: 3, c: 4, q: 7, rem: 2},
		{a: 3001, b: 2000, c: 10_000, q: 600, rem: 2000},
		{a: 2401, b: 1, c: 3, q: 800, rem: 1},
		{a: 0, b: 5, c: 7, q: 0, rem: 0},
		{a: max, b: max, c: max, q: max, rem: 0},
		{a: 1 << 63, b: 4, c: 8, q: 1 << 62, rem: 0},
		{a: max, b: 10_000, c: 10_000, q: max, rem: 0},
		{a: max, b: 2, c: 3, q: 12297829382473034410, rem: 0},
		{a: max, b: 2, c: 1, overflows: true},
		{a: max, b: max, c: max - 1, overflows: true},
		{a: 1 << 32, b: 1 << 32, c: 1, overflows: true},
		{a: 1, b: 1, c: 0, wantKind: errs.Invalid},
	}
	for _, tt := range tests {
		q, rem, err := money.MulDiv(tt.a, tt.b, tt.c)
		switch {
		case tt.overflows:
			if !errors.Is(err, money.ErrOverflow) {
				t.Errorf("MulDiv(%d, %d, %d) error = %v, want ErrOverflow", tt.a, tt.b, tt.c, err)
			}
		case tt.wantKind != "":
			if errs.KindOf(err) != tt.wantKind {
				t.Errorf("MulDiv(%d, %d, %d) error = %v, want kind %s", tt.a, tt.b, tt.c, err, tt.wantKind)
			}
		default:
			if err != nil || q != tt.q || rem != tt.rem {
				t.Errorf("MulDiv(%d, %d, %d) = %d, %d, %v; want %d, %d", tt.a, tt.b, tt.c, q, rem, err, tt.q, tt.rem)
			}
			// Independently: q*c + rem == a*b and rem < c.
			lhs := new(big.Int).Mul(new(big.Int).SetUint64(q), new(big.Int).SetUint64(tt.c))
			lhs.Add(lhs, new(big.Int).SetUint64(rem))
			rhs := new(big.Int).Mul(new(big.Int).SetUint64(tt.a), new(big.Int).SetUint64(tt.b))
			if lhs.Cmp(rhs) != 0 || rem >= tt.c {
				t.Errorf("MulDiv(%d, %d, %d): %d*c+%d != a*b", tt.a, tt.b, tt.c, q, rem)
			}
		}
	}
}

// FuzzParseAmount checks that Parse never panics, that what it accepts
// prints back to itself, and that its value agrees with exact rational
// arithmetic over the number as written.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{
		"5STR", "0.25STR", "1500ustr", "", "1.STR", "18446744073709551615ustr",
		"18446744073709.551615STR", "18446744073709.551616STR",
		"5 STR", ".5STR", "-5STR", "0.0000001STR", "1e3ustr", "\u212aSTR", "5\u00a0STR",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := money.Parse(s)
		if err != nil {
			if k := errs.KindOf(err); k != errs.Invalid {
				t.Fatalf("Parse(%q) error kind = %s, want %s", s, k, errs.Invalid)
			}
			return
		}
		out := money.Format(v)
		back, err := money.Parse(out)
		if err != nil || back != v {
			t.Fatalf("Parse(%q) = %d; Parse(Format = %q) = %d, %v", s, v, out, back, err)
		}
		if back, err := money.Parse(money.FormatUstr(v) + "ustr"); err != nil || back != v {
			t.Fatalf("Parse(%q) = %d; in ustr it parses as %d, %v", s, v, back, err)
		}
		// The oracle: strip the unit and read the number exactly.
		num := strings.TrimSpace(s)
		scale := int64(money.UstrPerSTR)
		if lower := strings.ToLower(num); strings.HasSuffix(lower, "ustr") {
			num, scale = num[:len(num)-4], 1
		} else {
			num = num[:len(num)-3]
		}
		num = strings.TrimSpace(num)
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			t.Fatalf("Parse(%q) = %d, but %q is not a number", s, v, num)
		}
		r.Mul(r, new(big.Rat).SetInt64(scale))
		if !r.IsInt() || r.Num().Cmp(new(big.Int).SetUint64(v)) != 0 {
			t.Fatalf("Parse(%q) = %d, want %s", s, v, r.RatString())
		}
	})
}
