package market

import (
	"bytes"
	"encoding/binary"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// The offer index lets open_lease choose a provider without reading every
// provider. Each active provider's offer of a class has one key, ordered by
// a lower bound of its price, within its pricing rule:
//
//	fixed        the price
//	reference    the multiplier (every such offer shares the reference
//	             price, so the multiplier orders their prices)
//	utilization  the base price (the price at no use; use only raises it)
//
// choose walks each rule's keys from the cheapest and stops at the first
// whose lower bound is above the best price found (or the lease's maximum
// price), so it reads the providers that could win, not all of them.
// Retiring providers are not in it; a provider below the minimum collateral
// or without room stays in it and is passed over.

// maxScore is a provider's score when it has kept every promise.
const maxScore = 10_000

// Rule kinds in index keys.
var indexKind = map[string]byte{"fixed": 'f', "reference": 'r', "utilization": 'u'}

func indexKey(class string, o Offer, a identity.Address) []byte {
	bound := o.Pricing.Price
	if o.Pricing.Kind == "reference" {
		bound = o.Pricing.MultiplierBps
	}
	k := append(u64key(prefIndex, class), indexKind[o.Pricing.Kind])
	k = binary.BigEndian.AppendUint64(k, bound)
	return append(k, a[:]...)
}

// indexProvider adds an active provider's offers to the index.
func (s *store) indexProvider(p *Provider) {
	if p.State != ProviderActive {
		return
	}
	for _, o := range p.Offers {
		s.kv.Set(indexKey(o.Class, o, p.Operator), []byte{})
	}
}

// unindexProvider removes a provider's offers, as they were, from the index.
func (s *store) unindexProvider(p *Provider) {
	for _, o := range p.Offers {
		s.kv.Delete(indexKey(o.Class, o, p.Operator))
	}
}

// walkIndex calls consider for the providers whose offers of class could
// cost at most bound(): a fixed price, a reference multiplier or a base
// price, in increasing order within each rule. bound is asked again before
// each key, as consider lowers it. consider only reads state.
//
// A walk also stops at a key no better than best even on price: the same
// lower bound, best already at the top score and before it by address (keys
// of one bound are in address order). A reference key is only skipped when
// the next larger multiplier rounds to the same price.
func (s *store) walkIndex(class string, ref uint64, bound func() uint64, best func() *candidate, consider func(*Provider) error) error {
	for _, kind := range []byte{'f', 'r', 'u'} {
		prefix := append(u64key(prefIndex, class), kind)
		err := s.kv.Iterate(prefix, func(k, _ []byte) error {
			low := binary.BigEndian.Uint64(k[len(prefix):])
			if kind == 'r' {
				var err error
				if low, err = EffectivePrice(Rule{Kind: "reference", MultiplierBps: low}, ref, Offer{}, 0); err != nil {
					return ledger.ErrStop
				}
			}
			if low > bound() {
				return ledger.ErrStop
			}
			var a identity.Address
			copy(a[:], k[len(prefix)+8:])
			if b := best(); b != nil && low == b.price && b.prov.Score == maxScore && bytes.Compare(a[:], b.prov.Operator[:]) > 0 {
				if kind == 'r' {
					// A larger multiplier may round to the same price
					// (only when the reference price is below 10000).
					m := binary.BigEndian.Uint64(k[len(prefix):])
					if next, err := EffectivePrice(Rule{Kind: "reference", MultiplierBps: m + 1}, ref, Offer{}, 0); err == nil && next == low {
						return nil
					}
				}
				return ledger.ErrStop
			}
			p, err := s.provider(a)
			if err != nil {
				return err
			}
			return consider(p)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// buildIndex indexes every provider, once, on a chain whose state was made
// before the offer index existed.
func (s *store) buildIndex() error {
	if s.kv.Get([]byte(keyIndexed)) != nil {
		return nil
	}
	var provs []Provider
	err := s.kv.Iterate([]byte(prefProv), func(_, v []byte) error {
		var p Provider
		if err := jsonUnmarshal(v, &p); err != nil {
			return err
		}
		provs = append(provs, p)
		return nil
	})
	if err != nil {
		return err
	}
	for i := range provs {
		s.indexProvider(&provs[i])
	}
	s.kv.Set([]byte(keyIndexed), []byte{1})
	return nil
}
