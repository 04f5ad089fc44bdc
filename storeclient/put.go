package storeclient

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// MaxManifestShards bounds the shards of one object, so that its manifest
// (33 bytes a shard) fits in one transaction. Objects that would have more
// get larger segments; see SegmentSizeFor.
const MaxManifestShards = 24_576

// DefaultPrepay is how long the deposits of a put's leases last when
// neither PutOptions.Prepay nor an expiry says otherwise.
const DefaultPrepay = 30 * 24 * time.Hour

// ExpiryMargin is what Put prepays beyond PutOptions.Expires when Prepay is
// not set, for the time the upload takes before the commit.
const ExpiryMargin = time.Hour

// leaseGranule rounds a lease's quantity up, so that a small object's lease
// still has a rate above zero.
const leaseGranule = 4 << 10

// SegmentSizeFor returns the segment size of an object of size bytes with
// k+m shards a segment: storage.DefaultSegmentSize (4 MiB), doubled until the
// object has at most MaxManifestShards shards, up to
// storage.MaxSegmentSize (64 MiB). Objects up to about 19 GiB at 3+2 keep
// 4 MiB segments.
func SegmentSizeFor(size int64, shards int) int64 {
	seg := int64(storage.DefaultSegmentSize)
	for seg < storage.MaxSegmentSize && (size+seg-1)/seg*int64(shards) > MaxManifestShards {
		seg *= 2
	}
	return seg
}

// PutOptions adjust Put. The zero value stores with 3+2 redundancy, no
// expiry and 30 days of prepaid storage.
type PutOptions struct {
	// K and M are the data and parity shards a segment; 0 and 0 mean 3+2.
	K, M int
	// Expires removes the object this long after it is committed; 0 keeps
	// it until it is removed.
	Expires time.Duration
	// Prepay is how long each lease's deposit lasts at its rate; 0 means
	// until the expiry plus ExpiryMargin, or DefaultPrepay without one.
	// The object is dropped when the first lease's deposit runs out,
	// unless it is renewed (Renew).
	Prepay time.Duration
	// Progress, if set, is called as bytes of the file are stored, with the
	// bytes done and the total. Calls do not overlap.
	Progress func(done, total int64)
	// Parallel is how many segments are encoded and uploaded at once; 0
	// means twice the CPUs, at least 4.
	Parallel int
	// Private seals the bytes with a fresh data key before they are
	// coded, and commits the key wrapped to the owner's key (private.go):
	// providers serve the shards only to the owner and the DIDs it grants
	// access (Grant), and the ID and shard hashes are over the sealed
	// bytes. Size in the result is then the sealed size.
	Private bool
}

// PutResult says what Put stored.
type PutResult struct {
	ID        string         `json:"id"`
	Size      int64          `json:"size"`
	Params    storage.Params `json:"params"`
	Leases    []uint64       `json:"leases"`
	Providers []string       `json:"providers"`
	Deposit   uint64         `json:"deposit,string"` // ustr, all leases
	Rate      uint64         `json:"rate,string"`    // nano-ustr per second, all leases
	ExpiresMs int64          `json:"expires_ms,omitempty"`
	Tx        string         `json:"tx"`
	Height    int64          `json:"height"`
	// Existing says the same bytes with the same redundancy were already
	// stored by the same owner: Put spent nothing and returned that
	// object (Deposit, Rate, Tx and Height are then zero).
	Existing bool `json:"existing,omitempty"`
	// PaidUntilMs is when the first of the object's leases runs out of
	// escrow (objects.ObjectView.PaidUntilMs), for an existing object.
	PaidUntilMs int64 `json:"paid_until_ms,omitempty"`
	// Private says the object is private (PutOptions.Private).
	Private bool `json:"private,omitempty"`
}

// candidate is a storage provider a put may place shards on.
type candidate struct {
	p     market.Provider
	price uint64 // nano-ustr per GiB-second, as the lease would open
}

// Put stores the size bytes of r as an object owned by key and returns its
// ID. It first encodes r without sending anything, to learn the object's ID,
// and asks the ledger for it: if key already owns that object, Put returns
// it (PutResult.Existing) and spends nothing; if another account does, it
// fails with Conflict, again before spending anything. Otherwise it opens
// one storage lease with each of k+m providers, uploads each segment's
// shards to them in parallel, and then commits the manifest. If it fails
// before the commit, it closes the leases it opened (refunding their
// escrow); the providers' garbage collectors delete any shards it uploaded.
// Nothing on the ledger points at a shard before every shard is stored.
func (c *Client) Put(ctx context.Context, key *identity.Key, r io.ReaderAt, size int64, o PutOptions) (res *PutResult, err error) {
	var wrapped []byte
	if o.Private {
		s, err := seal(r, size, key.Address())
		if err != nil {
			return nil, err
		}
		r, size, wrapped = s.r, s.size, s.wrapped
	}
	p, err := putParams(size, o)
	if err != nil {
		return nil, err
	}
	nseg := p.SegmentCount(size)
	var perProv int64 // each provider holds one shard of every segment
	for i := 0; i < nseg; i++ {
		perProv += p.ShardSize(p.SegmentLength(size, i))
	}
	prepay := o.Prepay
	if prepay == 0 {
		prepay = DefaultPrepay
		if o.Expires > 0 {
			// The expiry counts from the commit, the deposits from the
			// leases' opening: the upload comes between. An object whose
			// lease ran out before its expiry would be dropped as unpaid;
			// what is left at the expiry is refunded.
			prepay = o.Expires + ExpiryMargin
		}
	}
	// The ID first: nothing is spent before we know whether the object is
	// already stored. A private object's bytes are sealed with a fresh
	// key, so they are never stored already: no need to encode them twice.
	var id storage.ID
	if !o.Private {
		if id, err = c.objectID(ctx, r, size, p, o); err != nil {
			return nil, err
		}
		if res, err := c.existing(ctx, key, id); res != nil || err != nil {
			return res, err
		}
	}
	out := &PutResult{Size: size, Params: p, Leases: []uint64{}, Providers: []string{}}
	up := &uploaded{}
	var provs []candidate
	if nseg > 0 {
		if provs, err = c.choose(ctx, p, uint64(perProv)); err != nil {
			return nil, err
		}
		quantity := (uint64(perProv) + leaseGranule - 1) / leaseGranule * leaseGranule
		if out.Leases, out.Deposit, out.Rate, err = c.openLeases(ctx, key, provs, quantity, prepay); err != nil {
			return nil, err
		}
		for _, cp := range provs {
			out.Providers = append(out.Providers, cp.p.Operator.String())
		}
		defer func() {
			if err != nil {
				c.deleteShards(key, up.list())
				c.closeLeases(key, out.Leases)
			}
		}()
	}
	man, err := c.encode(ctx, r, size, p, o, func(ctx context.Context, i int, es *storage.EncodedSegment, progress func(int64)) error {
		return c.putSegment(ctx, key, i, es, provs, progress, up)
	})
	if err != nil {
		return nil, err
	}
	if !o.Private && man.ID() != id {
		return nil, errs.E(errs.Conflict, "the file changed while it was being stored (its ID was %s, and is now %s): store it again once it is no longer written to", id, man.ID())
	}
	if err := c.waitActive(ctx, out.Leases); err != nil {
		return nil, err
	}
	raw, err := man.MarshalBinary()
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, cp := range provs {
		urls[cp.p.Operator.String()] = cp.p.Endpoint
	}
	rcs, err := c.receipts(ctx, key, raw, man, urls)
	if err != nil {
		return nil, err
	}
	msg := &objects.Commit{Manifest: raw, Leases: out.Leases, Public: !o.Private, Receipts: rcs, WrappedKey: wrapped}
	if o.Expires > 0 {
		msg.ExpiresMs = time.Now().Add(o.Expires).UnixMilli()
		out.ExpiresMs = msg.ExpiresMs
	}
	tx, err := c.api.Send(ctx, key, msg, client.SendOptions{})
	if err != nil {
		return nil, fmt.Errorf("committing the manifest: %w", err)
	}
	out.ID, out.Tx, out.Height, out.Private = man.ID().String(), tx.Hash, tx.Height, o.Private
	return out, nil
}

// putParams returns the coding parameters Put uses for an object of size
// bytes: o's redundancy (3+2 by default) and SegmentSizeFor's segments.
func putParams(size int64, o PutOptions) (storage.Params, error) {
	p := storage.DefaultParams()
	if o.K != 0 || o.M != 0 {
		p.K, p.M = o.K, o.M
	}
	if size < 0 || size > storage.MaxObjectSize {
		return p, errs.E(errs.Invalid, "object size %d is outside [0, %d]", size, int64(storage.MaxObjectSize))
	}
	p.SegmentSize = SegmentSizeFor(size, p.Shards())
	if err := p.Validate(); err != nil {
		return p, err
	}
	if n := p.SegmentCount(size) * p.Shards(); n > MaxManifestShards {
		return p, errs.E(errs.TooLarge, "a %d-byte object with %s redundancy has %d shards, more than the %d one manifest holds: split the file or lower the redundancy", size, p.Redundancy(), n, MaxManifestShards)
	}
	return p, nil
}

// ObjectID returns the ID that Put gives the size bytes of r with o's
// redundancy, without sending anything: it encodes r (o.Parallel segments
// at a time) and hashes the shards. It fails with Invalid or TooLarge as
// Put would, or with r's error.
func (c *Client) ObjectID(ctx context.Context, r io.ReaderAt, size int64, o PutOptions) (storage.ID, error) {
	p, err := putParams(size, o)
	if err != nil {
		return storage.ID{}, err
	}
	return c.objectID(ctx, r, size, p, o)
}

// objectID encodes r as Put would, in parallel, without storing anything,
// and returns the object's ID.
func (c *Client) objectID(ctx context.Context, r io.ReaderAt, size int64, p storage.Params, o PutOptions) (storage.ID, error) {
	o.Progress = nil
	man, err := c.encode(ctx, r, size, p, o, nil)
	if err != nil {
		return storage.ID{}, err
	}
	return man.ID(), nil
}

// existing returns what Put returns for object id if it is already stored
// by key's account, nil if nobody stores it, and a Conflict error if
// another account does.
func (c *Client) existing(ctx context.Context, key *identity.Key, id storage.ID) (*PutResult, error) {
	v, err := c.api.Object(ctx, id.String())
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("asking the ledger whether object %s is stored already: %w", id, err)
	}
	if v.Owner != key.Address() {
		how := "it is private"
		if v.Public {
			how = "it is public: read it with `stratus store get " + v.ID + "`"
		}
		return nil, errs.E(errs.Conflict, "the same bytes with %d+%d redundancy are already stored as object %s, owned by %s (%s); to own a copy, store them with another redundancy", v.K, v.M, v.ID, v.Owner, how)
	}
	m, err := storage.DecodeManifest(v.Manifest)
	if err != nil || m.ID() != id {
		return nil, errs.E(errs.Internal, "the node returned a manifest for %s that does not match it: use another node", id)
	}
	out := &PutResult{ID: v.ID, Size: v.Size, Params: m.Params, Leases: []uint64{}, Providers: []string{},
		ExpiresMs: v.ExpiresMs, Existing: true, PaidUntilMs: v.PaidUntilMs}
	seen := map[string]bool{}
	for _, sh := range v.Leases {
		out.Leases = append(out.Leases, sh.Lease)
		if p := sh.Provider.String(); !seen[p] {
			seen[p] = true
			out.Providers = append(out.Providers, p)
		}
	}
	return out, nil
}

// choose picks k+m distinct active storage providers with room for need
// bytes each and a healthy shard API, the cheapest first.
func (c *Client) choose(ctx context.Context, p storage.Params, need uint64) ([]candidate, error) {
	ps, err := c.api.Providers(ctx)
	if err != nil {
		return nil, err
	}
	prices, err := c.api.Prices(ctx)
	if err != nil {
		return nil, err
	}
	var ref uint64
	for _, pr := range prices {
		if pr.Class == market.ClassStorage {
			ref = pr.Reference
		}
	}
	quantity := (need + leaseGranule - 1) / leaseGranule * leaseGranule
	var cands []candidate
	for _, pv := range ps {
		if pv.State != market.ProviderActive {
			continue
		}
		for _, of := range pv.Offers {
			if of.Class != market.ClassStorage || of.Capacity-min(of.Capacity, of.Used) < quantity {
				continue
			}
			price, err := market.EffectivePrice(of.Pricing, ref, of, quantity)
			if err != nil {
				continue
			}
			cands = append(cands, candidate{p: pv, price: price})
		}
	}
	// Only providers whose shard API answers now.
	healthy := make([]bool, len(cands))
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 2 * time.Second}
	for i, cd := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, cd.p.Endpoint+"/healthz", nil)
			if err != nil {
				return
			}
			resp, err := hc.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			healthy[i] = resp.StatusCode == http.StatusOK
		}()
	}
	wg.Wait()
	var up []candidate
	for i, cd := range cands {
		if healthy[i] {
			up = append(up, cd)
		}
	}
	n := p.Shards()
	if len(up) < n {
		return nil, errs.E(errs.Unavailable, "%s redundancy needs %d storage providers with %d bytes free each, and %d of the %d registered are up and have room: lower --redundancy (e.g. %d+%d) or try again when more providers are up",
			p.Redundancy(), n, quantity, len(up), len(ps), max(1, min(p.K, len(up)-1)), min(p.M, max(0, len(up)-1)))
	}
	// Cheapest first; among equals, higher score, then at random so that
	// clients spread their load.
	rand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	sort.SliceStable(up, func(i, j int) bool {
		if up[i].price != up[j].price {
			return up[i].price < up[j].price
		}
		return up[i].p.Score > up[j].p.Score
	})
	return up[:n], nil
}

// openLeases opens a storage lease with each provider, all in one block:
// the transactions take consecutive nonces and go in together. It returns
// the lease IDs in provider order, the total deposit and the total rate.
func (c *Client) openLeases(ctx context.Context, key *identity.Key, provs []candidate, quantity uint64, prepay time.Duration) ([]uint64, uint64, uint64, error) {
	secs := uint64(max(prepay/time.Second, 1))
	var msgs []ledger.Msg
	var deposit, rate uint64
	for _, cp := range provs {
		r, err := market.LeaseRate(cp.price, quantity, market.ClassStorage)
		if err != nil {
			return nil, 0, 0, err
		}
		// ceil(rate × secs / 10^9) ustr, at least 1.
		d, rem, err := money.MulDiv(r, secs, market.NanoPerUstr)
		if err != nil {
			return nil, 0, 0, errs.E(errs.Invalid, "the deposit for %s overflows: prepay for less", prepay)
		}
		if rem > 0 || d == 0 {
			d++
		}
		a := cp.p.Operator
		msgs = append(msgs, &market.OpenLease{Class: market.ClassStorage, Quantity: quantity, Deposit: d, Provider: &a, MaxPrice: cp.price + cp.price/4})
		deposit += d
		rate += r
	}
	results, err := c.sendAll(ctx, key, msgs)
	var ids []uint64
	for _, res := range results {
		for _, ev := range res.Events {
			if k := market.Events.LeaseOpened; ev.Type == k.Type {
				if id, perr := strconv.ParseUint(ev.Attrs[k.Key("lease")], 10, 64); perr == nil {
					ids = append(ids, id)
				}
			}
		}
	}
	if err != nil {
		c.closeLeases(key, ids)
		if errs.Is(err, errs.Insufficient) {
			return nil, 0, 0, errs.E(errs.Insufficient, "storing this object needs %s of deposits (%d leases, %s prepaid) plus fees: %v; fund the account or pass a shorter --prepay", money.Format(deposit), len(msgs), prepay, err)
		}
		return nil, 0, 0, fmt.Errorf("opening storage leases: %w", err)
	}
	if len(ids) != len(msgs) {
		c.closeLeases(key, ids)
		return nil, 0, 0, errs.E(errs.Internal, "opened %d leases but the node reported %d lease.opened events", len(msgs), len(ids))
	}
	return ids, deposit, rate, nil
}

// sendAll signs msgs with consecutive nonces, submits them in order and
// waits for all of them to commit. It returns the results of those that
// committed and the first error.
func (c *Client) sendAll(ctx context.Context, key *identity.Key, msgs []ledger.Msg) ([]api.TxResult, error) {
	ch, err := c.api.Chain(ctx)
	if err != nil {
		return nil, err
	}
	acct, err := c.api.Account(ctx, key.Address().String())
	if err != nil {
		return nil, err
	}
	bal, err := money.ParseUstr(acct.Balance)
	if err != nil {
		return nil, err
	}
	var hashes []string
	var results []api.TxResult
	for i, m := range msgs {
		tx, _, err := c.api.Prepare(ctx, ch, key, m, acct.Nonce+uint64(i), bal, client.SendOptions{})
		if err != nil {
			return results, err
		}
		last := i == len(msgs)-1
		res, err := c.api.SubmitTx(ctx, tx.Bytes(), last)
		if err != nil {
			return results, err
		}
		if !last {
			hashes = append(hashes, res.Hash)
			continue
		}
		// The last is committed, so the earlier ones, submitted before it
		// with lower nonces, are too.
		for _, h := range hashes {
			r, err := c.api.Tx(ctx, h)
			if err != nil {
				return results, err
			}
			if r.Code != ledger.CodeOK {
				return results, &errs.Error{Kind: ledger.KindOfCode(r.Code), Msg: fmt.Sprintf("transaction %s failed: %s", r.Hash, r.Log)}
			}
			results = append(results, r)
		}
		if res.Code != ledger.CodeOK {
			return results, &errs.Error{Kind: ledger.KindOfCode(res.Code), Msg: fmt.Sprintf("transaction %s failed: %s", res.Hash, res.Log)}
		}
		results = append(results, res)
	}
	return results, nil
}

// closeLeases closes leases after a failed put, best effort and with a
// fresh context, since the put's may be what ended.
func (c *Client) closeLeases(key *identity.Key, ids []uint64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []ledger.Msg
	for _, id := range ids {
		msgs = append(msgs, &market.CloseLease{ID: id})
	}
	if _, err := c.sendAll(ctx, key, msgs); err != nil {
		c.log.Warn("could not close the leases of a failed put: close them with `stratus lease close`", "leases", ids, "err", err)
	}
}

// waitActive waits until the providers have acknowledged every lease.
func (c *Client) waitActive(ctx context.Context, ids []uint64) error {
	deadline := time.Now().Add(time.Minute)
	for _, id := range ids {
		for {
			l, err := c.api.Lease(ctx, id)
			if err != nil {
				return err
			}
			if l.State == market.LeaseActive {
				break
			}
			if l.State != market.LeasePending {
				return errs.E(errs.Conflict, "lease %d with %s is %s, not active: try the put again", id, l.Provider, l.State)
			}
			if time.Now().After(deadline) {
				return errs.E(errs.Timeout, "provider %s has not acknowledged lease %d within a minute: try the put again", l.Provider, id)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// encode encodes r segment by segment, o.Parallel segments at a time, and
// hands each to send if it is not nil (Put's send stores segment i's shard
// j on provs[(i+j) % n], so that data and parity shards spread over all of
// them, and places them in the segment). It returns the manifest.
func (c *Client) encode(ctx context.Context, r io.ReaderAt, size int64, p storage.Params, o PutOptions, send func(ctx context.Context, i int, es *storage.EncodedSegment, progress func(int64)) error) (*storage.Manifest, error) {
	nseg := p.SegmentCount(size)
	man := &storage.Manifest{Size: size, Params: p, Segments: make([]storage.Segment, nseg)}
	if nseg == 0 {
		return man, nil
	}
	var total int64
	for i := 0; i < nseg; i++ {
		total += p.ShardSize(p.SegmentLength(size, i)) * int64(p.Shards())
	}
	workers := o.Parallel
	if workers <= 0 {
		workers = max(8, 4*runtime.GOMAXPROCS(0))
	}
	workers = min(workers, nseg)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		pmu  sync.Mutex
		sent int64
	)
	progress := func(n int64) {
		if o.Progress == nil {
			return
		}
		pmu.Lock()
		defer pmu.Unlock()
		sent += n
		o.Progress(size*sent/total, size)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc, err := storage.NewEncoder(p)
			if err != nil {
				cancel(err)
				return
			}
			buf := make([]byte, p.SegmentSize)
			for i := range jobs {
				n := p.SegmentLength(size, i)
				if _, err := r.ReadAt(buf[:n], int64(i)*p.SegmentSize); err != nil && !(err == io.EOF && n > 0) {
					cancel(fmt.Errorf("reading segment %d: %w", i, err))
					return
				}
				es, err := enc.EncodeSegment(buf[:n])
				if err != nil {
					cancel(err)
					return
				}
				if send != nil {
					err = send(ctx, i, &es, progress)
				}
				man.Segments[i] = es.Segment
				es.Release()
				if err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
feed:
	for i := 0; i < nseg; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return man, nil
}

// putSegment uploads one segment's shards in parallel, each with
// PlaceShard, and fills in their providers.
func (c *Client) putSegment(ctx context.Context, key *identity.Key, i int, es *storage.EncodedSegment, provs []candidate, progress func(int64), up *uploaded) error {
	n := len(provs)
	errc := make(chan error, len(es.Shards))
	for j, data := range es.Shards {
		cp := provs[(i+j)%n]
		es.Segment.Shards[j].Provider = cp.p.Operator.String()
		h := shardstore.Hash(es.Segment.Shards[j].Hash)
		go func() {
			if err := c.PlaceShard(ctx, key, cp.p.Endpoint, h, data); err != nil {
				errc <- fmt.Errorf("storing shard %d of segment %d on provider %s (%s): %w", j, i, cp.p.Operator, cp.p.Endpoint, err)
				return
			}
			up.add(cp.p.Endpoint, h)
			progress(int64(len(data)))
			errc <- nil
		}()
	}
	var first error
	for range es.Shards {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// uploaded records the shards a put stored, so that a put that fails can
// delete them rather than leave them to the providers' collectors (they
// count against the consumer's quota until then).
type uploaded struct {
	mu     sync.Mutex
	shards []shardAt
}

type shardAt struct {
	endpoint string
	hash     shardstore.Hash
}

func (u *uploaded) add(endpoint string, h shardstore.Hash) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.shards = append(u.shards, shardAt{endpoint, h})
}

func (u *uploaded) list() []shardAt {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]shardAt(nil), u.shards...)
}

// deleteShards asks the providers to delete shards, best effort and with
// a fresh context. A shard a live object uses is refused (Conflict) and
// kept; one that cannot be deleted now is left to the provider's garbage
// collector.
func (c *Client) deleteShards(key *identity.Key, shards []shardAt) (deleted, kept, deferred int) {
	if len(shards) == 0 {
		return 0, 0, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[shardAt]bool{}
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, t := range shards {
		if seen[t] {
			continue
		}
		seen[t] = true
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := errs.E(errs.Unavailable, "the provider is not registered")
			if t.endpoint != "" {
				err = c.shards.DeleteShard(ctx, t.endpoint, key, t.hash)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil, errs.Is(err, errs.NotFound):
				deleted++
			case errs.Is(err, errs.Conflict):
				kept++
			default:
				deferred++
				c.log.Warn("a provider did not delete a shard; its garbage collector will", "endpoint", t.endpoint, "shard", t.hash, "err", err)
			}
		}()
	}
	wg.Wait()
	return deleted, kept, deferred
}
