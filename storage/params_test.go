package storage

import (
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
)

func TestParseRedundancy(t *testing.T) {
	tests := []struct {
		in      string
		k, m    int
		mention string // empty if valid
	}{
		{"3+2", 3, 2, ""},
		{"1+0", 1, 0, ""},
		{"10+4", 10, 4, ""},
		{"16+16", 16, 16, ""},
		{"", 0, 0, "k+m"},
		{"3", 0, 0, "k+m"},
		{"3+", 0, 0, "k+m"},
		{"+2", 0, 0, "k+m"},
		{"3+-2", 0, 0, "k+m"},
		{"3 + 2", 0, 0, "k+m"},
		{"3+2+1", 0, 0, "k+m"},
		{"a+b", 0, 0, "k+m"},
		{"9999+1", 0, 0, "k+m"},
		{"0+2", 0, 0, "at least 1 data shard"},
		{"30+3", 0, 0, "at most 32"},
	}
	for _, tt := range tests {
		k, m, err := ParseRedundancy(tt.in)
		if tt.mention == "" {
			if err != nil || k != tt.k || m != tt.m {
				t.Errorf("ParseRedundancy(%q) = %d, %d, %v; want %d, %d", tt.in, k, m, err, tt.k, tt.m)
			}
			if got := (Params{K: k, M: m}).Redundancy(); got != tt.in {
				t.Errorf("Redundancy() = %q, want %q", got, tt.in)
			}
			continue
		}
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParseRedundancy(%q) err = %v, want invalid mentioning %q", tt.in, err, tt.mention)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	d := DefaultParams()
	if d.K != 3 || d.M != 2 || d.SegmentSize != 4<<20 || d.LeafSize != 4<<10 {
		t.Fatalf("DefaultParams() = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name    string
		mutate  func(*Params)
		mention string
	}{
		{"k=0", func(p *Params) { p.K = 0 }, "data shard"},
		{"m<0", func(p *Params) { p.M = -1 }, "negative"},
		{"k+m=33", func(p *Params) { p.K, p.M = 17, 16 }, "at most 32"},
		{"segment too small", func(p *Params) { p.SegmentSize = MinSegmentSize - 1 }, "segment size"},
		{"segment too large", func(p *Params) { p.SegmentSize = MaxSegmentSize + 1 }, "segment size"},
		{"leaf not power of two", func(p *Params) { p.LeafSize = 3000 }, "leaf size"},
		{"leaf too small", func(p *Params) { p.LeafSize = 16 }, "leaf size"},
		{"leaf too large", func(p *Params) { p.LeafSize = 2 << 20 }, "leaf size"},
	}
	for _, tt := range tests {
		p := d
		tt.mutate(&p)
		err := p.Validate()
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: err = %v, want invalid mentioning %q", tt.name, err, tt.mention)
		}
	}
}

func TestSegmentArithmetic(t *testing.T) {
	p := testParams(3, 2)
	ss := p.SegmentSize
	tests := []struct {
		size    int64
		count   int
		lastLen int64
	}{
		{0, 0, 0},
		{1, 1, 1},
		{ss - 1, 1, ss - 1},
		{ss, 1, ss},
		{ss + 1, 2, 1},
		{MaxObjectSize, int(MaxObjectSize / ss), ss},
	}
	for _, tt := range tests {
		n := p.SegmentCount(tt.size)
		if n != tt.count {
			t.Errorf("SegmentCount(%d) = %d, want %d", tt.size, n, tt.count)
		}
		if n > 0 {
			if got := p.SegmentLength(tt.size, n-1); got != tt.lastLen {
				t.Errorf("last SegmentLength(%d) = %d, want %d", tt.size, got, tt.lastLen)
			}
		}
	}
	for segLen, want := range map[int64]int64{1: 1, 2: 1, 3: 1, 4: 2, 65535: 21845, 65536: 21846} {
		if got := p.ShardSize(segLen); got != want {
			t.Errorf("ShardSize(%d) = %d, want %d", segLen, got, want)
		}
	}
}
