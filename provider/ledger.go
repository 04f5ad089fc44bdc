package provider

import (
	"context"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/shardstore"
)

// Ledger is what a provider needs to know from the ledger. Errors keep
// their kinds (Unavailable when the ledger cannot be reached, say), and the
// shard API answers with them.
type Ledger interface {
	// Quota returns the bytes the consumer's storage leases with provider
	// allow: the sum of the quantities of those that are pending, active
	// or in grace. It is 0 for a consumer without one.
	Quota(ctx context.Context, consumer, provider identity.Address) (uint64, error)
	// Refs returns the number of live objects that place shard h on
	// provider.
	Refs(ctx context.Context, provider identity.Address, h shardstore.Hash) (uint64, error)
}

// A Refresher is a Ledger that caches what it reads. The provider asks it
// for a fresh answer before it refuses a write, so that a lease opened a
// moment ago counts at once.
type Refresher interface {
	// FreshQuota is Quota as the ledger has it now, not as cached.
	FreshQuota(ctx context.Context, consumer, provider identity.Address) (uint64, error)
}

// leaseTTL is how long the REST ledger uses a provider's lease list.
const leaseTTL = 2 * time.Second

// NewRESTLedger returns a Ledger, and a Refresher, that reads a node's REST
// API through c. It lists the provider's open storage leases (pending,
// active or grace, page by page, without their SLA windows) at most once
// every 2 s and sums them per consumer, so that an upload of many shards
// costs one lease query, not one per shard. A write it would refuse makes
// it ask again sooner, but only for that consumer's open storage leases
// with this provider. Fetches are one at a time, and a fetch that finished
// after a caller started waiting serves that caller too.
func NewRESTLedger(c *client.Client) Ledger {
	return &restLedger{c: c, now: time.Now, lists: map[identity.Address]*leaseList{}}
}

type restLedger struct {
	c   *client.Client
	now func() time.Time

	mu    sync.Mutex // guards lists; held during a fetch, so one fetch at a time
	lists map[identity.Address]*leaseList
}

// leaseList is one provider's storage quotas per consumer, as of at.
type leaseList struct {
	at    time.Time
	quota map[identity.Address]uint64
}

var _ Refresher = (*restLedger)(nil)

func (l *restLedger) Quota(ctx context.Context, consumer, provider identity.Address) (uint64, error) {
	return l.quota(ctx, consumer, provider, l.now().Add(-leaseTTL))
}

// FreshQuota asks the node for consumer's open storage leases with
// provider alone, not the provider's whole list, and keeps the answer in
// the cached list.
func (l *restLedger) FreshQuota(ctx context.Context, consumer, provider identity.Address) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	leases, err := l.c.AllLeases(ctx, client.LeaseFilter{Consumer: consumer.String(), Provider: provider.String(), State: "open", Class: market.ClassStorage})
	if err != nil {
		return 0, err
	}
	q := sumQuotas(leases)[consumer]
	if ll := l.lists[provider]; ll != nil {
		ll.quota[consumer] = q
	}
	return q, nil
}

// sumQuotas sums the quantities of the open storage leases per consumer.
func sumQuotas(leases []market.LeaseView) map[identity.Address]uint64 {
	quota := map[identity.Address]uint64{}
	for _, ls := range leases {
		if ls.Class != market.ClassStorage {
			continue
		}
		switch ls.State {
		case market.LeasePending, market.LeaseActive, market.LeaseGrace:
			quota[ls.Consumer] += ls.Quantity
		}
	}
	return quota
}

// quota answers from the provider's lease list if it was fetched after
// since, and fetches it otherwise.
func (l *restLedger) quota(ctx context.Context, consumer, provider identity.Address, since time.Time) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ll := l.lists[provider]; ll != nil && ll.at.After(since) {
		return ll.quota[consumer], nil
	}
	// Stamped before the query: a lease committed while it runs may be
	// missing from the answer.
	at := l.now()
	leases, err := l.c.AllLeases(ctx, client.LeaseFilter{Provider: provider.String(), State: "open", Class: market.ClassStorage})
	if err != nil {
		return 0, err
	}
	ll := &leaseList{at: at, quota: sumQuotas(leases)}
	l.lists[provider] = ll
	return ll.quota[consumer], nil
}

func (l *restLedger) Refs(ctx context.Context, provider identity.Address, h shardstore.Hash) (uint64, error) {
	return l.c.ShardRefs(ctx, provider.String(), h.String())
}
