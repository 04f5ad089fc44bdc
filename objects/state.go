package objects

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/storage"
)

// Prefix is the module's namespace in state.
const Prefix = "objects/"

const (
	prefObj      = "obj/"
	prefByOwner  = "byowner/"
	prefLeaseUse = "leaseuse/"
	// prefLeaseObj indexes the objects a lease pays for:
	// leaseobj/<lease id, 8 BE><root32> -> empty. A lease that closes
	// finds the objects it takes with it here, without a scan.
	prefLeaseObj = "leaseobj/"
	prefDue      = "due/"
	// prefShard counts, per owner, the placements of a shard on a provider
	// by that owner's live objects: shard/<provider 32 bytes><hash 32
	// bytes><owner 32 bytes> -> uvarint count. A live object is paid for
	// by its owner's own leases with every provider it places shards on
	// (commit checks it, and a lease that closes drops its objects), so a
	// count above zero always stands for a paying lease of that owner with
	// that provider. Providers read it to know which consumers' copies
	// they may delete.
	prefShard = "shard/"
)

// GasPerShard is the gas objects/commit charges for each shard of the
// manifest, for verifying it: decoding the shard's 33-byte entry, parsing
// its provider's did:key (a base58 decode and a multicodec check, about
// 2 µs), hashing it into the object's Merkle tree for the ID (one SHA-256
// of 32 bytes, about 0.3 µs) and adding it to the per-provider totals. The
// state it reads and writes (one shard-reference record per distinct
// placement, and its entry in the provider's placement index) is metered
// apart, by bytes. At the gas table's scale (one gas for about 100 ns of a
// validator's core, a signature check's 50 µs in tx_base's 600), that is
// about 25 gas of work; 50 leaves room for a slower validator
// (docs/storage.md gives the reasoning).
//
// The placement index's size tree (challenges are drawn by bytes) adds to
// that metered state about 520 gas a shard on the default gas table: a
// node write (395), on average one node read (79; at most log2 n for a
// provider with n placements), and 8 bytes more in the count record. A
// shard's commit goes from about 3,300 to 3,800 gas in all. Removing a
// shard with objects/remove adds about 1,100 at seventy placements,
// growing with log2 n by up to one node read and write (474) per level
// (expiry and loss do the same work in EndBlock, bounded per block). GasPerShard itself is for the work state does not show, and
// is unchanged.
const GasPerShard = 50

// GasPerReceipt is the gas objects/commit charges for each storage receipt
// it verifies: one ed25519 signature check of a 123-byte message, about
// 50 µs, which tx_base (600) also charges for the transaction's own
// signature (one gas is about 100 ns; docs/ledger.md). The manifest is
// hashed once per commit, whatever the number of receipts.
const GasPerReceipt = 600

// Object is an object's record in state.
type Object struct {
	ID    string           `json:"id"`
	Owner identity.Address `json:"owner"`
	Size  int64            `json:"size"`
	K     int              `json:"k"`
	M     int              `json:"m"`
	// Manifest is the canonical encoding of the manifest, with providers.
	Manifest  []byte       `json:"manifest"`
	Leases    []LeaseShare `json:"leases"`
	ExpiresMs int64        `json:"expires_ms,omitempty"`
	Public    bool         `json:"public"`
	CreatedMs int64        `json:"created_ms"`
	// WrappedKey is a private object's data key wrapped to its owner's
	// key (Commit.WrappedKey).
	WrappedKey []byte `json:"wrapped_key,omitempty"`
}

// LeaseShare is how many bytes of a lease an object uses.
type LeaseShare struct {
	Lease    uint64           `json:"lease,string"`
	Provider identity.Address `json:"provider"`
	Bytes    uint64           `json:"bytes,string"`
}

// LeaseUse is what all objects together use of one lease.
type LeaseUse struct {
	Bytes   uint64 `json:"bytes,string"`
	Objects uint64 `json:"objects"`
}

type store struct {
	ctx *ledger.Context
	kv  *ledger.PrefixKV
}

// storeKey opens the module's state, under Prefix; only this package holds
// it (ledger.StoreKey).
var storeKey = ledger.NewStoreKey(strings.TrimSuffix(Prefix, "/"))

func newStore(ctx *ledger.Context) *store { return &store{ctx: ctx, kv: ctx.Store(storeKey)} }

func key(prefix string, parts ...[]byte) []byte {
	k := []byte(prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func (s *store) getJSON(k []byte, v any) (bool, error) {
	b := s.kv.Get(k)
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, errs.E(errs.Internal, "objects: corrupt record %q: %v", k, err)
	}
	return true, nil
}

func (s *store) putJSON(k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("objects: record does not marshal: %v", err))
	}
	s.kv.Set(k, b)
}

func (s *store) object(root storage.ID) (*Object, error) {
	var o Object
	ok, err := s.getJSON(key(prefObj, root[:]), &o)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "no object %s: see `stratus store ls`", root)
	}
	return &o, nil
}

// objectByID reads an object by its ID string: errs.Invalid for a
// malformed ID, errs.NotFound for an unknown one.
func (s *store) objectByID(id string) (storage.ID, *Object, error) {
	root, err := storage.ParseID(id)
	if err != nil {
		return root, nil, err
	}
	o, err := s.object(root)
	return root, o, err
}

func (s *store) leaseUse(id uint64) (LeaseUse, error) {
	var u LeaseUse
	_, err := s.getJSON(key(prefLeaseUse, be(id)), &u)
	return u, err
}

func (s *store) putLeaseUse(id uint64, u LeaseUse) {
	if u.Objects == 0 && u.Bytes == 0 {
		s.kv.Delete(key(prefLeaseUse, be(id)))
		return
	}
	s.putJSON(key(prefLeaseUse, be(id)), u)
}

// objectsOn returns the objects lease id pays for, in root order, at most
// limit of them (0: all).
func (s *store) objectsOn(id uint64, limit int) ([]storage.ID, error) {
	p := key(prefLeaseObj, be(id))
	var out []storage.ID
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		if len(k) != len(p)+len(storage.ID{}) {
			return errs.E(errs.Internal, "objects: corrupt lease index key %x", k)
		}
		var r storage.ID
		copy(r[:], k[len(p):])
		out = append(out, r)
		if limit > 0 && len(out) == limit {
			return ledger.ErrStop
		}
		return nil
	})
	return out, err
}

func (s *store) nowMs() int64 { return s.ctx.Time.UnixMilli() }

func commit(ctx *ledger.Context, signer identity.Address, m *Commit) error {
	s := newStore(ctx)
	man, perProv, err := m.parse()
	if err != nil {
		return err
	}
	ctx.ConsumeGas(uint64(man.ShardCount())*GasPerShard, "manifest verification")
	if err := checkReceipts(ctx, signer, man, m); err != nil {
		return err
	}
	id := man.ID()
	if s.kv.Get(key(prefObj, id[:])) != nil {
		return errs.E(errs.Conflict, "object %s is already committed", id)
	}
	now := s.nowMs()
	if m.ExpiresMs != 0 && m.ExpiresMs <= now {
		return errs.E(errs.Invalid, "the object would expire at %d ms, not after the block time %d ms", m.ExpiresMs, now)
	}
	// Room on each listed lease, grouped by provider in listed order.
	type avail struct {
		id   uint64
		free uint64
	}
	byProv := map[identity.Address][]avail{}
	for _, lid := range m.Leases {
		l, err := market.StoredLease(ctx, lid)
		if err != nil {
			return err
		}
		switch {
		case l.Consumer != signer:
			return errs.E(errs.Unauthorized, "lease %d is %s's, not yours: list only leases you opened", lid, l.Consumer)
		case l.Class != market.ClassStorage:
			return errs.E(errs.Invalid, "lease %d is a %s lease, not storage", lid, l.Class)
		case l.State != market.LeaseActive:
			return errs.E(errs.Conflict, "lease %d is %s, not active: wait for the provider to acknowledge it, or open a new one", lid, l.State)
		}
		if _, ok := perProv[l.Provider]; !ok {
			return errs.E(errs.Invalid, "lease %d is with %s, which holds none of the object's shards", lid, l.Provider)
		}
		u, err := s.leaseUse(lid)
		if err != nil {
			return err
		}
		byProv[l.Provider] = append(byProv[l.Provider], avail{id: lid, free: l.Quantity - min(l.Quantity, u.Bytes)})
	}
	provs := make([]identity.Address, 0, len(perProv))
	for p := range perProv {
		provs = append(provs, p)
	}
	sort.Slice(provs, func(i, j int) bool { return bytes.Compare(provs[i][:], provs[j][:]) < 0 })
	var shares []LeaseShare
	for _, p := range provs {
		need := perProv[p]
		ls := byProv[p]
		if len(ls) == 0 {
			return errs.E(errs.Invalid, "provider %s holds %d bytes of the object's shards but none of the listed leases is with it", p, need)
		}
		var free uint64
		for _, a := range ls {
			free += a.free // each at most market.MaxCapacity, at most MaxLeases of them
		}
		if free < need {
			return errs.E(errs.Insufficient, "provider %s holds %d bytes of the object's shards, but your leases with it have %d bytes free: open a larger lease", p, need, free)
		}
		// Fill the leases in the order listed.
		for _, a := range ls {
			take := min(a.free, need)
			need -= take
			shares = append(shares, LeaseShare{Lease: a.id, Provider: p, Bytes: take})
		}
	}
	// Keep the listed order in the record.
	pos := map[uint64]int{}
	for i, lid := range m.Leases {
		pos[lid] = i
	}
	sort.Slice(shares, func(i, j int) bool { return pos[shares[i].Lease] < pos[shares[j].Lease] })
	for _, sh := range shares {
		u, err := s.leaseUse(sh.Lease)
		if err != nil {
			return err
		}
		u.Bytes += sh.Bytes
		u.Objects++
		s.putLeaseUse(sh.Lease, u)
		s.kv.Set(key(prefLeaseObj, be(sh.Lease), id[:]), []byte{})
	}
	if err := s.countShards(man, signer, 1); err != nil {
		return err
	}
	if err := s.placeAll(id, man, signer); err != nil {
		return err
	}
	o := &Object{
		ID: id.String(), Owner: signer, Size: man.Size, K: man.Params.K, M: man.Params.M,
		Manifest: m.Manifest, Leases: shares, ExpiresMs: m.ExpiresMs, Public: m.Public, CreatedMs: now,
		WrappedKey: m.WrappedKey,
	}
	s.putJSON(key(prefObj, id[:]), o)
	s.kv.Set(key(prefByOwner, signer[:], id[:]), []byte{})
	if o.ExpiresMs != 0 {
		s.kv.Set(key(prefDue, be(uint64(o.ExpiresMs)), id[:]), []byte{})
	}
	Events.Committed.Emit(ctx, o.ID, signer.String(), strconv.FormatInt(o.Size, 10), leaseList(shares))
	return nil
}

// checkReceipts verifies that every provider the manifest names signed
// for the manifest and the signer: a provider is challenged only on
// shards it said it holds.
func checkReceipts(ctx *ledger.Context, signer identity.Address, man *storage.Manifest, m *Commit) error {
	provs := man.Providers()
	if len(m.Receipts) != len(provs) {
		return errs.E(errs.Invalid, "a commit carries %d storage receipts but the manifest names %d providers: upload the shards and ask each provider for its receipt", len(m.Receipts), len(provs))
	}
	// The manifest is hashed once, for all its receipts; its bytes are
	// paid for as transaction bytes.
	digest := storage.ManifestDigest(m.Manifest)
	for i, did := range provs {
		ctx.ConsumeGas(GasPerReceipt, "storage receipt verification")
		p, err := identity.ParseDID(did)
		if err != nil {
			return errs.E(errs.Invalid, "provider %q is not a did:key: %v", did, err)
		}
		if err := storage.VerifyReceipt(m.Receipts[i], digest, p, signer, ctx.Time); err != nil {
			return errs.E(errs.Invalid, "receipt %d (provider %s): %w; upload the shards and ask the provider for its receipt", i, p, err)
		}
	}
	return nil
}

func leaseList(shares []LeaseShare) string {
	ids := make([]string, len(shares))
	for i, sh := range shares {
		ids[i] = ledger.FormatInt(sh.Lease)
	}
	return strings.Join(ids, ",")
}

func remove(ctx *ledger.Context, signer identity.Address, m *Remove) error {
	s := newStore(ctx)
	id, o, err := s.objectByID(m.ID)
	if err != nil {
		return err
	}
	if o.Owner != signer {
		return errs.E(errs.Unauthorized, "object %s is %s's: only its owner can remove it", o.ID, o.Owner)
	}
	return s.drop(id, o, 0, Events.Removed)
}

// drop deletes an object, releases its use of its leases, closes those no
// other object uses but the lease closing (0 for none: the lease whose
// close is dropping the object, which the market is closing already), and
// emits kind: the values every drop has, then extra.
//
// Everything that points at the object (its lease index entries, its shard
// references) goes before any lease is closed, so the AfterLeaseClose that
// each close calls back into finds no object of it: the recursion is one
// level deep.
func (s *store) drop(id storage.ID, o *Object, closing uint64, kind *ledger.EventKind, extra ...string) error {
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return errs.E(errs.Internal, "objects: stored manifest of %s: %v", o.ID, err)
	}
	if err := s.countShards(man, o.Owner, -1); err != nil {
		return err
	}
	if err := s.unplaceAll(id, man); err != nil {
		return err
	}
	if err := s.dropRepairs(id, o.Owner); err != nil {
		return err
	}
	if !o.Public {
		if err := s.dropGrants(id); err != nil {
			return err
		}
	}
	s.kv.Delete(key(prefObj, id[:]))
	s.kv.Delete(key(prefByOwner, o.Owner[:], id[:]))
	if o.ExpiresMs != 0 {
		s.kv.Delete(key(prefDue, be(uint64(o.ExpiresMs)), id[:]))
	}
	var unused []uint64
	for _, sh := range o.Leases {
		s.kv.Delete(key(prefLeaseObj, be(sh.Lease), id[:]))
		u, err := s.leaseUse(sh.Lease)
		if err != nil {
			return err
		}
		u.Bytes -= min(u.Bytes, sh.Bytes)
		u.Objects -= min(u.Objects, 1)
		s.putLeaseUse(sh.Lease, u)
		if u.Objects == 0 && sh.Lease != closing {
			unused = append(unused, sh.Lease)
		}
	}
	var closed []string
	for _, lid := range unused {
		ok, err := closeUnused(s.ctx, lid)
		if err != nil {
			return err
		}
		if ok {
			closed = append(closed, ledger.FormatInt(lid))
		}
	}
	kind.Emit(s.ctx, append([]string{o.ID, o.Owner.String(), strconv.FormatInt(o.Size, 10), leaseList(o.Leases), strings.Join(closed, ",")}, extra...)...)
	return nil
}

// closeUnused closes a lease no object uses any more, if it is not closed
// yet, as its consumer (who owned the objects), so the market settles it and
// refunds the remaining escrow. It reports whether it closed the lease.
func closeUnused(ctx *ledger.Context, id uint64) (bool, error) {
	l, err := market.StoredLease(ctx, id)
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return false, nil
		}
		return false, err
	}
	if l.State == market.LeaseClosed {
		return false, nil
	}
	if err := market.CloseLeaseAs(ctx, l.Consumer, id); err != nil {
		return false, err
	}
	return true, nil
}

// expireDue removes the objects due by the block time.
// maxExpiriesPerBlock bounds the objects one EndBlock drops at their
// expiry, so that many objects given the same expiry cannot make one block
// slow: the rest stay in the due queue and go in the next blocks.
var maxExpiriesPerBlock = 500

func (s *store) expireDue() error {
	now := uint64(s.nowMs())
	var due [][]byte
	err := s.kv.Iterate([]byte(prefDue), func(k, _ []byte) error {
		k = k[len(prefDue):]
		if len(k) != 8+32 {
			return errs.E(errs.Internal, "objects: corrupt due key %x", k)
		}
		if binary.BigEndian.Uint64(k[:8]) > now || len(due) == maxExpiriesPerBlock {
			// The rest are carried to the next blocks, earliest first.
			return ledger.ErrStop
		}
		due = append(due, append([]byte(nil), k[8:]...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range due {
		var id storage.ID
		copy(id[:], r)
		o, err := s.object(id)
		if err != nil {
			return err
		}
		if err := s.drop(id, o, 0, Events.Expired, ReasonExpiry, "", ""); err != nil {
			return err
		}
	}
	return nil
}

// dropUnpaid drops every object lease l paid for: l has just closed.
func (s *store) dropUnpaid(l *market.Lease) error {
	roots, err := s.objectsOn(l.ID, 0)
	if err != nil {
		return err
	}
	for _, id := range roots {
		o, err := s.object(id)
		if errs.KindOf(err) == errs.NotFound {
			// An index entry without its object cannot be made by drop,
			// which deletes both; if one is ever found, it must not stop
			// the block that closes the lease.
			s.kv.Delete(key(prefLeaseObj, be(l.ID), id[:]))
			continue
		}
		if err != nil {
			return err
		}
		err = s.drop(id, o, l.ID, Events.Expired, ReasonUnpaid, ledger.FormatInt(l.ID), l.CloseReason)
		if err != nil {
			return err
		}
	}
	return nil
}

// countShards adds delta to owner's reference count of every shard
// placement in man; a shard placed twice on one provider counts twice.
func (s *store) countShards(man *storage.Manifest, owner identity.Address, delta int) error {
	counts := map[string]int{}
	var order []string
	for _, seg := range man.Segments {
		for _, sh := range seg.Shards {
			a, err := identity.ParseDID(sh.Provider)
			if err != nil {
				return errs.E(errs.Internal, "objects: placed shard with provider %q: %v", sh.Provider, err)
			}
			k := string(key(prefShard, a[:], sh.Hash[:], owner[:]))
			if counts[k] == 0 {
				order = append(order, k)
			}
			counts[k]++
		}
	}
	for _, k := range order {
		n := s.shardRefs([]byte(k))
		switch {
		case delta > 0:
			n += uint64(counts[k])
		default:
			n -= min(n, uint64(counts[k]))
		}
		if n == 0 {
			s.kv.Delete([]byte(k))
		} else {
			s.kv.Set([]byte(k), binary.AppendUvarint(nil, n))
		}
	}
	return nil
}

func (s *store) shardRefs(k []byte) uint64 {
	b := s.kv.Get(k)
	if b == nil {
		return 0
	}
	n, _ := binary.Uvarint(b)
	return n
}
