package market

import (
	"bytes"
	"encoding/binary"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// ProvidersAfter returns up to limit providers whose addresses sort after
// after (nil: from the first), in address order, and whether more follow:
// one page of GET /v1/providers.
func ProvidersAfter(ctx *ledger.Context, after *identity.Address, limit int) ([]Provider, bool, error) {
	s := newStore(ctx)
	p := []byte(prefProv)
	out := []Provider{}
	more := false
	err := s.kv.Iterate(p, func(k, v []byte) error {
		if after != nil && bytes.Compare(k[len(p):], after[:]) <= 0 {
			return nil
		}
		if len(out) == limit {
			more = true
			return ledger.ErrStop
		}
		var pr Provider
		if err := jsonUnmarshal(v, &pr); err != nil {
			return err
		}
		out = append(out, pr)
		return nil
	})
	return out, more, err
}

// LeaseIDsAfter returns up to limit ids above after of the leases a is the
// consumer of (or, with asProvider, the provider of), in order, and whether
// more follow. It reads only the index, not the leases.
func LeaseIDsAfter(ctx *ledger.Context, a identity.Address, asProvider bool, after uint64, limit int) ([]uint64, bool, error) {
	s := newStore(ctx)
	prefix := prefByCons
	if asProvider {
		prefix = prefByProv
	}
	p := u64key(prefix, a)
	var ids []uint64
	more := false
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		id := binary.BigEndian.Uint64(k[len(p):])
		if id <= after {
			return nil
		}
		if len(ids) == limit {
			more = true
			return ledger.ErrStop
		}
		ids = append(ids, id)
		return nil
	})
	return ids, more, err
}

// PriceHistoryAfter returns up to limit of class's reference prices of
// the epochs after after, oldest first, and whether more follow.
func PriceHistoryAfter(ctx *ledger.Context, class string, after int64, limit int) ([]PricePoint, bool, error) {
	s := newStore(ctx)
	ep := s.params().EpochSeconds * msPerSecond
	p := u64key(prefRefHist, class)
	out := []PricePoint{}
	more := false
	err := s.kv.Iterate(p, func(k, v []byte) error {
		e := int64(binary.BigEndian.Uint64(k[len(p):]))
		if e <= after {
			return nil
		}
		if len(out) == limit {
			more = true
			return ledger.ErrStop
		}
		out = append(out, PricePoint{Epoch: e, StartMs: e * ep, Reference: binary.BigEndian.Uint64(v)})
		return nil
	})
	return out, more, err
}
