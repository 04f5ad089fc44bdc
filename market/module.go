package market

import (
	"encoding/binary"
	"encoding/json"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// Module is the market as a ledger module.
type Module struct{}

var _ ledger.Module = Module{}

// Name implements ledger.Module.
func (Module) Name() string { return "market" }

// NewParams implements ledger.ParamsOwner: the market's parameters are
// stored by the ledger under params/market.
func (Module) NewParams() ledger.ParamSet { return &Params{} }

// Buckets implements ledger.BucketOwner.
func (Module) Buckets() []string { return []string{BucketEscrow, BucketCollateral, BucketPayouts} }

// Msgs implements ledger.Module.
func (Module) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{
		{New: func() ledger.Msg { return &RegisterProvider{} }, Handler: ledger.Handle(registerProvider)},
		{New: func() ledger.Msg { return &UpdateProvider{} }, Handler: ledger.Handle(updateProvider)},
		{New: func() ledger.Msg { return &RetireProvider{} }, Handler: ledger.Handle(func(c *ledger.Context, a identity.Address, _ *RetireProvider) error { return retireProvider(c, a) })},
		{New: func() ledger.Msg { return &Unbond{} }, Handler: ledger.Handle(func(c *ledger.Context, a identity.Address, _ *Unbond) error { return unbond(c, a) })},
		{New: func() ledger.Msg { return &OpenLease{} }, Handler: ledger.Handle(func(c *ledger.Context, a identity.Address, m *OpenLease) error {
			_, err := openLease(c, a, m)
			return err
		})},
		{New: func() ledger.Msg { return &AckLease{} }, Handler: ledger.Handle(ackLease)},
		{New: func() ledger.Msg { return &TopupLease{} }, Handler: ledger.Handle(topupLease)},
		{New: func() ledger.Msg { return &CloseLease{} }, Handler: ledger.Handle(closeLease)},
		{New: func() ledger.Msg { return &ProbeReport{} }, Handler: ledger.Handle(probeReport)},
	}
}

// Genesis is the market's section of the genesis app_state.
type Genesis struct {
	Params Params `json:"params"`
	// ReferencePrices by class, nano-ustr per unit-second.
	ReferencePrices map[string]uint64 `json:"reference_prices"`
	// Providers registered at genesis; their collateral is taken from their
	// operators' genesis balances.
	Providers []GenesisProvider `json:"providers,omitempty"`
}

// GenesisProvider is a provider registered at genesis.
type GenesisProvider struct {
	Operator identity.Address `json:"operator"`
	RegisterProvider
}

// DefaultReferencePrices: storage at 1 STR per GiB-month, compute at
// 0.01 STR per cu-hour.
func DefaultReferencePrices() map[string]uint64 {
	return map[string]uint64{
		ClassStorage: 1_000_000 * NanoPerUstr / (30 * 24 * 3600),
		ClassCompute: 10_000 * NanoPerUstr / 3600,
	}
}

// DefaultGenesis is a devnet's market section, without providers.
func DefaultGenesis() Genesis {
	return Genesis{Params: DefaultParams(), ReferencePrices: DefaultReferencePrices()}
}

// Validate checks the parameters' ranges.
func (p Params) Validate() error {
	switch {
	case p.EpochSeconds <= 0 || p.EpochSeconds > 86_400:
		return errs.E(errs.Invalid, "market epoch_seconds must be between 1 and 86400")
	case p.TargetUtilizationBps == 0 || p.TargetUtilizationBps > 10_000:
		return errs.E(errs.Invalid, "market target_utilization_bps must be between 1 and 10000")
	case p.MaxPriceStepBps > 10_000:
		return errs.E(errs.Invalid, "market max_price_step_bps must be at most 10000")
	case p.UnbondingSeconds < 0 || p.AckTimeoutSeconds <= 0 || p.GraceSeconds < 0:
		return errs.E(errs.Invalid, "market timeouts must not be negative, and ack_timeout_seconds must be positive")
	case p.MaxConsecutiveBreaches == 0:
		return errs.E(errs.Invalid, "market max_consecutive_breaches must be positive")
	case p.RefundBpsPerPoint > 10_000:
		return errs.E(errs.Invalid, "market refund_bps_per_point must be at most 10000")
	case p.MinReferencePrice == 0:
		return errs.E(errs.Invalid, "market min_reference_price must be positive, or a reference price could stick at zero")
	case p.MaxJudgementsPerBlock == 0 || p.MaxPrunePerBlock == 0:
		return errs.E(errs.Invalid, "market max_judgements_per_block and max_prune_per_block must be positive")
	case p.RetentionSeconds <= 0 || p.PriceHistoryRetentionSeconds <= 0:
		return errs.E(errs.Invalid, "market retention_seconds and price_history_retention_seconds must be positive")
	case p.ProbeRetentionSeconds < maxWindowS+2*p.EpochSeconds:
		// A window is judged from the counts of the epoch before it began,
		// read when it ends.
		return errs.E(errs.Invalid, "market probe_retention_seconds must be at least the longest SLA window (%d s) and two epochs", maxWindowS)
	}
	return nil
}

// InitGenesis implements ledger.Module.
func (Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	g := DefaultGenesis()
	if len(raw) > 0 && string(raw) != "null" {
		g = Genesis{}
		if err := json.Unmarshal(raw, &g); err != nil {
			return errs.E(errs.Invalid, "market genesis: %v", err)
		}
	}
	g.Params = g.Params.withDefaults()
	if err := g.Params.Validate(); err != nil {
		return err
	}
	if err := ctx.SetParams(Module{}.Name(), &g.Params); err != nil {
		return err
	}
	s := newStore(ctx)
	s.kv.Set([]byte(keyIndexed), []byte{1})
	epoch := s.nowMs() / (g.Params.EpochSeconds * msPerSecond)
	for _, c := range Classes {
		price := g.ReferencePrices[c]
		if price == 0 {
			price = DefaultReferencePrices()[c]
		}
		s.setReference(c, epoch, max(price, g.Params.MinReferencePrice))
	}
	s.kv.Set([]byte(keyEpoch), u64key("", epoch))
	for _, gp := range g.Providers {
		if err := gp.Validate(); err != nil {
			return err
		}
		if err := registerProvider(ctx, gp.Operator, &gp.RegisterProvider); err != nil {
			return errs.E(errs.Invalid, "genesis provider %s: %v", gp.Operator, err)
		}
	}
	return nil
}

// EventPriceReference is emitted for each class's reference price at each
// epoch (class, epoch, reference).
const EventPriceReference = "price.reference"

// maxCatchUpEpochs bounds the price steps one block takes after a gap.
const maxCatchUpEpochs = 1440

// EndBlock moves reference prices at epoch boundaries, runs the lease
// events due by this block's time (at most MaxJudgementsPerBlock windows'
// worth) and prunes what has outlived its retention (at most
// MaxPrunePerBlock records).
func (Module) EndBlock(ctx *ledger.Context) error {
	s := newStore(ctx)
	if err := s.buildIndex(); err != nil {
		return err
	}
	p := s.params()
	epoch := s.nowMs() / (p.EpochSeconds * msPerSecond)
	var last int64
	if b := s.kv.Get([]byte(keyEpoch)); len(b) == 8 {
		last = int64(binary.BigEndian.Uint64(b))
	}
	if epoch > last {
		// One step per epoch that passed, each recorded, so a chain that
		// was down catches up as if it had not been (bounded, in case it
		// was down for years).
		from := max(last+1, epoch-maxCatchUpEpochs+1)
		for e := from; e <= epoch; e++ {
			for _, c := range Classes {
				cp := s.capacity(c)
				ref := NextReference(s.reference(c), cp.Used, cp.Capacity, p)
				s.setReference(c, e, ref)
				// The history is pruned after its retention; the audit log
				// keeps every price.
				Events.PriceReference.Emit(ctx, c, ledger.FormatInt(uint64(e)), ledger.FormatInt(ref))
			}
		}
		s.kv.Set([]byte(keyEpoch), u64key("", epoch))
	}
	if err := s.processDue(); err != nil {
		return err
	}
	return s.prune()
}
