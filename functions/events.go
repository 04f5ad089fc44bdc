package functions

import "github.com/stratus-cloud/stratus/ledger"

func depAttr() ledger.AttrSpec {
	return ledger.RefAttr("deployment", ledger.RoleDeployment, "the deployment's id")
}

func escrowAttr() ledger.AttrSpec {
	return ledger.AmountAttr("escrow", "the deployment's escrow after it")
}

// Events are the module's event kinds (ledger.EventKind): emitters emit
// through them, and the CLI, the API and the audit index read them through
// them.
var Events = struct {
	Deployed, Updated, Rescaled, Topup, Removed, Suspended, Resumed, Exhausted, Active,
	Scaled, ScaleBlocked, Cron, Refunded, ReplicaLost, ModuleError, Charged *ledger.EventKind
}{
	Deployed: ledger.DeclareEvent("function.deployed", "A function was deployed.",
		depAttr(), ledger.AccountAttr("owner", "the owner"), ledger.A("name", "its name"), ledger.A("module", "the WASM module's object id"),
		ledger.A("replicas", "replicas opened"), ledger.AmountAttr("deposit", "the escrow put in")),
	Updated: ledger.DeclareEvent("function.updated", "A deployment's module or spec changed.",
		depAttr(), ledger.A("module", "the WASM module's object id"), ledger.A("spec_hash", "the spec's hash"),
		ledger.AmountAttr("spend_limit", "its spend limit")),
	Rescaled: ledger.DeclareEvent("function.rescaled", "A deployment's scaling bounds changed.",
		depAttr(), ledger.A("min", "new min"), ledger.A("max", "new max"), ledger.A("from_min", "old min"), ledger.A("from_max", "old max")),
	Topup: ledger.DeclareEvent("function.topup", "Escrow was added to a deployment.",
		depAttr(), ledger.AccountAttr("from", "who paid"), ledger.AmountAttr("amount", "what was added"), escrowAttr()),
	Removed: ledger.DeclareEvent("function.removed", "Its owner removed a deployment.",
		depAttr(), ledger.AmountAttr("refund", "escrow returned"), ledger.A("closed", "leases closed, comma-separated"),
		ledger.AmountAttr("reserved", "held back for reports still due"), ledger.A("module", "the WASM module's object id")),
	Suspended: ledger.DeclareEvent("function.suspended", "A deployment was suspended.",
		depAttr(), ledger.A("reason", "why"), escrowAttr()),
	Resumed: ledger.DeclareEvent("function.resumed", "A suspended deployment runs again.", depAttr(), escrowAttr()),
	Exhausted: ledger.DeclareEvent("function.exhausted", "A deployment can pay for no more calls.",
		depAttr(), ledger.A("reason", "escrow or spend_limit"), ledger.AmountAttr("charged", "all it was charged"), escrowAttr()),
	Active: ledger.DeclareEvent("function.active", "An exhausted deployment can pay again.",
		depAttr(), escrowAttr(), ledger.AmountAttr("spend_limit", "its spend limit")),
	Scaled: ledger.DeclareEvent("function.scaled", "A deployment gained or lost a replica.",
		depAttr(), ledger.A("from", "replicas before"), ledger.A("to", "replicas after"), ledger.A("reason", "why"),
		ledger.RefAttr("lease", ledger.RoleLease, "the replica's lease"), ledger.AccountAttr("provider", "the replica's provider")),
	ScaleBlocked: ledger.DeclareEvent("function.scale_blocked", "A deployment needs a replica it cannot open.",
		depAttr(), ledger.A("replicas", "replicas now"), ledger.A("want", "replicas wanted"), ledger.A("reason", "why it scales"),
		ledger.A("blocked", "why it cannot")),
	Cron: ledger.DeclareEvent("function.cron", "A cron job of a deployment came due: assigned to a replica, or skipped.",
		depAttr(), ledger.A("schedule", "the job's schedule"), ledger.A("path", "the path it calls"), ledger.A("index", "the job's index"),
		ledger.A("due_ms", "when it came due"), ledger.A("run", "the deployment's cron run number"),
		ledger.A("skipped", "why it was skipped").Opt(), ledger.AccountAttr("provider", "the replica that runs it").Opt(),
		ledger.RefAttr("lease", ledger.RoleLease, "that replica's lease").Opt()),
	Refunded: ledger.DeclareEvent("function.refunded", "A removed deployment's remaining escrow went back to its owner.",
		depAttr(), ledger.AmountAttr("refund", "what went back")),
	ReplicaLost: ledger.DeclareEvent("function.replica_lost", "A replica's lease closed under a deployment.",
		depAttr(), ledger.RefAttr("lease", ledger.RoleLease, "the lease"), ledger.AccountAttr("provider", "its provider"),
		ledger.A("reason", "why the lease closed")),
	ModuleError: ledger.DeclareEvent("function.module_error", "A provider reported that a deployment's module fails.",
		depAttr(), ledger.AccountAttr("provider", "the provider"), ledger.A("error", "what it reported")),
	Charged: ledger.DeclareEvent(EventCharged, "A provider's usage report was charged to a deployment.",
		depAttr(), ledger.AccountAttr("provider", "the provider"), ledger.A("sequence", "the report's sequence"),
		ledger.A("calls", "calls in this report"), ledger.A("mib_ms", "memory-time in this report"),
		ledger.AmountAttr("amount", "ustr charged for this report"), ledger.AmountAttr("charged", "the deployment's total"),
		ledger.A("state", "the deployment's state"), ledger.A("final", "true on a replica's last report").Opt()),
}
