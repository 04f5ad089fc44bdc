package market

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// Queries read state through a query context (ledger.NewQueryContext): a
// lease's money is shown settled up to the context's time, without writing
// anything. State changes (a window judged, a lease closed) show once a
// block has made them.

// GetProvider returns a provider.
func GetProvider(ctx *ledger.Context, a identity.Address) (*Provider, error) {
	return newStore(ctx).provider(a)
}

// ProviderView is a provider as `provider show` presents it: its record,
// and whether the market gives it new leases.
type ProviderView struct {
	Provider
	// TakesNewLeases is false for a provider the market gives no new
	// leases; NoNewLeases says why (NoLeasesRetiring, NoLeasesCollateral)
	// and Reason says it in words.
	TakesNewLeases bool   `json:"takes_new_leases"`
	NoNewLeases    string `json:"no_new_leases,omitempty"`
	Reason         string `json:"reason,omitempty"`
	// MinCollateral is the collateral a provider needs to take new leases.
	MinCollateral uint64 `json:"min_collateral,string"`
}

// GetProviderView returns a provider and whether it takes new leases. It
// fails with NotFound.
func GetProviderView(ctx *ledger.Context, a identity.Address) (*ProviderView, error) {
	s := newStore(ctx)
	p, err := s.provider(a)
	if err != nil {
		return nil, err
	}
	return &ProviderView{Provider: *p, TakesNewLeases: s.noNewLeases(p) == "", NoNewLeases: s.noNewLeases(p),
		Reason: s.noNewLeasesReason(p), MinCollateral: s.params().MinCollateral}, nil
}

// Providers returns every provider, in address order.
func Providers(ctx *ledger.Context) ([]Provider, error) {
	s := newStore(ctx)
	out := []Provider{}
	err := s.kv.Iterate([]byte(prefProv), func(_, v []byte) error {
		var p Provider
		if err := jsonUnmarshal(v, &p); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// LeaseView is a lease as of the query's time, with what a person needs to
// trust the money.
type LeaseView struct {
	Lease
	// SecondsLeft is how long the escrow lasts at the current rate.
	SecondsLeft int64    `json:"seconds_left"`
	Windows     []Window `json:"windows"`
}

// GetLease returns a lease settled up to the context's time.
func GetLease(ctx *ledger.Context, id uint64) (*LeaseView, error) {
	s := newStore(ctx)
	l, err := s.lease(id)
	if err != nil {
		return nil, err
	}
	if err := s.settleTo(l, s.nowMs()); err != nil {
		return nil, err
	}
	v := &LeaseView{Lease: *l, Windows: []Window{}}
	if (l.State == LeaseActive || l.State == LeaseGrace) && l.Rate > 0 {
		hi, lo := bits.Mul64(l.Escrow, picoPerUstr)
		lo, b := bits.Sub64(lo, l.AccruedPico, 0)
		hi -= b
		if hi < l.Rate {
			ms, _ := bits.Div64(hi, lo, l.Rate)
			v.SecondsLeft = int64(ms / msPerSecond)
		} else {
			v.SecondsLeft = -1 // beyond what 64 bits of milliseconds hold
		}
	}
	err = s.kv.Iterate(u64key(prefWindow, id), func(_, val []byte) error {
		var w Window
		if err := jsonUnmarshal(val, &w); err != nil {
			return err
		}
		v.Windows = append(v.Windows, w)
		return nil
	})
	return v, err
}

// LeasesOf returns the ids of leases a party is consumer (or, with
// asProvider, provider) of, in id order: all of LeaseIDsAfter's pages.
func LeasesOf(ctx *ledger.Context, a identity.Address, asProvider bool) ([]uint64, error) {
	ids, _, err := LeaseIDsAfter(ctx, a, asProvider, 0, math.MaxInt)
	return ids, err
}

// PendingFor returns the ids of a provider's leases that wait for its
// acknowledgement.
func PendingFor(ctx *ledger.Context, provider identity.Address) ([]uint64, error) {
	ids, err := LeasesOf(ctx, provider, true)
	if err != nil {
		return nil, err
	}
	s := newStore(ctx)
	var out []uint64
	for _, id := range ids {
		l, err := s.lease(id)
		if err != nil {
			return nil, err
		}
		if l.State == LeasePending {
			out = append(out, id)
		}
	}
	return out, nil
}

// Price is a class's reference price and how much of it is in use.
type Price struct {
	Class     string `json:"class"`
	Reference uint64 `json:"reference,string"`
	Epoch     int64  `json:"epoch"`
	Capacity
	UtilizationBps uint64 `json:"utilization_bps"`
}

// Prices returns the current reference prices.
func Prices(ctx *ledger.Context) []Price {
	s := newStore(ctx)
	epoch := s.nowMs() / (s.params().EpochSeconds * msPerSecond)
	if b := s.kv.Get([]byte(keyEpoch)); len(b) == 8 {
		epoch = int64(binary.BigEndian.Uint64(b))
	}
	out := make([]Price, 0, len(Classes))
	for _, c := range Classes {
		p := Price{Class: c, Reference: s.reference(c), Epoch: epoch, Capacity: s.capacity(c)}
		if p.Capacity.Capacity > 0 {
			p.UtilizationBps = min(p.Used, p.Capacity.Capacity) * 10_000 / p.Capacity.Capacity
		}
		out = append(out, p)
	}
	return out
}

// PricePoint is a reference price from an epoch on.
type PricePoint struct {
	Epoch     int64  `json:"epoch"`
	StartMs   int64  `json:"start_ms"`
	Reference uint64 `json:"reference,string"`
}

// PriceHistory returns a class's reference prices by epoch, the newest
// last, at most limit of them.
func PriceHistory(ctx *ledger.Context, class string, limit int) []PricePoint {
	s := newStore(ctx)
	ep := s.params().EpochSeconds * msPerSecond
	p := u64key(prefRefHist, class)
	out := []PricePoint{}
	s.kv.Iterate(p, func(k, v []byte) error {
		e := int64(binary.BigEndian.Uint64(k[len(p):]))
		out = append(out, PricePoint{Epoch: e, StartMs: e * ep, Reference: binary.BigEndian.Uint64(v)})
		return nil
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Params returns the market's parameters.
func GetParams(ctx *ledger.Context) Params { return newStore(ctx).params() }

// EpochOf returns the probing epoch a time in unix milliseconds falls in.
func EpochOf(ctx *ledger.Context, ms int64) int64 {
	return ms / (newStore(ctx).params().EpochSeconds * msPerSecond)
}

// EachLease calls fn with each lease in state, in id order, as stored (not
// settled up to the context's time), and stops after limit leases, so a
// caller bounds its reads however many leases state holds. It reports
// whether it saw them all; closed leases stay until retention prunes them.
// Its error is the store's, or a record that does not decode.
func EachLease(ctx *ledger.Context, limit int, fn func(*Lease)) (complete bool, err error) {
	s := newStore(ctx)
	seen := 0
	errStop := errors.New("stop")
	err = s.kv.Iterate([]byte(prefLease), func(_, v []byte) error {
		if seen == limit {
			return errStop
		}
		seen++
		var l Lease
		if err := jsonUnmarshal(v, &l); err != nil {
			return err
		}
		fn(&l)
		return nil
	})
	if errors.Is(err, errStop) {
		return false, nil
	}
	return err == nil, err
}
