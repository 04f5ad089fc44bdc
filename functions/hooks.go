package functions

import (
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

var _ market.LeaseHooks = Module{}

// BeforeLeaseClose implements market.LeaseHooks. A replica's lease is the
// deployment's: its consumer (the deployment's owner) closes it through
// the deployment (functions/scale, functions/remove), which keeps the
// usage served before the close billable, and never directly; otherwise an
// owner could close every replica before its provider reports and never
// pay for the calls it served. The provider may close it (it leaves; its
// final report is still accepted). The error is of kind Conflict.
func (Module) BeforeLeaseClose(ctx *ledger.Context, l *market.Lease, signer identity.Address) error {
	s := newStore(ctx)
	id := s.replicaOf(l.ID)
	if id == 0 || signer != l.Consumer {
		return nil
	}
	d, err := s.deployment(id)
	if err != nil {
		return err
	}
	return errs.E(errs.Conflict, "lease %d is a replica of deployment %d (%s): a replica's lease closes through its deployment, by lowering its scaling (functions/scale) or removing it (functions/remove), so that the usage served before the close stays billable",
		l.ID, d.ID, d.Name)
}

// AfterLeaseClose implements market.LeaseHooks. A replica's lease the
// market closed on its own (escrow gone, an SLA breach, its provider) is
// seen at the deployment's next evaluation, which keeps the usage served
// before the close billable; there is nothing to do here.
func (Module) AfterLeaseClose(*ledger.Context, *market.Lease) error { return nil }
