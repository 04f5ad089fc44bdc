package objects

import "github.com/stratus-cloud/stratus/ledger"

// The events the module emits, declared once: the CLI, the clients and the
// tests match on these names, never on string literals of their own.
const (
	// EventCommitted: an object was committed. Attributes AttrID,
	// AttrOwner, AttrSize, AttrLeases.
	EventCommitted = "object.committed"
	// EventRemoved: its owner removed an object. Attributes AttrID,
	// AttrOwner, AttrSize, AttrLeases, AttrClosed.
	EventRemoved = "object.removed"
	// EventExpired: an object was dropped without its owner asking.
	// Attributes those of EventRemoved and AttrReason (ReasonExpiry or
	// ReasonUnpaid); with ReasonUnpaid also AttrLease, the lease whose
	// close took it, and AttrLeaseReason, why that lease closed (the
	// market's close reason: escrow, unacknowledged, sla, ...).
	EventExpired = "object.expired"
	// EventRenewed: objects/renew topped up every lease of an object.
	// Attributes AttrID, AttrPayer, AttrSeconds, AttrAmount (ustr, all
	// leases) and AttrPaidUntil (unix ms, the earliest end of the
	// leases' escrow after the top-up).
	EventRenewed = "object.renewed"
	// EventGranted: the owner of a private object let a DID read it
	// (objects/grant). Attributes AttrID, AttrOwner, AttrGrantee and
	// AttrUntil (unix ms, 0 for no end).
	EventGranted = "object.granted"
	// EventRevoked: the owner ended a grant (objects/revoke). Attributes
	// AttrID, AttrOwner, AttrGrantee.
	EventRevoked = "object.revoked"
)

// Attribute keys of the module's events.
const (
	AttrID          = "id"
	AttrOwner       = "owner"
	AttrSize        = "size"
	AttrLeases      = "leases" // comma-separated lease ids
	AttrClosed      = "closed" // the leases the event closed, comma-separated
	AttrReason      = "reason"
	AttrLease       = "lease"
	AttrLeaseReason = "lease_reason"
	AttrPayer       = "payer"
	AttrSeconds     = "seconds"
	AttrAmount      = "amount"
	AttrPaidUntil   = "paid_until_ms"
	AttrGrantee     = "grantee"
	AttrUntil       = "until_ms"
)

// Values of AttrReason in EventExpired.
const (
	// ReasonExpiry: the object reached the expiry it was committed with.
	ReasonExpiry = "expiry"
	// ReasonUnpaid: a lease that paid for the object closed (its escrow
	// ran out, its provider never acknowledged it, its SLA was breached
	// too often), so the object was no longer paid for.
	ReasonUnpaid = "unpaid"
)

// Access-log anchors (access.go).
const (
	// EventAccessAnchored: a provider anchored its access log of one
	// epoch (objects/anchor). Attributes AttrProvider, AttrEpoch, AttrRoot
	// (hex, the RFC 6962 root of the epoch's records) and AttrCount.
	EventAccessAnchored = "storage.access_anchored"

	// AttrRoot is new; AttrProvider, AttrEpoch and AttrCount are the
	// proofs' (proofs.go).
	AttrRoot = "root"
)

func objAttr() ledger.AttrSpec { return ledger.RefAttr(AttrID, ledger.RoleObject, "the object's id") }

func segShard() []ledger.AttrSpec {
	return []ledger.AttrSpec{ledger.A(AttrSegment, "the segment, from 0"), ledger.A(AttrShard, "the shard in the segment, from 0")}
}

func specs(groups ...[]ledger.AttrSpec) []ledger.AttrSpec {
	var out []ledger.AttrSpec
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(a ...ledger.AttrSpec) []ledger.AttrSpec { return a }

// dropped are the attributes EventRemoved and EventExpired share.
func dropped() []ledger.AttrSpec {
	return one(objAttr(), ledger.AccountAttr(AttrOwner, "the owner"), ledger.A(AttrSize, "bytes"),
		ledger.A(AttrLeases, "the object's leases, comma-separated"), ledger.A(AttrClosed, "the leases this closed, comma-separated"))
}

// Events are the module's event kinds (ledger.EventKind), declared with the
// constants above as their types: emitters emit through them, and readers
// find attributes through them.
var Events = struct {
	Committed, Removed, Expired, Renewed, Granted, Revoked, AccessAnchored,
	ShardLost, Repair, Repaired, RepairExpired, ProviderLost,
	ProofPassed, ProofMissed, Challenges *ledger.EventKind
}{
	Committed: ledger.DeclareEvent(EventCommitted, "An object was committed: its manifest is on the ledger and its leases pay its providers.",
		objAttr(), ledger.AccountAttr(AttrOwner, "the owner"), ledger.A(AttrSize, "bytes"), ledger.A(AttrLeases, "its leases, comma-separated")),
	Removed: ledger.DeclareEvent(EventRemoved, "Its owner removed an object.", dropped()...),
	Expired: ledger.DeclareEvent(EventExpired, "An object was dropped without its owner asking: it expired or was no longer paid for.",
		specs(dropped(), one(ledger.A(AttrReason, "expiry or unpaid"),
			ledger.RefAttr(AttrLease, ledger.RoleLease, "for unpaid: the lease whose close took it").Opt(),
			ledger.A(AttrLeaseReason, "for unpaid: why that lease closed").Opt()))...),
	Renewed: ledger.DeclareEvent(EventRenewed, "objects/renew topped up every lease of an object.",
		objAttr(), ledger.AccountAttr(AttrPayer, "who paid"), ledger.A(AttrSeconds, "seconds bought"),
		ledger.AmountAttr(AttrAmount, "ustr, all leases"), ledger.A(AttrPaidUntil, "unix ms, the earliest end of the leases' escrow")),
	Granted: ledger.DeclareEvent(EventGranted, "The owner of a private object let a DID read it.",
		objAttr(), ledger.AccountAttr(AttrOwner, "the owner"), ledger.AccountAttr(AttrGrantee, "who may read"),
		ledger.A(AttrUntil, "unix ms, 0 for no end")),
	Revoked: ledger.DeclareEvent(EventRevoked, "The owner of a private object ended a grant.",
		objAttr(), ledger.AccountAttr(AttrOwner, "the owner"), ledger.AccountAttr(AttrGrantee, "who may no longer read")),
	AccessAnchored: ledger.DeclareEvent(EventAccessAnchored, "A provider anchored its access log of one epoch.",
		ledger.AccountAttr(AttrProvider, "the provider"), ledger.A(AttrEpoch, "the access-log epoch"),
		ledger.A(AttrRoot, "hex, the RFC 6962 root of the epoch's records"), ledger.A(AttrCount, "records")),
	ShardLost: ledger.DeclareEvent(EventShardLost, "A shard was declared lost; its provider's collateral pays for the repair.",
		specs(one(objAttr()), segShard(), one(ledger.AccountAttr(AttrProvider, "the provider that lost it"), ledger.A(AttrReason, "why"),
			ledger.AmountAttr(AttrFee, "taken from its collateral"), ledger.AmountAttr(AttrMoved, "taken out of its lease"),
			ledger.A(AttrHealthy, "healthy shards left in the segment")))...),
	Repair: ledger.DeclareEvent(EventRepair, "A lost shard was assigned to a repairer.",
		specs(one(objAttr()), segShard(), one(ledger.AccountAttr(AttrProvider, "the provider that lost it"),
			ledger.AccountAttr(AttrAssignee, "the repairer"), ledger.A(AttrDeadline, "unix ms")))...),
	Repaired: ledger.DeclareEvent(EventRepaired, "A repairer committed a repaired shard.",
		specs(one(objAttr()), segShard(), one(ledger.AccountAttr(AttrAssignee, "the repairer"),
			ledger.RefAttr(AttrLease, ledger.RoleLease, "the new lease"), ledger.AmountAttr(AttrFee, "paid to the repairer")))...),
	RepairExpired: ledger.DeclareEvent(EventRepairExpired, "A repairer let its deadline pass; the repair goes back to the queue.",
		specs(one(objAttr()), segShard(), one(ledger.AccountAttr(AttrAssignee, "the repairer")))...),
	ProviderLost: ledger.DeclareEvent(EventProviderLost, "A storage provider was lost as a whole.",
		ledger.AccountAttr(AttrProvider, "the provider"), ledger.A(AttrReason, "why"), ledger.A(AttrCount, "its placements")),
	ProofPassed: ledger.DeclareEvent(EventProofPassed, "A provider answered a storage challenge correctly.",
		ledger.A(AttrChallenge, "the challenge's id"), ledger.AccountAttr(AttrProvider, "the provider"), objAttr()),
	ProofMissed: ledger.DeclareEvent(EventProofMissed, "A storage challenge was missed, answered wrongly, or left open by a lost provider.",
		specs(one(ledger.A(AttrChallenge, "the challenge's id"), ledger.AccountAttr(AttrProvider, "the provider"), objAttr()), segShard(),
			one(ledger.A(AttrReason, "deadline, invalid or lost"), ledger.AmountAttr(AttrPenalty, "taken from the collateral into the treasury"),
				ledger.AccountAttr(AttrOwner, "the object's owner")))...),
	Challenges: ledger.DeclareEvent(EventChallenges, "A block issued storage challenges.",
		ledger.A(AttrEpoch, "the proof epoch"), ledger.A(AttrCount, "challenges issued")),
}
