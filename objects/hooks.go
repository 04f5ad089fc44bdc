package objects

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

var _ market.LeaseHooks = Module{}

// BeforeLeaseClose implements market.LeaseHooks: a storage lease that a
// committed object uses cannot be closed by its consumer or its provider.
// An object lives only while every lease it uses is paid, so closing one
// would take the object with it; the owner removes the object instead
// (objects/remove), which closes the leases nothing else uses and refunds
// them. The error is Conflict and names one such object; LeaseInUse reads
// it back.
func (Module) BeforeLeaseClose(ctx *ledger.Context, l *market.Lease, signer identity.Address) error {
	if l.Class != market.ClassStorage {
		return nil
	}
	s := newStore(ctx)
	u, err := s.leaseUse(l.ID)
	if err != nil || u.Objects == 0 {
		return err
	}
	roots, err := s.objectsOn(l.ID, 1)
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		return errs.E(errs.Internal, "objects: lease %d is used by %d objects but indexes none", l.ID, u.Objects)
	}
	what := fmt.Sprintf("lease %d pays for object %s", l.ID, roots[0])
	if u.Objects > 1 {
		what += fmt.Sprintf(" and %d more", u.Objects-1)
	}
	if signer == l.Provider {
		return errs.E(errs.Conflict, "%s, so its provider cannot close it: the lease ends when its owner removes what it pays for, or when its escrow runs out", what)
	}
	if u.Objects > 1 {
		return errs.E(errs.Conflict, "%s: remove those objects first (objects/remove), and the lease closes with the last", what)
	}
	return errs.E(errs.Conflict, "%s: remove the object first (objects/remove), and the lease closes with it", what)
}

// AfterLeaseClose implements market.LeaseHooks: when a storage lease closes
// while objects still use it (its escrow ran out, its provider never
// acknowledged it, its SLA was breached), those objects are no longer paid
// for and are dropped: EventExpired with ReasonUnpaid, their shard
// references released, their other leases closed if nothing else uses
// them. Its cost is proportional to the objects the lease paid for.
func (Module) AfterLeaseClose(ctx *ledger.Context, l *market.Lease) error {
	if l.Class != market.ClassStorage {
		return nil
	}
	return newStore(ctx).dropUnpaid(l)
}

var leaseInUseRE = regexp.MustCompile(`\blease (\d+) pays for object (b[a-z2-7]+)\b`)

// LeaseInUse reads an error that BeforeLeaseClose refused a close with
// (after it crossed the wire as a message) and returns the lease and the
// object it named, so a client can say how to remove the object.
func LeaseInUse(msg string) (lease uint64, object string, ok bool) {
	m := leaseInUseRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, "", false
	}
	id, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return id, m[2], true
}
