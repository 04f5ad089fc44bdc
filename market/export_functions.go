package market

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// OpenLeaseFor opens a lease with consumer as its consumer, exactly as a
// market/open_lease transaction signed by consumer would, and returns the
// new lease's id. It is for modules that open leases on a user's behalf
// (functions opens a deployment's replicas with it); the handler behind
// Module.Msgs cannot return the id.
//
// It checks m with Validate first. It fails, before writing anything, with
// the errors market/open_lease gives: Invalid, NotFound or Conflict when no
// provider fits, Insufficient when consumer cannot pay the deposit.
func OpenLeaseFor(ctx *ledger.Context, consumer identity.Address, m *OpenLease) (uint64, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	return openLease(ctx, consumer, m)
}

// StoredLease returns a lease as state holds it, without settling it up to
// the block's time. Unlike GetLease, which settles a copy and so moves
// value in the context it is given (fine for a query context, whose writes
// go nowhere), it is safe to call from another module's handler or
// EndBlock. It fails with NotFound.
func StoredLease(ctx *ledger.Context, id uint64) (*Lease, error) {
	return newStore(ctx).lease(id)
}

// TopupLeaseFor adds m.Amount to lease m.ID's escrow from payer's balance,
// exactly as a market/topup_lease transaction signed by payer would. It is
// for modules that top up the leases of what they own in one message
// (objects renews every lease of an object). It checks m with Validate
// first, and fails with the errors market/topup_lease gives: NotFound,
// Conflict when the lease is closed (or runs out of escrow and closes on
// settling), Insufficient when payer cannot pay.
func TopupLeaseFor(ctx *ledger.Context, payer identity.Address, m *TopupLease) error {
	if err := m.Validate(); err != nil {
		return err
	}
	return topupLease(ctx, payer, m)
}
