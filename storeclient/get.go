package storeclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/reedsolomon"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/internal/bufpool"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// GetOptions adjust Get. The zero value reads the whole object.
type GetOptions struct {
	// Offset and Length select a byte range; Length < 0 or 0 with
	// Offset 0 reads to the end. A range past the end is clipped.
	Offset, Length int64
	// Progress, if set, is called as bytes are written, with the bytes
	// done and the total. Calls do not overlap.
	Progress func(done, total int64)
	// Parallel is how many segments are fetched at once; 0 means twice the
	// CPUs, at least 4.
	Parallel int
	// Key is the reader's key, which a private object needs: its owner's,
	// or a current grantee's. Public objects ignore it.
	Key *identity.Key
}

// Fault is a shard a Get could not use.
type Fault struct {
	Provider string `json:"provider"`
	Endpoint string `json:"endpoint"`
	Segment  int    `json:"segment"`
	Shard    int    `json:"shard"`
	Hash     string `json:"hash"`
	// Kind is "corrupt" when the provider sent bytes that do not match the
	// manifest, "missing" when it does not have the shard, "refused" when
	// it refused the reader (a private object's shard), and "unreachable"
	// when it could not be asked or did not answer.
	Kind  string `json:"kind"`
	Error string `json:"error"`
}

// GetResult says what Get read.
type GetResult struct {
	ID     string  `json:"id"`
	Size   int64   `json:"size"`   // the object's
	Offset int64   `json:"offset"` // of the range read
	Bytes  int64   `json:"bytes"`  // written
	Faults []Fault `json:"faults"`
}

// Corrupt returns the providers that sent wrong bytes, once each.
func (r *GetResult) Corrupt() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range r.Faults {
		if f.Kind == "corrupt" && !seen[f.Provider] {
			seen[f.Provider] = true
			out = append(out, f.Provider)
		}
	}
	return out
}

// Get writes object id, or the range o selects, to w. Each segment comes
// from the k fastest healthy providers that hold its shards; a provider
// that fails, is slow or sends bytes that don't match the manifest is
// routed around with the parity shards, and reported in the result's
// Faults. If a segment has fewer than k good shards, Get fails with an
// errs.Unavailable error that names the missing shards and their providers.
// A private object is read with o.Key (see private.go): without a key
// that may read it, Get fails with Unauthorized or Forbidden.
func (c *Client) Get(ctx context.Context, id string, w io.Writer, o GetOptions) (*GetResult, error) {
	v, m, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	if !v.Public {
		return c.getPrivate(ctx, v, m, w, o)
	}
	return c.get(ctx, v, m, w, o, nil)
}

// get reads the stored bytes of object v as Get does, with shard requests
// signed by signer if it is not nil.
func (c *Client) get(ctx context.Context, v *objects.ObjectView, m *storage.Manifest, w io.Writer, o GetOptions, signer *identity.Key) (*GetResult, error) {
	length := o.Length
	if length < 0 || (length == 0 && o.Offset == 0) {
		length = m.Size
	}
	if o.Offset > m.Size {
		return nil, errs.E(errs.Invalid, "offset %d is past the end of the %d-byte object", o.Offset, m.Size)
	}
	ranges, err := m.Ranges(o.Offset, length)
	if err != nil {
		return nil, err
	}
	res := &GetResult{ID: v.ID, Size: m.Size, Offset: o.Offset, Faults: []Fault{}}
	var total int64
	for _, r := range ranges {
		total += r.End - r.Start
	}
	d, err := c.newDownload(ctx, m, res)
	if err != nil {
		return nil, err
	}
	d.signer = signer
	workers := o.Parallel
	if workers <= 0 {
		workers = max(8, 4*runtime.GOMAXPROCS(0))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A regular file is written at offsets by the segments' goroutines, in
	// parallel, rather than in order by this one: writing is a good part
	// of a get's time. Anything else (a pipe, a buffer) is written in order.
	var (
		wa   *os.File
		base int64
	)
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
				wa, base = f, pos
			}
		}
	}
	type result struct {
		data    []byte // the range's part of buf
		buf     []byte // the whole segment, recycled once written
		written int    // bytes already written at their offset (wa)
		err     error
	}
	slots := make([]chan result, len(ranges))
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	sem := make(chan struct{}, workers)
	go func() {
		for i, r := range ranges {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				seg, err := d.segment(ctx, r.Segment)
				if err != nil {
					slots[i] <- result{err: err}
					return
				}
				if wa != nil {
					n, err := wa.WriteAt(seg[r.Start:r.End], base+r.Offset-o.Offset)
					bufpool.Put(seg)
					if err != nil {
						err = fmt.Errorf("writing the object: %w", err)
					}
					slots[i] <- result{written: n, err: err}
					return
				}
				slots[i] <- result{data: seg[r.Start:r.End], buf: seg}
			}()
		}
	}()
	for i := range ranges {
		var r result
		select {
		case r = <-slots[i]:
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if r.err != nil {
			return res, r.err
		}
		n := r.written
		if wa == nil {
			var err error
			n, err = w.Write(r.data)
			bufpool.Put(r.buf)
			if err != nil {
				res.Bytes += int64(n)
				return res, fmt.Errorf("writing the object: %w", err)
			}
		}
		res.Bytes += int64(n)
		<-sem
		if o.Progress != nil {
			o.Progress(res.Bytes, total)
		}
	}
	if wa != nil {
		// Leave the file's offset where sequential writes would have.
		if _, err := wa.Seek(base+res.Bytes, io.SeekStart); err != nil {
			return res, fmt.Errorf("writing the object: %w", err)
		}
	}
	return res, nil
}

// download is one Get's state, or one FetchSegment's: the providers that
// failed or sent wrong bytes, asked last, and the faults met.
type download struct {
	c         *Client
	m         *storage.Manifest
	rs        reedsolomon.Encoder
	endpoints map[string]string // provider DID -> shard API
	signer    *identity.Key     // signs the shard requests, if not nil

	mu   sync.Mutex
	bad  map[string]bool      // providers that sent wrong bytes: asked last
	down map[string]time.Time // providers that failed, and when: asked after the healthy ones for a while
	res  *GetResult
}

// newDownload reads the providers' endpoints from the ledger and returns a
// download of m that records its faults in res.
func (c *Client) newDownload(ctx context.Context, m *storage.Manifest, res *GetResult) (*download, error) {
	eps, err := c.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	d := &download{c: c, m: m, endpoints: map[string]string{}, bad: map[string]bool{}, down: map[string]time.Time{}, res: res}
	for did, p := range eps {
		d.endpoints[did] = p.Endpoint
	}
	if d.rs, err = reedsolomon.New(m.Params.K, m.Params.M); err != nil {
		return nil, errs.E(errs.Internal, "creating a %s coder: %v", m.Params.Redundancy(), err)
	}
	return d, nil
}

// downFor is how long a provider that failed a read is asked only when the
// healthy ones do not suffice.
const downFor = 10 * time.Second

func (d *download) fault(f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.res.Faults = append(d.res.Faults, f)
	if f.Kind == "corrupt" {
		d.bad[f.Provider] = true
		d.c.log.Warn("a provider sent a shard that does not match the manifest; routed around it", "provider", f.Provider, "segment", f.Segment, "shard", f.Shard, "err", f.Error)
		return
	}
	if _, known := d.down[f.Provider]; !known {
		d.c.log.Info("a provider failed a read; routing around it", "provider", f.Provider, "kind", f.Kind, "err", f.Error)
	}
	d.down[f.Provider] = time.Now()
}

// order returns segment seg's shard indices, best first: healthy providers,
// then those that failed a read in the last downFor, then those that sent
// wrong bytes; within each, the fastest, then data before parity.
func (d *download) order(seg int) []int {
	refs := d.m.Segments[seg].Shards
	d.mu.Lock()
	// 0: healthy, 1: failed a read lately, 2: sent wrong bytes.
	bad := make([]int, len(refs))
	for j, r := range refs {
		if t, ok := d.down[r.Provider]; ok && time.Since(t) < downFor {
			bad[j] = 1
		}
		if d.bad[r.Provider] {
			bad[j] = 2
		}
	}
	d.mu.Unlock()
	speed := make([]float64, len(refs))
	for j, r := range refs {
		speed[j] = d.c.speedOf(d.endpoints[r.Provider])
	}
	idx := make([]int, len(refs))
	for j := range idx {
		idx[j] = j
	}
	sort.SliceStable(idx, func(a, b int) bool {
		i, j := idx[a], idx[b]
		if bad[i] != bad[j] {
			return bad[i] < bad[j]
		}
		// Within 20% counts as equally fast, so data shards, which need no
		// decoding, win ties.
		if si, sj := speed[i], speed[j]; si > sj*1.2 || sj > si*1.2 {
			return si > sj
		}
		return i < j
	})
	return idx
}

// segment fetches and decodes segment seg.
func (d *download) segment(ctx context.Context, seg int) ([]byte, error) {
	k := d.m.Params.K
	shards, err := d.shards(ctx, seg, nil)
	if err != nil {
		return nil, err
	}
	dataOK := true
	for j := 0; j < k; j++ {
		dataOK = dataOK && shards[j] != nil
	}
	if !dataOK {
		if err := d.rs.ReconstructData(shards); err != nil {
			return nil, errs.E(errs.Internal, "decoding segment %d: %v", seg, err)
		}
	}
	length := d.m.Segments[seg].Length
	out := bufpool.Get(int(length))[:0]
	for j := 0; j < k && int64(len(out)) < length; j++ {
		out = append(out, shards[j][:min(int64(len(shards[j])), length-int64(len(out)))]...)
	}
	for _, b := range shards {
		bufpool.Put(b)
	}
	return out, nil
}

// shards fetches k verified shards of segment seg, in the order of
// d.order, hedging a slow one and routing around a failed one, never asking
// for the shards skip names. The others are nil.
func (d *download) shards(ctx context.Context, seg int, skip map[int]bool) ([][]byte, error) {
	k := d.m.Params.K
	refs := d.m.Segments[seg].Shards
	var order []int
	for _, j := range d.order(seg) {
		if !skip[j] {
			order = append(order, j)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type got struct {
		j    int
		data []byte
		err  error
		took time.Duration
	}
	results := make(chan got, len(refs))
	shards := make([][]byte, len(refs))
	next, inflight, good := 0, 0, 0
	var faults []Fault
	launch := func() bool {
		if next >= len(order) {
			return false
		}
		j := order[next]
		next++
		inflight++
		go func() {
			start := time.Now()
			data, err := d.fetch(ctx, refs[j])
			results <- got{j, data, err, time.Since(start)}
		}()
		return true
	}
	for i := 0; i < k; i++ {
		launch()
	}
	hedge := time.NewTimer(d.c.hedgeDelay())
	defer hedge.Stop()
	for good < k {
		if inflight == 0 {
			return nil, d.unrecoverable(seg, good, faults)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-hedge.C:
			// A shard is slow: ask one more provider, and keep waiting for
			// the slow one too.
			launch()
			hedge.Reset(d.c.hedgeDelay())
		case g := <-results:
			inflight--
			ref := refs[g.j]
			if g.err == nil {
				g.err = storage.VerifyShard(ref, d.m.Params.LeafSize, g.data)
			}
			if g.err != nil {
				bufpool.Put(g.data)
				f := Fault{Provider: ref.Provider, Endpoint: d.endpoints[ref.Provider], Segment: seg, Shard: g.j, Hash: ref.Hash.String(), Kind: "unreachable", Error: g.err.Error()}
				switch {
				case errors.Is(g.err, storage.ErrCorrupt):
					f.Kind = "corrupt"
				case errs.Is(g.err, errs.NotFound):
					f.Kind = "missing"
				case errs.Is(g.err, errs.Forbidden), errs.Is(g.err, errs.Unauthorized):
					f.Kind = "refused"
				}
				faults = append(faults, f)
				d.fault(f)
				launch()
				continue
			}
			d.c.observe(d.endpoints[ref.Provider], len(g.data), g.took)
			shards[g.j] = g.data
			good++
		}
	}
	cancel() // the slow fetches still running are not needed
	return shards, nil
}

func (d *download) fetch(ctx context.Context, ref storage.ShardRef) ([]byte, error) {
	ep := d.endpoints[ref.Provider]
	if ep == "" {
		return nil, errs.E(errs.Unavailable, "provider %s is not registered on the ledger", ref.Provider)
	}
	// A generous bound: 5 s plus 1 s per MiB.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second+time.Duration(ref.Size>>20)*time.Second)
	defer cancel()
	if d.signer != nil {
		return d.c.shards.GetShardSigned(ctx, ep, d.signer, shardstore.Hash(ref.Hash), 0, ref.Size)
	}
	return d.c.shards.GetShard(ctx, ep, shardstore.Hash(ref.Hash), 0, ref.Size)
}

func (d *download) unrecoverable(seg, good int, faults []Fault) error {
	refused := 0
	for _, f := range faults {
		if f.Kind == "refused" {
			refused++
		}
	}
	if refused > 0 && refused+good >= d.m.Params.K {
		// Enough providers are up; they refuse this reader.
		for _, f := range faults {
			if f.Kind == "refused" {
				return errs.E(errs.Forbidden, "object %s: %d of its providers refuse to serve it to this key (%s): the key needs the owner's grant", d.res.ID, refused, f.Error)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "segment %d of object %s cannot be recovered: %d good shards of the %d needed (%s); unusable:", seg, d.res.ID, good, d.m.Params.K, d.m.Params.Redundancy())
	for i, f := range faults {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " shard %d on %s (%s: %s)", f.Shard, f.Provider, f.Kind, f.Error)
	}
	b.WriteString(". Try again when the providers are back up; `stratus store info` shows who holds each shard")
	return errs.E(errs.Unavailable, "%s", b.String())
}

// observe records a shard read's speed from an endpoint.
func (c *Client) observe(endpoint string, n int, took time.Duration) {
	if took <= 0 {
		took = time.Microsecond
	}
	bps := float64(n) / took.Seconds()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.speed[endpoint]; ok {
		bps = 0.7*old + 0.3*bps
	}
	c.speed[endpoint] = bps
	if c.lat == 0 {
		c.lat = took.Seconds()
	} else {
		c.lat = 0.8*c.lat + 0.2*took.Seconds()
	}
}

// speedOf is an endpoint's read speed; one not yet read from is assumed fast,
// so it gets tried.
func (c *Client) speedOf(endpoint string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.speed[endpoint]; ok {
		return s
	}
	return 1e12
}

// hedgeDelay is how long a segment waits on its slowest shard before asking
// another provider: four times the recent shard read time, at least 250 ms,
// and 2 s before anything is known.
func (c *Client) hedgeDelay() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lat == 0 {
		return 2 * time.Second
	}
	return max(250*time.Millisecond, time.Duration(4*c.lat*float64(time.Second)))
}
