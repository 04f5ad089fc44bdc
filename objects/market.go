package objects

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// marketKeeper is everything the objects module does with the market: the
// leases that pay for objects (opened for repairs, topped up on renewal,
// shrunk when a shard moves, closed with their objects), providers' records,
// scores and collateral for proofs of storage, and probe counts for repair.
// market.Keeper is the real one.
type marketKeeper interface {
	StoredLease(ctx *ledger.Context, id uint64) (*market.Lease, error)
	OpenFundedLease(ctx *ledger.Context, consumer, provider identity.Address, quantity, deposit, maxPrice uint64, bucket string) (uint64, error)
	TopupLeaseFor(ctx *ledger.Context, payer identity.Address, m *market.TopupLease) error
	ShrinkLease(ctx *ledger.Context, id, quantity uint64, bucket string) (uint64, error)
	CloseLeaseAs(ctx *ledger.Context, signer identity.Address, id uint64) error
	GetProvider(ctx *ledger.Context, a identity.Address) (*market.Provider, error)
	Providers(ctx *ledger.Context) ([]market.Provider, error)
	ProvidersAfter(ctx *ledger.Context, after *identity.Address, limit int) ([]market.Provider, bool, error)
	CanTakeStorage(ctx *ledger.Context, p *market.Provider, quantity uint64) bool
	TakeCollateral(ctx *ledger.Context, a identity.Address, amount uint64, to *identity.Address, bucket string) (uint64, error)
	AdjustScore(ctx *ledger.Context, a identity.Address, delta int64) error
	ProbeCounts(ctx *ledger.Context, provider identity.Address, epoch int64) (up, total uint64)
	EpochOf(ctx *ledger.Context, ms int64) int64
	Params(ctx *ledger.Context) market.Params
}

// mkt is the market the module calls.
var mkt marketKeeper = market.Keeper{}
