package objects_test

import (
	"fmt"
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

// Attacks on proofs of storage and repair, by a consumer, a provider and a
// stranger (STYLE.md, "Think like the other side"). Each test runs the
// attack on the in-memory chain (conservation checked after every block)
// and asserts the figures of its failure. An attack that still succeeds
// asserts what it gets and skips with "BUG:", so that the test starts
// enforcing the fix as soon as it lands.

// answerAll has each provider in ps answer every open challenge it can
// answer from held (a challenge on a shard it does not hold is left to
// miss).
func (c *chain) answerAll(held map[storage.Hash][]byte, ps ...*identity.Key) {
	c.T.Helper()
	for _, p := range ps {
		for _, ch := range c.challenges(p) {
			var h storage.Hash
			if err := h.UnmarshalText([]byte(ch.Hash)); err != nil {
				c.T.Fatal(err)
			}
			if _, ok := held[h]; !ok {
				continue
			}
			c.OK(p, answer(c.T, held, ch))
		}
	}
}

// penaltiesTo sums the proof penalties the last block's end events paid
// to owner, and counts the misses.
func penaltiesTo(evs []ledger.Event, owner identity.Address) (sum uint64, n int) {
	for _, e := range evs {
		if e.Type == objects.EventProofMissed && e.Get(objects.AttrOwner) == owner.String() {
			var v uint64
			for _, ch := range e.Get(objects.AttrPenalty) {
				v = v*10 + uint64(ch-'0')
			}
			sum += v
			n++
		}
	}
	return sum, n
}

// registerPriced funds and registers a storage provider asking price
// nano-ustr per GiB-second.
func (c *chain) registerPriced(name string, price uint64) *identity.Key {
	c.T.Helper()
	k := testKey(name)
	c.OK(c.users[1], &ledger.Transfer{To: k.Address(), Amount: 2000 * money.UstrPerSTR})
	c.OK(k, &market.RegisterProvider{Endpoint: "https://" + name + ".example", Region: "eu",
		Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 30, Pricing: market.Rule{Kind: "fixed", Price: price}}},
		Collateral: 1000 * money.UstrPerSTR})
	return k
}

// commitHeld commits data for u on leases with provs (shard j of every
// segment on provs[j]) and returns the object's ID and the shards.
func (c *chain) commitHeld(u *identity.Key, d []byte, provs ...*identity.Key) (string, map[storage.Hash][]byte, []uint64) {
	c.T.Helper()
	m, raw := manifest(c.T, d, provs...)
	var ls []uint64
	for _, p := range provs {
		ls = append(ls, c.openLease(u, p, leaseBytes, true))
	}
	c.OK(u, c.rc(u, &objects.Commit{Manifest: raw, Leases: ls, Public: true}))
	return m.ID().String(), shardBytes(c.T, d), ls
}

// A consumer commits a manifest whose shards it never uploaded: the
// providers acknowledged leases, not bytes, so without receipts nothing on
// the ledger said they ever received these shards, every challenge on them
// was a miss, and each provider's misses counted towards losing it as a
// whole. A commit now carries every provider's receipt, signed only once
// the provider holds the shards, so each attempt below is refused and
// changes nothing, and no provider is ever challenged on Mallory's object.
func TestAttackConsumerCommitsShardsNeverUploaded(t *testing.T) {
	c := newChain(t)
	honest, mallory := c.users[0], c.users[1]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	c.commitHeld(honest, data(2048, 9), p0, p1, p2)

	// Mallory's object: leases with all three, bytes uploaded nowhere.
	m, raw := manifest(t, data(2048, 10), p0, p1, p2)
	var ls []uint64
	for _, p := range []*identity.Key{p0, p1, p2} {
		ls = append(ls, c.openLease(mallory, p, leaseBytes, true))
	}
	valid := receipts(t, raw, mallory.Address(), c.Now.Add(storage.ReceiptLifetime))
	// Another object of Mallory's, on the same providers, that they did sign for.
	_, rawOther := manifest(t, data(2048, 11), p0, p1, p2)
	other := receipts(t, rawOther, mallory.Address(), c.Now.Add(storage.ReceiptLifetime))
	// The same object placed otherwise: p1 signed for shards 1 and 4 only.
	_, rawSwapped := manifest(t, data(2048, 10), p1, p0, p2)
	swapped := receipts(t, rawSwapped, mallory.Address(), c.Now.Add(storage.ReceiptLifetime))
	with := func(i int, r storage.Receipt) []storage.Receipt {
		out := append([]storage.Receipt(nil), valid...)
		out[i] = r
		return out
	}
	for _, tc := range []struct {
		name string
		rcs  []storage.Receipt
		want string
	}{
		{"no receipts", nil, "carries 0 storage receipts"},
		{"a receipt missing", valid[:2], "carries 2 storage receipts"},
		{"a receipt too many", append(append([]storage.Receipt(nil), valid...), valid[0]), "carries 4 storage receipts"},
		{"the wrong provider's receipt", with(1, storage.SignReceipt(p3, raw, mallory.Address(), c.Now.Add(storage.ReceiptLifetime))), "receipt 1 (provider " + p1.Address().String()},
		{"receipts in the wrong order", []storage.Receipt{valid[1], valid[0], valid[2]}, "receipt 0 (provider " + p0.Address().String()},
		{"a receipt over another object", with(0, other[0]), "receipt 0 (provider " + p0.Address().String()},
		{"a receipt for another placement of the object", with(0, swapped[1]), "receipt 0 (provider " + p0.Address().String()},
		{"a receipt signed for another owner", with(2, storage.SignReceipt(p2, raw, honest.Address(), c.Now.Add(storage.ReceiptLifetime))), "receipt 2 (provider " + p2.Address().String()},
		{"a receipt signed by the consumer", with(2, storage.SignReceipt(mallory, raw, mallory.Address(), c.Now.Add(storage.ReceiptLifetime))), "receipt 2"},
		{"an expired receipt", with(0, storage.SignReceipt(p0, raw, mallory.Address(), c.Now)), "expired"},
		{"a receipt valid for too long", with(0, storage.SignReceipt(p0, raw, mallory.Address(), c.Now.Add(2*storage.MaxReceiptLifetime))), "more than"},
		{"a zero signature", with(0, storage.Receipt{ExpiresMs: valid[0].ExpiresMs, Signature: make([]byte, 64)}), "receipt 0"},
	} {
		r := c.fails(mallory, &objects.Commit{Manifest: raw, Leases: ls, Receipts: tc.rcs, Public: true}, ledger.CodeInvalid)
		if !strings.Contains(r.Log, tc.want) || !strings.Contains(r.Log, "ask") {
			t.Errorf("%s: log %q, want it to mention %q and what to do", tc.name, r.Log, tc.want)
		}
	}
	if _, err := objects.GetObject(c.Query(), m.ID().String()); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("Mallory's object was recorded: %v", err)
	}

	// c.fails checked that each refusal changed nothing: no placement of
	// Mallory's shards exists, so no provider is challenged on them.
	for _, p := range []*identity.Key{p0, p1, p2} {
		if n := c.placements(p); n != 2 {
			t.Fatalf("%s has %d placements, want the honest object's 2", p.Name, n)
		}
	}

	// A receipt replayed from another commit: the honest user's object,
	// removed, committed again with its old receipts once they expired
	// (the provider kept the shards only until then).
	hm, hraw := manifest(t, data(2048, 12), p0, p1, p2)
	var hls []uint64
	for _, p := range []*identity.Key{p0, p1, p2} {
		hls = append(hls, c.openLease(honest, p, leaseBytes, true))
	}
	old := c.rc(honest, &objects.Commit{Manifest: hraw, Leases: hls, Public: true})
	c.OK(honest, old)
	c.OK(honest, &objects.Remove{ID: hm.ID().String()})
	c.BlockAfter(storage.ReceiptLifetime)
	if r := c.fails(honest, old, ledger.CodeInvalid); !strings.Contains(r.Log, "expired") {
		t.Errorf("replayed receipts: %q", r.Log)
	}
	// ... and the same receipts under Mallory's name.
	c.fails(mallory, &objects.Commit{Manifest: hraw, Leases: ls, Receipts: old.Receipts, Public: true}, ledger.CodeInvalid)
}

// loseSilent runs epochs in which every provider in answer answers its
// challenges and silent does nothing, until silent is lost as a whole and
// every shard it held is queued for repair.
func (c *chain) loseSilent(held map[storage.Hash][]byte, silent *identity.Key, answer ...*identity.Key) {
	c.T.Helper()
	for range 12 {
		c.epoch()
		c.answerAll(held, answer...)
		st := c.stats(silent)
		if st.LostMs != 0 && st.Lost > 0 && len(c.challenges(silent)) == 0 && c.placements(silent) == 0 {
			return
		}
	}
	c.T.Fatalf("%s was not lost after 12 silent epochs: %+v", silent.Address(), c.stats(silent))
}

// placements counts the shards the placement index puts on p.
func (c *chain) placements(p *identity.Key) int {
	c.T.Helper()
	n := 0
	a := p.Address()
	c.St.Iterate([]byte("objects/hp/"+string(a[:])), func(_, _ []byte) error { n++; return nil })
	return n
}

// A provider that was lost as a whole (here: it stopped answering) is still
// an active provider in the market with most of its collateral, so
// consumers keep opening leases with it. The shards committed on it after
// its loss must be challenged like any other: otherwise a provider that
// got itself lost once is paid for new shards forever without storing
// them.
func TestAttackLostProviderStillChallengedOnNewShards(t *testing.T) {
	c := newChain(t)
	u, v := c.users[0], c.users[1]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	_, held, _ := c.commitHeld(u, data(2048, 11), p0, p1, p2)
	c.loseSilent(held, p2, p0, p1)

	// p2 still takes leases: the market knows nothing of its loss.
	if pv := c.provider(p2); pv.State != market.ProviderActive || pv.Collateral < 100*money.UstrPerSTR {
		t.Fatalf("p2 after its loss: %+v", pv)
	}
	_, held2, _ := c.commitHeld(v, data(2048, 12), p0, p1, p2)
	for h, b := range held2 {
		held[h] = b
	}
	if n := c.placements(p2); n != 2 {
		t.Fatalf("p2 holds %d placements of v's new object, want 2", n)
	}
	collBefore := c.provider(p2).Collateral
	challenged := 0
	for range 4 {
		c.epoch()
		challenged += len(c.challenges(p2))
		c.answerAll(held, p0, p1)
	}
	if challenged == 0 {
		t.Fatalf("BUG: the lost provider p2 was not challenged once in 4 epochs on the 2 shards committed on it after its loss (collateral %d, unchanged: %v)",
			c.provider(p2).Collateral, c.provider(p2).Collateral == collBefore)
	}
	// It never answers, so it pays for the misses and the new shards are
	// lost and queued for repair, like any other provider's.
	if got := c.provider(p2).Collateral; got >= collBefore {
		t.Fatalf("p2's collateral %d after missing every challenge, was %d", got, collBefore)
	}
}

// A provider asking an extreme price is assigned a repair (the block hash
// picks among the eligible providers, whatever they ask), and the repaired
// shard's lease opens at its price, funded with what the lost lease held
// for the shard: the owner's years of prepaid storage burn in hours, the
// repairer takes them all, and the object is dropped as unpaid. The
// repaired lease must cost the owner no more than the lost one did.
func TestAttackRepairerAtExtremePriceDrainsEscrow(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	// The only provider eligible for the repair asks a million times the
	// others' price.
	greedy := c.registerPriced("greedy", 1_000_000_000*1_000_000)
	id, held, ls := c.commitHeld(u, data(2048, 13), p0, p1, p2)
	lostRate := c.lease(ls[2]).Rate
	c.loseSilent(held, p2, p0, p1)
	c.epoch()
	c.answerAll(held, p0, p1)
	jobs := c.repairsHeld()
	if len(jobs) != 2 {
		t.Fatalf("%d repairs, want p2's 2", len(jobs))
	}
	for _, j := range jobs {
		if j.Assignee != greedy.Address().String() {
			t.Fatalf("repair %+v not assigned to the only eligible provider", j)
		}
		var h storage.Hash
		h.UnmarshalText([]byte(j.Hash))
		leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
		if err != nil {
			t.Fatal(err)
		}
		c.OK(greedy, &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
	}
	o, err := objects.GetObject(c.Query(), id)
	if err != nil {
		t.Fatal(err)
	}
	var rate uint64
	for _, sh := range o.Leases {
		if sh.Provider == greedy.Address() {
			rate += c.lease(sh.Lease).Rate
		}
	}
	// Two 512-byte shards of the lost 2000-byte lease: at the lost lease's
	// price they cost at most what it did.
	// Before the fix: 953674316 nano-ustr/s, and the object was dropped
	// as unpaid within 1.5 hours.
	if rate > lostRate || rate != 2*476 {
		t.Fatalf("BUG: the repaired shards' leases cost the owner %d nano-ustr/s, the lost lease %d: "+
			"the repairer's price is not capped by the price the owner agreed to (want 2 x 476)", rate, lostRate)
	}
	c.BlockAfter(2 * time.Hour)
	if _, err := objects.GetObject(c.Query(), id); err != nil {
		t.Fatalf("the repaired object is gone 2 hours later: %v", err)
	}
}

// A provider that has deleted a customer's shards hides them among many
// tiny shards of its own: with its own (or a friend's) hundred 3-byte
// objects on itself, a draw uniform over placements would land on the
// customer's two 512-byte shards (most of the bytes it is paid to hold)
// about once in 150, and it would be paid for them without storing them
// until a draw happened to land on one. The draw is by bytes, so the
// customer's shards get their share of the bytes' share of the draws.
func TestAttackProviderDilutesChallengesWithTinyShards(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	_, held, _ := c.commitHeld(u, data(2048, 14), p0, p1, p2)
	sybil := testKey("sybil")
	c.OK(c.users[1], &ledger.Transfer{To: sybil.Address(), Amount: 100 * money.UstrPerSTR})
	lease := c.openLease(sybil, p0, leaseBytes, true)
	const tiny = 100
	var tinyBytes int64
	for i := range tiny {
		d := data(3, byte(i))
		m, raw := manifest(t, d, p0)
		c.OK(sybil, c.rc(sybil, &objects.Commit{Manifest: raw, Leases: []uint64{lease}, Public: true}))
		for h, b := range shardBytes(t, d) {
			held[h] = b
		}
		for _, sh := range m.Segments[0].Shards {
			tinyBytes += sh.Size
		}
		c.answerAll(held, p0, p1, p2)
	}
	if n := c.placements(p0); n != 2+3*tiny {
		t.Fatalf("p0 holds %d placements, want %d", n, 2+3*tiny)
	}
	// Two epochs answered in full clear the rechecks of what the setup
	// blocks left unanswered.
	for range 2 {
		c.epoch()
		c.answerAll(held, p0, p1, p2)
	}
	missed := c.stats(p0).Missed
	// Every challenge p0 gets, answered honestly (no misses, so no
	// rechecks): how many are on u's shards?
	seen := map[uint64]bool{}
	onU := 0
	const epochs = 20
	for range epochs {
		c.epoch()
		// Answering takes blocks, and one of them may start the next
		// epoch: answer until nothing is open.
		for len(c.challenges(p0))+len(c.challenges(p1))+len(c.challenges(p2)) > 0 {
			for _, ch := range c.challenges(p0) {
				if seen[ch.ID] {
					continue
				}
				seen[ch.ID] = true
				if o, _ := objects.GetObject(c.Query(), ch.Object); o.Owner == u.Address() {
					onU++
				}
			}
			c.answerAll(held, p0, p1, p2)
		}
	}
	chals := len(seen)
	// Two draws an epoch; two draws on one shard open one challenge.
	if st := c.stats(p0); st.Missed != missed || chals < epochs {
		t.Fatalf("p0 missed %d and was challenged %d times, want %d and at least %d: %+v", st.Missed, chals, missed, epochs, st)
	}
	// u's two shards are 1,024 of the 1,624 bytes p0 holds (63%), and 2 of
	// its 302 placements. By bytes, each draw lands on one of u's shards
	// with p = 1024/1624, on each with 512/1624 = 0.315; an epoch's two
	// draws open a challenge on a given shard of u's with 1-(1-0.315)^2 =
	// 0.53, so u's shards expect 2 x 0.53 x 20 = 21 challenges in 20
	// epochs, and the tiny ones 2 x 0.37 x 20 = 15. By placements they
	// would expect 2/302 x 40 = 0.26. The block hashes are fixed, so the
	// count is pinned: a change to the draw shows here.
	share := float64(1024) / float64(1024+tinyBytes)
	if tinyBytes != 600 || onU != 21 || chals != 33 {
		t.Fatalf("%d of %d challenges landed on the customer's 2 shards (%.0f%% of the %d bytes p0 holds in %d placements), want 21 of 33",
			onU, chals, 100*share, 1024+tinyBytes, 2+3*tiny)
	}
}

// Two providers of one segment are lost at once, and only one provider
// holds no shard of the segment: both repairs must not go to it, or the
// segment ends with two shards on one provider (which can then lose it
// alone, with k = 2 of 3). The eligibility rule must count the segment's
// pending assignments, not only the manifest.
func TestAttackTwoRepairsOfOneSegmentToOneProvider(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	_, held, _ := c.commitHeld(u, data(2048, 15), p0, p1, p2)
	var jobs []objects.RepairJob
	for range 12 {
		c.epoch()
		c.answerAll(held, p0)
		jobs = c.repairsHeld()
		if len(jobs) == 4 {
			break
		}
	}
	if len(jobs) != 4 {
		t.Fatalf("%d repairs after p1 and p2 went silent, want 4: %+v", len(jobs), jobs)
	}
	c.epoch()
	c.answerAll(held, p0)
	bySeg := map[uint32]map[string]int{}
	for _, j := range c.repairsHeld() {
		if bySeg[j.Segment] == nil {
			bySeg[j.Segment] = map[string]int{}
		}
		if j.Assignee != "" {
			bySeg[j.Segment][j.Assignee]++
		}
	}
	for seg, as := range bySeg {
		for a, n := range as {
			if n > 1 {
				t.Fatalf("BUG: %d repairs of segment %d are assigned to %s at once", n, seg, a)
			}
		}
		if as[p3.Address().String()] != 1 {
			t.Fatalf("segment %d's repairs: %v, want one with p3, the one provider without a shard of it", seg, as)
		}
	}
}

func parseU(s string) uint64 {
	var v uint64
	for _, ch := range s {
		v = v*10 + uint64(ch-'0')
	}
	return v
}

// The owner removes an object while its lost shard is assigned: what the
// repair held (the moved escrow and the fee) goes to the owner, to the
// ustr, and the repairs bucket is left empty. The assignee's commit after
// that is refused and changes nothing, and so is its commit for the same
// slot after the owner committed the same object again: a repair belongs
// to the object it was queued for, not to its ID.
func TestAttackRepairAfterRemoveAndRecommit(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	d := data(2048, 16)
	id, held, _ := c.commitHeld(u, d, p0, p1, p2)
	var jobs []objects.RepairJob
	for range 12 {
		c.epoch()
		c.answerAll(held, p0, p1)
		jobs = c.repairsHeld()
		if len(jobs) == 2 && jobs[0].Assignee != "" && jobs[1].Assignee != "" {
			break
		}
	}
	if len(jobs) != 2 || jobs[0].Assignee != p3.Address().String() {
		t.Fatalf("repairs %+v, want p2's 2 assigned to p3", jobs)
	}
	var held2 uint64
	for _, j := range jobs {
		held2 += j.Escrow + j.Bounty
	}
	if held2 == 0 {
		t.Fatal("the repairs hold nothing: the test needs escrow to follow")
	}
	j := jobs[0]
	var h storage.Hash
	h.UnmarshalText([]byte(j.Hash))
	leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
	if err != nil {
		t.Fatal(err)
	}
	rep := &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path}

	bal := c.balance(u)
	r := c.OK(u, &objects.Remove{ID: id})
	var refunds uint64
	for _, e := range r.Events {
		if e.Type == "lease.closed" && e.Get("consumer") == u.Address().String() {
			refunds += parseU(e.Get("refund"))
		}
	}
	if got, want := c.balance(u), bal-r.Fee+refunds+held2; got != want {
		t.Fatalf("owner's balance %d after removing mid-repair, want %d - fee %d + refunds %d + the repairs' %d", got, bal, r.Fee, refunds, held2)
	}
	if left := c.repairsHeld(); len(left) != 0 {
		t.Fatalf("repairs left after the object was removed: %+v", left)
	}
	if s := c.moduleStateOf("objects/"); s != "" {
		t.Fatalf("objects state left behind:\n%s", s)
	}
	// The assignee's commit now: no object.
	bal3 := c.balance(p3)
	r = c.fails(p3, rep, ledger.CodeNotFound)
	if c.balance(p3) != bal3-r.Fee {
		t.Fatalf("p3 paid %d for a refused repair, want its fee %d", bal3-c.balance(p3), r.Fee)
	}
	// The same object again, on fresh leases with p0, p1 and p3: the old
	// assignee's commit for the slot is still refused.
	c.commitHeld(u, d, p0, p1, p3)
	r = c.fails(p3, rep, ledger.CodeNotFound)
	if jobs := c.repairsHeld(); len(jobs) != 0 {
		t.Fatalf("repairs after the recommit: %+v", jobs)
	}
}

// A provider challenged on shards it no longer has retires before the
// deadline. The next epoch's pass loses it as a whole; that used to close
// its open challenges unjudged, so it paid the repair fee of each shard
// (0.100001 STR here) and never the 0.5% of its collateral (5 STR) a miss
// costs. Each open challenge is now judged missed as its placement is
// lost.
func TestAttackRetireToEscapeOpenChallenges(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	_, held, _ := c.commitHeld(u, data(2048, 17), p0, p1, p2)
	var open []objects.Challenge
	for range 3 {
		c.epoch()
		c.answerAll(held, p0, p1)
		if open = c.challenges(p2); len(open) > 0 {
			break
		}
	}
	if len(open) == 0 {
		t.Fatal("p2 was never challenged")
	}
	coll, treasury := c.provider(p2).Collateral, c.Bucket(ledger.BucketTreasury)
	c.OK(p2, &market.RetireProvider{})
	// The block that starts the next epoch, before the deadline.
	next := (c.Now.UnixMilli()/60_000 + 1) * 60_000
	if next >= open[0].DeadlineMs {
		t.Fatalf("setup: the next epoch starts at %d, after the deadline %d", next, open[0].DeadlineMs)
	}
	c.BlockAfter(time.Duration(next-c.Now.UnixMilli()) * time.Millisecond)
	c.answerAll(held, p0, p1)
	c.BlockAfter(61 * time.Second) // past every deadline
	if st := c.stats(p2); st.LostMs == 0 || st.Lost != 2 {
		t.Fatalf("p2 after retiring: %+v, want lost with its 2 shards", st)
	}
	took := coll - c.provider(p2).Collateral
	fees := uint64(2 * 100_001)
	if st := c.stats(p2); st.Missed == 0 && took == fees {
		t.Skipf("BUG: p2 retired with %d challenges open and paid only the repair fees (%d ustr); the treasury got %d ustr of miss penalties "+
			"(%d ustr each): losing a placement must judge its open challenge as missed", len(open), took, c.Bucket(ledger.BucketTreasury)-treasury, coll*50/10_000)
	}
	// The open challenge is judged missed as its placement is lost: 0.5%
	// of the collateral at the time, to the treasury. Placements are lost
	// from the end of the index, and the challenged one is second, after
	// the other's fee was taken.
	if len(open) != 1 {
		t.Fatalf("setup: %d challenges open on p2, the figures below are for 1", len(open))
	}
	want := (coll - 100_001) * 50 / 10_000
	if got := c.Bucket(ledger.BucketTreasury) - treasury; got != want || want != 4_999_499 || took != want+fees {
		t.Fatalf("the treasury got %d ustr for p2's open challenge, want %d; p2 paid %d, want %d + fees %d", got, want, took, want, fees)
	}
	if st := c.stats(p2); st.Missed != uint64(len(open)) {
		t.Fatalf("p2's stats %+v, want %d missed", st, len(open))
	}
}

// When a pass over the providers takes longer than an epoch (many
// providers, slow blocks), the next epoch must not start the pass over
// from the lowest address: the providers at the end of the address space
// would never be challenged, and anyone can grind a key that sorts last.
// Here a block budget of one provider's challenges and two blocks an epoch
// reach two of the three providers an epoch.
func TestAttackHighAddressNeverChallengedWhenPassOverrunsEpoch(t *testing.T) {
	p := objects.DefaultParams()
	p.MaxChallengesPerBlock = p.ChallengesPerProvider
	c := newChainWith(t, p)
	u := c.users[0]
	// Nobody answers: answers are blocks, and this chain has only two an
	// epoch. Only who is challenged counts here.
	c.commitHeld(u, data(2048, 18), c.providers...)
	challenged := map[string]int{}
	for range 6 {
		for range 2 {
			c.BlockAfter(30 * time.Second)
			for _, pk := range c.providers {
				if n := len(c.challenges(pk)); n > 0 {
					challenged[pk.Address().String()]++
				}
			}
		}
	}
	for _, pk := range c.providers {
		if challenged[pk.Address().String()] == 0 {
			t.Fatalf("BUG: provider %s was never challenged in 6 epochs (%v): each epoch restarts the unfinished pass from the lowest address",
				pk.Address(), challenged)
		}
	}
}

// A provider moves its own collateral out while it keeps serving: it
// commits objects on itself from a second key and misses every challenge
// on them. Each miss pays 0.5% of its collateral to "the owner", its own
// second key; collateral is meant to stay locked until it retires and the
// unbonding delay passes, and to be there for the penalties and repair
// fees its customers are owed.
func TestAttackProviderDrainsOwnCollateralThroughSybilOwner(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	_, held, _ := c.commitHeld(u, data(2048, 19), p0, p1, p2)
	sybil := testKey("sybil-owner")
	c.OK(p0, &ledger.Transfer{To: sybil.Address(), Amount: 50 * money.UstrPerSTR})
	lease := c.openLease(sybil, p0, leaseBytes, true)
	for i := range 10 {
		_, raw := manifest(t, data(3, byte(100+i)), p0)
		c.OK(sybil, c.rc(sybil, &objects.Commit{Manifest: raw, Leases: []uint64{lease}, Public: true}))
	}
	c.answerAll(held, p0, p1, p2)
	coll, bal := c.provider(p0).Collateral, c.balance(sybil)
	for range 4 {
		c.epoch()
		c.answerAll(held, p0, p1, p2) // everything but its sybil's shards
		c.BlockAfter(61 * time.Second)
		c.answerAll(held, p0, p1, p2)
	}
	took := coll - c.provider(p0).Collateral
	// The sybil sends nothing in these blocks: all it gained is penalties.
	got := c.balance(sybil) - bal
	if got != 0 {
		t.Fatalf("the sybil got %d ustr of p0's collateral (%d taken in all): miss penalties must not reach an account the provider may control", got, took)
	}
	if took == 0 {
		t.Fatal("p0 missed its sybil's challenges and lost no collateral")
	}
}

// An object removed (or expired, or dropped unpaid) while one of its
// shards is challenged takes the challenge with it: the provider is not
// penalized at the deadline for bytes nobody pays it to keep, and its late
// answer is refused.
func TestAttackChallengeOnRemovedObject(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	id, held, _ := c.commitHeld(u, data(2048, 20), p0, p1, p2)
	var open []objects.Challenge
	for range 3 {
		c.epoch()
		if open = c.challenges(p0); len(open) > 0 {
			break
		}
	}
	if len(open) == 0 {
		t.Fatal("p0 was never challenged")
	}
	coll := c.provider(p0).Collateral
	c.OK(u, &objects.Remove{ID: id})
	if n := len(c.challenges(p0)); n != 0 {
		t.Fatalf("%d challenges of p0 open after the object was removed", n)
	}
	c.fails(p0, answer(t, held, open[0]), ledger.CodeNotFound)
	c.BlockAfter(61 * time.Second)
	if got := c.provider(p0).Collateral; got != coll {
		t.Fatalf("p0's collateral %d after the deadline of a removed object's challenge, was %d", got, coll)
	}
	if st := c.stats(p0); st.Missed != 0 {
		t.Fatalf("p0's stats %+v: a removed object's challenge counted", st)
	}
}

// Two objects of one owner share a lease with p2, and p2 loses the shards
// of one of them only (it keeps answering for the other). The lost shards'
// share of the lease's escrow, floor(escrow x shard bytes / lease bytes)
// at the time, moves to the repairs, and not a ustr more: the lease stays
// open, shrunk by those bytes, for the other object, whose use of it is
// untouched.
func TestAttackSharedLeaseLosesOneObjectsShard(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	ls := c.leases(0)
	dA, dB := data(1024, 21), data(600, 22)
	mA, rawA := manifest(t, dA, p0, p1, p2)
	mB, rawB := manifest(t, dB, p0, p1, p2)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: rawA, Leases: ls, Public: true}))
	c.OK(u, c.rc(u, &objects.Commit{Manifest: rawB, Leases: ls, Public: true}))
	heldA, heldB := shardBytes(t, dA), shardBytes(t, dB)
	all := map[storage.Hash][]byte{}
	for h, b := range heldA {
		all[h] = b
	}
	for h, b := range heldB {
		all[h] = b
	}
	shared := ls[2]
	sizeA := uint64(mA.Segments[0].Shards[2].Size)
	before := c.lease(shared)
	var jobs []objects.RepairJob
	for range 12 {
		c.epoch()
		c.answerAll(all, p0, p1)
		c.answerAll(heldB, p2)
		if jobs = c.repairsHeld(); len(jobs) > 0 {
			break
		}
		c.checkObjects()
	}
	c.checkObjects()
	if len(jobs) != 1 || jobs[0].Object != mA.ID().String() || jobs[0].Shard != 2 {
		t.Fatalf("repairs %+v, want A's shard on p2 only", jobs)
	}
	after := c.lease(shared)
	if after.State != market.LeaseActive || after.Quantity != before.Quantity-sizeA {
		t.Fatalf("the shared lease after A's shard was lost: %s, quantity %d, want active and %d", after.State, after.Quantity, before.Quantity-sizeA)
	}
	// The escrow at the loss (after settling to the block) split by
	// bytes: what the lease held, less what it paid its provider.
	escrowAtLoss := jobs[0].Escrow + after.Escrow
	want := escrowAtLoss * sizeA / before.Quantity
	if jobs[0].Escrow != want || want != 2_560_000 || escrowAtLoss+(after.Settled-before.Settled) != before.Escrow {
		t.Fatalf("moved %d to the repair, the lease kept %d and paid %d; want %d moved of the %d deposited", jobs[0].Escrow, after.Escrow, after.Settled-before.Settled, want, before.Escrow)
	}
	if _, err := objects.GetObject(c.Query(), mB.ID().String()); err != nil {
		t.Fatalf("B after A's shard was lost: %v", err)
	}
}

// Rounding: a small object shares a large, thinly funded lease with
// another object of its owner. When its provider loses the small object's
// shard, floor(escrow x shard bytes / lease bytes) is 0, the repair opens
// its new lease with nothing, and the commit of a correct repair drops
// the object as unpaid, though its owner had paid for years. Rounded up,
// the share is 1 ustr, which pays the 2-byte shard for decades. (B is
// small too: the draws are by bytes, and A's 2-byte shard beside a
// 1,024-byte one would be drawn about once in 500.)
func TestAttackRepairRoundsSmallShardsEscrowToNothing(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	var ls []uint64
	for _, p := range c.providers {
		// 1 MiB for 0.1 STR: at 1 ustr per GiB-second, years of storage.
		ls = append(ls, c.openLeaseDeposit(u, p, 1<<20, 100_000, true))
	}
	dA, dB := data(3, 23), data(8, 24)
	mA, rawA := manifest(t, dA, p0, p1, p2)
	_, rawB := manifest(t, dB, p0, p1, p2)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: rawA, Leases: ls, Public: true}))
	c.OK(u, c.rc(u, &objects.Commit{Manifest: rawB, Leases: ls, Public: true}))
	heldA, heldB := shardBytes(t, dA), shardBytes(t, dB)
	all := map[storage.Hash][]byte{}
	for h, b := range heldA {
		all[h] = b
	}
	for h, b := range heldB {
		all[h] = b
	}
	id := mA.ID().String()
	var jobs []objects.RepairJob
	for range 20 {
		c.epoch()
		c.answerAll(all, p0, p1)
		c.answerAll(heldB, p2)
		jobs = c.repairsHeld()
		if len(jobs) == 1 && jobs[0].Assignee != "" {
			break
		}
	}
	if len(jobs) != 1 || jobs[0].Object != id || jobs[0].Assignee != p3.Address().String() {
		t.Fatalf("repairs %+v, want A's shard on p2 assigned to p3", jobs)
	}
	j := jobs[0]
	var h storage.Hash
	h.UnmarshalText([]byte(j.Hash))
	leaf, path, err := storage.ShardLeafProof(heldA[h], j.Leaf, j.LeafSize)
	if err != nil {
		t.Fatal(err)
	}
	// floor(escrow x 2 / 1 MiB) is 0; rounded up, 1 ustr, which at the
	// repaired lease's 1 nano-ustr/s lasts 10^9 s.
	if j.Escrow != 1 {
		t.Errorf("BUG: the repair of a %d-byte shard holds %d ustr of its lease's escrow, want 1 (rounded up)", j.Size, j.Escrow)
	}
	r := c.OK(p3, &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
	if _, err := objects.GetObject(c.Query(), id); err != nil {
		t.Fatalf("BUG: a correct repair of a %d-byte shard, moved %d ustr of its lease's escrow, dropped the object (%v; events %v): "+
			"move ceil(escrow x bytes / quantity) and fund the new lease for as long as the lost one was paid", j.Size, j.Escrow, err, ledgertest.Find(r.Events, objects.EventExpired))
	}
}

// countEvents counts the events of type typ among evs.
func countEvents(evs []ledger.Event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A provider holding many placements retires at once: no block declares
// more than MaxRepairsPerBlock of its shards lost, nor assigns more than
// that many repairs, and the rest follow in the next blocks.
func TestAttackRetireManyShardsRespectsRepairBudget(t *testing.T) {
	p := objects.DefaultParams()
	p.MaxRepairsPerBlock = 2
	c := newChainWith(t, p)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	// 3 segments: 3 shards on each provider.
	_, held, _ := c.commitHeld(u, data(3*1024, 25), p0, p1, p2)
	c.answerAll(held, p0, p1, p2)
	c.OK(p2, &market.RetireProvider{})
	lost, assigned, blocks := 0, 0, 0
	for lost < 3 && blocks < 20 {
		c.BlockAfter(30 * time.Second)
		blocks++
		l, a := countEvents(c.EndEvents, objects.EventShardLost), countEvents(c.EndEvents, objects.EventRepair)
		if l > 2 || a > 2 {
			t.Fatalf("block %d declared %d shards lost and assigned %d repairs, budget 2", c.Height, l, a)
		}
		lost += l
		assigned += a
	}
	if lost != 3 || assigned != 3 || blocks != 3 {
		t.Fatalf("%d of p2's 3 shards lost and %d assigned in %d blocks (want 3, 3, 3: the first block is not yet the epoch's pass): %+v, %d placements, %d jobs", lost, assigned, blocks, c.stats(p2), c.placements(p2), len(c.repairsHeld()))
	}
	if st := c.stats(p2); st.Lost != 3 || c.placements(p2) != 0 {
		t.Fatalf("p2 after retiring: %+v, %d placements", st, c.placements(p2))
	}
}

// One validator of three reports a healthy provider down with a huge probe
// count, while the other two report every probe answered. The probe
// counts are summed across validators, so the one report outweighs the
// two: after down_after_epochs the provider is lost as a whole, its
// collateral pays a repair fee for every shard, and the repairs may go to
// the validator's own providers. A provider is down when validators with
// more than half the reporting power found it down, not when one
// validator says so loudly.
func TestAttackOneValidatorReportsProviderDown(t *testing.T) {
	c := newChainWith(t, objects.DefaultParams(), 3)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	_, held, _ := c.commitHeld(u, data(2048, 26), p0, p1, p2)
	coll := c.provider(p2).Collateral
	for range 6 {
		c.epoch()
		c.answerAll(held, p0, p1, p2)
		epoch := market.EpochOf(c.Query(), c.Now.UnixMilli())
		for i, row := range []market.ProbeRow{{Provider: p2.Address(), OK: 6, Total: 6}, {Provider: p2.Address(), OK: 6, Total: 6},
			{Provider: p2.Address(), OK: 0, Total: 4_000_000_000}} {
			c.OK(testKey(fmt.Sprintf("op%d", i)), &market.ProbeReport{Epoch: epoch, Results: []market.ProbeRow{row}})
		}
	}
	if st := c.stats(p2); st.LostMs != 0 || st.Lost != 0 || st.DownEpochs != 0 {
		t.Fatalf("BUG: p2, found up by 2 of 3 validators every epoch, is lost as down: %+v; it paid %d ustr of collateral", st, coll-c.provider(p2).Collateral)
	}
	if got := c.provider(p2).Collateral; got != coll {
		t.Fatalf("p2's collateral %d, was %d: it answered everything and was up", got, coll)
	}
	// Two of three finding it down, with ordinary counts, do lose it.
	for e := 0; e < 6 && c.stats(p2).LostMs == 0; e++ {
		c.epoch()
		c.answerAll(held, p0, p1, p2)
		epoch := market.EpochOf(c.Query(), c.Now.UnixMilli())
		for i, row := range []market.ProbeRow{{Provider: p2.Address(), OK: 0, Total: 6}, {Provider: p2.Address(), OK: 6, Total: 6},
			{Provider: p2.Address(), OK: 1, Total: 6}} {
			c.OK(testKey(fmt.Sprintf("op%d", i)), &market.ProbeReport{Epoch: epoch, Results: []market.ProbeRow{row}})
		}
	}
	if st := c.stats(p2); st.LostMs == 0 || st.DownEpochs < 3 {
		t.Fatalf("p2, found down by 2 of 3 validators, is not lost: %+v", st)
	}
}

// A provider retires, is lost, unbonds its collateral and registers again
// with the same key (its proof record stays on the ledger). What is
// committed on it afterwards is challenged like any other provider's.
func TestAttackLostProviderReRegisters(t *testing.T) {
	c := newChain(t)
	u, v := c.users[0], c.users[1]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	_, held, _ := c.commitHeld(u, data(2048, 27), p0, p1, p2)
	c.OK(p2, &market.RetireProvider{})
	for range 3 {
		c.epoch()
		c.answerAll(held, p0, p1)
	}
	if st := c.stats(p2); st.LostMs == 0 || st.Lost != 2 || c.placements(p2) != 0 {
		t.Fatalf("p2 after retiring: %+v, %d placements", st, c.placements(p2))
	}
	c.BlockAfter(11 * time.Minute) // the unbonding delay
	c.OK(p2, &market.Unbond{})
	c.OK(p2, &market.RegisterProvider{Endpoint: "https://again.example", Region: "eu",
		Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 30, Pricing: market.Rule{Kind: "fixed", Price: 1_000_000_000}}},
		Collateral: 500 * money.UstrPerSTR})
	_, held2, _ := c.commitHeld(v, data(2048, 28), p0, p1, p2)
	for h, b := range held2 {
		held[h] = b
	}
	challenged := 0
	for range 3 {
		c.epoch()
		challenged += len(c.challenges(p2))
		c.answerAll(held, p0, p1)
	}
	if challenged == 0 {
		t.Fatalf("BUG: p2, registered again after it was lost, was never challenged on its new shards: %+v", c.stats(p2))
	}
	if got := c.provider(p2).Collateral; got >= 500*money.UstrPerSTR {
		t.Fatalf("p2's collateral %d after missing every challenge on its new shards", got)
	}
}

// A consumer commits a manifest that places two shards of each segment on
// one provider, the two being the same bytes (a segment whose halves are
// equal), so the same shard hash sits twice on p0 in one segment. When p0
// goes silent, both are lost; the two repairs of each segment go to two
// different providers, each commit is accepted for its own slot, and the
// placement index, shard references, lease use and repairs bucket match
// the objects after every step, down to nothing once the object is removed.
func TestAttackSameShardTwiceOnOneProvider(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1 := c.providers[0], c.providers[1]
	p3 := c.registerProvider("provider3")
	half := data(512, 29)
	d := append(append([]byte(nil), half...), half...)
	d = append(d, d...) // 2 segments, each two equal halves
	m, raw := manifest(t, d, p0, p0, p1)
	if m.Segments[0].Shards[0].Hash != m.Segments[0].Shards[1].Hash {
		t.Fatal("setup: the segment's two data shards differ")
	}
	var ls []uint64
	for _, p := range []*identity.Key{p0, p1} {
		ls = append(ls, c.openLease(u, p, 4096, true))
	}
	c.OK(u, c.rc(u, &objects.Commit{Manifest: raw, Leases: ls, Public: true}))
	held := shardBytes(t, d)
	id := m.ID().String()
	if n := c.placements(p0); n != 4 {
		t.Fatalf("p0 has %d placements, want 4 (2 a segment)", n)
	}
	c.checkObjects()
	var jobs []objects.RepairJob
	for range 14 {
		c.epoch()
		c.answerAll(held, p1)
		c.checkObjects()
		jobs = c.repairsHeld()
		assigned := 0
		for _, j := range jobs {
			if j.Assignee != "" {
				assigned++
			}
		}
		if len(jobs) == 4 && assigned == 4 {
			break
		}
	}
	if len(jobs) != 4 {
		t.Fatalf("%d repairs, want p0's 4", len(jobs))
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		k := fmt.Sprint(j.Segment, j.Assignee)
		if j.Assignee == "" || seen[k] {
			t.Fatalf("repairs %+v: each segment's two to two different providers", jobs)
		}
		seen[k] = true
	}
	for _, j := range jobs {
		var h storage.Hash
		h.UnmarshalText([]byte(j.Hash))
		leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
		if err != nil {
			t.Fatal(err)
		}
		var k *identity.Key
		for _, p := range append([]*identity.Key{p3}, c.providers...) {
			if p.Address().String() == j.Assignee {
				k = p
			}
		}
		c.OK(k, &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
		c.checkObjects()
	}
	if n := c.placements(p0); n != 0 {
		t.Fatalf("p0 still has %d placements", n)
	}
	c.OK(u, &objects.Remove{ID: id})
	c.checkObjects()
	if s := c.moduleStateOf("objects/"); s != "" {
		t.Fatalf("objects state left behind:\n%s", s)
	}
}

// A stranger with a throwaway key, funded only for gas, tries every proof
// and repair message on someone else's object: answering a provider's
// challenge (rightly), committing an assigned repair, naming a challenge
// that does not exist, a malformed proof. Each is refused with its code
// and changes nothing in the market or objects state; the stranger pays
// only its gas.
func TestAttackStrangerProofAndRepairMessages(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	id, held, _ := c.commitHeld(u, data(2048, 30), p0, p1, p2)
	stranger := testKey("throwaway")
	c.OK(u, &ledger.Transfer{To: stranger.Address(), Amount: 20 * money.UstrPerSTR})
	var jobs []objects.RepairJob
	for range 12 {
		c.epoch()
		c.answerAll(held, p0, p1)
		if jobs = c.repairsHeld(); len(jobs) == 2 && jobs[0].Assignee != "" && jobs[1].Assignee != "" {
			break
		}
	}
	if len(jobs) != 2 || jobs[0].Assignee != p3.Address().String() {
		t.Fatalf("repairs %+v, want p2's 2 assigned to p3", jobs)
	}
	c.epoch()
	open := c.challenges(p0)
	if len(open) == 0 {
		t.Fatal("p0 has no open challenge")
	}
	j := jobs[0]
	var h storage.Hash
	h.UnmarshalText([]byte(j.Hash))
	leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
	if err != nil {
		t.Fatal(err)
	}
	good := answer(t, held, open[0])
	cases := []struct {
		name string
		msg  ledger.Msg
		code uint32
	}{
		{"answer p0's challenge", good, ledger.CodeUnauthorized},
		{"commit p3's repair", &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path}, ledger.CodeUnauthorized},
		{"an unknown challenge", &objects.Prove{Challenge: 1 << 40, Leaf: good.Leaf, Path: good.Path}, ledger.CodeNotFound},
		{"challenge 0", &objects.Prove{Challenge: 0, Leaf: good.Leaf, Path: good.Path}, ledger.CodeInvalid},
		{"an empty leaf", &objects.Prove{Challenge: open[0].ID, Path: good.Path}, ledger.CodeInvalid},
		{"a short path hash", &objects.Prove{Challenge: open[0].ID, Leaf: good.Leaf, Path: [][]byte{{1, 2, 3}}}, ledger.CodeInvalid},
		{"a repair of a shard out of range", &objects.Repair{ID: id, Segment: 0, Shard: 1 << 20, Leaf: leaf, Path: path}, ledger.CodeInvalid},
		{"a repair of no object", &objects.Repair{ID: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", Leaf: leaf, Path: path}, ledger.CodeNotFound},
	}
	for _, tc := range cases {
		bal := c.balance(stranger)
		r := c.Fails(c.TxGas(stranger, tc.msg, ledgertest.DefaultGas), tc.code, "")
		if got := bal - c.balance(stranger); got != r.Fee {
			t.Fatalf("%s: the stranger paid %d, its fee is %d", tc.name, got, r.Fee)
		}
	}
	// p0's challenge is still open, and p0 answers it.
	c.OK(p0, good)
}
