package provider

import (
	"context"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
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
	// Refs returns how many placements of shard h on provider owner's
	// live objects hold, each paid for by owner's own lease with provider;
	// for the zero owner, the placements of every owner's. An owner's copy
	// of a shard may go at 0: no other account's object keeps it.
	Refs(ctx context.Context, provider identity.Address, h shardstore.Hash, owner identity.Address) (uint64, error)
	// CanRead reports whether shard h on provider belongs to a live
	// private object, and whether reader (the zero address for an
	// unsigned request) may read it: the owner or a current grantee of
	// such an object (objects.CanRead). An answer may be cached for at
	// most readTTL, so that a revocation takes effect within it.
	CanRead(ctx context.Context, provider identity.Address, h shardstore.Hash, reader identity.Address) (private, allowed bool, err error)
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

// freshTTL is how long the REST ledger uses a fresh answer about one
// consumer: a key with no lease that sends many writes costs the node one
// query per freshTTL, not one per write.
const freshTTL = time.Second

// freshZeroTTL is freshTTL for an answer that found no lease: a consumer
// told to open a lease retries soon after, and a stranger waits less.
const freshZeroTTL = 250 * time.Millisecond

// NewRESTLedger returns a Ledger, and a Refresher, that reads a node's REST
// API through c. It lists the provider's open storage leases (pending,
// active or grace, page by page, without their SLA windows) at most once
// every 2 s and sums them per consumer, so that an upload of many shards
// costs one lease query, not one per shard. A write it would refuse makes
// it ask again sooner, but only for that consumer's open storage leases
// with this provider, at most once a second per consumer, one such question
// at a time and without holding up the cached answers. List fetches are one
// at a time, and a fetch that finished after a caller started waiting
// serves that caller too.
func NewRESTLedger(c *client.Client) Ledger {
	return &restLedger{c: c, now: time.Now, lists: map[identity.Address]*leaseList{}, fresh: map[pair]freshAnswer{},
		reads: map[readKey]readAnswer{}}
}

type restLedger struct {
	c   *client.Client
	now func() time.Time

	mu    sync.Mutex // guards lists and fresh; held during a list fetch, so one at a time
	lists map[identity.Address]*leaseList
	fresh map[pair]freshAnswer

	// freshMu makes the fresh questions one at a time, without holding mu
	// during them, so that a stranger's refused writes never make lease
	// holders wait for the cached list.
	freshMu sync.Mutex

	readMu sync.Mutex
	reads  map[readKey]readAnswer
}

// readTTL is how long the REST ledger reuses an answer of CanRead: a
// revoked grantee is refused at most this long after the revocation
// commits, and a shard's readers cost the node one query per readTTL.
const readTTL = time.Second

// maxReads is how many CanRead answers the REST ledger keeps before it
// drops the stale ones.
const maxReads = 4096

// publicStale is how long an answer that a shard is public may stand in
// when the node cannot be reached: public shards stay readable through a
// short outage of the node. Private answers are never used past readTTL,
// so a node that cannot be reached never extends a revoked grant.
const publicStale = 10 * time.Minute

type readKey struct {
	provider, reader identity.Address
	h                shardstore.Hash
}

type readAnswer struct {
	at               time.Time
	private, allowed bool
}

type pair struct{ consumer, provider identity.Address }

// freshAnswer is FreshQuota's answer about one consumer, as of at.
type freshAnswer struct {
	at    time.Time
	quota uint64
}

// ttl is how long the answer stands: freshZeroTTL for one that found no
// lease, else freshTTL.
func (a freshAnswer) ttl() time.Duration {
	if a.quota == 0 {
		return freshZeroTTL
	}
	return freshTTL
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
//
// An answer younger than freshTTL (freshZeroTTL for one that found no
// lease) is not asked again at once: the caller waits until it is that old
// (without holding up anyone else) and asks again, since a lease the
// consumer opened since may be what the refused write needs. So every
// answer is fresher than the write it refuses, a key costs the node at
// most one query a second (four, while it has no lease), and a consumer
// waits at most that long for a lease it has just opened.
func (l *restLedger) FreshQuota(ctx context.Context, consumer, provider identity.Address) (uint64, error) {
	k := pair{consumer, provider}
	l.mu.Lock()
	a, ok := l.fresh[k]
	l.mu.Unlock()
	var seen time.Time // the answer this caller waited on, if any
	if ok {
		if wait := a.ttl() - l.now().Sub(a.at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			}
			seen = a.at
		}
	}
	l.freshMu.Lock()
	defer l.freshMu.Unlock()
	l.mu.Lock()
	if cur, ok := l.fresh[k]; ok && cur.at.After(seen) && l.now().Sub(cur.at) < cur.ttl() {
		// Another caller asked while this one waited.
		l.mu.Unlock()
		return cur.quota, nil
	}
	l.mu.Unlock()
	at := l.now()
	leases, err := l.c.AllLeases(ctx, client.LeaseFilter{Consumer: consumer.String(), Provider: provider.String(), State: client.StateOpen, Class: market.ClassStorage})
	if err != nil {
		return 0, err
	}
	q := sumQuotas(leases)[consumer]
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fresh) >= maxFresh {
		for k, a := range l.fresh {
			if at.Sub(a.at) >= freshTTL {
				delete(l.fresh, k)
			}
		}
	}
	l.fresh[k] = freshAnswer{at: at, quota: q}
	if ll := l.lists[provider]; ll != nil && !ll.at.After(at) {
		ll.quota[consumer] = q
	}
	return q, nil
}

// maxFresh is how many fresh answers the REST ledger keeps before it drops
// the stale ones.
const maxFresh = 4096

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
	leases, err := l.c.AllLeases(ctx, client.LeaseFilter{Provider: provider.String(), State: client.StateOpen, Class: market.ClassStorage})
	if err != nil {
		return 0, err
	}
	ll := &leaseList{at: at, quota: sumQuotas(leases)}
	l.lists[provider] = ll
	return ll.quota[consumer], nil
}

func (l *restLedger) Refs(ctx context.Context, provider identity.Address, h shardstore.Hash, owner identity.Address) (uint64, error) {
	o := ""
	if owner != (identity.Address{}) {
		o = owner.String()
	}
	return l.c.ShardRefs(ctx, provider.String(), h.String(), o)
}

func (l *restLedger) CanRead(ctx context.Context, provider identity.Address, h shardstore.Hash, reader identity.Address) (bool, bool, error) {
	k := readKey{provider: provider, reader: reader, h: h}
	now := l.now()
	fresh := func(a readAnswer) bool { return now.Sub(a.at) < readTTL && now.Sub(a.at) >= 0 }
	l.readMu.Lock()
	a, ok := l.reads[k]
	// A shard found public is public for every reader: signers (strangers
	// with throwaway keys among them) cost no query of their own.
	anyone, known := l.reads[readKey{provider: provider, h: h}]
	l.readMu.Unlock()
	if ok && fresh(a) {
		return a.private, a.allowed, nil
	}
	if known && fresh(anyone) && !anyone.private {
		return false, true, nil
	}
	r := ""
	if reader != (identity.Address{}) {
		r = reader.String()
	}
	ra, err := l.c.ShardReader(ctx, provider.String(), h.String(), r)
	if err != nil {
		if ok && !a.private && now.Sub(a.at) < publicStale && errs.Is(err, errs.Unavailable) {
			return false, true, nil
		}
		return false, false, err
	}
	l.readMu.Lock()
	defer l.readMu.Unlock()
	if len(l.reads) >= maxReads {
		for k, a := range l.reads {
			if now.Sub(a.at) >= readTTL && (a.private || now.Sub(a.at) >= publicStale) {
				delete(l.reads, k)
			}
		}
		if len(l.reads) >= maxReads {
			clear(l.reads)
		}
	}
	l.reads[k] = readAnswer{at: now, private: ra.Private, allowed: ra.Allowed}
	if !ra.Private {
		l.reads[readKey{provider: provider, h: h}] = readAnswer{at: now, allowed: true}
	}
	return ra.Private, ra.Allowed, nil
}

var _ AccessLedger = (*restLedger)(nil)

func (l *restLedger) AnchorWindow(ctx context.Context) (objects.AnchorWindow, error) {
	return l.c.AnchorWindow(ctx)
}

func (l *restLedger) Anchor(ctx context.Context, provider identity.Address, epoch uint64) (objects.AnchorRecord, error) {
	return l.c.AccessAnchor(ctx, provider.String(), epoch)
}

func (l *restLedger) Object(ctx context.Context, id string) (objects.ObjectView, error) {
	return l.c.Object(ctx, id)
}
