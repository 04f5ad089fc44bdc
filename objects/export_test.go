package objects

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// SetMaxExpiriesPerBlock changes the cap on expiries per block for a test
// and returns a function that puts it back.
func SetMaxExpiriesPerBlock(n int) func() {
	old := maxExpiriesPerBlock
	maxExpiriesPerBlock = n
	return func() { maxExpiriesPerBlock = old }
}

// PlaceSized places a size-byte shard, named root, at slot root/0/0 of
// prov's placements.
func PlaceSized(ctx *ledger.Context, prov identity.Address, root storage.ID, size int64) error {
	return newStore(ctx).place(prov, placement{Root: root, Hash: storage.Hash(root), Size: size, LeafSize: 64})
}

// UnplaceSized removes what PlaceSized placed.
func UnplaceSized(ctx *ledger.Context, prov identity.Address, root storage.ID) (bool, error) {
	return newStore(ctx).unplace(prov, storage.Hash(root), slotKey(root, 0, 0))
}

// SampleByte returns the root of the placement of prov's that the
// challenge draw r (below the bytes prov holds) lands on.
func SampleByte(ctx *ledger.Context, prov identity.Address, r uint64) (storage.ID, error) {
	s := newStore(ctx)
	h, err := s.holding(prov)
	if err != nil {
		return storage.ID{}, err
	}
	pos, err := s.sample(prov, h, r)
	if err != nil {
		return storage.ID{}, err
	}
	pl, err := s.placementAt(prov, pos)
	return pl.Root, err
}

// PlacedSizes returns prov's placements' roots and sizes in position order.
func PlacedSizes(ctx *ledger.Context, prov identity.Address) ([]storage.ID, []int64, error) {
	s := newStore(ctx)
	var roots []storage.ID
	var sizes []int64
	for pos := range s.holdCount(prov) {
		pl, err := s.placementAt(prov, pos)
		if err != nil {
			return nil, nil, err
		}
		roots, sizes = append(roots, pl.Root), append(sizes, pl.Size)
	}
	return roots, sizes, nil
}
