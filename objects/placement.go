package objects

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// The placement index: every shard of every live object, under the provider
// that holds it, so that a provider can be challenged on a sample of what it
// holds weighted by bytes, and a lost provider's shards can be found without
// scanning objects. Per provider it is a dense array, its reverse, and a
// Fenwick (binary indexed) tree of the shard sizes over the array's
// positions:
//
//	hn/<provider32>                                  -> uvarint count, then total bytes 8 BE
//	hp/<provider32><pos 8 BE>                        -> placement (placementLen bytes)
//	hk/<provider32><hash32><root32><seg 4 BE><idx 2 BE> -> pos 8 BE
//	hw/<provider32><node 8 BE>                       -> uint64 8 BE
//
// Removing a placement moves the last one into its slot. The hk keys also
// answer "which objects place shard h on provider p" (Holding).
//
// The tree's node i (1 to count) holds the sum of the sizes at positions
// i-lowbit(i) to i-1, where lowbit(i) is i's lowest set bit; an absent node
// is 0, and there are no nodes past the count. The sample is by bytes, not
// by placements, because a provider chooses what else it holds: with a
// second key it can commit a hundred 3-byte objects on itself, and a
// uniform draw over placements would then land on those almost every time
// and almost never on the customers' big shards it is paid to keep.
//
// Costs, for a provider with n placements (reads and writes of state,
// each metered by the write cache like any other):
//
//   - place: 1 read and 1 write of hn, lg(lowbit(n+1)) node reads (1 on
//     average, at most lg n), 1 node write, and the hp and hk writes.
//   - unplace: 1 read and 1 write of hn, the hk read and delete, the read of
//     the placement removed and of the last one, at most lg n node reads and
//     writes for the hole's new size, 1 node delete for the last position,
//     and the hp and hk writes of the move.
//   - sample: 1 read of hn, at most lg n + 1 node reads down the tree, 1
//     read of the placement drawn.

const (
	prefHoldN      = "hn/"
	prefHoldPos    = "hp/"
	prefHoldKey    = "hk/"
	prefHoldWeight = "hw/"
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

// holding is a provider's count of placements and the bytes they hold.
type holding struct{ count, bytes uint64 }

func (s *store) holding(prov identity.Address) (holding, error) {
	b := s.kv.Get(key(prefHoldN, prov[:]))
	if b == nil {
		return holding{}, nil
	}
	n, w := binary.Uvarint(b)
	if w <= 0 || len(b) != w+8 {
		return holding{}, errs.E(errs.Internal, "objects: corrupt placement count of %s: %x", prov, b)
	}
	return holding{count: n, bytes: binary.BigEndian.Uint64(b[w:])}, nil
}

func (s *store) setHolding(prov identity.Address, h holding) {
	if h.count == 0 {
		s.kv.Delete(key(prefHoldN, prov[:]))
		return
	}
	s.kv.Set(key(prefHoldN, prov[:]), binary.BigEndian.AppendUint64(binary.AppendUvarint(nil, h.count), h.bytes))
}

// holdCount is prov's count of placements; a corrupt record counts as none
// here, and fails the next place, unplace or sample.
func (s *store) holdCount(prov identity.Address) uint64 {
	h, _ := s.holding(prov)
	return h.count
}

func lowbit(i uint64) uint64 { return i & -i }

func (s *store) node(prov identity.Address, i uint64) uint64 {
	return readBE(s.kv.Get(key(prefHoldWeight, prov[:], be(i))))
}

func (s *store) setNode(prov identity.Address, i, w uint64) {
	if w == 0 {
		s.kv.Delete(key(prefHoldWeight, prov[:], be(i)))
		return
	}
	s.kv.Set(key(prefHoldWeight, prov[:], be(i)), be(w))
}

// growTree adds node n+1 of prov's tree, for a new last position n of size
// bytes: its range ends at the new position, so no other node covers it,
// and the rest of its range is the sum of the nodes below it.
func (s *store) growTree(prov identity.Address, n, size uint64) {
	i := n + 1
	sum := size
	for j := n; j > i-lowbit(i); j -= lowbit(j) {
		sum += s.node(prov, j)
	}
	s.setNode(prov, i, sum)
}

// addWeight adds delta (modulo 2^64, so that it may be negative) to
// position pos in the nodes up to count.
func (s *store) addWeight(prov identity.Address, pos, delta, count uint64) {
	for i := pos + 1; i <= count; i += lowbit(i) {
		s.setNode(prov, i, s.node(prov, i)+delta)
	}
}

// sample returns the position of prov's placements whose bytes hold byte r
// of their concatenation in position order: the descent from the highest
// power of two down takes a node only if r lies past its range.
func (s *store) sample(prov identity.Address, h holding, r uint64) (uint64, error) {
	if h.count == 0 || r >= h.bytes {
		return 0, errs.E(errs.Internal, "objects: byte %d sampled past the %d bytes %s holds", r, h.bytes, prov)
	}
	pos := uint64(0)
	for step := uint64(1) << (bits.Len64(h.count) - 1); step > 0; step >>= 1 {
		if i := pos + step; i <= h.count {
			if w := s.node(prov, i); w <= r {
				pos, r = i, r-w
			}
		}
	}
	if pos >= h.count {
		return 0, errs.E(errs.Internal, "objects: the size tree of %s sums to less than its %d bytes", prov, h.bytes)
	}
	return pos, nil
}

func (s *store) placementAt(prov identity.Address, pos uint64) (placement, error) {
	b := s.kv.Get(key(prefHoldPos, prov[:], be(pos)))
	if b == nil {
		return placement{}, errs.E(errs.Internal, "objects: no placement %d of %s", pos, prov)
	}
	return decodePlacement(b)
}

// place adds p to prov's placements, at the end of the array.
func (s *store) place(prov identity.Address, p placement) error {
	h, err := s.holding(prov)
	if err != nil {
		return err
	}
	n := h.count
	s.kv.Set(key(prefHoldPos, prov[:], be(n)), p.encode())
	s.kv.Set(key(prefHoldKey, prov[:], p.Hash[:], p.slot()), be(n))
	s.growTree(prov, n, uint64(p.Size))
	s.setHolding(prov, holding{count: n + 1, bytes: h.bytes + uint64(p.Size)})
	return nil
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
	h, err := s.holding(prov)
	if err != nil {
		return false, err
	}
	n := h.count
	if pos >= n {
		return false, errs.E(errs.Internal, "objects: placement position %d of %s is past its count %d", pos, prov, n)
	}
	gone, err := s.placementAt(prov, pos)
	if err != nil {
		return false, err
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
		// The nodes past last go with it, so only those up to last
		// learn the hole's new size.
		s.addWeight(prov, pos, uint64(lp.Size)-uint64(gone.Size), last)
	}
	s.kv.Delete(key(prefHoldPos, prov[:], be(last)))
	s.setNode(prov, n, 0)
	s.setHolding(prov, holding{count: last, bytes: h.bytes - uint64(gone.Size)})
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
			if err := s.place(a, placement{Root: root, Segment: uint32(i), Shard: uint16(j), Hash: sh.Hash, Size: sh.Size,
				LeafSize: uint32(man.Params.LeafSize), Owner: owner}); err != nil {
				return err
			}
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
