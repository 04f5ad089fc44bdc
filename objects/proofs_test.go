package objects_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// shardBytes encodes data as manifest does and returns every shard by hash:
// what the providers hold.
func shardBytes(t testing.TB, data []byte) map[storage.Hash][]byte {
	t.Helper()
	e, err := storage.NewEncoder(testParams)
	if err != nil {
		t.Fatal(err)
	}
	out := map[storage.Hash][]byte{}
	for off := 0; off < len(data); off += int(testParams.SegmentSize) {
		es, err := e.EncodeSegment(data[off:min(len(data), off+int(testParams.SegmentSize))])
		if err != nil {
			t.Fatal(err)
		}
		for i, sh := range es.Segment.Shards {
			out[sh.Hash] = append([]byte(nil), es.Shards[i]...)
		}
	}
	return out
}

func (c *chain) challenges(p *identity.Key) []objects.Challenge {
	c.T.Helper()
	cs, _, err := objects.ChallengesAfter(c.Query(), p.Address(), 0, 1000)
	if err != nil {
		c.T.Fatal(err)
	}
	return cs
}

func (c *chain) stats(p *identity.Key) objects.ProofStats {
	c.T.Helper()
	st, err := objects.ProofStatsOf(c.Query(), p.Address())
	if err != nil {
		c.T.Fatal(err)
	}
	return st
}

func (c *chain) provider(p *identity.Key) market.Provider {
	c.T.Helper()
	pv, err := market.GetProvider(c.Query(), p.Address())
	if err != nil {
		c.T.Fatal(err)
	}
	return *pv
}

// answer is the honest answer to challenge ch from the shards held.
func answer(t testing.TB, held map[storage.Hash][]byte, ch objects.Challenge) *objects.Prove {
	t.Helper()
	var h storage.Hash
	if err := h.UnmarshalText([]byte(ch.Hash)); err != nil {
		t.Fatal(err)
	}
	leaf, path, err := storage.ShardLeafProof(held[h], ch.Leaf, ch.LeafSize)
	if err != nil {
		t.Fatal(err)
	}
	return &objects.Prove{Challenge: ch.ID, Leaf: leaf, Path: path}
}

// repairsHeld checks that the repairs bucket holds exactly what the repair
// jobs hold: the moved escrow and the fee of each.
func (c *chain) repairsHeld() []objects.RepairJob {
	c.T.Helper()
	var jobs []objects.RepairJob
	var sum uint64
	c.St.Iterate([]byte("objects/rj/"), func(_, v []byte) error {
		var j objects.RepairJob
		if err := json.Unmarshal(v, &j); err != nil {
			c.T.Fatal(err)
		}
		jobs = append(jobs, j)
		sum += j.Escrow + j.Bounty
		return nil
	})
	if b, _ := ledger.ReadBucket(c.St, objects.BucketRepairs); b != sum {
		c.T.Fatalf("the repairs bucket holds %d, its jobs %d", b, sum)
	}
	return jobs
}

// epoch runs a block one proof epoch (60 s by default) later, with txs.
func (c *chain) epoch(txs ...[]byte) []ledger.TxResult {
	c.T.Helper()
	r := c.BlockAfter(60*time.Second, txs...)
	c.repairsHeld()
	return r
}

// TestProofsPassFailAndMiss: each epoch every provider is challenged; an
// honest answer passes, a wrong one and no answer each cost exactly
// MissPenaltyBps of the collateral, paid to the treasury, and the
// score; nobody else can answer a provider's challenge, and an answer
// after the deadline is refused.
func TestProofsPassFailAndMiss(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	d := data(2048, 1)
	held := shardBytes(t, d)
	_, raw := manifest(t, d, p0, p1, p2)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: raw, Leases: c.leases(0), Public: true}))

	c.epoch()
	ev := ledgertest.Find(c.EndEvents, objects.EventChallenges)
	if ev == nil {
		t.Fatalf("no challenges issued after an epoch: end events %v", c.EndEvents)
	}
	c0, c1, c2 := c.challenges(p0), c.challenges(p1), c.challenges(p2)
	if len(c0) == 0 || len(c1) == 0 || len(c2) == 0 {
		t.Fatalf("challenges %d, %d, %d: every provider holding shards is challenged", len(c0), len(c1), len(c2))
	}

	// A stranger cannot answer p0's challenge, even rightly.
	c.fails(p1, answer(t, held, c0[0]), ledger.CodeUnauthorized)

	// p0 answers every challenge honestly.
	for _, ch := range c0 {
		r := c.OK(p0, answer(t, held, ch))
		if ledgertest.Find(r.Events, objects.EventProofPassed) == nil {
			t.Fatalf("honest answer: events %v", r.Events)
		}
	}
	if st := c.stats(p0); st.Passed != uint64(len(c0)) || st.Missed != 0 {
		t.Fatalf("p0 stats %+v after %d honest answers", st, len(c0))
	}

	// p1 answers with a changed leaf: a failed proof, penalized.
	coll1, bal := c.provider(p1).Collateral, c.Bucket(ledger.BucketTreasury)
	bad := answer(t, held, c1[0])
	bad.Leaf = append([]byte(nil), bad.Leaf...)
	bad.Leaf[0] ^= 1
	r := c.OK(p1, bad)
	miss := ledgertest.Find(r.Events, objects.EventProofMissed)
	want := coll1 * 50 / 10_000
	if miss == nil || miss.Get(objects.AttrReason) != "invalid" || miss.Get(objects.AttrPenalty) != ledger.FormatInt(want) {
		t.Fatalf("wrong answer: event %+v, want a miss of reason invalid and penalty %d", miss, want)
	}
	if got := c.provider(p1).Collateral; got != coll1-want {
		t.Fatalf("p1's collateral %d after a failed proof, want %d - %d", got, coll1, want)
	}
	if got := c.Bucket(ledger.BucketTreasury); got != bal+want {
		t.Fatalf("the treasury holds %d, want %d + the penalty %d", got, bal, want)
	}
	if st := c.stats(p1); st.Failed != 1 || st.Missed != 1 || st.Penalized != want {
		t.Fatalf("p1 stats %+v", st)
	}
	if pv := c.provider(p1); pv.Score != 10_000-200 {
		t.Fatalf("p1's score %d after one miss, want 9800", pv.Score)
	}
	// The same challenge cannot be answered again.
	c.fails(p1, answer(t, held, c1[0]), ledger.CodeNotFound)

	// p2 does not answer: after the window each challenge is missed.
	coll2 := c.provider(p2).Collateral
	c.BlockAfter(61 * time.Second)
	misses := 0
	for _, e := range c.EndEvents {
		if e.Type == objects.EventProofMissed && e.Get(objects.AttrProvider) == p2.Address().String() {
			misses++
			if e.Get(objects.AttrReason) != "deadline" {
				t.Fatalf("miss %+v, want reason deadline", e)
			}
		}
	}
	if misses != len(c2) {
		t.Fatalf("%d misses of p2 judged, want %d", misses, len(c2))
	}
	wantColl := coll2
	for range misses {
		wantColl -= wantColl * 50 / 10_000
	}
	if got := c.provider(p2).Collateral; got != wantColl {
		t.Fatalf("p2's collateral %d after %d misses, want %d", got, misses, wantColl)
	}
	// Too late now.
	c.fails(p2, answer(t, held, c2[0]), ledger.CodeNotFound)
}

// registerProvider funds and registers one more storage provider.
func (c *chain) registerProvider(name string) *identity.Key {
	c.T.Helper()
	k := testKey(name)
	c.OK(c.users[1], &ledger.Transfer{To: k.Address(), Amount: 2000 * money.UstrPerSTR})
	c.OK(k, &market.RegisterProvider{Endpoint: "https://" + name + ".example", Region: "eu",
		Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 30, Pricing: market.Rule{Kind: "fixed", Price: 1_000_000_000}}},
		Collateral: 1000 * money.UstrPerSTR})
	return k
}

// TestLostShardsRepairedOwnerOffline: a provider that stops answering loses
// its shards; each is assigned to the one eligible provider, which commits
// the rebuilt shard, and then holds it on a lease paid with what the lost
// lease held for it, and is paid the fee from the failing provider's
// collateral. The owner sends nothing. A repairer with wrong bytes, or one
// the repair is not assigned to, is refused and changes nothing.
func TestLostShardsRepairedOwnerOffline(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	d := data(2048, 2)
	held := shardBytes(t, d)
	m, raw := manifest(t, d, p0, p1, p2)
	id := m.ID().String()
	ls := c.leases(0)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: raw, Leases: ls, Public: true}))
	lost := ls[2] // p2's lease
	escrowBefore := c.lease(lost).Escrow
	ownerBal := c.balance(u)

	// p0 and p1 answer; p2 is gone.
	var jobs []objects.RepairJob
	for range 10 {
		c.epoch()
		for _, p := range []*identity.Key{p0, p1} {
			for _, ch := range c.challenges(p) {
				c.OK(p, answer(t, held, ch))
			}
		}
		jobs = c.repairsHeld()
		assigned := 0
		for _, j := range jobs {
			if j.Assignee != "" {
				assigned++
			}
		}
		if len(jobs) == 2 && assigned == 2 {
			break
		}
	}
	if len(jobs) != 2 {
		t.Fatalf("after 10 epochs of silence from p2, %d repairs: %+v", len(jobs), jobs)
	}
	st2 := c.stats(p2)
	if st2.Lost != 2 || st2.LostMs == 0 {
		t.Fatalf("p2 stats %+v: both its shards lost, and it as a whole", st2)
	}
	for _, j := range jobs {
		if j.Assignee != p3.Address().String() || j.From != p2.Address().String() || j.Object != id {
			t.Fatalf("repair %+v: want p2's shard assigned to p3, the only provider without a shard of the segment", j)
		}
		if j.Bounty != 100_000+1 { // flat fee + 1 ustr for under a GiB, rounded up
			t.Fatalf("repair fee %d, want %d", j.Bounty, 100_001)
		}
	}
	if l := c.lease(lost); l.State != market.LeaseClosed {
		t.Fatalf("p2's lease after losing every shard it paid for: %s (%s)", l.State, l.CloseReason)
	}
	// The owner, who did nothing, paid nothing.
	if c.balance(u) != ownerBal {
		t.Fatalf("the owner's balance %d changed from %d while p2 failed it", c.balance(u), ownerBal)
	}

	// Attempts that fail and change nothing.
	j := jobs[0]
	var h storage.Hash
	h.UnmarshalText([]byte(j.Hash))
	leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
	if err != nil {
		t.Fatal(err)
	}
	good := &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path}
	wrong := *good
	wrong.Leaf = append([]byte(nil), leaf...)
	wrong.Leaf[len(wrong.Leaf)-1] ^= 0xff
	c.fails(p3, &wrong, ledger.CodeInvalid)
	c.fails(p0, good, ledger.CodeUnauthorized)
	other := *good
	other.Shard = (j.Shard + 1) % 3
	c.fails(p3, &other, ledger.CodeNotFound)

	// The honest commits.
	bal3 := c.balance(p3)
	var fees, gas uint64
	for _, j := range jobs {
		h.UnmarshalText([]byte(j.Hash))
		leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
		if err != nil {
			t.Fatal(err)
		}
		r := c.OK(p3, &objects.Repair{ID: id, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
		if ledgertest.Find(r.Events, objects.EventRepaired) == nil {
			t.Fatalf("repair events %v", r.Events)
		}
		fees += j.Bounty
		gas += r.Fee
	}
	if got := c.balance(p3); got != bal3+fees-gas {
		t.Fatalf("p3's balance %d, want %d + fees %d - gas %d", got, bal3, fees, gas)
	}
	if left := c.repairsHeld(); len(left) != 0 {
		t.Fatalf("repairs left after commits: %+v", left)
	}
	o, err := objects.GetObject(c.Query(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i, seg := range o.Decoded.Segments {
		for j, sh := range seg.Shards {
			if sh.Provider == p2.Address().String() {
				t.Fatalf("shard %d of segment %d still placed on the lost provider", j, i)
			}
		}
	}
	var moved uint64
	for _, sh := range o.Leases {
		if sh.Provider == p3.Address() {
			l := c.lease(sh.Lease)
			if l.State != market.LeaseActive || l.Consumer != u.Address() {
				t.Fatalf("repaired shard's lease %+v", l)
			}
			moved += l.Deposited
		}
	}
	if moved == 0 || moved > escrowBefore {
		t.Fatalf("the new leases were funded with %d of the lost lease's %d", moved, escrowBefore)
	}
	// p3 is challenged like any other now.
	c.epoch()
	if len(c.challenges(p3)) == 0 {
		t.Fatal("the repairer is not challenged on what it now holds")
	}
	// Removing the object leaves nothing of it behind.
	c.OK(u, &objects.Remove{ID: id})
	if s := c.moduleStateOf("objects/"); s != "" {
		t.Fatalf("objects state left behind:\n%s", s)
	}
}

// TestProviderLostWhenRetiredOrDown: a provider that retires, and one the
// validators' probes find down three probing epochs in a row, lose every
// shard they hold, even while answering their challenges, and the repairs
// are queued with the reason.
func TestProviderLostWhenRetiredOrDown(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	c.registerProvider("provider3")
	c.registerProvider("provider4")
	d := data(2048, 3)
	held := shardBytes(t, d)
	_, raw := manifest(t, d, p0, p1, p2)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: raw, Leases: c.leases(0), Public: true}))

	c.OK(p1, &market.RetireProvider{})
	op := testKey("op0")
	reasons := map[string]string{}
	for e := 0; e < 8 && len(reasons) < 4; e++ {
		c.epoch()
		// p0 and p2 answer every challenge, but the validator finds p2
		// down.
		for _, p := range []*identity.Key{p0, p2} {
			for _, ch := range c.challenges(p) {
				c.OK(p, answer(t, held, ch))
			}
		}
		epoch := market.EpochOf(c.Query(), c.Now.UnixMilli())
		c.OK(op, &market.ProbeReport{Epoch: epoch, Results: []market.ProbeRow{{Provider: p2.Address(), OK: 0, Total: 6}}})
		for _, j := range c.repairsHeld() {
			reasons[j.From+"/"+fmt.Sprint(j.Segment)] = j.Reason
		}
	}
	for _, p := range []struct {
		k      *identity.Key
		reason string
	}{{p1, objects.ReasonRetired}, {p2, objects.ReasonDown}} {
		for seg := range 2 {
			if got := reasons[p.k.Address().String()+"/"+fmt.Sprint(seg)]; got != p.reason {
				t.Errorf("segment %d's shard on %s: repair reason %q, want %q (all: %v)", seg, p.k.Address(), got, p.reason, reasons)
			}
		}
	}
	if st := c.stats(p2); st.LostMs == 0 || st.Passed == 0 || st.DownEpochs < 3 {
		t.Fatalf("p2's stats %+v: lost as down, though it passed its proofs", st)
	}
	if st := c.stats(p0); st.LostMs != 0 || st.Lost != 0 {
		t.Fatalf("p0, which did nothing wrong, has stats %+v", st)
	}
}
