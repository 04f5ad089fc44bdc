package functions

import (
	"bytes"
	"sort"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

func itoa(n int) string { return strconv.Itoa(n) }

// maxTries bounds the providers one replica opening tries.
const maxTries = 8

// candidates lists the active compute providers with room for a replica,
// outside exclude, in the market's order of preference: cheapest, then
// highest score, then lowest address.
func (s *store) candidates(quantity uint64, exclude map[identity.Address]bool) ([]identity.Address, error) {
	provs, err := mkt.Providers(s.ctx)
	if err != nil {
		return nil, err
	}
	var ref uint64
	for _, p := range mkt.Prices(s.ctx) {
		if p.Class == market.ClassCompute {
			ref = p.Reference
		}
	}
	type cand struct {
		p     market.Provider
		price uint64
	}
	var cs []cand
	for _, p := range provs {
		if p.State != market.ProviderActive || exclude[p.Operator] {
			continue
		}
		for _, o := range p.Offers {
			if o.Class != market.ClassCompute || o.Capacity-min(o.Capacity, o.Used) < quantity {
				continue
			}
			price, err := market.EffectivePrice(o.Pricing, ref, o, quantity)
			if err != nil || price == 0 {
				continue
			}
			cs = append(cs, cand{p: p, price: price})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.price != b.price {
			return a.price < b.price
		}
		if a.p.Score != b.p.Score {
			return a.p.Score > b.p.Score
		}
		return bytes.Compare(a.p.Operator[:], b.p.Operator[:]) < 0
	})
	out := make([]identity.Address, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.p.Operator)
	}
	return out, nil
}

// openReplica opens one more replica of d: a compute lease, as d's owner,
// on a provider d does not use and not in exclude, funded from d's
// escrow. It fails without changing anything.
func (s *store) openReplica(d *Deployment, exclude map[identity.Address]bool) (Replica, error) {
	p := s.params()
	if d.available() < p.ReplicaDeposit {
		return Replica{}, errs.E(errs.Insufficient, "the escrow, %s (less %s kept back for final reports), is short of a replica's lease deposit, %s: top up the deployment",
			money.Format(d.Escrow), money.Format(d.Reserved), money.Format(p.ReplicaDeposit))
	}
	ex := map[identity.Address]bool{}
	for a := range exclude {
		ex[a] = true
	}
	for _, r := range d.Replicas {
		ex[r.Provider] = true
	}
	cands, err := s.candidates(p.ReplicaQuantity, ex)
	if err != nil {
		return Replica{}, err
	}
	if len(cands) == 0 {
		return Replica{}, errs.E(errs.NotFound, "no other active compute provider has %d cu free", p.ReplicaQuantity)
	}
	// The deposit passes through the owner's balance, so the market's own
	// open takes it as from any consumer.
	if err := s.ctx.Credit(BucketEscrow, d.Owner, p.ReplicaDeposit); err != nil {
		return Replica{}, err
	}
	var lastErr error
	for i, prov := range cands {
		if i == maxTries {
			break
		}
		m := &market.OpenLease{
			Class: market.ClassCompute, Quantity: p.ReplicaQuantity, Deposit: p.ReplicaDeposit, Provider: &prov,
			Split: d.Spec.Split,
		}
		if p.ReplicaSLABps > 0 {
			m.SLA = market.SLA{TargetBps: p.ReplicaSLABps, WindowSeconds: p.ReplicaSLAWindowSeconds}
		}
		id, err := mkt.OpenLeaseFor(s.ctx, d.Owner, m)
		if err != nil {
			lastErr = err
			continue
		}
		d.Escrow -= p.ReplicaDeposit
		d.ReplicaFunding += p.ReplicaDeposit
		r := Replica{Lease: id, Provider: prov, OpenedMs: s.nowMs()}
		d.Replicas = append(d.Replicas, r)
		s.addReplicaIndex(d, r)
		return r, nil
	}
	if err := s.ctx.Debit(d.Owner, BucketEscrow, p.ReplicaDeposit); err != nil {
		return Replica{}, errs.E(errs.Internal, "functions: could not return a replica's deposit: %v", err)
	}
	return Replica{}, lastErr
}

// closeReplica closes replica r of d and drops it from d: its lease, if
// not closed yet, through market.CloseLeaseAs as the lease's consumer (d's
// owner), so the market settles it and refunds its escrow to the owner;
// then the usage its provider served before the close is kept billable
// (noteClosed). It reports whether it closed the lease.
func (s *store) closeReplica(d *Deployment, r Replica) (bool, error) {
	closed := false
	closedMs := s.nowMs()
	l, err := mkt.StoredLease(s.ctx, r.Lease)
	switch {
	case errs.KindOf(err) == errs.NotFound:
	case err != nil:
		return false, err
	case l.State == market.LeaseClosed:
		closedMs = l.ClosedMs
	default:
		if err := mkt.CloseLeaseAs(s.ctx, d.Owner, r.Lease); err != nil {
			return false, err
		}
		closed = true
	}
	if err := s.noteClosed(d, r, closedMs); err != nil {
		return false, err
	}
	s.dropReplica(d, r)
	return closed, nil
}

// dropReplica takes r out of d's replicas and the indexes.
func (s *store) dropReplica(d *Deployment, r Replica) {
	s.dropReplicaIndex(d, r)
	kept := make([]Replica, 0, len(d.Replicas))
	for _, x := range d.Replicas {
		if x.Lease != r.Lease {
			kept = append(kept, x)
		}
	}
	d.Replicas = kept
}

// leaseState returns a replica's lease as stored: market.GetLease would
// settle it, moving value in a context that is not a query's.
func (s *store) leaseState(id uint64) (*market.Lease, error) {
	return mkt.StoredLease(s.ctx, id)
}

func isLive(state string) bool { return state == market.LeaseActive || state == market.LeaseGrace }
