// Package market is the economic engine of Stratus, as a ledger module:
// providers who offer storage and compute with collateral, leases between a
// consumer and a provider, escrow that streams to the lease's payees second
// by second, reference prices that follow utilization, and service levels
// enforced from the validators' probe reports.
//
// It is pure state-machine logic: it reads block time, never the clock, and
// does no I/O. The prober that produces reports lives in package prober.
//
// Settlement is lazy. A lease's money moves only when something touches the
// lease: a transaction, or an event the lease scheduled for itself (its SLA
// window ending, its escrow running low or out, an acknowledgement timing
// out). Those events sit in a time-ordered queue, so a block's work grows
// with the leases due in it, never with the number of leases in state; and
// a block runs at most MaxJudgementsPerBlock of them, carrying the rest.
// Judging an SLA window reads O(validators) records whatever its length
// (sla.go), and records that only grow are pruned after their retention
// (retention.go).
package market

import (
	"github.com/stratus-cloud/stratus/identity"
)

// Resource classes.
const (
	ClassStorage = "storage"
	ClassCompute = "compute"
)

// unitSize is how many units of quantity a price is quoted for: storage is
// priced per GiB and leased in bytes; compute is priced and leased in
// compute units (cu).
var unitSize = map[string]uint64{ClassStorage: 1 << 30, ClassCompute: 1}

// Classes lists the resource classes in a fixed order.
var Classes = []string{ClassStorage, ClassCompute}

// Prices are in nano-ustr (10^-9 ustr) per unit per second: a GiB of storage
// for a month at 1 STR is about 385,802,469 nano-ustr per second.
const (
	NanoPerUstr  = 1_000_000_000
	picoPerUstr  = 1_000_000_000_000 // accruals: nano-ustr/s x ms
	msPerSecond  = 1000
	maxPayees    = 8
	maxEndpoint  = 256
	maxRegion    = 64
	maxWindowS   = 30 * 24 * 3600
	maxProbeRows = 256
)

// Params are the market's chain parameters.
type Params struct {
	// MinCollateral is the least collateral a provider must lock, in ustr.
	MinCollateral uint64 `json:"min_collateral,string"`
	// UnbondingSeconds is how long collateral stays locked after retiring.
	UnbondingSeconds int64 `json:"unbonding_seconds"`
	// AckTimeoutSeconds is how long a provider has to acknowledge a lease.
	AckTimeoutSeconds int64 `json:"ack_timeout_seconds"`
	// GraceSeconds: a lease whose escrow covers less than this goes into
	// grace.
	GraceSeconds int64 `json:"grace_seconds"`
	// EpochSeconds is the pricing and probing epoch.
	EpochSeconds int64 `json:"epoch_seconds"`
	// TargetUtilizationBps is the utilization the reference price aims at.
	TargetUtilizationBps uint64 `json:"target_utilization_bps"`
	// MaxPriceStepBps bounds the reference price's change per epoch.
	MaxPriceStepBps uint64 `json:"max_price_step_bps"`
	// MinReferencePrice is the reference price's floor, nano-ustr/unit/s.
	MinReferencePrice uint64 `json:"min_reference_price,string"`
	// RefundBpsPerPoint is the share of a window's charges refunded for
	// each percentage point of availability below the target.
	RefundBpsPerPoint uint64 `json:"refund_bps_per_point"`
	// MaxConsecutiveBreaches closes a lease with reason "sla".
	MaxConsecutiveBreaches uint32 `json:"max_consecutive_breaches"`
	// MaxJudgementsPerBlock bounds the SLA windows EndBlock judges in one
	// block; lease events beyond it wait, earliest first, for the next.
	MaxJudgementsPerBlock uint32 `json:"max_judgements_per_block"`
	// JudgementGas is the gas a transaction is charged for each SLA window
	// it gets judged (a close, a top-up).
	JudgementGas uint64 `json:"judgement_gas"`
	// RetentionSeconds is how long a closed lease, and a judged window,
	// stay in state before they are pruned.
	RetentionSeconds int64 `json:"retention_seconds"`
	// ProbeRetentionSeconds is how long a probe report's per-epoch counts
	// stay in state.
	ProbeRetentionSeconds int64 `json:"probe_retention_seconds"`
	// PriceHistoryRetentionSeconds is how long a reference price stays in
	// the price history.
	PriceHistoryRetentionSeconds int64 `json:"price_history_retention_seconds"`
	// MaxPrunePerBlock bounds the records EndBlock prunes in one block.
	MaxPrunePerBlock uint32 `json:"max_prune_per_block"`
}

// DefaultParams are a devnet's market parameters.
func DefaultParams() Params {
	return Params{
		MinCollateral:          100 * 1_000_000,
		UnbondingSeconds:       600,
		AckTimeoutSeconds:      120,
		GraceSeconds:           3600,
		EpochSeconds:           60,
		TargetUtilizationBps:   7000,
		MaxPriceStepBps:        1250,
		MinReferencePrice:      1000,
		RefundBpsPerPoint:      1000,
		MaxConsecutiveBreaches: 3,

		MaxJudgementsPerBlock:        1000,
		JudgementGas:                 2000,
		RetentionSeconds:             30 * 24 * 3600,
		ProbeRetentionSeconds:        35 * 24 * 3600,
		PriceHistoryRetentionSeconds: 30 * 24 * 3600,
		MaxPrunePerBlock:             1000,
	}
}

// withDefaults fills the parameters a genesis written before they existed
// leaves at zero with their defaults.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.MaxJudgementsPerBlock == 0 {
		p.MaxJudgementsPerBlock = d.MaxJudgementsPerBlock
	}
	if p.JudgementGas == 0 {
		p.JudgementGas = d.JudgementGas
	}
	if p.RetentionSeconds == 0 {
		p.RetentionSeconds = d.RetentionSeconds
	}
	if p.ProbeRetentionSeconds == 0 {
		p.ProbeRetentionSeconds = d.ProbeRetentionSeconds
	}
	if p.PriceHistoryRetentionSeconds == 0 {
		p.PriceHistoryRetentionSeconds = d.PriceHistoryRetentionSeconds
	}
	if p.MaxPrunePerBlock == 0 {
		p.MaxPrunePerBlock = d.MaxPrunePerBlock
	}
	return p
}

// Rule is how a provider prices an offer.
type Rule struct {
	// Kind is "fixed", "reference" or "utilization".
	Kind string `json:"kind"`
	// Price: the fixed price, or the base price of a utilization curve.
	Price uint64 `json:"price,string,omitempty"`
	// MultiplierBps: a "reference" price is reference x MultiplierBps/10000.
	MultiplierBps uint64 `json:"multiplier_bps,omitempty"`
	// SlopeBps: a "utilization" price is Price x (1 + SlopeBps/10000 x
	// utilization).
	SlopeBps uint64 `json:"slope_bps,omitempty"`
}

// Offer is one resource class a provider offers.
type Offer struct {
	Class    string `json:"class"`
	Capacity uint64 `json:"capacity,string"`
	Used     uint64 `json:"used,string"`
	Pricing  Rule   `json:"pricing"`
}

// Provider states.
const (
	ProviderActive   = "active"
	ProviderRetiring = "retiring"
)

// Provider is an operator offering resources.
type Provider struct {
	Operator   identity.Address `json:"operator"`
	Endpoint   string           `json:"endpoint"`
	Region     string           `json:"region"`
	Offers     []Offer          `json:"offers"`
	Collateral uint64           `json:"collateral,string"`
	State      string           `json:"state"`
	// UnbondAtMs is when a retiring provider may withdraw its collateral.
	UnbondAtMs int64  `json:"unbond_at_ms,omitempty"`
	OpenLeases uint32 `json:"open_leases"`
	// Score is 10000 for a provider that has kept every promise; breaches
	// lower it and good windows raise it back.
	Score    uint32 `json:"score"`
	Breaches uint64 `json:"breaches"`
	// RefundShortfall is what breaches were due to refund but the
	// collateral could not pay.
	RefundShortfall uint64 `json:"refund_shortfall,string"`
	RegisteredMs    int64  `json:"registered_ms"`
}

func (p *Provider) offer(class string) *Offer {
	for i := range p.Offers {
		if p.Offers[i].Class == class {
			return &p.Offers[i]
		}
	}
	return nil
}

// Lease states.
const (
	LeasePending = "pending"
	LeaseActive  = "active"
	LeaseGrace   = "grace"
	LeaseClosed  = "closed"
)

// Payee receives a share of a lease's payments. To is a did:key, or
// "treasury".
type Payee struct {
	To   string `json:"to"`
	Bps  uint64 `json:"bps"`
	Paid uint64 `json:"paid,string"`
}

// PayeeTreasury names the treasury as a payee.
const PayeeTreasury = "treasury"

// SLA are a lease's service terms.
type SLA struct {
	// TargetBps is the availability promised, in basis points; 0 means none.
	TargetBps uint64 `json:"target_bps"`
	// WindowSeconds is the length of each accounting window.
	WindowSeconds int64 `json:"window_seconds"`
}

// Lease is an agreement between one consumer and one provider.
type Lease struct {
	ID       uint64           `json:"id,string"`
	Consumer identity.Address `json:"consumer"`
	Provider identity.Address `json:"provider"`
	Class    string           `json:"class"`
	Quantity uint64           `json:"quantity,string"`
	Float    bool             `json:"float"`
	MaxPrice uint64           `json:"max_price,string"`
	// Price is nano-ustr per unit-second; Rate is nano-ustr per second for
	// the whole quantity.
	Price uint64  `json:"price,string"`
	Rate  uint64  `json:"rate,string"`
	State string  `json:"state"`
	Split []Payee `json:"split"`
	SLA   SLA     `json:"sla"`

	Deposited uint64 `json:"deposited,string"`
	Escrow    uint64 `json:"escrow,string"`
	// AccruedPico is owed but not yet a whole ustr, in 10^-12 ustr.
	AccruedPico uint64 `json:"accrued_pico,string"`
	// Settled is what left escrow for the payees, Pending the part of it
	// that rounding has not yet given to any one payee.
	Settled     uint64 `json:"settled,string"`
	Pending     uint64 `json:"pending,string"`
	Refunded    uint64 `json:"refunded,string"`
	SLARefunded uint64 `json:"sla_refunded,string"`
	// SLAShortfall is what breaches were due to refund but the provider's
	// collateral could not pay.
	SLAShortfall uint64 `json:"sla_shortfall,string"`
	SettledMs    int64  `json:"settled_ms"`

	OpenedMs    int64  `json:"opened_ms"`
	ActivatedMs int64  `json:"activated_ms,omitempty"`
	ClosedMs    int64  `json:"closed_ms,omitempty"`
	CloseReason string `json:"close_reason,omitempty"`

	WindowStartMs int64  `json:"window_start_ms,omitempty"`
	WindowCharges uint64 `json:"window_charges,string"`
	// LateCharges were paid after the current window ended but before it
	// was judged; they count for the next window.
	LateCharges         uint64 `json:"late_charges,string"`
	WindowCount         uint64 `json:"window_count"`
	ConsecutiveBreaches uint32 `json:"consecutive_breaches"`
	// DueMs is when the lease's next scheduled event falls; 0 if none.
	DueMs int64 `json:"due_ms,omitempty"`
}

// Window is one SLA accounting window of a lease.
type Window struct {
	Index   uint64 `json:"index"`
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
	// AvailabilityBps is what the validators saw; Quorum says whether
	// reports from more than two thirds of the voting power were there.
	AvailabilityBps uint64 `json:"availability_bps"`
	Quorum          bool   `json:"quorum"`
	Charges         uint64 `json:"charges,string"`
	Breach          bool   `json:"breach"`
	Refund          uint64 `json:"refund,string"`
	// Shortfall is the part of the refund due that the provider's
	// collateral could not pay.
	Shortfall uint64 `json:"shortfall,string,omitempty"`
	// ProRata marks a window cut short by the lease's close and judged on
	// what it ran: EndMs is the close.
	ProRata bool `json:"pro_rata,omitempty"`
}
