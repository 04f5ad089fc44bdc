package market

import (
	"encoding/binary"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// What the objects module needs of the market for proofs of storage and
// repair: a provider's collateral to take and its score to lower when it
// fails a proof, a lost shard's share of a lease to take out, and a lease
// to open with a repairer from what was taken out. Each is one exported
// function, so the rules stay here.

// CanTakeStorage reports whether provider p takes a new storage lease of
// quantity bytes: it is active, its collateral is at the minimum, and its
// storage offer has the room.
func CanTakeStorage(ctx *ledger.Context, p *Provider, quantity uint64) bool {
	s := newStore(ctx)
	o := p.offer(ClassStorage)
	return s.noNewLeases(p) == "" && o != nil && o.Capacity-min(o.Capacity, o.Used) >= quantity
}

// TakeCollateral takes up to amount of provider a's collateral, as a
// penalty, and gives it to account to, or with to nil to bucket. It returns
// what it took: all the collateral there is if that is less than amount.
func TakeCollateral(ctx *ledger.Context, a identity.Address, amount uint64, to *identity.Address, bucket string) (uint64, error) {
	s := newStore(ctx)
	p, err := s.provider(a)
	if err != nil {
		return 0, err
	}
	took := min(amount, p.Collateral)
	if took == 0 {
		return 0, nil
	}
	if to != nil {
		err = ctx.Credit(BucketCollateral, *to, took)
	} else {
		err = ctx.MoveBucket(BucketCollateral, bucket, took)
	}
	if err != nil {
		return 0, err
	}
	p.Collateral -= took
	s.putProvider(p)
	return took, nil
}

// AdjustScore moves provider a's score by delta, within [0, 10000].
func AdjustScore(ctx *ledger.Context, a identity.Address, delta int64) error {
	s := newStore(ctx)
	p, err := s.provider(a)
	if err != nil {
		return err
	}
	v := max(0, min(10_000, int64(p.Score)+delta))
	if uint32(v) != p.Score {
		p.Score = uint32(v)
		s.putProvider(p)
	}
	return nil
}

// ShrinkLease takes quantity units out of lease id because its provider no
// longer holds them (a storage shard it lost): it settles the lease to now,
// moves the escrow's share for those units, ceil(escrow x quantity /
// lease quantity) (floor if that would leave the rest of the lease with
// nothing), into bucket, and lowers the lease's quantity, its rate
// and the provider's used capacity. What it moved is returned. A lease
// left with no quantity closes (reason ReasonShrunk) and refunds what
// rounding left to its consumer: the caller must have released every use
// of it first.
func ShrinkLease(ctx *ledger.Context, id, quantity uint64, bucket string) (uint64, error) {
	s := newStore(ctx)
	l, err := s.lease(id)
	if err != nil {
		return 0, err
	}
	if l.State == LeaseClosed {
		return 0, nil
	}
	if err := s.settle(l); err != nil {
		return 0, err
	}
	if l.State == LeaseClosed { // the escrow ran out on settling
		s.putLease(l)
		return 0, nil
	}
	quantity = min(quantity, l.Quantity)
	moved, rem, err := money.MulDiv(l.Escrow, quantity, l.Quantity)
	if err != nil {
		return 0, err
	}
	// Rounded up: a small shard's share of a large lease is often under a
	// ustr, and a repair funded with nothing would drop a paid object.
	// Not when that would empty a lease that still pays for the rest.
	if rem > 0 && moved+1 < l.Escrow {
		moved++
	}
	if moved > 0 {
		if err := ctx.MoveBucket(BucketEscrow, bucket, moved); err != nil {
			return 0, err
		}
		l.Escrow -= moved
	}
	l.Quantity -= quantity
	if prov, err := s.provider(l.Provider); err == nil {
		if o := prov.offer(l.Class); o != nil {
			o.Used -= min(o.Used, quantity)
		}
		s.putProvider(prov)
		if prov.State == ProviderActive {
			if err := s.addCapacity(l.Class, 0, -int64(quantity)); err != nil {
				return 0, err
			}
		}
	}
	Events.LeaseShrunk.Emit(ctx, ledger.FormatInt(l.ID), ledger.FormatInt(quantity), ledger.FormatInt(moved))
	if l.Quantity == 0 {
		// close frees the capacity of what is left, which is nothing now.
		if err := s.close(l, ReasonShrunk); err != nil {
			return 0, err
		}
		s.putLease(l)
		return moved, nil
	}
	if rate, err := LeaseRate(l.Price, l.Quantity, l.Class); err == nil {
		l.Rate = max(rate, 1)
	}
	if l.Escrow == 0 {
		if err := s.close(l, "escrow"); err != nil {
			return 0, err
		}
	} else {
		s.reschedule(l)
	}
	s.putLease(l)
	return moved, nil
}

// ReasonShrunk is the close reason of a lease that ShrinkLease emptied.
const ReasonShrunk = "shrunk"

// OpenFundedLease opens an active storage lease of quantity bytes between
// consumer and provider, at provider's current price but at most maxPrice
// (0: no cap; a repair passes the lost lease's price, so that the owner
// never pays more for a repaired shard than it agreed to), funded with deposit
// taken from bucket rather than from the consumer's balance: a repaired
// shard's new lease, paid with what its lost lease held for it. The
// provider must take the lease (CanTakeStorage); it is active at once, as
// the provider already holds what it pays for. It returns the lease's id.
func OpenFundedLease(ctx *ledger.Context, consumer, provider identity.Address, quantity, deposit, maxPrice uint64, bucket string) (uint64, error) {
	s := newStore(ctx)
	c, err := s.choose(&OpenLease{Class: ClassStorage, Quantity: quantity, Provider: &provider})
	if err != nil {
		return 0, err
	}
	if maxPrice != 0 {
		c.price = min(c.price, maxPrice)
	}
	rate, err := LeaseRate(c.price, quantity, ClassStorage)
	if err != nil {
		return 0, err
	}
	rate = max(rate, 1)
	split, err := resolveSplit(nil, provider)
	if err != nil {
		return 0, err
	}
	if deposit > 0 {
		if err := ctx.MoveBucket(bucket, BucketEscrow, deposit); err != nil {
			return 0, err
		}
	}
	now := s.nowMs()
	l := &Lease{
		ID: s.nextID(), Consumer: consumer, Provider: provider, Class: ClassStorage, Quantity: quantity,
		Price: c.price, Rate: rate, State: LeaseActive, Split: split,
		Deposited: deposit, Escrow: deposit, OpenedMs: now, SettledMs: now, ActivatedMs: now,
	}
	o := c.prov.offer(ClassStorage)
	o.Used += quantity
	c.prov.OpenLeases++
	s.putProvider(c.prov)
	if err := s.addCapacity(ClassStorage, 0, int64(quantity)); err != nil {
		return 0, err
	}
	s.kv.Set(u64key(prefByCons, consumer, l.ID), []byte{})
	s.kv.Set(u64key(prefByProv, provider, l.ID), []byte{})
	Events.LeaseOpened.Emit(ctx, ledger.FormatInt(l.ID), consumer.String(), provider.String(), ClassStorage,
		ledger.FormatInt(quantity), ledger.FormatInt(rate), ledger.FormatInt(deposit), bucket)
	Events.LeaseActive.Emit(ctx, ledger.FormatInt(l.ID), provider.String(), "")
	if l.Escrow == 0 {
		if err := s.close(l, "escrow"); err != nil {
			return 0, err
		}
	} else {
		s.reschedule(l)
	}
	s.putLease(l)
	return l.ID, nil
}

// ProbeCounts weighs the validators' probe reports on provider for one
// probing epoch: up is the voting power of the validators that found it up
// (at least half of their probes answered), total that of all the
// validators that reported. Each report is one vote of its validator's
// power, however many probes it counts: summing the counts let one
// validator that claims millions of failed probes outweigh all the others.
// Reports of validators no longer in the set count for nothing.
func ProbeCounts(ctx *ledger.Context, provider identity.Address, epoch int64) (up, total uint64) {
	s := newStore(ctx)
	power := map[identity.Address]uint64{}
	for _, v := range ctx.Validators() {
		if v.Power > 0 {
			power[v.Operator] += uint64(v.Power)
		}
	}
	p := u64key(prefProbe, epoch, provider)
	s.kv.Iterate(p, func(k, v []byte) error {
		if len(v) != 8 || len(k) != len(p)+len(identity.Address{}) {
			return nil
		}
		var val identity.Address
		copy(val[:], k[len(p):])
		w := power[val]
		ok, n := uint64(binary.BigEndian.Uint32(v)), uint64(binary.BigEndian.Uint32(v[4:]))
		if w == 0 || n == 0 {
			return nil
		}
		total += w
		if 2*ok >= n {
			up += w
		}
		return nil
	})
	return up, total
}
