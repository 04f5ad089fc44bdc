package objects_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// TestRandomAdversarialWorkload runs consumers who commit objects on leases
// with small deposits, close leases early, remove, renew, and commit copies
// of each other's manifests, and providers who close leases, over time
// jumps that run leases dry. After every block, besides conservation (the
// harness), the objects' bookkeeping must match the objects in state: no
// live object uses a closed lease, each lease's use and index are its live
// objects', and each owner's shard references are its live objects'
// placements.
func TestRandomAdversarialWorkload(t *testing.T) {
	// The workload reaches every path it is about, over the seeds.
	total := map[string]int{}
	defer func() {
		for _, k := range []string{objects.EventCommitted + " ", objects.EventRemoved + " ", objects.EventRenewed + " ", objects.EventExpired + " " + objects.ReasonUnpaid,
			objects.EventProofPassed + " ", objects.EventProofMissed + " deadline", objects.EventProofMissed + " invalid",
			objects.EventShardLost + " " + objects.ReasonMissed, objects.EventRepair + " ", objects.EventRepaired + " ", objects.EventGranted + " "} {
			if total[k] == 0 {
				t.Errorf("no %q in any run: %v", k, total)
			}
		}
	}()
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := newChain(t)
			r := rand.New(rand.NewPCG(seed, 10))
			type mf struct {
				m *storage.Manifest
				b []byte
			}
			var mans []mf
			held := map[storage.Hash][]byte{}
			for i := range 6 {
				m, b := manifest(t, data(200+i*150, byte(i)), c.providers...)
				mans = append(mans, mf{m, b})
				for h, sh := range shardBytes(t, data(200+i*150, byte(i))) {
					held[h] = sh
				}
			}
			// A fourth provider, so that lost shards have somewhere to go;
			// one of the four answers wrongly or not at all, and each
			// provider answers only some of the time.
			all := append([]*identity.Key{c.registerProvider("provider3")}, c.providers...)
			flaky := all[1+r.IntN(3)]
			leases := map[*identity.Key][]uint64{}
			seen := map[string]int{}
			record := func(res ledger.TxResult) {
				for _, ev := range res.Events {
					seen[ev.Type+" "+ev.Get(objects.AttrReason)]++
				}
			}
			for step := 0; step < 240; step++ {
				u := c.users[r.IntN(len(c.users))]
				switch op := r.IntN(15); {
				case op >= 10: // providers answer their challenges and commit their repairs
					for _, p := range all {
						if r.IntN(3) == 0 {
							continue
						}
						for _, ch := range c.challenges(p) {
							a := answer(t, held, ch)
							if p == flaky && r.IntN(2) == 0 {
								continue
							}
							if p == flaky && r.IntN(2) == 0 {
								a.Leaf = append([]byte{1}, a.Leaf[1:]...)
							}
							record(c.Do(p, a))
						}
						js, _, err := objects.RepairsAfter(c.Query(), ptr(p.Address()), nil, 100)
						if err != nil {
							t.Fatal(err)
						}
						for _, j := range js {
							var h storage.Hash
							h.UnmarshalText([]byte(j.Hash))
							leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
							if err != nil {
								t.Fatal(err)
							}
							res := c.Do(p, &objects.Repair{ID: j.Object, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
							record(res)
						}
					}
					c.BlockAfter(time.Duration(30+r.IntN(60)) * time.Second)
				case op < 2: // open a lease with each provider, small deposits
					// 1 MiB is 976,562 nano-ustr/s, 1 ustr in 1,024 s: 4
					// to 29 ustr last about 1 to 8 hours.
					for _, p := range c.providers {
						dep := uint64(4 + r.IntN(26))
						leases[u] = append(leases[u], c.openLeaseDeposit(u, p, 1<<20, dep, true))
					}
				case op < 5: // commit some manifest on the user's newest leases
					ls := leases[u]
					if len(ls) < 3 {
						continue
					}
					i := r.IntN(len(mans))
					m := mans[i]
					if i%2 == 0 {
						c.Do(u, c.rc(u, &objects.Commit{Manifest: m.b, Leases: ls[len(ls)-3:], Public: true}))
						break
					}
					// Odd manifests are private, and granted to the other
					// user: dropping them must take the grants along.
					if c.Do(u, c.rc(u, &objects.Commit{Manifest: m.b, Leases: ls[len(ls)-3:], WrappedKey: []byte("wrapped")})).Code == ledger.CodeOK {
						other := c.users[0]
						if other == u {
							other = c.users[1]
						}
						c.Do(u, &objects.Grant{ID: m.m.ID().String(), Grantee: other.Address().String(), WrappedKey: []byte("wrapped")})
					}
				case op < 6: // the consumer, or a provider, closes one of the leases
					ls := leases[u]
					if len(ls) == 0 {
						continue
					}
					id := ls[r.IntN(len(ls))]
					who := u
					if r.IntN(2) == 0 {
						who = c.providers[r.IntN(len(c.providers))]
					}
					c.Do(who, &market.CloseLease{ID: id})
				case op < 7: // remove one of the user's objects
					if os, _, _ := objects.ObjectsAfter(c.Query(), u.Address(), nil, 1); len(os) > 0 {
						c.Do(u, &objects.Remove{ID: os[r.IntN(len(os))].ID})
					}
				case op < 8: // anyone renews anyone's object
					m := mans[r.IntN(len(mans))]
					c.Do(u, &objects.Renew{ID: m.m.ID().String(), Seconds: uint64(1 + r.IntN(2*3600))})
				default: // time passes: leases run dry
					c.BlockAfter(time.Duration(r.IntN(4*3600)) * time.Second)
				}
				c.checkObjects()
				for _, ev := range c.EndEvents {
					seen[ev.Type+" "+ev.Get(objects.AttrReason)]++
				}
				for _, res := range c.Results {
					for _, ev := range res.Events {
						seen[ev.Type+" "+ev.Get(objects.AttrReason)]++
					}
				}
			}
			t.Logf("events: %v", seen)
			for k, n := range seen {
				total[k] += n
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// checkObjects compares the objects module's bookkeeping with the objects
// in state: leases, shard references, the placement index (every shard
// of a live object is placed on its provider, or being repaired, and the
// size tree sums what is placed) and the repairs bucket.
func (c *chain) checkObjects() {
	c.T.Helper()
	q := c.Query()
	jobs := map[string]bool{}
	for _, j := range c.repairsHeld() {
		jobs[fmt.Sprintf("%s/%d/%d", j.Object, j.Segment, j.Shard)] = true
	}
	placed := 0
	for k := range c.St {
		if strings.HasPrefix(k, "objects/hk/") {
			placed++
		}
	}
	// Grants never outlive their object, and only private objects have any.
	for k, v := range c.St {
		if !strings.HasPrefix(k, "objects/grant/") {
			continue
		}
		var g objects.GrantRecord
		if err := json.Unmarshal(v, &g); err != nil {
			c.T.Fatal(err)
		}
		o, err := objects.GetObject(q, g.ID)
		if err != nil || o.Public {
			c.T.Fatalf("height %d: a grant to %s on object %s, which is gone or public (%v)", c.Height, g.Grantee, g.ID, err)
		}
	}
	shards := 0
	use := map[uint64]objects.LeaseUse{}
	index := map[string]bool{}
	refs := map[string]uint64{}
	for k, v := range c.St {
		if !strings.HasPrefix(k, "objects/obj/") {
			continue
		}
		var o objects.Object
		if err := json.Unmarshal(v, &o); err != nil {
			c.T.Fatal(err)
		}
		root := k[len("objects/obj/"):]
		for _, sh := range o.Leases {
			l, err := market.StoredLease(q, sh.Lease)
			if err != nil {
				c.T.Fatal(err)
			}
			if l.State == market.LeaseClosed {
				c.T.Fatalf("height %d: object %s lives on lease %d, which closed (%s)", c.Height, o.ID, sh.Lease, l.CloseReason)
			}
			if l.Consumer != o.Owner {
				c.T.Fatalf("object %s of %s is paid by lease %d of %s", o.ID, o.Owner, sh.Lease, l.Consumer)
			}
			u := use[sh.Lease]
			u.Bytes += sh.Bytes
			u.Objects++
			use[sh.Lease] = u
			index["objects/leaseobj/"+string(binary.BigEndian.AppendUint64(nil, sh.Lease))+root] = true
		}
		m, err := storage.DecodeManifest(o.Manifest)
		if err != nil {
			c.T.Fatal(err)
		}
		for i, seg := range m.Segments {
			for j, sh := range seg.Shards {
				p, _ := identity.ParseDID(sh.Provider)
				refs["objects/shard/"+string(p[:])+string(sh.Hash[:])+string(o.Owner[:])]++
				if jobs[fmt.Sprintf("%s/%d/%d", o.ID, i, j)] {
					continue
				}
				shards++
				slot := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32([]byte(root), uint32(i)), uint16(j))
				if _, ok := c.St["objects/hk/"+string(p[:])+string(sh.Hash[:])+string(slot)]; !ok {
					c.T.Fatalf("height %d: shard %d of segment %d of %s is neither placed on %s nor being repaired", c.Height, j, i, o.ID, sh.Provider)
				}
			}
		}
	}
	for k, v := range c.St {
		switch {
		case strings.HasPrefix(k, "objects/leaseuse/"):
			id := binary.BigEndian.Uint64([]byte(k[len("objects/leaseuse/"):]))
			var u objects.LeaseUse
			if err := json.Unmarshal(v, &u); err != nil {
				c.T.Fatal(err)
			}
			if u != use[id] {
				c.T.Fatalf("height %d: lease %d's use is %+v, its objects use %+v", c.Height, id, u, use[id])
			}
			delete(use, id)
		case strings.HasPrefix(k, "objects/leaseobj/"):
			if !index[k] {
				c.T.Fatalf("height %d: index entry %q for no object", c.Height, k)
			}
			delete(index, k)
		case strings.HasPrefix(k, "objects/shard/"):
			n, _ := binary.Uvarint(v)
			if n != refs[k] {
				c.T.Fatalf("height %d: %d refs recorded, the objects hold %d", c.Height, n, refs[k])
			}
			delete(refs, k)
		}
	}
	if placed != shards {
		c.T.Fatalf("height %d: %d placements indexed, the live objects have %d shards not being repaired", c.Height, placed, shards)
	}
	c.checkWeights()
	if len(use) != 0 || len(index) != 0 || len(refs) != 0 {
		c.T.Fatalf("height %d: missing records: use %v, index %d, refs %d", c.Height, use, len(index), len(refs))
	}
}

// checkWeights checks each provider's size tree against its placements:
// the count and total bytes in hn/ are the dense array's, node i (1 to
// count) holds the sizes at positions i-lowbit(i) to i-1, so every prefix
// sum the tree gives is the sum of the sizes up to that position, and
// there is no node past the count nor array entry past it.
func (c *chain) checkWeights() {
	c.T.Helper()
	const hn, hp, hw = "objects/hn/", "objects/hp/", "objects/hw/"
	type tree struct {
		count, total uint64
		sizes        map[uint64]uint64
		nodes        map[uint64]uint64
	}
	provs := map[string]*tree{}
	get := func(p string) *tree {
		if provs[p] == nil {
			provs[p] = &tree{sizes: map[uint64]uint64{}, nodes: map[uint64]uint64{}}
		}
		return provs[p]
	}
	for k, v := range c.St {
		switch {
		case strings.HasPrefix(k, hn):
			n, w := binary.Uvarint(v)
			if w <= 0 || len(v) != w+8 {
				c.T.Fatalf("height %d: corrupt placement count %x", c.Height, v)
			}
			t := get(k[len(hn):])
			t.count, t.total = n, binary.BigEndian.Uint64(v[w:])
		case strings.HasPrefix(k, hp):
			rest := k[len(hp):]
			// A placement is root32, segment 4, shard 2, hash32, then its
			// size 8 BE.
			get(rest[:32]).sizes[binary.BigEndian.Uint64([]byte(rest[32:]))] = binary.BigEndian.Uint64(v[70:78])
		case strings.HasPrefix(k, hw):
			rest := k[len(hw):]
			get(rest[:32]).nodes[binary.BigEndian.Uint64([]byte(rest[32:]))] = binary.BigEndian.Uint64(v)
		}
	}
	for p, t := range provs {
		prov := identity.Address([]byte(p))
		if uint64(len(t.sizes)) != t.count {
			c.T.Fatalf("height %d: %s has %d placements, its count says %d", c.Height, prov, len(t.sizes), t.count)
		}
		var sum uint64
		prefix := []uint64{0}
		for pos := range t.count {
			sz, ok := t.sizes[pos]
			if !ok || sz == 0 {
				c.T.Fatalf("height %d: %s has no placement of bytes at position %d of %d", c.Height, prov, pos, t.count)
			}
			sum += sz
			prefix = append(prefix, sum)
		}
		if sum != t.total {
			c.T.Fatalf("height %d: %s's placements hold %d bytes, its total says %d", c.Height, prov, sum, t.total)
		}
		for i, w := range t.nodes {
			if i == 0 || i > t.count {
				c.T.Fatalf("height %d: %s has size tree node %d = %d, outside 1 to its count %d", c.Height, prov, i, w, t.count)
			}
		}
		for i := uint64(1); i <= t.count; i++ {
			if want := prefix[i] - prefix[i-i&-i]; t.nodes[i] != want {
				c.T.Fatalf("height %d: %s's size tree node %d is %d, the sizes at positions %d to %d sum to %d",
					c.Height, prov, i, t.nodes[i], i-i&-i, i-1, want)
			}
		}
		// And the tree's own prefix sums, as the sampler reads them.
		for i := uint64(1); i <= t.count; i++ {
			var got uint64
			for j := i; j > 0; j -= j & -j {
				got += t.nodes[j]
			}
			if got != prefix[i] {
				c.T.Fatalf("height %d: %s's size tree sums positions 0 to %d to %d, the placements to %d", c.Height, prov, i-1, got, prefix[i])
			}
		}
	}
}
