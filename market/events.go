package market

import "github.com/stratus-cloud/stratus/ledger"

// The market's events, one declaration each (ledger.EventKind): emitters
// emit through them, and the CLI, the API and the audit index read them
// through them. The constants Event* are their types.

func leaseAttr() ledger.AttrSpec { return ledger.RefAttr("lease", ledger.RoleLease, "the lease's id") }

// Events are the market's event kinds.
var Events = struct {
	LeaseOpened, LeaseActive, LeaseTopup, LeaseGrace, LeaseClosed, LeaseRerated, LeaseShrunk, LeaseMigrate,
	DueCarried, PriceReference, SLABreach, SLAJudged,
	ProviderRegistered, ProviderUpdated, ProviderRetiring, ProviderUnbonded *ledger.EventKind
}{
	LeaseOpened: ledger.DeclareEvent("lease.opened", "A lease was opened: by a consumer's market/open_lease, or by the chain for a storage repair.",
		leaseAttr(), ledger.AccountAttr("consumer", "who pays"), ledger.AccountAttr("provider", "who serves"),
		ledger.A("class", "storage or compute"), ledger.A("quantity", "bytes or compute units"),
		ledger.A("rate", "nano-ustr per second"), ledger.AmountAttr("deposit", "the escrow put in"),
		ledger.A("funded_by", "the bucket that funded it, for a lease the chain opened").Opt()),
	LeaseActive: ledger.DeclareEvent("lease.active", "A lease started or resumed being paid.",
		leaseAttr(), ledger.AccountAttr("provider", "the provider that acknowledged it").Opt(),
		ledger.A("reason", "why it resumed: topup").Opt()),
	LeaseTopup: ledger.DeclareEvent("lease.topup", "Escrow was added to a lease.",
		leaseAttr(), ledger.AmountAttr("amount", "what was added")),
	LeaseGrace: ledger.DeclareEvent("lease.grace", "A lease's escrow ran low: it is in its grace period.",
		leaseAttr(), ledger.AmountAttr("escrow", "what is left")),
	LeaseClosed: ledger.DeclareEvent("lease.closed", "A lease closed, with its final books.",
		leaseAttr(), ledger.A("reason", "why it closed"), ledger.AmountAttr("refund", "what went back to the consumer"),
		ledger.AccountAttr("consumer", "who paid"), ledger.AccountAttr("provider", "who served"),
		ledger.AmountAttr("deposited", "all escrow put in"), ledger.AmountAttr("settled", "what was paid out for service"),
		ledger.AmountAttr("sla_refunded", "SLA refunds paid"), ledger.AmountAttr("sla_shortfall", "SLA refunds due that collateral could not pay")),
	LeaseRerated: ledger.DeclareEvent("lease.rerated", "A lease's price followed the market.",
		leaseAttr(), ledger.A("price", "the new price"), ledger.A("rate", "the new rate, nano-ustr per second")),
	LeaseShrunk: ledger.DeclareEvent("lease.shrunk", "Part of a lease's quantity was moved to another lease (storage repair).",
		leaseAttr(), ledger.A("quantity", "what is left"), ledger.AmountAttr("moved", "the escrow moved")),
	LeaseMigrate: ledger.DeclareEvent("lease.migrate", "A lease that keeps breaching its SLA should move to another provider.",
		leaseAttr(), ledger.AccountAttr("provider", "the failing provider"), ledger.AccountAttr("consumer", "the consumer"),
		ledger.A("class", "storage or compute"), ledger.A("quantity", "bytes or compute units")),
	DueCarried: ledger.DeclareEvent(EventDueCarried, "EndBlock reached its bound on SLA judgements with lease events still due; they run in the next blocks.",
		ledger.A("due_ms", "the earliest still due")),
	PriceReference: ledger.DeclareEvent(EventPriceReference, "A class's reference price for a price epoch.",
		ledger.A("class", "storage or compute"), ledger.A("epoch", "the price epoch"), ledger.A("reference", "the reference price")),
	SLABreach: ledger.DeclareEvent(EventSLABreach, "An SLA window missed its target: the consumer was refunded from the provider's collateral.",
		leaseAttr(), ledger.AccountAttr("provider", "the provider"), ledger.A("availability_bps", "measured availability"),
		ledger.A("target_bps", "the SLA's target"), ledger.AmountAttr("refund", "refund paid"),
		ledger.AmountAttr("shortfall", "refund due that collateral could not pay"), ledger.A("pro_rata", "true for a partial window")),
	SLAJudged: ledger.DeclareEvent(EventSLAJudged, "An SLA window was judged, with its figures.",
		leaseAttr(), ledger.A("window", "the window's index"), ledger.A("start_ms", "its start"), ledger.A("end_ms", "its end"),
		ledger.A("availability_bps", "measured availability"), ledger.A("quorum", "whether enough probes voted"),
		ledger.AmountAttr("charges", "what the window cost"), ledger.A("breach", "whether it missed its target"),
		ledger.AmountAttr("refund", "refund paid"), ledger.A("pro_rata", "true for a partial window")),
	ProviderRegistered: ledger.DeclareEvent("provider.registered", "A provider registered.",
		ledger.AccountAttr("provider", "its operator"), ledger.AmountAttr("collateral", "collateral bonded")),
	ProviderUpdated: ledger.DeclareEvent("provider.updated", "A provider changed its offers or added collateral.",
		ledger.AccountAttr("provider", "its operator"), ledger.AmountAttr("add_collateral", "collateral added")),
	ProviderRetiring: ledger.DeclareEvent("provider.retiring", "A provider asked to retire: it takes no new leases.",
		ledger.AccountAttr("provider", "its operator"), ledger.A("unbond_at_ms", "when its collateral unbonds")),
	ProviderUnbonded: ledger.DeclareEvent("provider.unbonded", "A retired provider's collateral went back to it.",
		ledger.AccountAttr("provider", "its operator"), ledger.AmountAttr("collateral", "collateral returned")),
}
