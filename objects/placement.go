package objects

import (
	"bytes"
	"encoding/binary"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// The placement index: every shard of every live object, under the provider
// that holds it, so that a provider can be challenged on a uniform sample of
// what it holds at O(1) per challenge, and a lost provider's shards can be
// found without scanning objects. Per provider it is a dense array and its
// reverse:
//
//	hn/<provider32>                                  -> uvarint count
//	hp/<provider32><pos 8 BE>                        -> placement (placementLen bytes)
//	hk/<provider32><hash32><root32><seg 4 BE><idx 2 BE> -> pos 8 BE
//
// Removing a placement moves the last one into its slot. The hk keys also
// answer "which objects place shard h on provider p" (Holding).

const (
	prefHoldN   = "hn/"
	prefHoldPos = "hp/"
	prefHoldKey = "hk/"
)

// placement is one shard of one object on one provider.
type placement struct {
	Root     storage.ID
	Segment  uint32
	Shard    uint16
	Hash     storage.Hash
	Size     int64
	LeafSize uint32
	Owner    identity.Address
}

const placementLen = 32 + 4 + 2 + 32 + 8 + 4 + 32

func (p *placement) encode() []byte {
	b := make([]byte, 0, placementLen)
	b = append(b, p.Root[:]...)
	b = binary.BigEndian.AppendUint32(b, p.Segment)
	b = binary.BigEndian.AppendUint16(b, p.Shard)
	b = append(b, p.Hash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Size))
	b = binary.BigEndian.AppendUint32(b, p.LeafSize)
	return append(b, p.Owner[:]...)
}

func decodePlacement(b []byte) (placement, error) {
	var p placement
	if len(b) != placementLen {
		return p, errs.E(errs.Internal, "objects: corrupt placement record of %d bytes", len(b))
	}
	copy(p.Root[:], b)
	p.Segment = binary.BigEndian.Uint32(b[32:])
	p.Shard = binary.BigEndian.Uint16(b[36:])
	copy(p.Hash[:], b[38:])
	p.Size = int64(binary.BigEndian.Uint64(b[70:]))
	p.LeafSize = binary.BigEndian.Uint32(b[78:])
	copy(p.Owner[:], b[82:])
	return p, nil
}

// slot names a placement without its provider: root, segment, shard.
func (p *placement) slot() []byte { return slotKey(p.Root, p.Segment, p.Shard) }

func slotKey(root storage.ID, seg uint32, shard uint16) []byte {
	b := append([]byte(nil), root[:]...)
	b = binary.BigEndian.AppendUint32(b, seg)
	return binary.BigEndian.AppendUint16(b, shard)
}

func (s *store) holdCount(prov identity.Address) uint64 {
	n, _ := binary.Uvarint(s.kv.Get(key(prefHoldN, prov[:])))
	return n
}

func (s *store) setHoldCount(prov identity.Address, n uint64) {
	if n == 0 {
		s.kv.Delete(key(prefHoldN, prov[:]))
		return
	}
	s.kv.Set(key(prefHoldN, prov[:]), binary.AppendUvarint(nil, n))
}

func (s *store) placementAt(prov identity.Address, pos uint64) (placement, error) {
	b := s.kv.Get(key(prefHoldPos, prov[:], be(pos)))
	if b == nil {
		return placement{}, errs.E(errs.Internal, "objects: no placement %d of %s", pos, prov)
	}
	return decodePlacement(b)
}

// place adds p to prov's placements.
func (s *store) place(prov identity.Address, p placement) {
	n := s.holdCount(prov)
	s.kv.Set(key(prefHoldPos, prov[:], be(n)), p.encode())
	s.kv.Set(key(prefHoldKey, prov[:], p.Hash[:], p.slot()), be(n))
	s.setHoldCount(prov, n+1)
}

// unplace removes the placement of shard hash at slot from prov's
// placements; it reports whether there was one.
func (s *store) unplace(prov identity.Address, hash storage.Hash, slot []byte) (bool, error) {
	k := key(prefHoldKey, prov[:], hash[:], slot)
	b := s.kv.Get(k)
	if b == nil {
		return false, nil
	}
	if len(b) != 8 {
		return false, errs.E(errs.Internal, "objects: corrupt placement position %x", b)
	}
	pos := binary.BigEndian.Uint64(b)
	n := s.holdCount(prov)
	if pos >= n {
		return false, errs.E(errs.Internal, "objects: placement position %d of %s is past its count %d", pos, prov, n)
	}
	s.kv.Delete(k)
	last := n - 1
	if pos != last {
		lb := s.kv.Get(key(prefHoldPos, prov[:], be(last)))
		lp, err := decodePlacement(lb)
		if err != nil {
			return false, err
		}
		s.kv.Set(key(prefHoldPos, prov[:], be(pos)), lb)
		s.kv.Set(key(prefHoldKey, prov[:], lp.Hash[:], lp.slot()), be(pos))
	}
	s.kv.Delete(key(prefHoldPos, prov[:], be(last)))
	s.setHoldCount(prov, last)
	s.forgetSlot(prov, slot)
	return true, nil
}

// placeAll adds every shard of the object's manifest to its provider's
// placements; unplaceAll removes them (those already gone are skipped).
func (s *store) placeAll(root storage.ID, man *storage.Manifest, owner identity.Address) error {
	for i, seg := range man.Segments {
		for j, sh := range seg.Shards {
			a, err := identity.ParseDID(sh.Provider)
			if err != nil {
				return errs.E(errs.Internal, "objects: placed shard with provider %q: %v", sh.Provider, err)
			}
			s.place(a, placement{Root: root, Segment: uint32(i), Shard: uint16(j), Hash: sh.Hash, Size: sh.Size,
				LeafSize: uint32(man.Params.LeafSize), Owner: owner})
		}
	}
	return nil
}

func (s *store) unplaceAll(root storage.ID, man *storage.Manifest) error {
	for i, seg := range man.Segments {
		for j, sh := range seg.Shards {
			a, err := identity.ParseDID(sh.Provider)
			if err != nil {
				return errs.E(errs.Internal, "objects: placed shard with provider %q: %v", sh.Provider, err)
			}
			if _, err := s.unplace(a, sh.Hash, slotKey(root, uint32(i), uint16(j))); err != nil {
				return err
			}
		}
	}
	return nil
}

// Holding calls fn for each live object that places shard h on provider,
// once per object, in ID order. fn may return ledger.ErrStop.
func Holding(ctx *ledger.Context, provider identity.Address, h storage.Hash, fn func(root storage.ID) error) error {
	s := newStore(ctx)
	p := key(prefHoldKey, provider[:], h[:])
	var last []byte
	return s.kv.Iterate(p, func(k, _ []byte) error {
		if len(k) != len(p)+32+6 {
			return errs.E(errs.Internal, "objects: corrupt placement key %x", k)
		}
		r := k[len(p) : len(p)+32]
		if bytes.Equal(r, last) {
			return nil
		}
		last = append(last[:0], r...)
		var id storage.ID
		copy(id[:], r)
		return fn(id)
	})
}
