package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
)

// fakeNode answers the two REST routes the REST ledger reads, from leases
// and refs the test sets, and counts the lease queries.
type fakeNode struct {
	mu      sync.Mutex
	leases  []market.LeaseView
	refs    uint64
	queries int
	owner   string     // ?owner= of the last refs query
	last    url.Values // the last lease query
}

func (n *fakeNode) lastOwner() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.owner
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/v1/leases":
		n.queries++
		q := r.URL.Query()
		n.last = q
		out := api.Page[market.LeaseView]{Items: []market.LeaseView{}}
		for _, l := range n.leases {
			open := l.State == market.LeasePending || l.State == market.LeaseActive || l.State == market.LeaseGrace
			if l.Provider.String() != q.Get("provider") || (q.Get("consumer") != "" && l.Consumer.String() != q.Get("consumer")) ||
				(q.Get("state") == "open" && !open) || (q.Get("class") != "" && l.Class != q.Get("class")) {
				continue
			}
			out.Items = append(out.Items, l)
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == "GET" && len(r.URL.Path) > len("/v1/providers/"):
		n.owner = r.URL.Query().Get("owner")
		json.NewEncoder(w).Encode(map[string]any{"refs": n.refs})
	default:
		http.NotFound(w, r)
	}
}

func (n *fakeNode) add(consumer, provider identity.Address, class, state string, q uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leases = append(n.leases, market.LeaseView{Lease: market.Lease{ID: uint64(len(n.leases) + 1),
		Consumer: consumer, Provider: provider, Class: class, State: state, Quantity: q}})
}

func (n *fakeNode) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.queries
}

func TestRESTLedger(t *testing.T) {
	ctx := context.Background()
	fn := &fakeNode{refs: 3}
	srv := httptest.NewServer(fn)
	defer srv.Close()
	prov, other := key("provider").Address(), key("other provider").Address()
	alice, bob := key("alice").Address(), key("bob").Address()
	fn.add(alice, prov, market.ClassStorage, market.LeaseActive, 1000)
	fn.add(alice, prov, market.ClassStorage, market.LeasePending, 200)
	fn.add(alice, prov, market.ClassStorage, market.LeaseGrace, 30)
	fn.add(alice, prov, market.ClassStorage, market.LeaseClosed, 4000)
	fn.add(alice, prov, market.ClassCompute, market.LeaseActive, 5)
	fn.add(alice, other, market.ClassStorage, market.LeaseActive, 60000)

	now := time.Unix(1_700_000_000, 0)
	l := NewRESTLedger(client.New(srv.URL)).(*restLedger)
	l.now = func() time.Time { return now }

	// Pending, active and grace storage leases with this provider count.
	for range 100 {
		if q, err := l.Quota(ctx, alice, prov); err != nil || q != 1230 {
			t.Fatalf("Quota(alice) = %d, %v; want 1230", q, err)
		}
	}
	if got := fn.count(); got != 1 {
		t.Errorf("100 quota questions made %d lease queries, want 1", got)
	}

	// A lease opened since counts once the list ages, or at once when a
	// fresh answer is asked for.
	if q, err := l.Quota(ctx, bob, prov); err != nil || q != 0 {
		t.Fatalf("Quota(bob) = %d, %v; want 0", q, err)
	}
	fn.add(bob, prov, market.ClassStorage, market.LeasePending, 77)
	if q, _ := l.Quota(ctx, bob, prov); q != 0 || fn.count() != 1 {
		t.Errorf("Quota(bob) from the cache = %d after %d queries, want 0 after 1", q, fn.count())
	}
	if q, err := l.FreshQuota(ctx, bob, prov); err != nil || q != 77 || fn.count() != 2 {
		t.Errorf("FreshQuota(bob) = %d, %v after %d queries; want 77 after 2", q, err, fn.count())
	}
	// The fresh question is about bob's open storage leases with this
	// provider only, and its answer is kept.
	want := url.Values{"consumer": {bob.String()}, "provider": {prov.String()}, "state": {"open"}, "class": {"storage"}, "limit": {"1000"}}
	if got := fn.last; got.Encode() != want.Encode() {
		t.Errorf("FreshQuota asked %s, want %s", got.Encode(), want.Encode())
	}
	if q, _ := l.Quota(ctx, bob, prov); q != 77 || fn.count() != 2 {
		t.Errorf("Quota(bob) after FreshQuota = %d after %d queries, want 77 after 2", q, fn.count())
	}
	// A lease holder whose write is refused again within the second, after
	// opening another lease, waits out the second and gets the new answer
	// (a put right after another).
	fn.add(bob, prov, market.ClassStorage, market.LeaseActive, 23)
	if q, err := l.FreshQuota(ctx, bob, prov); err != nil || q != 100 || fn.count() != 3 {
		t.Errorf("FreshQuota(bob) again = %d, %v after %d queries; want 100 after 3", q, err, fn.count())
	}
	// A key with no lease that keeps writing waits a quarter of a second
	// before each question after the first (the clock here stands still,
	// so each one then asks).
	mallory := key("mallory").Address()
	start := time.Now()
	for range 3 {
		if q, err := l.FreshQuota(ctx, mallory, prov); err != nil || q != 0 {
			t.Fatalf("FreshQuota(mallory) = %d, %v; want 0", q, err)
		}
	}
	if took := time.Since(start); fn.count() != 6 || took < 2*freshZeroTTL {
		t.Errorf("3 fresh questions about a stranger: %d queries in all after %s; want 6, after at least %s", fn.count(), took, 2*freshZeroTTL)
	}
	// Refused a while ago (past freshZeroTTL, within freshTTL), it opens a
	// lease and writes again: the old "no lease" is not reused, it is asked
	// again at once (a slow lease transaction between two puts).
	now = now.Add(freshZeroTTL + 100*time.Millisecond)
	fn.add(mallory, prov, market.ClassStorage, market.LeaseActive, 9)
	if q, err := l.FreshQuota(ctx, mallory, prov); err != nil || q != 9 || fn.count() != 7 {
		t.Errorf("FreshQuota(mallory) after a lease, %s after its refusal = %d, %v after %d queries; want 9 after 7", freshZeroTTL+100*time.Millisecond, q, err, fn.count())
	}
	fn.add(alice, prov, market.ClassStorage, market.LeaseActive, 1)
	if q, _ := l.Quota(ctx, alice, prov); q != 1230 {
		t.Errorf("Quota(alice) from the cache = %d, want 1230", q)
	}
	now = now.Add(leaseTTL)
	if q, _ := l.Quota(ctx, alice, prov); q != 1231 || fn.count() != 8 {
		t.Errorf("Quota(alice) after %s = %d after %d queries, want 1231 after 8", leaseTTL, q, fn.count())
	}

	if n, err := l.Refs(ctx, prov, [32]byte{1}, alice); err != nil || n != 3 || fn.lastOwner() != alice.String() {
		t.Errorf("Refs(alice) = %d, %v (asked for owner %q); want 3 for alice", n, err, fn.lastOwner())
	}
	if n, err := l.Refs(ctx, prov, [32]byte{1}, identity.Address{}); err != nil || n != 3 || fn.lastOwner() != "" {
		t.Errorf("Refs(anyone) = %d, %v (asked for owner %q); want 3 for no owner", n, err, fn.lastOwner())
	}

	// An unreachable node is unavailable, and the error reaches the caller.
	srv.Close()
	now = now.Add(time.Hour)
	if _, err := l.Quota(ctx, alice, prov); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Quota with the node down = %v, want unavailable", err)
	}
}
