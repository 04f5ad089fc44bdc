package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// The storage provider's repair worker. The ledger assigns a lost shard
// (its provider missed its proofs, retired or went down) to a provider that
// holds no other shard of its segment; the worker of that provider fetches
// k verified shards of the segment from the others (storeclient's
// SegmentFetcher, the same reads as a get), rebuilds the lost one, checks
// it against the manifest's hash, stores it held for the object's owner
// (provider.Service.AcceptRepair) and commits objects/repair with one leaf
// and its proof. The jobs are taken in the order the ledger lists them,
// fewest healthy shards first, at most repairConcurrency at a time; a job
// that fails is tried again after a backoff that doubles up to
// repairMaxBackoff, for as long as the ledger lists it.

// repairConcurrency is how many repairs one provider rebuilds at once:
// each holds k+m shards of a segment in memory and reads from k providers,
// and much of its time is waiting on their disks and the network.
const repairConcurrency = 8

// Backoff of a failed repair: repairBackoff, doubled at each failure, up
// to repairMaxBackoff.
const (
	repairBackoff    = time.Second
	repairMaxBackoff = time.Minute
)

// jobKey names a repair: a shard of a segment of an object.
type jobKey struct {
	object         string
	segment, shard uint32
}

// retryState is a failed repair's backoff.
type retryState struct {
	failures int
	next     time.Time
}

// repairer is one storage provider's repair worker.
type repairer struct {
	n    *Node
	c    *client.Client
	sc   *storeclient.Client
	name string
	addr identity.Address
	snd  *sender
	log  *slog.Logger
	sem  chan struct{}
	// ended is signalled when a repair ends, so that the next starts
	// without waiting for the tick.
	ended chan struct{}

	mu      sync.Mutex
	running map[jobKey]bool
	retry   map[jobKey]retryState
	objects map[string]cachedObject
	wg      sync.WaitGroup
}

func newRepairer(n *Node, c *client.Client, name string, addr identity.Address, snd *sender, log *slog.Logger) *repairer {
	sc := storeclient.New(c)
	sc.SetLogger(log)
	return &repairer{n: n, c: c, sc: sc, name: name, addr: addr, snd: snd, log: log,
		sem: make(chan struct{}, repairConcurrency), ended: make(chan struct{}, 1), running: map[jobKey]bool{}, retry: map[jobKey]retryState{}, objects: map[string]cachedObject{}}
}

// run polls for repairs every tick, and as soon as a repair ends, until
// ctx ends; then it waits for the repairs under way.
func (w *repairer) run(ctx context.Context, every time.Duration) {
	defer w.wg.Wait()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.ended:
		}
		w.poll(ctx)
	}
}

// poll lists the repairs assigned to this provider and starts those not
// running or waiting out a backoff, in the ledger's order (fewest healthy
// shards first), as slots free up.
func (w *repairer) poll(ctx context.Context) {
	if w.n.storageService(w.name) == nil {
		return // stopped: nowhere to store a rebuilt shard
	}
	jobs, err := w.repairs(ctx)
	if err != nil {
		if ctx.Err() == nil && !errs.Is(err, errs.NotFound) {
			w.log.Warn("cannot list repairs", "err", err)
		}
		return
	}
	now := time.Now()
	listed := map[jobKey]bool{}
	for _, j := range jobs {
		if j.Assignee != w.addr.String() {
			continue
		}
		k := jobKey{j.Object, j.Segment, j.Shard}
		listed[k] = true
		w.mu.Lock()
		busy := w.running[k] || now.Before(w.retry[k].next)
		w.mu.Unlock()
		if busy {
			continue
		}
		select {
		case w.sem <- struct{}{}:
		default:
			return // all slots busy: the rest wait for the next poll, in order
		}
		w.mu.Lock()
		w.running[k] = true
		w.mu.Unlock()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			// The slot is freed once the shard is stored, or the repair
			// failed: its commit waits with the others for a block, and the
			// next rebuild need not.
			var once sync.Once
			free := func() {
				once.Do(func() {
					<-w.sem
					select {
					case w.ended <- struct{}{}:
					default:
					}
				})
			}
			defer free()
			start := time.Now()
			rs, err := w.repair(ctx, j, free)
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.running, k)
			if err == nil {
				delete(w.retry, k)
				w.log.Info("shard repaired", "object", j.Object, "segment", j.Segment, "shard", j.Shard, "bytes", rs.Bytes, "healthy", j.Healthy,
					"took", time.Since(start).Round(time.Millisecond), "rebuild", rs.Rebuild.Round(time.Millisecond), "store", rs.Store.Round(time.Millisecond), "commit", rs.Commit.Round(time.Millisecond))
				return
			}
			if ctx.Err() != nil {
				return
			}
			r := w.retry[k]
			r.failures++
			backoff := min(repairBackoff<<min(r.failures-1, 10), repairMaxBackoff)
			r.next = time.Now().Add(backoff)
			w.retry[k] = r
			w.log.Warn("repair failed; trying again", "object", j.Object, "segment", j.Segment, "shard", j.Shard, "failures", r.failures, "in", backoff, "err", err)
		}()
	}
	// Forget the backoff of repairs no longer assigned to us.
	w.mu.Lock()
	for k := range w.retry {
		if !listed[k] {
			delete(w.retry, k)
		}
	}
	w.mu.Unlock()
}

// repairs lists the repairs assigned to the provider, fewest healthy
// shards first: from the node's state on a validator, else over the API.
func (w *repairer) repairs(ctx context.Context) ([]objects.RepairJob, error) {
	if w.n.app == nil {
		return w.c.Repairs(ctx, w.addr.String())
	}
	qctx, snap, err := w.n.queryContext()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var out []objects.RepairJob
	var after []byte
	for {
		js, next, err := objects.RepairsAfter(qctx, &w.addr, after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, js...)
		if next == nil {
			return out, nil
		}
		after = next
	}
}

// repair rebuilds, stores and commits one shard, and returns its size. It
// calls stored once the shard is stored, before the commit.
func (w *repairer) repair(ctx context.Context, j objects.RepairJob, stored func()) (repairStats, error) {
	var st repairStats
	t0 := time.Now()
	svc := w.n.storageService(w.name)
	if svc == nil {
		return st, errs.E(errs.Unavailable, "storage provider %s is stopped", w.name)
	}
	v, m, f, err := w.object(ctx, j.Object)
	if err != nil {
		return st, err
	}
	seg, sh := int(j.Segment), int(j.Shard)
	if seg >= len(m.Segments) || sh >= m.Params.Shards() {
		return st, errs.E(errs.Invalid, "repair of shard %d of segment %d: object %s has no such shard", sh, seg, j.Object)
	}
	ref := m.Segments[seg].Shards[sh]
	if ref.Hash.String() != j.Hash {
		return st, errs.E(errs.Conflict, "repair of shard %d of segment %d of %s names hash %s, the manifest %s", sh, seg, j.Object, j.Hash, ref.Hash)
	}
	h := shardstore.Hash(ref.Hash)
	data, err := w.local(ctx, svc.Store(), h, ref, m.Params.LeafSize)
	if err != nil {
		return st, err
	}
	if data == nil {
		// Every other shard of the segment may be read, but not the lost
		// one: its provider is gone or lost it.
		shards, err := f.Fetch(ctx, seg, storeclient.FetchOptions{Exclude: []int{sh}, Rebuild: []int{sh}})
		if err != nil {
			return st, err
		}
		data = shards[sh] // Fetch checked it against the manifest
	}
	// Held for the owner even if the bytes were here already (stored
	// for another owner, or by an attempt that did not commit).
	t1 := time.Now()
	st.Rebuild = t1.Sub(t0)
	if err := svc.AcceptRepair(ctx, v.Owner, h, data); err != nil {
		return st, err
	}
	leafSize := j.LeafSize
	if leafSize <= 0 {
		leafSize = m.Params.LeafSize
	}
	leaf, path, err := storage.ShardLeafProof(data, j.Leaf, leafSize)
	if err != nil {
		return st, err
	}
	t2 := time.Now()
	st.Store = t2.Sub(t1)
	// The slot is free for the next rebuild while this one's commit waits
	// its turn to be submitted, and then for the next block.
	stored()
	p, err := w.snd.submit(ctx, &objects.Repair{ID: j.Object, Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
	if err != nil {
		return st, fmt.Errorf("committing the repair: %w", err)
	}
	if _, err := w.snd.wait(ctx, p); err != nil {
		return st, fmt.Errorf("committing the repair: %w", err)
	}
	st.Commit, st.Bytes = time.Since(t2), len(data)
	return st, nil
}

// objectFor is how long the worker reuses an object's manifest and
// fetcher for its next repairs: a lost provider's shards come in dozens of
// repairs of the same objects. The shard hashes a repair needs do not
// change; a placement that did is routed around and seen at the next read.
const objectFor = 10 * time.Second

// cachedObject is an object's record, manifest and fetcher, read at.
type cachedObject struct {
	v  *objects.ObjectView
	m  *storage.Manifest
	f  *storeclient.SegmentFetcher
	at time.Time
}

// object returns object id's record, manifest (checked against the ID)
// and a fetcher of its segments, read again after objectFor.
func (w *repairer) object(ctx context.Context, id string) (*objects.ObjectView, *storage.Manifest, *storeclient.SegmentFetcher, error) {
	w.mu.Lock()
	c, ok := w.objects[id]
	w.mu.Unlock()
	if ok && time.Since(c.at) < objectFor {
		return c.v, c.m, c.f, nil
	}
	v, m, err := w.sc.Object(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := w.sc.NewSegmentFetcher(ctx, id, m)
	if err != nil {
		return nil, nil, nil, err
	}
	if !v.Public {
		// Providers serve a private object's shards to its repairer
		// only on signed requests.
		f.SignWith(w.snd.key)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, o := range w.objects {
		if time.Since(o.at) >= objectFor {
			delete(w.objects, k)
		}
	}
	w.objects[id] = cachedObject{v, m, f, time.Now()}
	return v, m, f, nil
}

// repairStats are what a repair did and how long each step took, for the
// log.
type repairStats struct {
	Bytes int
	// Rebuild is reading the manifest and fetching and rebuilding the
	// shard; Store is storing it and building the proof; Commit is the
	// wait for the commit's block.
	Rebuild, Store, Commit time.Duration
}

// local returns shard h if this provider already holds it and it verifies
// (an earlier attempt stored it but did not commit), or nil.
func (w *repairer) local(ctx context.Context, store shardstore.Store, h shardstore.Hash, ref storage.ShardRef, leafSize int) ([]byte, error) {
	rc, err := store.Get(ctx, h, 0, -1)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if storage.VerifyShard(ref, leafSize, data) != nil {
		return nil, nil // rebuild it
	}
	return data, nil
}
