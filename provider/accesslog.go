package provider

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// The access log: every signed read of a private object's shard that this
// provider serves is recorded, durably, before the first byte is sent, and
// each finished market epoch's records are anchored on the ledger
// (objects/anchor) as the RFC 6962 root over their leaf hashes, in record
// order. An owner fetches the records of its object (GET /access) with an
// inclusion proof of each against its epoch's anchor, and checks both the
// proof and the reader's own signature: docs/storage.md "Access logs".

// AccessRecord is one read, as recorded and as anchored. Every field but
// Objects is in the leaf (see Leaf).
type AccessRecord struct {
	// Epoch is the market epoch whose batch holds the record, and Index
	// its place in that batch (0, 1, ...): the leaf index of its proof.
	Epoch uint64 `json:"epoch,string"`
	Index uint64 `json:"index,string"`
	// Provider is the did:key of the provider that served the read.
	Provider string `json:"provider"`
	// Reader is the did:key that signed the request.
	Reader string `json:"reader"`
	// Shard is the hash of the shard read; Offset and Bytes the range
	// served.
	Shard  storage.Hash `json:"shard"`
	Offset int64        `json:"offset"`
	Bytes  int64        `json:"bytes"`
	// ServedMs is when the provider served it, in unix ms.
	ServedMs int64 `json:"served_ms"`
	// Request is the reader's signed request, enough to check its
	// signature offline.
	Request httpsig.Recorded `json:"request"`
	// Objects are the objects the shard belongs to, when the provider
	// says so. Not in the leaf: the ledger is the authority on which
	// objects a shard is part of.
	Objects []string `json:"objects,omitempty"`
}

// leafDomain starts every leaf, so an access record's leaf can never be
// read as any other signed or hashed structure of Stratus.
const leafDomain = "stratus/access-record/v1\n"

// Leaf is the record's canonical encoding, the bytes its Merkle leaf hash
// is taken over (RFC 6962: SHA-256(0x00 || Leaf)):
//
//	"stratus/access-record/v1\n"
//	u64(epoch) u64(index) u64(served_ms) u64(offset) u64(bytes) shard[32]
//	str(provider) str(reader)
//	str(method) str(authority) str(path) str(query) str(content_digest)
//	str(signature_input) str(signature)
//
// where u64 is 8 bytes big-endian and str is a 4-byte big-endian length
// and the bytes. Every field is fixed-size or length-prefixed, so two
// records have the same leaf only if every field is the same.
func (r *AccessRecord) Leaf() []byte {
	b := make([]byte, 0, 512)
	b = append(b, leafDomain...)
	for _, v := range []uint64{r.Epoch, r.Index, uint64(r.ServedMs), uint64(r.Offset), uint64(r.Bytes)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = append(b, r.Shard[:]...)
	q := r.Request
	for _, s := range []string{r.Provider, r.Reader, q.Method, q.Authority, q.Path, q.Query, q.ContentDigest, q.SignatureInput, q.Signature} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// LeafHash is the record's RFC 6962 leaf hash.
func (r *AccessRecord) LeafHash() []byte { return rfc6962.DefaultHasher.HashLeaf(r.Leaf()) }

// AccessRoot returns the RFC 6962 root over leaf hashes, in order: what a
// provider anchors for an epoch.
func AccessRoot(leaves [][]byte) storage.Hash {
	var h storage.Hash
	if len(leaves) == 0 {
		copy(h[:], rfc6962.DefaultHasher.EmptyRoot())
		return h
	}
	r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(l, nil); err != nil {
			panic(err) // a range built here from scratch is never corrupt
		}
	}
	sum, err := r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	copy(h[:], sum)
	return h
}

// accessProof returns the inclusion proof of leaf index among leaves.
func accessProof(leaves [][]byte, index uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, uint64(len(leaves)))
	if err != nil {
		return nil, errs.E(errs.Internal, "access log proof of record %d of %d: %v", index, len(leaves), err)
	}
	want := make(map[compact.NodeID]int, len(nodes.IDs))
	for i, id := range nodes.IDs {
		want[id] = i
	}
	hashes := make([][]byte, len(nodes.IDs))
	r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(l, func(id compact.NodeID, h []byte) {
			if i, ok := want[id]; ok {
				hashes[i] = h
			}
		}); err != nil {
			return nil, errs.E(errs.Internal, "access log proof: %v", err)
		}
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// VerifyAccessProof checks that rec is record rec.Index of an anchored
// batch of count records with root. It returns an error of kind Invalid if
// it is not: the record was changed, moved or never anchored.
func VerifyAccessProof(rec *AccessRecord, root storage.Hash, count uint64, path [][]byte) error {
	if rec.Index >= count {
		return errs.E(errs.Invalid, "record %d of epoch %d is past the %d records anchored", rec.Index, rec.Epoch, count)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, rec.Index, count, rec.LeafHash(), path, root[:]); err != nil {
		return errs.E(errs.Invalid, "record %d of epoch %d is not in the anchored log (root %s, %d records): %v", rec.Index, rec.Epoch, root, count, err)
	}
	return nil
}

// VerifyAccessSignature checks that rec is a read the reader asked for:
// the recorded request's signature is good, its keyid is rec.Reader, and it
// is a GET of rec.Shard. It returns an error of kind Unauthorized saying
// what is wrong.
func VerifyAccessSignature(rec *AccessRecord) error {
	signer, _, err := rec.Request.Verify()
	if err != nil {
		return err
	}
	if signer.String() != rec.Reader {
		return errs.E(errs.Unauthorized, "the record names reader %s but the request was signed by %s", rec.Reader, signer)
	}
	if rec.Request.Method != http.MethodGet || rec.Request.Path != "/shards/"+rec.Shard.String() {
		return errs.E(errs.Unauthorized, "the signed request %s %s is not a read of shard %s", rec.Request.Method, rec.Request.Path, rec.Shard)
	}
	return checkSignedRange(rec)
}

// checkSignedRange checks the record's range against the one the reader
// signed (?range=bytes=A-B in the query, as shardserver.Client signs its
// reads): the provider may have sent less than was asked (the shard ends
// first), never other bytes or more. A read without a signed range asked
// for the whole shard.
func checkSignedRange(rec *AccessRecord) error {
	q, err := url.ParseQuery(strings.TrimPrefix(rec.Request.Query, "?"))
	if err != nil {
		return errs.E(errs.Unauthorized, "the signed query %q is malformed", rec.Request.Query)
	}
	rng := q.Get("range")
	if rng == "" {
		if rec.Offset != 0 {
			return errs.E(errs.Unauthorized, "the reader asked for the whole shard, but the record says bytes from %d", rec.Offset)
		}
		return nil
	}
	first, last, ok := strings.Cut(strings.TrimPrefix(rng, "bytes="), "-")
	if !ok || first == "" {
		return nil // a suffix range: its offset depends on the shard's size
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return errs.E(errs.Unauthorized, "the signed range %q is malformed", rng)
	}
	if rec.Offset != a {
		return errs.E(errs.Unauthorized, "the reader asked for %s, but the record says bytes from %d", rng, rec.Offset)
	}
	if last != "" {
		if b, err := strconv.ParseInt(last, 10, 64); err == nil && rec.Bytes > b-a+1 {
			return errs.E(errs.Unauthorized, "the reader asked for %s (%d bytes), but the record says %d", rng, b-a+1, rec.Bytes)
		}
	}
	return nil
}

// Keys of the access log in the provider's index (Dir/meta), apart from
// the claims ('o'):
//
//	'a' epoch(8) index(8)          -> AccessRecord (JSON)
//	'l' epoch(8) index(8)          -> the record's leaf hash (32 bytes)
//	'h' shard(32) epoch(8) index(8) -> empty: the records of a shard
//	'n' epoch(8)                   -> uint64: the epoch's record count
//	'k' epoch(8)                   -> root(32) count(8) height(8): anchored
//	's'                            -> uint64: the last sealed epoch + 1
//
// A sealed epoch takes no more records: the agent seals every epoch it
// anchors before it reads the batch, so a read served while it anchors goes
// into the next epoch's batch, never into an anchored one.
const (
	prefRecord   = 'a'
	prefLeaf     = 'l'
	prefByShard  = 'h'
	prefCount    = 'n'
	prefAnchored = 'k'
	keySealed    = 's'
)

func epochKey(p byte, epoch uint64, rest ...uint64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{p}, epoch)
	for _, v := range rest {
		k = binary.BigEndian.AppendUint64(k, v)
	}
	return k
}

// AccessLedger is what the access log reads from the ledger.
type AccessLedger interface {
	// AnchorWindow is the epochs that may be anchored now, and the
	// epoch length.
	AnchorWindow(ctx context.Context) (objects.AnchorWindow, error)
	// Anchor is provider's anchor of epoch; NotFound if there is none.
	Anchor(ctx context.Context, provider identity.Address, epoch uint64) (objects.AnchorRecord, error)
	// Object is an object's record with its decoded manifest.
	Object(ctx context.Context, id string) (objects.ObjectView, error)
}

// AccessLog is a provider's access log, kept in its index. It is a
// shardserver.ReadLogger. It is safe for concurrent use.
type AccessLog struct {
	db        *pebble.DB
	ledger    AccessLedger
	provider  identity.Address
	authority string
	now       func() time.Time

	mu       sync.Mutex // one record or seal at a time, so indexes are dense
	epochMs  int64      // the epoch length, once read from the ledger
	sealedTo uint64     // epochs below it take no records

	objMu   sync.Mutex
	objects map[string]objectInfo // GET /access's answers about objects
}

func newAccessLog(db *pebble.DB, l AccessLedger, provider identity.Address, authority string, now func() time.Time) (*AccessLog, error) {
	a := &AccessLog{db: db, ledger: l, provider: provider, authority: authority, now: now}
	v, err := a.getU64([]byte{keySealed})
	if err != nil {
		return nil, err
	}
	a.sealedTo = v
	return a, nil
}

func (a *AccessLog) getU64(k []byte) (uint64, error) {
	v, closer, err := a.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, ioErr(err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, errs.E(errs.Internal, "the access log holds a malformed entry %x", k)
	}
	return binary.BigEndian.Uint64(v), nil
}

// epochLength returns the market epoch in ms, asking the ledger once.
func (a *AccessLog) epochLength(ctx context.Context) (int64, error) {
	a.mu.Lock()
	ms := a.epochMs
	a.mu.Unlock()
	if ms > 0 {
		return ms, nil
	}
	w, err := a.ledger.AnchorWindow(ctx)
	if err != nil {
		return 0, err
	}
	if w.EpochSeconds <= 0 {
		return 0, errs.E(errs.Internal, "the ledger reports an epoch of %d s", w.EpochSeconds)
	}
	a.mu.Lock()
	a.epochMs = w.EpochSeconds * 1000
	a.mu.Unlock()
	return w.EpochSeconds * 1000, nil
}

// Record implements shardserver.ReadLogger: it stores the read, synced,
// and returns only once it is on disk. Its errors refuse the read.
func (a *AccessLog) Record(ctx context.Context, r *http.Request, signer identity.Address, h shardstore.Hash, off, n int64) error {
	req, err := httpsig.Record(r, a.authority)
	if err != nil {
		return err
	}
	epochMs, err := a.epochLength(ctx)
	if err != nil {
		return errs.E(errs.Unavailable, "cannot record the read, so it is not served: the ledger's epoch is unknown: %w", err)
	}
	now := a.now().UnixMilli()
	rec := AccessRecord{Provider: a.provider.String(), Reader: signer.String(), Shard: storage.Hash(h),
		Offset: off, Bytes: n, ServedMs: now, Request: req}
	a.mu.Lock()
	defer a.mu.Unlock()
	rec.Epoch = max(uint64(max(now, 0)/epochMs), a.sealedTo)
	if rec.Index, err = a.getU64(epochKey(prefCount, rec.Epoch)); err != nil {
		return err
	}
	body, err := json.Marshal(&rec)
	if err != nil {
		return errs.E(errs.Internal, "access record does not marshal: %v", err)
	}
	b := a.db.NewBatch()
	defer b.Close()
	b.Set(epochKey(prefRecord, rec.Epoch, rec.Index), body, nil)
	b.Set(epochKey(prefLeaf, rec.Epoch, rec.Index), rec.LeafHash(), nil)
	b.Set(append(append([]byte{prefByShard}, h[:]...), epochKey(0, rec.Epoch, rec.Index)[1:]...), nil, nil)
	b.Set(epochKey(prefCount, rec.Epoch), binary.BigEndian.AppendUint64(nil, rec.Index+1), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return errs.E(errs.Unavailable, "cannot record the read, so it is not served: %v", ioErr(err))
	}
	return nil
}

// record reads record index of epoch.
func (a *AccessLog) record(epoch, index uint64) (*AccessRecord, error) {
	v, closer, err := a.db.Get(epochKey(prefRecord, epoch, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errs.E(errs.NotFound, "no access record %d of epoch %d", index, epoch)
	}
	if err != nil {
		return nil, ioErr(err)
	}
	defer closer.Close()
	var rec AccessRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, errs.E(errs.Internal, "access record %d of epoch %d is malformed: %v", index, epoch, err)
	}
	return &rec, nil
}

// leaves returns the leaf hashes of epoch's first count records, as
// stored when each was recorded: a proof then costs 32 bytes a record, not
// a decode of each. A record changed on disk since keeps its old leaf hash
// here, and so fails where it is checked, against the record itself.
func (a *AccessLog) leaves(epoch, count uint64) ([][]byte, error) {
	out := make([][]byte, 0, min(count, 1<<16))
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: epochKey(prefLeaf, epoch, 0), UpperBound: epochKey(prefLeaf, epoch, count)})
	if err != nil {
		return nil, ioErr(err)
	}
	for it.First(); it.Valid(); it.Next() {
		if len(it.Value()) != 32 || binary.BigEndian.Uint64(it.Key()[9:]) != uint64(len(out)) {
			it.Close()
			return nil, errs.E(errs.Internal, "the access log's leaves of epoch %d are malformed at record %d", epoch, len(out))
		}
		out = append(out, bytes.Clone(it.Value()))
	}
	if err := it.Close(); err != nil {
		return nil, ioErr(err)
	}
	if uint64(len(out)) != count {
		return nil, errs.E(errs.Internal, "the access log has %d leaves of epoch %d, not %d", len(out), epoch, count)
	}
	return out, nil
}

// localAnchor is an anchor as the provider keeps it.
type localAnchor struct {
	Root   storage.Hash
	Count  uint64
	Height int64
}

func (a *AccessLog) anchored(epoch uint64) (localAnchor, bool, error) {
	v, closer, err := a.db.Get(epochKey(prefAnchored, epoch))
	if errors.Is(err, pebble.ErrNotFound) {
		return localAnchor{}, false, nil
	}
	if err != nil {
		return localAnchor{}, false, ioErr(err)
	}
	defer closer.Close()
	if len(v) != 48 {
		return localAnchor{}, false, errs.E(errs.Internal, "the access log's anchor of epoch %d is malformed", epoch)
	}
	var la localAnchor
	copy(la.Root[:], v)
	la.Count = binary.BigEndian.Uint64(v[32:])
	la.Height = int64(binary.BigEndian.Uint64(v[40:]))
	return la, true, nil
}

func (a *AccessLog) setAnchored(epoch uint64, la localAnchor) error {
	v := append(la.Root[:], binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, la.Count), uint64(la.Height))...)
	return ioErr(a.db.Set(epochKey(prefAnchored, epoch), v, pebble.Sync))
}

// seal makes every epoch below to take no more records.
func (a *AccessLog) seal(to uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if to <= a.sealedTo {
		return nil
	}
	if err := a.db.Set([]byte{keySealed}, binary.BigEndian.AppendUint64(nil, to), pebble.Sync); err != nil {
		return ioErr(err)
	}
	a.sealedTo = to
	return nil
}

// AnchorSubmitter sends objects/anchor, signed by the provider's key.
type AnchorSubmitter func(ctx context.Context, m *objects.Anchor) error

// AnchorDue anchors every finished epoch that has records and no anchor
// yet, oldest first, and returns how many it anchored. It is idempotent:
// an epoch the ledger already has an anchor of (sent before a restart, or
// whose answer was lost) is taken from the ledger, not sent again. Its
// first error stops it; the next call goes on from there.
func (a *AccessLog) AnchorDue(ctx context.Context, submit AnchorSubmitter) (int, error) {
	w, err := a.ledger.AnchorWindow(ctx)
	if err != nil {
		return 0, err
	}
	if w.Current == 0 {
		return 0, nil
	}
	if w.EpochSeconds > 0 {
		// Governance may change the epoch: new records follow.
		a.mu.Lock()
		a.epochMs = w.EpochSeconds * 1000
		a.mu.Unlock()
	}
	// Seal first: from now on a read goes into the current epoch or later.
	if err := a.seal(w.Current); err != nil {
		return 0, err
	}
	var due []uint64
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: epochKey(prefCount, w.Oldest), UpperBound: epochKey(prefCount, w.Current)})
	if err != nil {
		return 0, ioErr(err)
	}
	for it.First(); it.Valid(); it.Next() {
		due = append(due, binary.BigEndian.Uint64(it.Key()[1:]))
	}
	if err := it.Close(); err != nil {
		return 0, ioErr(err)
	}
	n := 0
	for _, epoch := range due {
		if _, ok, err := a.anchored(epoch); err != nil || ok {
			if err != nil {
				return n, err
			}
			continue
		}
		count, err := a.getU64(epochKey(prefCount, epoch))
		if err != nil {
			return n, err
		}
		if on, err := a.ledger.Anchor(ctx, a.provider, epoch); err == nil {
			if err := a.setAnchored(epoch, localAnchor{Root: on.Root, Count: on.Count, Height: on.Height}); err != nil {
				return n, err
			}
			continue
		} else if !errs.Is(err, errs.NotFound) {
			return n, err
		}
		leaves, err := a.leaves(epoch, count)
		if err != nil {
			return n, err
		}
		m := &objects.Anchor{Epoch: epoch, Root: AccessRoot(leaves), Count: count}
		if err := submit(ctx, m); err != nil && !errs.Is(err, errs.Conflict) {
			return n, err
		}
		on, err := a.ledger.Anchor(ctx, a.provider, epoch)
		if err != nil {
			return n, err
		}
		if err := a.setAnchored(epoch, localAnchor{Root: on.Root, Count: on.Count, Height: on.Height}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// AccessEntry is a record as GET /access returns it: with its anchor and
// inclusion proof, or Anchored false if its epoch is not anchored yet.
type AccessEntry struct {
	AccessRecord
	Anchored bool `json:"anchored"`
	// Root and Count are the epoch's anchor as the provider has it, and
	// Proof the record's inclusion proof against it. A verifier takes the
	// root and count from the ledger, not from here.
	Root  *storage.Hash `json:"root,omitempty"`
	Count uint64        `json:"count,string,omitempty"`
	Proof [][]byte      `json:"proof,omitempty"`
}

// AccessPage is the answer of GET /access.
type AccessPage struct {
	Provider string        `json:"provider"`
	Object   string        `json:"object"`
	Records  []AccessEntry `json:"records"`
	// More is true when there are more records than MaxAccessPage: ask
	// again with since set to the last record's served_ms.
	More bool `json:"more,omitempty"`
}

// MaxAccessPage bounds the records of one GET /access answer.
const MaxAccessPage = 1000

// entries returns the records of the shards hs served at or after since,
// in (epoch, index) order, at most MaxAccessPage of them, each with its
// proof if its epoch is anchored.
func (a *AccessLog) entries(hs []storage.Hash, since int64, object string) ([]AccessEntry, bool, error) {
	type pos struct{ epoch, index uint64 }
	var ps []pos
	for _, h := range hs {
		lo := append([]byte{prefByShard}, h[:]...)
		it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
		if err != nil {
			return nil, false, ioErr(err)
		}
		for it.First(); it.Valid(); it.Next() {
			k := it.Key()[len(lo):]
			if len(k) == 16 {
				ps = append(ps, pos{binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])})
			}
		}
		if err := it.Close(); err != nil {
			return nil, false, ioErr(err)
		}
	}
	sortPos := func(i, j pos) int {
		switch {
		case i.epoch != j.epoch:
			return cmpU64(i.epoch, j.epoch)
		default:
			return cmpU64(i.index, j.index)
		}
	}
	slices.SortFunc(ps, sortPos)
	var out []AccessEntry
	more := false
	leaves := map[uint64][][]byte{}
	for _, p := range ps {
		rec, err := a.record(p.epoch, p.index)
		if err != nil {
			return nil, false, err
		}
		if rec.ServedMs < since {
			continue
		}
		if len(out) == MaxAccessPage {
			more = true
			break
		}
		e := AccessEntry{AccessRecord: *rec}
		e.Objects = []string{object}
		la, ok, err := a.anchored(p.epoch)
		if err != nil {
			return nil, false, err
		}
		if ok && p.index < la.Count {
			ls, have := leaves[p.epoch]
			if !have {
				if ls, err = a.leaves(p.epoch, la.Count); err != nil {
					return nil, false, err
				}
				leaves[p.epoch] = ls
			}
			if e.Proof, err = accessProof(ls, p.index); err != nil {
				return nil, false, err
			}
			root := la.Root
			e.Anchored, e.Root, e.Count = true, &root, la.Count
		}
		out = append(out, e)
	}
	return out, more, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// shardsHere returns the hashes of the shards of man that this provider
// holds.
func shardsHere(man *storage.Manifest, provider string) []storage.Hash {
	seen := map[storage.Hash]bool{}
	var out []storage.Hash
	for _, seg := range man.Segments {
		for _, sh := range seg.Shards {
			if sh.Provider == provider && !seen[sh.Hash] {
				seen[sh.Hash] = true
				out = append(out, sh.Hash)
			}
		}
	}
	return out
}
