package market

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// LeaseHooks is implemented by modules whose records live on leases: the
// objects module's stored objects, the functions module's replicas. The
// market calls every module of the registry that implements it, in registry
// order, so a lease cannot close behind the back of what depends on it.
type LeaseHooks interface {
	// BeforeLeaseClose is asked before lease l's consumer or provider
	// closes it with market/close_lease. An error refuses the close, and
	// the transaction changes nothing. It is not asked for closes that
	// the lease's terms force (escrow gone, unacknowledged, SLA breach),
	// nor for CloseLeaseAs.
	BeforeLeaseClose(ctx *ledger.Context, l *Lease, signer identity.Address) error
	// AfterLeaseClose is told that l has just closed, for any reason
	// (l.CloseReason), after it was settled and its escrow refunded. l is
	// the closed lease; state may not hold it yet. An error fails the
	// transaction or block step that closed it.
	AfterLeaseClose(ctx *ledger.Context, l *Lease) error
}

func hooks(ctx *ledger.Context) []LeaseHooks {
	var out []LeaseHooks
	for _, m := range ctx.Modules() {
		if h, ok := m.(LeaseHooks); ok {
			out = append(out, h)
		}
	}
	return out
}

// CloseLeaseAs closes lease id as market/close_lease signed by signer would
// (signer must be its consumer or provider), but without asking the
// LeaseHooks for leave: it is for the module that owns what the lease pays
// for, closing it itself (objects removing an object, functions scaling in
// a replica). AfterLeaseClose is still told. It fails with NotFound,
// Unauthorized or Conflict as the transaction would.
func CloseLeaseAs(ctx *ledger.Context, signer identity.Address, id uint64) error {
	return closeLeaseBy(ctx, signer, id, false)
}
