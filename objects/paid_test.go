package objects_test

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// Attack 1 of issue 10, as it was: the consumer commits an object, closes
// every lease that pays for it and gets the escrow back (30 STR), and the
// object stays with its shard references above zero, so its providers keep
// the shards unpaid forever. Now the close is refused while the object is
// there, and costs the consumer its fee and nothing else.
func TestClosingALeaseAnObjectUsesIsRefused(t *testing.T) {
	c := newChain(t)
	u, p0 := c.users[0], c.providers[0]
	ls := c.leases(0)
	m, b := manifest(t, data(3000, 1), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, Public: true}))
	id := m.ID().String()

	for _, tc := range []struct {
		who  *identity.Key
		want string
	}{
		{u, fmt.Sprintf("lease %d pays for object %s: remove the object first (objects/remove), and the lease closes with it", ls[0], id)},
		{p0, fmt.Sprintf("lease %d pays for object %s, so its provider cannot close it: the lease ends when its owner removes what it pays for, or when its escrow runs out", ls[0], id)},
	} {
		before, bal := moduleState(c.Chain), c.balance(tc.who)
		r := c.Do(tc.who, &market.CloseLease{ID: ls[0]})
		if r.Code != ledger.CodeConflict || r.Log != tc.want {
			t.Fatalf("close_lease by %s: code %d, log %q\nwant code %d, log %q", tc.who.Name, r.Code, r.Log, ledger.CodeConflict, tc.want)
		}
		if got := c.balance(tc.who); got != bal-r.Fee || r.Fee == 0 {
			t.Fatalf("close_lease by %s: balance %d -> %d, want only the fee %d taken", tc.who.Name, bal, got, r.Fee)
		}
		if moduleState(c.Chain) != before {
			t.Fatalf("a refused close changed market or objects state")
		}
		if lid, obj, ok := objects.LeaseInUse("transaction rejected: " + r.Log); !ok || lid != ls[0] || obj != id {
			t.Fatalf("LeaseInUse(%q) = %d, %q, %v", r.Log, lid, obj, ok)
		}
	}
	// A second object on the same lease: the message counts them.
	m2, b2 := manifest(t, data(600, 2), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b2, Leases: ls, Public: true}))
	r := c.Do(u, &market.CloseLease{ID: ls[1]})
	first := min(m.ID().String(), m2.ID().String()) // the index is in root order; roots sort as their IDs do
	if want := fmt.Sprintf("lease %d pays for object %s and 1 more: remove those objects first (objects/remove), and the lease closes with the last", ls[1], first); r.Code != ledger.CodeConflict || r.Log != want {
		t.Fatalf("close with two objects: code %d, log %q, want %q", r.Code, r.Log, want)
	}

	// A year on (where the attack had: object live, leases paid 0 ustr,
	// 30 STR refunded), the object is stored and was paid for by the
	// millisecond: 1,862 nano-ustr/s for the year is 58 ustr and a
	// fraction, on every lease, and nothing was refunded.
	c.BlockAfter(365 * 24 * time.Hour)
	for _, lid := range ls {
		l := c.lease(lid)
		owed := new(big.Int).Mul(big.NewInt(int64(l.Rate)), big.NewInt(c.Now.UnixMilli()-l.ActivatedMs))
		paid := new(big.Int).Add(new(big.Int).Mul(big.NewInt(int64(l.Settled)), big.NewInt(1e12)), new(big.Int).SetUint64(l.AccruedPico))
		if l.State != market.LeaseActive || paid.Cmp(owed) != 0 || l.Settled != 58 || l.Refunded != 0 || l.Escrow != 10*money.UstrPerSTR-58 {
			t.Fatalf("lease %d a year on: %s, paid %d (+%d pico, owed %v pico), escrow %d, refunded %d", lid, l.State, l.Settled, l.AccruedPico, owed, l.Escrow, l.Refunded)
		}
	}
	// Removing the objects closes the leases: what was not paid comes back.
	c.OK(u, &objects.Remove{ID: m2.ID().String()})
	r = c.OK(u, &objects.Remove{ID: id})
	if ev := ledgertest.Find(r.Events, objects.EventRemoved); ev == nil || ev.Get(objects.AttrClosed) != ev.Get(objects.AttrLeases) {
		t.Fatalf("removing the last object: %+v", ev)
	}
	for _, lid := range ls {
		if l := c.lease(lid); l.State != market.LeaseClosed || l.Settled != 58 || l.Refunded != 10*money.UstrPerSTR-58 {
			t.Fatalf("lease %d after the remove: %s, paid %d, refunded %d", lid, l.State, l.Settled, l.Refunded)
		}
	}
	// A lease nothing uses still closes at once.
	free := c.openLease(u, p0, leaseBytes, true)
	c.OK(u, &market.CloseLease{ID: free})
}

// The other half of attack 1: a lease whose escrow runs out takes its
// objects with it. Objects A and B share three leases, one of them (L2)
// with a deposit of only 20 ustr; object C has leases of its own. When L2
// runs dry, A and B are dropped with reason unpaid, L0 and L1 close and
// refund, every shard reference of A and B goes, and C is untouched.
func TestALeaseThatRunsDryDropsItsObjects(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	const deposit = 20 // ustr
	ls := []uint64{
		c.openLease(u, c.providers[0], leaseBytes, true),
		c.openLease(u, c.providers[1], leaseBytes, true),
		c.openLeaseDeposit(u, c.providers[2], leaseBytes, deposit, true),
	}
	mA, bA := manifest(t, data(3000, 1), c.providers...)
	mB, bB := manifest(t, data(600, 2), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: bA, Leases: ls, Public: true}))
	c.OK(u, c.rc(u, &objects.Commit{Manifest: bB, Leases: ls, Public: true}))
	lsC := c.leases(0)
	mC, bC := manifest(t, data(1000, 3), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: bC, Leases: lsC, Public: true}))

	// L2's escrow lasts ceil(20 x 10^12 / rate) ms from its activation.
	l2 := c.lease(ls[2])
	rate, err := market.LeaseRate(1_000_000_000, leaseBytes, market.ClassStorage)
	if err != nil || l2.Rate != rate {
		t.Fatalf("rate %d, want %d (%v)", l2.Rate, rate, err)
	}
	ms := new(big.Int).Mul(big.NewInt(deposit), big.NewInt(1e12))
	ms.Add(ms, big.NewInt(int64(rate)-1)).Quo(ms, big.NewInt(int64(rate)))
	end := l2.ActivatedMs + ms.Int64()
	for _, m := range []*storage.Manifest{mA, mB} {
		v, err := objects.GetObject(c.Query(), m.ID().String())
		if err != nil || v.PaidUntilMs != end {
			t.Fatalf("paid until %d, want %d (%v)", v.PaidUntilMs, end, err)
		}
	}
	list, _, err := objects.ObjectsAfter(c.Query(), u.Address(), nil, 100)
	if err != nil || len(list) != 3 {
		t.Fatalf("ObjectsAfter: %v, %v", list, err)
	}
	for _, o := range list {
		if o.ID != mC.ID().String() && o.PaidUntilMs != end {
			t.Fatalf("ObjectsAfter: %s paid until %d, want %d", o.ID, o.PaidUntilMs, end)
		}
	}

	// Up to the last millisecond both live, with 1 ustr left in L2.
	c.BlockAfter(time.UnixMilli(end - 1).Sub(c.Now))
	if ledgertest.Find(c.EndEvents, objects.EventExpired) != nil {
		t.Fatal("dropped before its lease ran dry")
	}
	if l := c.lease(ls[2]); l.State == market.LeaseClosed || l.Escrow != 1 {
		t.Fatalf("L2 one ms before it runs dry: %s, escrow %d", l.State, l.Escrow)
	}
	c.BlockAfter(time.Millisecond)

	var expired []ledger.Event
	for _, ev := range c.EndEvents {
		if ev.Type == objects.EventExpired {
			expired = append(expired, ev)
		}
	}
	if len(expired) != 2 {
		t.Fatalf("%d object.expired events, want 2: %v", len(expired), c.EndEvents)
	}
	var ids, closed []string
	for _, ev := range expired {
		if ev.Get(objects.AttrReason) != objects.ReasonUnpaid || ev.Get(objects.AttrLease) != ledger.FormatInt(ls[2]) ||
			ev.Get(objects.AttrLeaseReason) != "escrow" {
			t.Fatalf("object.expired %+v", ev)
		}
		ids = append(ids, ev.Get(objects.AttrID))
		if s := ev.Get(objects.AttrClosed); s != "" {
			closed = append(closed, strings.Split(s, ",")...)
		}
	}
	sort.Strings(ids)
	sort.Strings(closed)
	wantIDs := []string{mA.ID().String(), mB.ID().String()}
	sort.Strings(wantIDs)
	wantClosed := []string{ledger.FormatInt(ls[0]), ledger.FormatInt(ls[1])}
	sort.Strings(wantClosed)
	if fmt.Sprint(ids) != fmt.Sprint(wantIDs) || fmt.Sprint(closed) != fmt.Sprint(wantClosed) {
		t.Fatalf("dropped %v closing %v, want %v closing %v", ids, closed, wantIDs, wantClosed)
	}

	// L2 paid its provider the whole 20 ustr; L0 and L1 paid until now and
	// refunded the rest; each closed once.
	if l := c.lease(ls[2]); l.State != market.LeaseClosed || l.CloseReason != "escrow" || l.Settled != deposit || l.Refunded != 0 {
		t.Fatalf("L2: %s (%s), paid %d, refunded %d", l.State, l.CloseReason, l.Settled, l.Refunded)
	}
	for _, lid := range ls[:2] {
		l := c.lease(lid)
		if l.State != market.LeaseClosed || l.CloseReason != "consumer" || l.Settled+l.Refunded != l.Deposited || l.Refunded == 0 {
			t.Fatalf("lease %d: %+v", lid, l)
		}
	}
	n := 0
	for _, ev := range c.EndEvents {
		if ev.Type == "lease.closed" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d lease.closed events, want 3", n)
	}
	for _, m := range []*storage.Manifest{mA, mB} {
		if _, err := objects.GetObject(c.Query(), m.ID().String()); errs.KindOf(err) != errs.NotFound {
			t.Fatalf("dropped object: %v", err)
		}
		for _, seg := range m.Segments {
			for j, sh := range seg.Shards {
				p := c.providers[j%3].Address()
				if n := objects.ShardRefsOf(c.Query(), p, sh.Hash, u.Address()); n != 0 {
					t.Fatalf("a dropped object's shard still has %d refs", n)
				}
			}
		}
	}
	// C and its leases are untouched.
	if _, err := objects.GetObject(c.Query(), mC.ID().String()); err != nil {
		t.Fatal(err)
	}
	for _, lid := range lsC {
		if l := c.lease(lid); l.State != market.LeaseActive {
			t.Fatalf("C's lease %d is %s", lid, l.State)
		}
	}
	for _, lid := range ls {
		if s := c.moduleStateOf(fmt.Sprintf("objects/leaseuse/%s", string(be(lid)))) + c.moduleStateOf(fmt.Sprintf("objects/leaseobj/%s", string(be(lid)))); s != "" {
			t.Fatalf("lease %d left records behind:\n%q", lid, s)
		}
	}
	c.BlockAfter(time.Hour)
	if ledgertest.Find(c.EndEvents, objects.EventExpired) != nil {
		t.Fatal("dropped twice")
	}
}

// A shard's references count per owner, each paid by the owner's own
// leases: another account that commits a manifest placing the same shards
// (a copy of a public object's manifest, or a part of it) holds references
// of its own, and keeps nothing of the first owner's alive.
func TestCopiedManifestKeepsNoOtherOwnersShards(t *testing.T) {
	c := newChain(t)
	alice, mallory := c.users[0], c.users[1]
	lsA, lsM := c.leases(0), c.leases(1)
	mA, bA := manifest(t, data(3000, 1), c.providers...)
	c.OK(alice, c.rc(alice, &objects.Commit{Manifest: bA, Leases: lsA, Public: true}))
	// The first 1024 bytes are A's first segment: the same shard hashes.
	// (data repeats every 256 bytes, so A's first two segments are the
	// same, and A places each of their shards twice.)
	mPart, bPart := manifest(t, data(1024, 1), c.providers...)
	if mPart.Segments[0].Shards[0].Hash != mA.Segments[0].Shards[0].Hash {
		t.Fatal("the part does not share A's first shards")
	}
	// Without leases of its own it cannot be committed at all.
	c.fails(mallory, c.rc(mallory, &objects.Commit{Manifest: bPart, Leases: lsA, Public: true}), ledger.CodeUnauthorized)
	c.fails(mallory, c.rc(mallory, &objects.Commit{Manifest: bPart, Public: true}), ledger.CodeInvalid)
	c.OK(mallory, c.rc(mallory, &objects.Commit{Manifest: bPart, Leases: lsM, Public: true}))

	p0, h := c.providers[0].Address(), mA.Segments[0].Shards[0].Hash
	refs := func() (a, m, all uint64) {
		q := c.Query()
		return objects.ShardRefsOf(q, p0, h, alice.Address()), objects.ShardRefsOf(q, p0, h, mallory.Address()), objects.ShardRefs(q, p0, h)
	}
	if a, m, all := refs(); a != 2 || m != 1 || all != 3 {
		t.Fatalf("both live: alice %d, mallory %d, all %d; want 2, 1, 3", a, m, all)
	}
	// Alice removes A: her references go, whatever Mallory's object says,
	// so the provider may delete her copy.
	c.OK(alice, &objects.Remove{ID: mA.ID().String()})
	if a, m, all := refs(); a != 0 || m != 1 || all != 1 {
		t.Fatalf("after alice's remove: alice %d, mallory %d, all %d; want 0, 1, 1", a, m, all)
	}
	// A copy of A's whole manifest, committed by Mallory on his own
	// leases, is his object: he pays for it, and it holds his references.
	c.OK(mallory, &objects.Remove{ID: mPart.ID().String()})
	c.OK(mallory, c.rc(mallory, &objects.Commit{Manifest: bA, Leases: c.leases(1), Public: true}))
	if a, m, _ := refs(); a != 0 || m != 2 {
		t.Fatalf("mallory's copy: alice %d, mallory %d; want 0, 2", a, m)
	}
	v, err := objects.GetObject(c.Query(), mA.ID().String())
	if err != nil || v.Owner != mallory.Address() {
		t.Fatalf("the copy: %+v, %v", v, err)
	}
}

// objects/renew tops up every lease of an object by rate x seconds,
// rounded up, in one transaction.
func TestRenew(t *testing.T) {
	c := newChain(t)
	u, other := c.users[0], c.users[1]
	ls := c.leases(0)
	m, b := manifest(t, data(3000, 1), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, Public: true}))
	id := m.ID().String()
	v0, err := objects.GetObject(c.Query(), id)
	if err != nil {
		t.Fatal(err)
	}
	const secs = 90 * 24 * 3600
	rate, _ := market.LeaseRate(1_000_000_000, leaseBytes, market.ClassStorage)
	// ceil(1862 x 7776000 / 10^9) = ceil(14.47...) = 15 ustr a lease.
	per, err := objects.RenewCost(rate, secs)
	if err != nil || rate != 1862 || per != 15 {
		t.Fatalf("rate %d, cost %d (%v); want 1862, 15", rate, per, err)
	}
	var dep []uint64
	for _, lid := range ls {
		dep = append(dep, c.lease(lid).Deposited)
	}
	for _, payer := range []*identity.Key{u, other} {
		bal := c.balance(payer)
		r := c.OK(payer, &objects.Renew{ID: id, Seconds: secs})
		if got := c.balance(payer); got != bal-3*per-r.Fee {
			t.Fatalf("%s paid %d, want 3 x %d + fee %d", payer.Name, bal-got, per, r.Fee)
		}
		v, err := objects.GetObject(c.Query(), id)
		if err != nil {
			t.Fatal(err)
		}
		ev := ledgertest.Find(r.Events, objects.EventRenewed)
		if ev == nil || ev.Get(objects.AttrAmount) != "45" || ev.Get(objects.AttrPayer) != payer.Address().String() ||
			ev.Get(objects.AttrPaidUntil) != ledger.FormatInt(uint64(v.PaidUntilMs)) {
			t.Fatalf("object.renewed %+v, paid until %d", ev, v.PaidUntilMs)
		}
		// 15 ustr buys at least 90 days, and less than 1 ustr more.
		if d := v.PaidUntilMs - v0.PaidUntilMs; d < secs*1000 || d > secs*1000+1e12/int64(rate)+1 {
			t.Fatalf("paid until moved by %d ms, want %d to %d", d, secs*1000, secs*1000+1e12/int64(rate))
		}
		v0 = v
	}
	for i, lid := range ls {
		if l := c.lease(lid); l.Deposited != dep[i]+2*per {
			t.Fatalf("lease %d deposited %d, want %d", lid, l.Deposited, dep[i]+2*per)
		}
	}
	c.fails(u, &objects.Renew{ID: id}, ledger.CodeInvalid)
	c.fails(u, &objects.Renew{ID: id, Seconds: objects.MaxRenewSeconds + 1}, ledger.CodeInvalid)
	c.fails(u, &objects.Renew{ID: "bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi", Seconds: 1}, ledger.CodeNotFound)
	// A payer who cannot pay changes nothing but the fee: after the fee
	// for its gas limit is taken, one ustr short of the three top-ups is
	// left.
	poor := testKey("poor")
	const gas = 100_000
	c.OK(u, &ledger.Transfer{To: poor.Address(), Amount: gas*c.Params.MinGasPrice + 3*per - 1})
	bal := c.balance(poor)
	r := c.Fails(c.TxGas(poor, &objects.Renew{ID: id, Seconds: secs}, gas), ledger.CodeInsufficient, "")
	if got := c.balance(poor); got != bal-r.Fee || r.Fee == 0 {
		t.Fatalf("a failed renew took %d, want the fee %d", bal-got, r.Fee)
	}
}

func be(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
