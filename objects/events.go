package objects

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
