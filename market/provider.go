package market

import (
	"fmt"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Why a provider takes no new leases (ProviderView.NoNewLeases).
const (
	NoLeasesRetiring   = "retiring"
	NoLeasesCollateral = "collateral_below_minimum"
)

// noNewLeases says why the market gives a provider no new leases, or "" if
// it does: it is retiring, or SLA refunds have drained its collateral below
// MinCollateral, so that it could not pay the next ones.
func (s *store) noNewLeases(p *Provider) string {
	switch {
	case p.State != ProviderActive:
		return NoLeasesRetiring
	case p.Collateral < s.params().MinCollateral:
		return NoLeasesCollateral
	}
	return ""
}

func (s *store) noNewLeasesReason(p *Provider) string {
	switch s.noNewLeases(p) {
	case NoLeasesRetiring:
		return "it is retiring"
	case NoLeasesCollateral:
		return fmt.Sprintf("its collateral %s is below the minimum of %s a provider needs to take new leases", money.Format(p.Collateral), money.Format(s.params().MinCollateral))
	}
	return ""
}

func registerProvider(ctx *ledger.Context, signer identity.Address, m *RegisterProvider) error {
	s := newStore(ctx)
	if _, err := s.provider(signer); err == nil {
		return errs.E(errs.Conflict, "%s is already a provider: change it with `stratus provider update`", signer)
	}
	p := s.params()
	if m.Collateral < p.MinCollateral {
		return errs.E(errs.Invalid, "collateral %s is below the minimum %s", money.Format(m.Collateral), money.Format(p.MinCollateral))
	}
	if err := ctx.Debit(signer, BucketCollateral, m.Collateral); err != nil {
		return err
	}
	prov := &Provider{
		Operator: signer, Endpoint: m.Endpoint, Region: m.Region, Offers: sortedOffers(m.Offers),
		Collateral: m.Collateral, State: ProviderActive, Score: 10_000, RegisteredMs: s.nowMs(),
	}
	for _, o := range prov.Offers {
		if err := s.addCapacity(o.Class, int64(o.Capacity), 0); err != nil {
			return err
		}
	}
	s.putProvider(prov)
	s.indexProvider(prov)
	Events.ProviderRegistered.Emit(ctx, signer.String(), ledger.FormatInt(m.Collateral))
	return nil
}

func sortedOffers(in []Offer) []Offer {
	out := make([]Offer, 0, len(in))
	for _, c := range Classes {
		for _, o := range in {
			if o.Class == c {
				out = append(out, o)
			}
		}
	}
	return out
}

func updateProvider(ctx *ledger.Context, signer identity.Address, m *UpdateProvider) error {
	s := newStore(ctx)
	prov, err := s.provider(signer)
	if err != nil {
		return err
	}
	if m.Endpoint != "" {
		prov.Endpoint = m.Endpoint
	}
	if m.Region != "" {
		prov.Region = m.Region
	}
	if m.Offers != nil {
		if prov.State != ProviderActive {
			return errs.E(errs.Conflict, "a retiring provider cannot change its offers")
		}
		next := sortedOffers(m.Offers)
		// Capacity can shrink only down to what leases use; a class with
		// open leases cannot be withdrawn.
		for _, old := range prov.Offers {
			var n *Offer
			for i := range next {
				if next[i].Class == old.Class {
					n = &next[i]
				}
			}
			if n == nil {
				if old.Used > 0 {
					return errs.E(errs.Conflict, "cannot stop offering %s: leases use %d of it", old.Class, old.Used)
				}
				continue
			}
			if n.Capacity < old.Used {
				return errs.E(errs.Conflict, "cannot lower %s capacity to %d: leases use %d", old.Class, n.Capacity, old.Used)
			}
			n.Used = old.Used
		}
		for _, o := range prov.Offers {
			if err := s.addCapacity(o.Class, -int64(o.Capacity), 0); err != nil {
				return err
			}
		}
		for _, o := range next {
			if err := s.addCapacity(o.Class, int64(o.Capacity), 0); err != nil {
				return err
			}
		}
		s.unindexProvider(prov)
		prov.Offers = next
		s.indexProvider(prov)
	}
	if m.AddCollateral > 0 {
		if err := ctx.Debit(signer, BucketCollateral, m.AddCollateral); err != nil {
			return err
		}
		c, err := money.Add(prov.Collateral, m.AddCollateral)
		if err != nil {
			return err
		}
		prov.Collateral = c
	}
	s.putProvider(prov)
	Events.ProviderUpdated.Emit(ctx, signer.String(), ledger.FormatInt(m.AddCollateral))
	return nil
}

func retireProvider(ctx *ledger.Context, signer identity.Address) error {
	s := newStore(ctx)
	prov, err := s.provider(signer)
	if err != nil {
		return err
	}
	if prov.State == ProviderRetiring {
		return errs.E(errs.Conflict, "%s is already retiring", signer)
	}
	s.unindexProvider(prov)
	prov.State = ProviderRetiring
	prov.UnbondAtMs = s.nowMs() + s.params().UnbondingSeconds*msPerSecond
	// A retiring provider leaves the utilization figures whole: its
	// capacity and what its leases use.
	for _, o := range prov.Offers {
		if err := s.addCapacity(o.Class, -int64(o.Capacity), -int64(o.Used)); err != nil {
			return err
		}
	}
	s.putProvider(prov)
	Events.ProviderRetiring.Emit(ctx, signer.String(), ledger.FormatInt(uint64(prov.UnbondAtMs)))
	return nil
}

func unbond(ctx *ledger.Context, signer identity.Address) error {
	s := newStore(ctx)
	prov, err := s.provider(signer)
	if err != nil {
		return err
	}
	switch {
	case prov.State != ProviderRetiring:
		return errs.E(errs.Conflict, "collateral unbonds only after `stratus provider retire` and the unbonding delay")
	case prov.OpenLeases > 0:
		return errs.E(errs.Conflict, "leases still open: %d; collateral unbonds once they close", prov.OpenLeases)
	case s.nowMs() < prov.UnbondAtMs:
		return errs.E(errs.Conflict, "collateral is locked for %d more seconds", (prov.UnbondAtMs-s.nowMs()+999)/1000)
	}
	if err := ctx.Credit(BucketCollateral, signer, prov.Collateral); err != nil {
		return err
	}
	s.kv.Delete(u64key(prefProv, signer))
	for _, v := range ctx.Validators() {
		s.kv.Delete(u64key(prefTally, signer, v.Operator))
	}
	Events.ProviderUnbonded.Emit(ctx, signer.String(), ledger.FormatInt(prov.Collateral))
	return nil
}
