package objects

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

// Proofs of storage. Each proof epoch, EndBlock walks the providers (a
// bounded number of challenges per block, the pass carried over to the next
// blocks) and challenges each one on ChallengesPerProvider of its placed
// shards, sampled from its placement index weighted by bytes (every byte it
// holds is as likely to be drawn as any other, so tiny shards of its own do
// not dilute the draws) with the block hash as the only randomness, plus every shard it missed and has not yet lost. Each
// challenge names one leaf of the shard. The provider answers with
// objects/prove before the deadline; a deadline that passes is judged in
// EndBlock. Everything a block does here is bounded by the parameters:
// MaxChallengesPerBlock challenges issued and as many expired ones judged,
// MaxRepairsPerBlock shards declared lost and as many repairs assigned.
//
// State, under "objects/":
//
//	ch/<id 8 BE>                     -> Challenge (JSON)
//	cp/<provider32><id 8 BE>          -> empty: a provider's open challenges
//	cd/<deadline ms 8 BE><id 8 BE>    -> empty: the deadlines
//	pc/<provider32><slot>             -> id: the open challenge of a placement
//	pm/<provider32><slot>             -> uvarint: misses in a row of a placement
//	pr/<provider32><slot>             -> empty: a missed placement to challenge again
//	ps/<provider32>                   -> ProofStats (JSON)
//	pass                              -> epoch 8 BE, then the provider the pass has reached (absent: done)
//	chseq                             -> the last challenge id
//
// where slot is root32, segment 4 BE, shard 2 BE.
const (
	prefChal      = "ch/"
	prefChalProv  = "cp/"
	prefChalDue   = "cd/"
	prefSlotChal  = "pc/"
	prefSlotMiss  = "pm/"
	prefRecheck   = "pr/"
	prefStats     = "ps/"
	keyPass       = "pass"
	keyChalSeq    = "chseq"
	slotLen       = 32 + 4 + 2
	challengeSalt = "stratus/challenge/v1"
)

// ReasonChallengeLost is EventProofMissed's reason for a challenge still
// open when its provider, lost as a whole, lost the placement.
const ReasonChallengeLost = "lost"

// GasPerProof is the gas objects/prove and objects/repair charge for
// verifying a leaf: hashing up to a 4 KiB leaf (about 10 µs) and its path
// (about 0.3 µs a level, at most 64 levels), at the gas table's 100 ns a
// gas: 250, half a signature check.
const GasPerProof = 250

// Events of proofs and repair.
const (
	// EventProofPassed: attributes AttrChallenge, AttrProvider, AttrID.
	EventProofPassed = "storage.proof_passed"
	// EventProofMissed: a challenge was missed (AttrReason "deadline"),
	// answered wrongly ("invalid"), or left open by a provider lost as a
	// whole (ReasonChallengeLost, "lost"). Attributes AttrChallenge,
	// AttrProvider, AttrID, AttrSegment, AttrShard, AttrReason,
	// AttrPenalty (ustr taken from the collateral into the treasury), AttrOwner
	// (the owner of the object challenged).
	EventProofMissed = "storage.proof_missed"
	// EventChallenges: a block issued challenges. Attributes AttrEpoch,
	// AttrCount.
	EventChallenges = "storage.challenges"
)

// Attribute keys of proof and repair events.
const (
	AttrChallenge = "challenge"
	AttrProvider  = "provider"
	AttrSegment   = "segment"
	AttrShard     = "shard"
	AttrPenalty   = "penalty"
	AttrEpoch     = "epoch"
	AttrCount     = "count"
)

func (s *store) stats(prov identity.Address) (ProofStats, error) {
	var st ProofStats
	_, err := s.getJSON(key(prefStats, prov[:]), &st)
	return st, err
}

func (s *store) putStats(prov identity.Address, st ProofStats) {
	s.putJSON(key(prefStats, prov[:]), st)
}

// ProofStatsOf returns a provider's record of proofs and repairs.
func ProofStatsOf(ctx *ledger.Context, prov identity.Address) (ProofStats, error) {
	return newStore(ctx).stats(prov)
}

func (s *store) nextSeq(k string) uint64 {
	n := readBE(s.kv.Get([]byte(k))) + 1
	s.kv.Set([]byte(k), be(n))
	return n
}

func readBE(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (s *store) challenge(id uint64) (*Challenge, error) {
	var c Challenge
	ok, err := s.getJSON(key(prefChal, be(id)), &c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "no open challenge %d: it was answered, its deadline passed, or it was never issued (see GET /v1/storage/challenges)", id)
	}
	return &c, nil
}

// seed derives 32 pseudo-random bytes from the block hash and parts.
func (s *store) seed(parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(challengeSalt))
	h.Write(s.ctx.Entropy)
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// issue opens a challenge on placement p of prov, unless one is open.
func (s *store) issue(prov identity.Address, p placement, deadline int64) {
	slot := p.slot()
	if s.kv.Get(key(prefSlotChal, prov[:], slot)) != nil {
		return
	}
	id := s.nextSeq(keyChalSeq)
	n := storage.LeafCount(p.Size, int(p.LeafSize))
	r := s.seed(be(id), prov[:], slot)
	leaf := 0
	if n > 0 {
		leaf = int(binary.BigEndian.Uint64(r[:8]) % uint64(n))
	}
	c := Challenge{ID: id, Provider: prov.String(), Object: p.Root.String(), Segment: p.Segment, Shard: uint32(p.Shard),
		Hash: p.Hash.String(), Size: p.Size, LeafSize: int(p.LeafSize), Leaf: leaf, IssuedMs: s.nowMs(), DeadlineMs: deadline}
	s.putJSON(key(prefChal, be(id)), c)
	s.kv.Set(key(prefChalProv, prov[:], be(id)), []byte{})
	s.kv.Set(key(prefChalDue, be(uint64(deadline)), be(id)), []byte{})
	s.kv.Set(key(prefSlotChal, prov[:], slot), be(id))
}

// closeChallenge deletes challenge c and its indexes.
func (s *store) closeChallenge(c *Challenge, prov identity.Address) {
	s.kv.Delete(key(prefChal, be(c.ID)))
	s.kv.Delete(key(prefChalProv, prov[:], be(c.ID)))
	s.kv.Delete(key(prefChalDue, be(uint64(c.DeadlineMs)), be(c.ID)))
	root, _ := storage.ParseID(c.Object)
	s.kv.Delete(key(prefSlotChal, prov[:], slotKey(root, c.Segment, uint16(c.Shard))))
}

// forgetSlot deletes the proof state of a placement that is gone: its
// misses, its recheck mark and its open challenge.
func (s *store) forgetSlot(prov identity.Address, slot []byte) {
	s.kv.Delete(key(prefSlotMiss, prov[:], slot))
	s.kv.Delete(key(prefRecheck, prov[:], slot))
	if b := s.kv.Get(key(prefSlotChal, prov[:], slot)); b != nil {
		if c, err := s.challenge(readBE(b)); err == nil {
			s.closeChallenge(c, prov)
		} else {
			s.kv.Delete(key(prefSlotChal, prov[:], slot))
		}
	}
}

// proofPass runs one block's share of the epoch's challenges and judges
// the deadlines that passed; budget is what is left of
// MaxChallengesPerBlock.
func (s *store) proofPass(p Params) error {
	budget := int(p.MaxChallengesPerBlock)
	// Deadlines first: a miss may lose a shard before it is challenged
	// again.
	var due []uint64
	now := s.nowMs()
	err := s.kv.Iterate([]byte(prefChalDue), func(k, _ []byte) error {
		k = k[len(prefChalDue):]
		if len(k) != 16 || int64(binary.BigEndian.Uint64(k)) > now || len(due) == budget {
			return ledger.ErrStop
		}
		due = append(due, binary.BigEndian.Uint64(k[8:]))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range due {
		c, err := s.challenge(id)
		if err != nil {
			return err
		}
		if err := s.judge(c, false, "deadline", p); err != nil {
			return err
		}
	}
	budget -= len(due)

	epoch := now / (p.ProofEpochSeconds * 1000)
	var cursor *identity.Address
	if pass := s.kv.Get([]byte(keyPass)); pass != nil {
		if len(pass) != 8 && len(pass) != 8+32 {
			return errs.E(errs.Internal, "objects: corrupt challenge pass record %x", pass)
		}
		if int64(readBE(pass[:8])) == epoch && len(pass) == 8 {
			return nil // this epoch's pass is done
		}
		// An unfinished pass goes on from where it stopped, even into a
		// new epoch: starting over from the lowest address would leave
		// the providers at the end of the address space (a key anyone
		// can grind) unchallenged whenever a pass outlasts an epoch.
		if len(pass) == 8+32 {
			var a identity.Address
			copy(a[:], pass[8:])
			cursor = &a
		}
	}
	issued := 0
	deadline := now + p.ProofWindowSeconds*1000
	done := false
	for budget >= int(p.ChallengesPerProvider) {
		provs, more, err := market.ProvidersAfter(s.ctx, cursor, 32)
		if err != nil {
			return err
		}
		stopped := false
		for i := range provs {
			prov := &provs[i]
			if budget < int(p.ChallengesPerProvider) {
				stopped = true
				break
			}
			n, err := s.challengeProvider(prov, p, epoch, deadline, budget)
			if err != nil {
				return err
			}
			budget -= n
			issued += n
			a := prov.Operator
			cursor = &a
		}
		if stopped {
			break
		}
		if !more {
			done = true
			break
		}
	}
	switch {
	case done:
		s.kv.Set([]byte(keyPass), be(uint64(epoch)))
	case cursor != nil:
		s.kv.Set([]byte(keyPass), append(be(uint64(epoch)), cursor[:]...))
	}
	if issued > 0 {
		Events.Challenges.Emit(s.ctx, strconv.FormatInt(epoch, 10), strconv.Itoa(issued))
	}
	return nil
}

// challengeProvider issues one epoch's challenges to prov, at most budget,
// and returns how many it issued. A retiring provider, or one the
// validators' probes found down, is lost instead.
func (s *store) challengeProvider(prov *market.Provider, p Params, epoch, deadline int64, budget int) (int, error) {
	a := prov.Operator
	h, err := s.holding(a)
	if err != nil || h.count == 0 {
		return 0, err
	}
	st, err := s.stats(a)
	if err != nil || s.isLosing(a) {
		return 0, err
	}
	if prov.State == market.ProviderRetiring {
		return 0, s.loseProvider(a, ReasonRetired)
	}
	if down, err := s.downCheck(a, &st); err != nil || down {
		return 0, err
	}
	issued := 0
	// The missed placements first, then the sample.
	var again [][]byte
	err = s.kv.Iterate(key(prefRecheck, a[:]), func(k, _ []byte) error {
		if len(again) == budget-int(p.ChallengesPerProvider) {
			return ledger.ErrStop
		}
		again = append(again, append([]byte(nil), k[len(prefRecheck)+32:]...))
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, slot := range again {
		s.kv.Delete(key(prefRecheck, a[:], slot))
		pl, ok, err := s.placementBySlot(a, slot)
		if err != nil {
			return issued, err
		}
		if ok {
			s.issue(a, pl, deadline)
			issued++
		}
	}
	// The sample is by bytes (see the placement index): a provider that
	// pads its holdings with tiny shards of its own does not dilute the
	// challenges on the big ones it is paid for. The modulo's bias is
	// below bytes/2^64.
	for i := range p.ChallengesPerProvider {
		r := s.seed(a[:], be(uint64(epoch)), be(uint64(i)))
		pos, err := s.sample(a, h, binary.BigEndian.Uint64(r[:8])%h.bytes)
		if err != nil {
			return issued, err
		}
		pl, err := s.placementAt(a, pos)
		if err != nil {
			return issued, err
		}
		s.issue(a, pl, deadline)
		issued++
	}
	return issued, nil
}

// placementBySlot finds prov's placement at slot: it reads the shard's hash
// from the object's manifest to find the index entry.
func (s *store) placementBySlot(prov identity.Address, slot []byte) (placement, bool, error) {
	var root storage.ID
	copy(root[:], slot)
	o, err := s.object(root)
	if errs.KindOf(err) == errs.NotFound {
		return placement{}, false, nil
	}
	if err != nil {
		return placement{}, false, err
	}
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return placement{}, false, errs.E(errs.Internal, "objects: stored manifest of %s: %v", o.ID, err)
	}
	seg, sh := binary.BigEndian.Uint32(slot[32:]), binary.BigEndian.Uint16(slot[36:])
	if int(seg) >= len(man.Segments) || int(sh) >= len(man.Segments[seg].Shards) {
		return placement{}, false, nil
	}
	b := s.kv.Get(key(prefHoldKey, prov[:], man.Segments[seg].Shards[sh].Hash[:], slot))
	if b == nil {
		return placement{}, false, nil
	}
	pl, err := s.placementAt(prov, readBE(b))
	return pl, err == nil, err
}

// prove is objects/prove.
func prove(ctx *ledger.Context, signer identity.Address, m *Prove) error {
	s := newStore(ctx)
	p, err := s.params()
	if err != nil {
		return err
	}
	c, err := s.challenge(m.Challenge)
	if err != nil {
		return err
	}
	if c.Provider != signer.String() {
		return errs.E(errs.Unauthorized, "challenge %d is %s's: only the challenged provider answers it", c.ID, c.Provider)
	}
	if s.nowMs() > c.DeadlineMs {
		return errs.E(errs.Conflict, "challenge %d's deadline passed at %d ms: it counts as missed", c.ID, c.DeadlineMs)
	}
	ctx.ConsumeGas(GasPerProof, "storage proof verification")
	var h storage.Hash
	if err := h.UnmarshalText([]byte(c.Hash)); err != nil {
		return errs.E(errs.Internal, "objects: challenge %d's hash: %v", c.ID, err)
	}
	ok := storage.VerifyLeaf(h, c.Size, c.LeafSize, c.Leaf, m.Leaf, m.Path) == nil
	reason := ""
	if !ok {
		reason = "invalid"
	}
	return s.judge(c, ok, reason, p)
}

// judge settles challenge c: passed, or missed for reason.
func (s *store) judge(c *Challenge, passed bool, reason string, p Params) error {
	prov, err := identity.ParseDID(c.Provider)
	if err != nil {
		return errs.E(errs.Internal, "objects: challenge %d's provider: %v", c.ID, err)
	}
	root, err := storage.ParseID(c.Object)
	if err != nil {
		return errs.E(errs.Internal, "objects: challenge %d's object: %v", c.ID, err)
	}
	s.closeChallenge(c, prov)
	slot := slotKey(root, c.Segment, uint16(c.Shard))
	st, err := s.stats(prov)
	if err != nil {
		return err
	}
	if passed {
		st.Passed++
		st.Consecutive = 0
		s.putStats(prov, st)
		s.kv.Delete(key(prefSlotMiss, prov[:], slot))
		Events.ProofPassed.Emit(s.ctx, ledger.FormatInt(c.ID), c.Provider, c.Object)
		return market.AdjustScore(s.ctx, prov, int64(p.PassScorePoints))
	}
	st.Missed++
	if reason == "invalid" {
		st.Failed++
	}
	st.Consecutive++
	// The penalty goes to the treasury, not to the owner of the object
	// challenged: an owner can be the provider's own second key, and
	// penalties paid to it would let a provider move its locked collateral
	// out by missing proofs on purpose. The owner is made whole by the
	// repair, which costs it nothing.
	pl, held, err := s.placementBySlot(prov, slot)
	if err != nil {
		return err
	}
	var penalty uint64
	owner := ""
	if held {
		mp, err := market.GetProvider(s.ctx, prov)
		if err != nil {
			return err
		}
		amt, _, err := money.MulDiv(mp.Collateral, p.MissPenaltyBps, 10_000)
		if err != nil {
			return err
		}
		if penalty, err = market.TakeCollateral(s.ctx, prov, amt, nil, ledger.BucketTreasury); err != nil {
			return err
		}
		st.Penalized += penalty
		owner = pl.Owner.String()
	}
	if err := market.AdjustScore(s.ctx, prov, -int64(p.MissScorePoints)); err != nil {
		return err
	}
	Events.ProofMissed.Emit(s.ctx, ledger.FormatInt(c.ID), c.Provider, c.Object, strconv.FormatUint(uint64(c.Segment), 10),
		strconv.FormatUint(uint64(c.Shard), 10), reason, ledger.FormatInt(penalty), owner)
	s.putStats(prov, st)
	if held {
		misses, _ := binary.Uvarint(s.kv.Get(key(prefSlotMiss, prov[:], slot)))
		misses++
		if misses >= uint64(p.LostAfterMisses) {
			if err := s.loseShard(prov, pl, ReasonMissed, p); err != nil {
				return err
			}
		} else {
			s.kv.Set(key(prefSlotMiss, prov[:], slot), binary.AppendUvarint(nil, misses))
			s.kv.Set(key(prefRecheck, prov[:], slot), []byte{})
		}
	}
	if st.Consecutive >= p.ProviderLostAfterMisses {
		return s.loseProvider(prov, ReasonMissed)
	}
	return nil
}

// ChallengesAfter returns up to limit of provider's open challenges with
// ids after after, in id order, and whether more follow.
func ChallengesAfter(ctx *ledger.Context, prov identity.Address, after uint64, limit int) ([]Challenge, bool, error) {
	s := newStore(ctx)
	p := key(prefChalProv, prov[:])
	out := []Challenge{}
	more := false
	var ids []uint64
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		id := readBE(k[len(p):])
		if id <= after {
			return nil
		}
		if len(ids) == limit {
			more = true
			return ledger.ErrStop
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	for _, id := range ids {
		c, err := s.challenge(id)
		if err != nil {
			return nil, false, err
		}
		out = append(out, *c)
	}
	return out, more, nil
}
