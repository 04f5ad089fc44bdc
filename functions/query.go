package functions

import (
	"encoding/binary"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Queries read state through a query context (ledger.NewQueryContext), as
// the market's do; the replicas' leases are shown settled up to its time.

// ReplicaView is a replica with its lease as the market sees it.
type ReplicaView struct {
	Replica
	LeaseState string `json:"lease_state"`
	// LeaseEscrow is what is left of the lease's deposit; LeasePaid what
	// the lease has paid for capacity.
	LeaseEscrow uint64 `json:"lease_escrow,string"`
	LeasePaid   uint64 `json:"lease_paid,string"`
}

// ProviderUsageView is what one provider reported for a deployment.
type ProviderUsageView struct {
	Provider identity.Address `json:"provider"`
	ProviderUsage
}

// DeploymentView is a deployment with its replicas' leases and its
// providers' reports.
type DeploymentView struct {
	Deployment
	Replicas []ReplicaView `json:"replicas"`
	// Room is what can still be charged for usage.
	Room  uint64              `json:"room,string"`
	Usage []ProviderUsageView `json:"usage"`
}

// GetDeployment returns a deployment. It fails with NotFound.
func GetDeployment(ctx *ledger.Context, id uint64) (*DeploymentView, error) {
	s := newStore(ctx)
	d, err := s.deployment(id)
	if err != nil {
		return nil, err
	}
	if err := s.fullSpec(d); err != nil {
		return nil, err
	}
	v := &DeploymentView{Deployment: *d, Replicas: []ReplicaView{}, Usage: []ProviderUsageView{}}
	if d.State != StateRemoved && d.State != StateSuspended {
		v.Room, _ = d.room()
	}
	for _, r := range d.Replicas {
		l, err := mkt.GetLease(ctx, r.Lease)
		if err != nil {
			return nil, err
		}
		v.Replicas = append(v.Replicas, ReplicaView{Replica: r, LeaseState: l.State, LeaseEscrow: l.Escrow, LeasePaid: l.Settled})
	}
	p := key(prefSeq, id)
	err = s.kv.Iterate(p, func(k, val []byte) error {
		var u ProviderUsageView
		copy(u.Provider[:], k[len(p):])
		if err := jsonUnmarshal(val, &u.ProviderUsage); err != nil {
			return err
		}
		v.Usage = append(v.Usage, u)
		return nil
	})
	return v, err
}

// DeploymentByName returns owner's live deployment named name. It fails
// with NotFound.
func DeploymentByName(ctx *ledger.Context, owner identity.Address, name string) (*DeploymentView, error) {
	b := newStore(ctx).kv.Get(key(prefByName, owner, name))
	if len(b) != 8 {
		return nil, errs.E(errs.NotFound, "%s has no deployment named %q: see `stratus fn ls`", owner, name)
	}
	return GetDeployment(ctx, binary.BigEndian.Uint64(b))
}

// DeploymentsOf returns owner's deployments, removed ones included, in id
// order.
func DeploymentsOf(ctx *ledger.Context, owner identity.Address) ([]Deployment, error) {
	s := newStore(ctx)
	p := key(prefByOwner, owner)
	out := []Deployment{}
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		d, err := s.deployment(binary.BigEndian.Uint64(k[len(p):]))
		if err != nil {
			return err
		}
		if err := s.fullSpec(d); err != nil {
			return err
		}
		out = append(out, *d)
		return nil
	})
	return out, err
}

// Assignment is a replica a provider holds: what its runtime must serve.
type Assignment struct {
	Deployment uint64           `json:"deployment,string"`
	Lease      uint64           `json:"lease,string"`
	Owner      identity.Address `json:"owner"`
	Name       string           `json:"name"`
	State      string           `json:"state"`
	Spec       Spec             `json:"spec"`
	// Cron are the recent cron runs given to this replica, oldest first.
	Cron []CronAssigned `json:"cron,omitempty"`
}

// ReplicasOf returns the replicas provider holds, by deployment then lease.
func ReplicasOf(ctx *ledger.Context, provider identity.Address) ([]Assignment, error) {
	s := newStore(ctx)
	p := key(prefByProv, provider)
	out := []Assignment{}
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		k = k[len(p):]
		d, err := s.deployment(binary.BigEndian.Uint64(k[:8]))
		if err != nil {
			return err
		}
		if err := s.fullSpec(d); err != nil {
			return err
		}
		a := Assignment{Deployment: d.ID, Lease: binary.BigEndian.Uint64(k[8:16]), Owner: d.Owner, Name: d.Name, State: d.State, Spec: d.Spec}
		for _, r := range d.CronRecent {
			if r.Lease == a.Lease {
				a.Cron = append(a.Cron, r)
			}
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// Payable returns nil if deployment id can take calls, or an error of kind
// Insufficient saying why not (the gateway answers 402 with it), NotFound
// or Conflict (removed).
func Payable(ctx *ledger.Context, id uint64) error {
	d, err := newStore(ctx).deployment(id)
	if err != nil {
		return err
	}
	switch d.State {
	case StateRemoved:
		return errs.E(errs.Conflict, "deployment %d was removed", id)
	case StateSuspended:
		return errs.E(errs.Insufficient, "deployment %d is suspended: %s", id, d.SuspendedReason)
	case StateExhausted:
		if d.ExhaustedReason == "spend_limit" {
			return errs.E(errs.Insufficient, "deployment %d reached its spend limit of %s: its owner must raise spend_limit with `stratus fn update`",
				id, money.Format(d.Spec.SpendLimit))
		}
		return errs.E(errs.Insufficient, "deployment %d has no escrow left: its owner must top it up", id)
	}
	return nil
}

// GetParams returns the module's parameters.
func GetParams(ctx *ledger.Context) Params { return newStore(ctx).params() }
