package functions

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// marketKeeper is everything the functions module does with the market:
// the compute leases of a deployment's replicas (opened, read, closed), the
// providers that could take one, and prices. market.Keeper is the real one.
type marketKeeper interface {
	StoredLease(ctx *ledger.Context, id uint64) (*market.Lease, error)
	GetLease(ctx *ledger.Context, id uint64) (*market.LeaseView, error)
	OpenLeaseFor(ctx *ledger.Context, consumer identity.Address, m *market.OpenLease) (uint64, error)
	CloseLeaseAs(ctx *ledger.Context, signer identity.Address, id uint64) error
	Providers(ctx *ledger.Context) ([]market.Provider, error)
	Prices(ctx *ledger.Context) []market.Price
}

// mkt is the market the module calls.
var mkt marketKeeper = market.Keeper{}
