package objects

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

// Repair. A shard is lost when its provider misses LostAfterMisses proofs of
// it in a row, or when the provider itself is lost: it missed
// ProviderLostAfterMisses proofs in a row, it retired, or the validators'
// probes found it down DownAfterEpochs probing epochs in a row. A lost
// shard's share of the lease that paid for it is taken out of that lease
// (market.ShrinkLease) and held in the repairs bucket with the repair fee
// taken from the failing provider's collateral. The repair is queued by
// how many healthy shards its segment has left, fewest first, and assigned
// to an eligible provider: one that takes a lease of the shard's size and
// holds no other shard of the segment. The assignee rebuilds the shard from
// k others and commits objects/repair with a proof of one of its leaves;
// the commit opens its lease with what the lost lease held, pays it the
// fee, and points the manifest at it. The owner does nothing and pays
// nothing more. An assignee that lets the deadline pass loses the job to
// another provider.
//
// State, under "objects/":
//
//	rj/<slot>                          -> RepairJob (JSON)
//	rq/<healthy 1><seq 8 BE>           -> slot: waiting for an assignee
//	ra/<assignee32><healthy 1><slot>   -> empty: an assignee's repairs
//	rd/<ms 8 BE><slot>                 -> empty: a repair's deadline, or when
//	                                      an unassignable one is tried again
//	lp/<provider32>                    -> reason: a lost provider whose
//	                                      placements are still being lost
//	rseq                               -> the last queue sequence number
const (
	prefJob      = "rj/"
	prefQueue    = "rq/"
	prefAssigned = "ra/"
	prefJobDue   = "rd/"
	prefLostProv = "lp/"
	keyRepairSeq = "rseq"
)

// BucketRepairs holds what lost shards' leases held for them and the repair
// fees taken from failing providers, until the repairs are committed.
const BucketRepairs = "repairs"

// Buckets implements ledger.BucketOwner.
func (Module) Buckets() []string { return []string{BucketRepairs} }

// Events of repair.
const (
	// EventShardLost: a shard was declared lost. Attributes AttrID,
	// AttrSegment, AttrShard, AttrProvider (the one that lost it),
	// AttrReason, AttrFee (taken from its collateral), AttrMoved (taken
	// out of its lease), AttrHealthy.
	EventShardLost = "storage.shard_lost"
	// EventRepair: a lost shard was assigned. Attributes AttrID,
	// AttrSegment, AttrShard, AttrProvider (the one that lost it),
	// AttrAssignee, AttrDeadline.
	EventRepair = "storage.repair"
	// EventRepaired: an assignee committed a repair. Attributes AttrID,
	// AttrSegment, AttrShard, AttrAssignee, AttrLease (the new lease),
	// AttrFee (paid to the assignee).
	EventRepaired = "storage.repaired"
	// EventRepairExpired: an assignee let the deadline pass; the repair
	// goes back to the queue. Attributes AttrID, AttrSegment, AttrShard,
	// AttrAssignee.
	EventRepairExpired = "storage.repair_expired"
	// EventProviderLost: a provider was lost as a whole. Attributes
	// AttrProvider, AttrReason, AttrCount (its placements).
	EventProviderLost = "storage.provider_lost"
)

// More attribute keys.
const (
	AttrAssignee = "assignee"
	AttrDeadline = "deadline_ms"
	AttrFee      = "fee"
	AttrMoved    = "moved"
	AttrHealthy  = "healthy"
)

func (s *store) job(slot []byte) (*RepairJob, error) {
	var j RepairJob
	ok, err := s.getJSON(key(prefJob, slot), &j)
	if err != nil || !ok {
		return nil, err
	}
	return &j, nil
}

func jobSlot(j *RepairJob) []byte {
	root, _ := storage.ParseID(j.Object)
	return slotKey(root, j.Segment, uint16(j.Shard))
}

func (s *store) enqueue(j *RepairJob) {
	j.Seq = s.nextSeq(keyRepairSeq)
	s.kv.Set(key(prefQueue, []byte{byte(min(j.Healthy, 255))}, be(j.Seq)), jobSlot(j))
}

// isLosing reports whether prov was lost as a whole and EndBlock is still
// losing its placements. LostMs stays as the record of the last loss; this
// is what exempts a provider from challenges and counts its shards as not
// healthy, and it ends when the last of those placements is lost.
func (s *store) isLosing(prov identity.Address) bool {
	return s.kv.Get(key(prefLostProv, prov[:])) != nil
}

// loseProvider marks prov lost: EndBlock then loses its placements, a
// bounded number a block.
func (s *store) loseProvider(prov identity.Address, reason string) error {
	st, err := s.stats(prov)
	if err != nil {
		return err
	}
	if s.isLosing(prov) {
		return nil
	}
	st.LostMs = s.nowMs()
	s.putStats(prov, st)
	s.kv.Set(key(prefLostProv, prov[:]), []byte(reason))
	Events.ProviderLost.Emit(s.ctx, prov.String(), reason, ledger.FormatInt(s.holdCount(prov)))
	return nil
}

// downCheck counts the last finished probing epoch against the provider if
// the validators' probes found it down, and loses it after DownAfterEpochs
// in a row. It reports whether it lost the provider.
func (s *store) downCheck(prov identity.Address, st *ProofStats) (bool, error) {
	p, err := s.params()
	if err != nil {
		return false, err
	}
	e := market.EpochOf(s.ctx, s.nowMs()) - 1
	if e < 0 || st.DownChecked >= e {
		return false, nil
	}
	up, total := market.ProbeCounts(s.ctx, prov, e)
	st.DownChecked = e
	down := false
	switch {
	case total == 0:
		// No validator probed it: nothing to count either way.
	case 2*up < total:
		// Validators with more than half the reporting power found it
		// down.
		st.DownEpochs++
		// Only an epoch found down counts: a provider lost before and
		// not probed since is not lost again on the old count.
		down = st.DownEpochs >= p.DownAfterEpochs
	default:
		st.DownEpochs = 0
	}
	s.putStats(prov, *st)
	if down {
		return true, s.loseProvider(prov, ReasonDown)
	}
	return false, nil
}

// repairFee is what a lost shard of size bytes costs its provider.
func repairFee(p Params, size int64) (uint64, error) {
	per, rem, err := money.MulDiv(uint64(size), p.RepairFeePerGiB, 1<<30)
	if err != nil {
		return 0, err
	}
	if rem > 0 {
		per++
	}
	return money.Add(p.RepairFeeFlat, per)
}

// loseShard declares placement pl on prov lost: it leaves prov's
// placements, its share of the leases with prov that paid for it is taken
// out of them into the repairs bucket with the repair fee from prov's
// collateral, and a repair is queued.
func (s *store) loseShard(prov identity.Address, pl placement, reason string, p Params) error {
	slot := pl.slot()
	if _, err := s.unplace(prov, pl.Hash, slot); err != nil {
		return err
	}
	if j, err := s.job(slot); err != nil || j != nil {
		return err // already being repaired
	}
	o, err := s.object(pl.Root)
	if errs.KindOf(err) == errs.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return errs.E(errs.Internal, "objects: stored manifest of %s: %v", o.ID, err)
	}
	// Release the object's use of its leases with prov for the shard's
	// bytes, before any lease shrinks (one left empty closes, and must
	// find no object on it).
	type take struct{ lease, bytes uint64 }
	var takes []take
	need := uint64(pl.Size)
	kept := o.Leases[:0]
	for _, sh := range o.Leases {
		if sh.Provider == prov && need > 0 {
			t := min(sh.Bytes, need)
			need -= t
			sh.Bytes -= t
			takes = append(takes, take{sh.Lease, t})
			u, err := s.leaseUse(sh.Lease)
			if err != nil {
				return err
			}
			u.Bytes -= min(u.Bytes, t)
			if sh.Bytes == 0 {
				u.Objects -= min(u.Objects, 1)
				s.kv.Delete(key(prefLeaseObj, be(sh.Lease), pl.Root[:]))
			}
			s.putLeaseUse(sh.Lease, u)
			if sh.Bytes == 0 {
				continue
			}
		}
		kept = append(kept, sh)
	}
	o.Leases = kept
	s.putJSON(key(prefObj, pl.Root[:]), o)

	j := &RepairJob{Object: o.ID, Segment: pl.Segment, Shard: uint32(pl.Shard), Hash: pl.Hash.String(), Size: pl.Size,
		LeafSize: int(pl.LeafSize), Owner: o.Owner.String(), From: prov.String(), Reason: reason, QueuedMs: s.nowMs()}
	fee, err := repairFee(p, pl.Size)
	if err != nil {
		return err
	}
	if j.Bounty, err = market.TakeCollateral(s.ctx, prov, fee, nil, BucketRepairs); err != nil {
		return err
	}
	// Healthy counts the segment's shards without this one, which has a
	// job now.
	s.putJSON(key(prefJob, slot), j)
	if j.Healthy, err = s.healthy(pl.Root, man, pl.Segment); err != nil {
		return err
	}
	s.enqueue(j)
	s.putJSON(key(prefJob, slot), j)
	// The segment's other repairs are now more urgent.
	if err := s.reorder(pl.Root, man, pl.Segment, slot); err != nil {
		return err
	}
	for _, t := range takes {
		// The repaired shard's lease costs the owner no more than the
		// lost one: the highest price of the leases it leaves.
		l, err := market.StoredLease(s.ctx, t.lease)
		if err != nil {
			return err
		}
		// A lease no other object uses gives all it holds: the repaired
		// shard is what it was paying for.
		q := t.bytes
		if u, err := s.leaseUse(t.lease); err != nil {
			return err
		} else if u.Objects == 0 {
			q = math.MaxUint64
		}
		moved, err := market.ShrinkLease(s.ctx, t.lease, q, BucketRepairs)
		if err != nil {
			return err
		}
		// A lease whose escrow ran out on settling has closed and dropped
		// the object, and the job with it.
		if j, err = s.job(slot); err != nil {
			return err
		}
		if j == nil {
			if moved > 0 {
				return errs.E(errs.Internal, "objects: lease %d moved %d for a repair of a dropped object", t.lease, moved)
			}
			return nil
		}
		if j.Escrow, err = money.Add(j.Escrow, moved); err != nil {
			return err
		}
		j.Price = max(j.Price, l.Price)
		s.putJSON(key(prefJob, slot), j)
	}
	st, err := s.stats(prov)
	if err != nil {
		return err
	}
	st.Lost++
	st.Penalized += j.Bounty
	s.putStats(prov, st)
	Events.ShardLost.Emit(s.ctx, o.ID, strconv.FormatUint(uint64(pl.Segment), 10), strconv.FormatUint(uint64(pl.Shard), 10),
		prov.String(), reason, ledger.FormatInt(j.Bounty), ledger.FormatInt(j.Escrow), strconv.Itoa(j.Healthy))
	return nil
}

// healthy counts the shards of segment seg that are not lost: no repair
// pending, and a provider not lost as a whole.
func (s *store) healthy(id storage.ID, man *storage.Manifest, seg uint32) (int, error) {
	n := 0
	for j, sh := range man.Segments[seg].Shards {
		a, err := identity.ParseDID(sh.Provider)
		if err != nil {
			return 0, errs.E(errs.Internal, "objects: placed shard with provider %q: %v", sh.Provider, err)
		}
		if !s.isLosing(a) && s.kv.Get(key(prefJob, slotKey(id, seg, uint16(j)))) == nil {
			n++
		}
	}
	return n, nil
}

// reorder moves the segment's pending repairs (but the one at except) to
// the place in their queues that the segment's healthy shards now give.
func (s *store) reorder(id storage.ID, man *storage.Manifest, seg uint32, except []byte) error {
	h, err := s.healthy(id, man, seg)
	if err != nil {
		return err
	}
	for i := range man.Segments[seg].Shards {
		slot := slotKey(id, seg, uint16(i))
		if bytes.Equal(slot, except) {
			continue
		}
		j, err := s.job(slot)
		if err != nil {
			return err
		}
		if j == nil || j.Healthy == h {
			continue
		}
		old, now := []byte{byte(min(j.Healthy, 255))}, []byte{byte(min(h, 255))}
		switch {
		case j.Assignee != "":
			a, _ := identity.ParseDID(j.Assignee)
			s.kv.Delete(key(prefAssigned, a[:], old, slot))
			s.kv.Set(key(prefAssigned, a[:], now, slot), []byte{})
		case j.DeadlineMs == 0:
			s.kv.Delete(key(prefQueue, old, be(j.Seq)))
			s.kv.Set(key(prefQueue, now, be(j.Seq)), slot)
		}
		j.Healthy = h
		s.putJSON(key(prefJob, slot), j)
	}
	return nil
}

// repairPass is EndBlock's repair work: deadlines, lost providers'
// placements, then assignments, MaxRepairsPerBlock of each at most.
func (s *store) repairPass(p Params) error {
	now := s.nowMs()
	budget := int(p.MaxRepairsPerBlock)
	var due [][]byte
	err := s.kv.Iterate([]byte(prefJobDue), func(k, _ []byte) error {
		k = k[len(prefJobDue):]
		if len(k) != 8+slotLen || int64(binary.BigEndian.Uint64(k)) > now || len(due) == budget {
			return ledger.ErrStop
		}
		due = append(due, append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range due {
		s.kv.Delete(key(prefJobDue, k))
		j, err := s.job(k[8:])
		if err != nil {
			return err
		}
		if j == nil {
			continue
		}
		if j.Assignee != "" {
			a, _ := identity.ParseDID(j.Assignee)
			s.kv.Delete(key(prefAssigned, a[:], []byte{byte(min(j.Healthy, 255))}, k[8:]))
			Events.RepairExpired.Emit(s.ctx, j.Object, strconv.FormatUint(uint64(j.Segment), 10), strconv.FormatUint(uint64(j.Shard), 10), j.Assignee)
			if len(j.Tried) < 16 {
				j.Tried = append(j.Tried, j.Assignee)
			}
			j.Assignee, j.AssignedMs = "", 0
		}
		j.DeadlineMs = 0
		s.enqueue(j)
		s.putJSON(key(prefJob, k[8:]), j)
	}

	// Lost providers' placements.
	left := budget
	var lost []identity.Address
	err = s.kv.Iterate([]byte(prefLostProv), func(k, _ []byte) error {
		var a identity.Address
		copy(a[:], k[len(prefLostProv):])
		lost = append(lost, a)
		if len(lost) == budget {
			return ledger.ErrStop
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range lost {
		reason := string(s.kv.Get(key(prefLostProv, a[:])))
		for left > 0 {
			n := s.holdCount(a)
			if n == 0 {
				break
			}
			pl, err := s.placementAt(a, n-1)
			if err != nil {
				return err
			}
			// A challenge open on the placement is missed now: retiring
			// (or going down) with challenges open must not escape
			// their penalties. Judging it may lose the placement
			// already; loseShard then finds it gone.
			if b := s.kv.Get(key(prefSlotChal, a[:], pl.slot())); b != nil {
				c, err := s.challenge(readBE(b))
				if err != nil {
					return err
				}
				if err := s.judge(c, false, ReasonChallengeLost, p); err != nil {
					return err
				}
			}
			if err := s.loseShard(a, pl, reason, p); err != nil {
				return err
			}
			left--
		}
		if s.holdCount(a) == 0 {
			// Every shard it held is queued for repair. It may still
			// take leases in the market, so what is committed on it from
			// now on is challenged like any other provider's (and can
			// lose it again): a provider lost once is not exempt from
			// proofs for ever.
			s.kv.Delete(key(prefLostProv, a[:]))
			st, err := s.stats(a)
			if err != nil {
				return err
			}
			st.Consecutive = 0
			s.putStats(a, st)
		}
		if left == 0 {
			break
		}
	}

	// Assignments, fewest healthy shards first.
	var queued [][2][]byte
	err = s.kv.Iterate([]byte(prefQueue), func(k, v []byte) error {
		if len(queued) == budget {
			return ledger.ErrStop
		}
		queued = append(queued, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
		return nil
	})
	if err != nil || len(queued) == 0 {
		return err
	}
	provs, err := market.Providers(s.ctx)
	if err != nil {
		return err
	}
	for _, q := range queued {
		s.kv.Delete(q[0])
		if err := s.assign(q[1], provs, p); err != nil {
			return err
		}
	}
	return nil
}

// assign gives the repair at slot to an eligible provider, or, if there is
// none, tries again a proof epoch later.
func (s *store) assign(slot []byte, provs []market.Provider, p Params) error {
	j, err := s.job(slot)
	if err != nil || j == nil {
		return err
	}
	var root storage.ID
	copy(root[:], slot)
	o, err := s.object(root)
	if err != nil {
		return err
	}
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return errs.E(errs.Internal, "objects: stored manifest of %s: %v", o.ID, err)
	}
	holds := map[string]bool{j.From: true}
	for i, sh := range man.Segments[j.Segment].Shards {
		holds[sh.Provider] = true
		// A provider assigned another of the segment's repairs will hold
		// that shard too: two repairs of one segment never go to one
		// provider.
		if other := slotKey(root, j.Segment, uint16(i)); !bytes.Equal(other, slot) {
			oj, err := s.job(other)
			if err != nil {
				return err
			}
			if oj != nil && oj.Assignee != "" {
				holds[oj.Assignee] = true
			}
		}
	}
	for _, t := range j.Tried {
		holds[t] = true
	}
	var best *market.Provider
	var bestRank [32]byte
	seed := s.seed(slot)
	for i := range provs {
		pv := &provs[i]
		did := pv.Operator.String()
		if holds[did] || !market.CanTakeStorage(s.ctx, pv, uint64(j.Size)) {
			continue
		}
		if st, err := s.stats(pv.Operator); err != nil || st.LostMs != 0 {
			continue
		}
		// Among the eligible, the block hash decides, so repairs spread.
		rank := sha256.Sum256(append(seed[:], pv.Operator[:]...))
		if best == nil || bytes.Compare(rank[:], bestRank[:]) < 0 {
			best, bestRank = pv, rank
		}
	}
	now := s.nowMs()
	if best == nil {
		// Nobody can take it now: look again in a proof epoch.
		j.DeadlineMs = now + p.ProofEpochSeconds*1000
		s.kv.Set(key(prefJobDue, be(uint64(j.DeadlineMs)), slot), []byte{})
		s.putJSON(key(prefJob, slot), j)
		return nil
	}
	n := storage.LeafCount(j.Size, j.LeafSize)
	r := s.seed(slot, []byte("repair"))
	j.Leaf = 0
	if n > 0 {
		j.Leaf = int(binary.BigEndian.Uint64(r[:8]) % uint64(n))
	}
	j.Assignee, j.AssignedMs, j.DeadlineMs = best.Operator.String(), now, now+p.RepairDeadlineSeconds*1000
	j.Attempts++
	s.kv.Set(key(prefAssigned, best.Operator[:], []byte{byte(min(j.Healthy, 255))}, slot), []byte{})
	s.kv.Set(key(prefJobDue, be(uint64(j.DeadlineMs)), slot), []byte{})
	s.putJSON(key(prefJob, slot), j)
	Events.Repair.Emit(s.ctx, j.Object, strconv.FormatUint(uint64(j.Segment), 10), strconv.FormatUint(uint64(j.Shard), 10),
		j.From, j.Assignee, strconv.FormatInt(j.DeadlineMs, 10))
	return nil
}

// repair is objects/repair.
func repair(ctx *ledger.Context, signer identity.Address, m *Repair) error {
	s := newStore(ctx)
	root, o, err := s.objectByID(m.ID)
	if err != nil {
		return err
	}
	slot := slotKey(root, m.Segment, uint16(m.Shard))
	j, err := s.job(slot)
	if err != nil {
		return err
	}
	switch {
	case j == nil:
		return errs.E(errs.NotFound, "shard %d of segment %d of %s is not being repaired: see GET /v1/storage/repairs", m.Shard, m.Segment, m.ID)
	case j.Assignee != signer.String():
		return errs.E(errs.Unauthorized, "the repair of shard %d of segment %d of %s is not assigned to you: only its assignee commits it", m.Shard, m.Segment, m.ID)
	case s.nowMs() > j.DeadlineMs:
		return errs.E(errs.Conflict, "the repair's deadline passed at %d ms: it goes to another provider", j.DeadlineMs)
	}
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return errs.E(errs.Internal, "objects: stored manifest of %s: %v", o.ID, err)
	}
	ref := &man.Segments[m.Segment].Shards[m.Shard]
	ctx.ConsumeGas(GasPerProof+uint64(man.ShardCount())*50, "repair verification and manifest update")
	if err := storage.VerifyLeaf(ref.Hash, ref.Size, man.Params.LeafSize, j.Leaf, m.Leaf, m.Path); err != nil {
		return errs.E(errs.Invalid, "the repaired shard's leaf %d does not verify against the manifest's hash %s (%v): rebuild the shard from k verified shards and store it before committing", j.Leaf, ref.Hash, err)
	}
	from, err := identity.ParseDID(ref.Provider)
	if err != nil {
		return errs.E(errs.Internal, "objects: placed shard with provider %q: %v", ref.Provider, err)
	}
	lease, err := market.OpenFundedLease(ctx, o.Owner, signer, uint64(ref.Size), j.Escrow, j.Price, BucketRepairs)
	if err != nil {
		return errs.E(errs.KindOf(err), "the repaired shard's lease: %v", err)
	}
	if j.Bounty > 0 {
		if err := ctx.Credit(BucketRepairs, signer, j.Bounty); err != nil {
			return err
		}
	}
	s.deleteJob(j, slot)
	// A lease funded with nothing (the lost lease had run dry) closes at
	// once: the object is no longer paid for, and goes as any unpaid
	// object does.
	if l, err := market.StoredLease(ctx, lease); err != nil {
		return err
	} else if l.State == market.LeaseClosed {
		return s.drop(root, o, 0, Events.Expired, ReasonUnpaid, ledger.FormatInt(lease), l.CloseReason)
	}
	// Point the manifest at the assignee; the shard's references follow.
	s.countShard(from, ref.Hash, o.Owner, -1)
	ref.Provider = signer.String()
	s.countShard(signer, ref.Hash, o.Owner, 1)
	raw, err := man.MarshalBinary()
	if err != nil {
		return errs.E(errs.Internal, "objects: repaired manifest of %s: %v", o.ID, err)
	}
	o.Manifest = raw
	o.Leases = append(o.Leases, LeaseShare{Lease: lease, Provider: signer, Bytes: uint64(ref.Size)})
	s.putJSON(key(prefObj, root[:]), o)
	s.putLeaseUse(lease, LeaseUse{Bytes: uint64(ref.Size), Objects: 1})
	s.kv.Set(key(prefLeaseObj, be(lease), root[:]), []byte{})
	if err := s.place(signer, placement{Root: root, Segment: m.Segment, Shard: uint16(m.Shard), Hash: ref.Hash, Size: ref.Size,
		LeafSize: uint32(man.Params.LeafSize), Owner: o.Owner}); err != nil {
		return err
	}
	st, err := s.stats(signer)
	if err != nil {
		return err
	}
	st.Repaired++
	s.putStats(signer, st)
	Events.Repaired.Emit(ctx, o.ID, strconv.FormatUint(uint64(m.Segment), 10), strconv.FormatUint(uint64(m.Shard), 10),
		signer.String(), ledger.FormatInt(lease), ledger.FormatInt(j.Bounty))
	return nil
}

// deleteJob removes a repair and its indexes.
func (s *store) deleteJob(j *RepairJob, slot []byte) {
	s.kv.Delete(key(prefJob, slot))
	h := []byte{byte(min(j.Healthy, 255))}
	s.kv.Delete(key(prefQueue, h, be(j.Seq)))
	if j.DeadlineMs != 0 {
		s.kv.Delete(key(prefJobDue, be(uint64(j.DeadlineMs)), slot))
	}
	if a, err := identity.ParseDID(j.Assignee); err == nil {
		s.kv.Delete(key(prefAssigned, a[:], h, slot))
	}
}

// dropRepairs cancels the repairs of an object that is dropped: what they
// held goes to its owner, who was failed.
func (s *store) dropRepairs(root storage.ID, owner identity.Address) error {
	var slots [][]byte
	err := s.kv.Iterate(key(prefJob, root[:]), func(k, _ []byte) error {
		slots = append(slots, append([]byte(nil), k[len(prefJob):]...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, slot := range slots {
		j, err := s.job(slot)
		if err != nil || j == nil {
			return err
		}
		amt, err := money.Add(j.Escrow, j.Bounty)
		if err != nil {
			return err
		}
		if amt > 0 {
			if err := s.ctx.Credit(BucketRepairs, owner, amt); err != nil {
				return err
			}
		}
		s.deleteJob(j, slot)
	}
	return nil
}

// countShard adds delta to owner's reference count of shard h on prov.
func (s *store) countShard(prov identity.Address, h storage.Hash, owner identity.Address, delta int) {
	k := key(prefShard, prov[:], h[:], owner[:])
	n := s.shardRefs(k)
	if delta > 0 {
		n++
	} else {
		n -= min(n, 1)
	}
	if n == 0 {
		s.kv.Delete(k)
	} else {
		s.kv.Set(k, binary.AppendUvarint(nil, n))
	}
}

// RepairsAfter returns up to limit repairs, and whether more follow: with
// assignee set, those assigned to it, fewest healthy shards first;
// otherwise every repair, in object order. after is the Next of the
// previous page (an opaque cursor).
func RepairsAfter(ctx *ledger.Context, assignee *identity.Address, after []byte, limit int) ([]RepairJob, []byte, error) {
	s := newStore(ctx)
	p := []byte(prefJob)
	if assignee != nil {
		p = key(prefAssigned, assignee[:])
	}
	var slots [][]byte
	var next []byte
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		rest := k[len(p):]
		if after != nil && bytes.Compare(rest, after) <= 0 {
			return nil
		}
		if len(slots) == limit {
			next = append([]byte(nil), k[len(p):]...)
			return ledger.ErrStop
		}
		slots = append(slots, append([]byte(nil), rest...))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	out := []RepairJob{}
	var last []byte
	for _, r := range slots {
		slot := r
		if assignee != nil {
			slot = r[1:]
		}
		j, err := s.job(slot)
		if err != nil {
			return nil, nil, err
		}
		if j != nil {
			out = append(out, *j)
		}
		last = r
	}
	if next != nil {
		next = last
	}
	return out, next, nil
}
