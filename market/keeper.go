package market

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// Keeper is the market as the other modules call it, the way a Cosmos SDK
// keeper is: objects and functions each declare the small interface of the
// calls they make (objects/market.go, functions/market.go) and hold a
// Keeper in it, so what one module may do to the market is written down in
// one place, and a test can put a fake in its stead. Each method works on
// the market's own state with the market's store key, whatever context it
// is handed, and keeps the market's books as the market's own messages do.
type Keeper struct{}

// StoredLease is StoredLease.
func (Keeper) StoredLease(ctx *ledger.Context, id uint64) (*Lease, error) {
	return StoredLease(ctx, id)
}

// GetLease is GetLease.
func (Keeper) GetLease(ctx *ledger.Context, id uint64) (*LeaseView, error) { return GetLease(ctx, id) }

// OpenLeaseFor is OpenLeaseFor.
func (Keeper) OpenLeaseFor(ctx *ledger.Context, consumer identity.Address, m *OpenLease) (uint64, error) {
	return OpenLeaseFor(ctx, consumer, m)
}

// OpenFundedLease is OpenFundedLease.
func (Keeper) OpenFundedLease(ctx *ledger.Context, consumer, provider identity.Address, quantity, deposit, maxPrice uint64, bucket string) (uint64, error) {
	return OpenFundedLease(ctx, consumer, provider, quantity, deposit, maxPrice, bucket)
}

// TopupLeaseFor is TopupLeaseFor.
func (Keeper) TopupLeaseFor(ctx *ledger.Context, payer identity.Address, m *TopupLease) error {
	return TopupLeaseFor(ctx, payer, m)
}

// ShrinkLease is ShrinkLease.
func (Keeper) ShrinkLease(ctx *ledger.Context, id, quantity uint64, bucket string) (uint64, error) {
	return ShrinkLease(ctx, id, quantity, bucket)
}

// CloseLeaseAs is CloseLeaseAs.
func (Keeper) CloseLeaseAs(ctx *ledger.Context, signer identity.Address, id uint64) error {
	return CloseLeaseAs(ctx, signer, id)
}

// GetProvider is GetProvider.
func (Keeper) GetProvider(ctx *ledger.Context, a identity.Address) (*Provider, error) {
	return GetProvider(ctx, a)
}

// Providers is Providers.
func (Keeper) Providers(ctx *ledger.Context) ([]Provider, error) { return Providers(ctx) }

// ProvidersAfter is ProvidersAfter.
func (Keeper) ProvidersAfter(ctx *ledger.Context, after *identity.Address, limit int) ([]Provider, bool, error) {
	return ProvidersAfter(ctx, after, limit)
}

// CanTakeStorage is CanTakeStorage.
func (Keeper) CanTakeStorage(ctx *ledger.Context, p *Provider, quantity uint64) bool {
	return CanTakeStorage(ctx, p, quantity)
}

// TakeCollateral is TakeCollateral.
func (Keeper) TakeCollateral(ctx *ledger.Context, a identity.Address, amount uint64, to *identity.Address, bucket string) (uint64, error) {
	return TakeCollateral(ctx, a, amount, to, bucket)
}

// AdjustScore is AdjustScore.
func (Keeper) AdjustScore(ctx *ledger.Context, a identity.Address, delta int64) error {
	return AdjustScore(ctx, a, delta)
}

// ProbeCounts is ProbeCounts.
func (Keeper) ProbeCounts(ctx *ledger.Context, provider identity.Address, epoch int64) (up, total uint64) {
	return ProbeCounts(ctx, provider, epoch)
}

// EpochOf is EpochOf.
func (Keeper) EpochOf(ctx *ledger.Context, ms int64) int64 { return EpochOf(ctx, ms) }

// Prices is Prices.
func (Keeper) Prices(ctx *ledger.Context) []Price { return Prices(ctx) }

// Params is GetParams.
func (Keeper) Params(ctx *ledger.Context) Params { return GetParams(ctx) }
