package storeclient

import (
	"context"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/storage"
)

// The primitives that Get, Put and a provider's repair worker share: fetch
// one segment's shards verified (FetchSegment, here, on Get's download
// with its ordering and hedging), and place one shard with one provider
// (PlaceShard, in place.go).

// FetchOptions adjust FetchSegment.
type FetchOptions struct {
	// Exclude are shard indices (0..k+m-1) not to ask for: shards known to
	// be lost, or the one being rebuilt.
	Exclude []int
	// Full asks for every shard of the segment: those not fetched are
	// rebuilt from the k that were, and each rebuilt one is checked against
	// its hash in the manifest.
	Full bool
	// Rebuild, without Full, asks for these shards besides the k fetched:
	// each not fetched is rebuilt and checked, as with Full, and the
	// others are not computed. A repair rebuilds the one shard it lost.
	Rebuild []int
}

// SegmentFetcher fetches the shards of one object's segments, verified
// against its manifest. It remembers the providers that failed or sent
// wrong bytes, and asks them last for the next segment, as Get does. It is
// safe for concurrent use.
type SegmentFetcher struct {
	d *download
}

// NewSegmentFetcher returns a fetcher of the segments of object id, whose
// manifest is m (as Object returns it). It reads the providers' endpoints
// from the ledger once.
func (c *Client) NewSegmentFetcher(ctx context.Context, id string, m *storage.Manifest) (*SegmentFetcher, error) {
	d, err := c.newDownload(ctx, m, &GetResult{ID: id, Size: m.Size, Faults: []Fault{}})
	if err != nil {
		return nil, err
	}
	return &SegmentFetcher{d: d}, nil
}

// Fetch returns the shards of segment seg, indexed by shard number: k of
// them fetched from the fastest healthy providers and verified against the
// manifest (a provider that is slow is hedged, one that fails or sends
// wrong bytes is routed around), the others nil; with o.Full, all k+m, the
// missing ones rebuilt and verified. The slices are the caller's. It fails
// with errs.Invalid for a segment or an excluded shard out of range, and
// with errs.Unavailable, naming the unusable shards, if fewer than k good
// shards can be had.
func (f *SegmentFetcher) Fetch(ctx context.Context, seg int, o FetchOptions) ([][]byte, error) {
	m := f.d.m
	if seg < 0 || seg >= len(m.Segments) {
		return nil, errs.E(errs.Invalid, "object %s has %d segments; there is no segment %d", f.d.res.ID, len(m.Segments), seg)
	}
	skip := map[int]bool{}
	for _, j := range append(append([]int(nil), o.Exclude...), o.Rebuild...) {
		if j < 0 || j >= m.Params.Shards() {
			return nil, errs.E(errs.Invalid, "shard %d is out of range for %s redundancy", j, m.Params.Redundancy())
		}
	}
	for _, j := range o.Exclude {
		skip[j] = true
	}
	shards, err := f.d.shards(ctx, seg, skip)
	if err != nil || (!o.Full && len(o.Rebuild) == 0) {
		return shards, err
	}
	want := make([]bool, len(shards))
	for j := range want {
		want[j] = o.Full
	}
	for _, j := range o.Rebuild {
		want[j] = true
	}
	return f.reconstruct(seg, shards, want)
}

// reconstruct fills in the shards of segment seg that want names and are
// missing, from the k given, and checks each against the manifest: a coder
// that produced other bytes would otherwise go unnoticed until the shard is
// read.
func (f *SegmentFetcher) reconstruct(seg int, shards [][]byte, want []bool) ([][]byte, error) {
	var missing []int
	for j, s := range shards {
		if s == nil && want[j] {
			missing = append(missing, j)
		}
	}
	if len(missing) == 0 {
		return shards, nil
	}
	// A reedsolomon coder is safe for concurrent use.
	if err := f.d.rs.ReconstructSome(shards, want); err != nil {
		return nil, errs.E(errs.Internal, "rebuilding segment %d of %s: %v", seg, f.d.res.ID, err)
	}
	refs := f.d.m.Segments[seg].Shards
	for _, j := range missing {
		if err := storage.VerifyShard(refs[j], f.d.m.Params.LeafSize, shards[j]); err != nil {
			return nil, errs.E(errs.Internal, "shard %d of segment %d of %s, rebuilt, does not match the manifest: %w", j, seg, f.d.res.ID, err)
		}
	}
	return shards, nil
}

// Faults returns the shards the fetcher could not use so far.
func (f *SegmentFetcher) Faults() []Fault {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return append([]Fault(nil), f.d.res.Faults...)
}

// FetchSegment fetches segment seg of object id, whose manifest is m, as
// SegmentFetcher.Fetch does, with a fetcher of its own. To fetch several
// segments of one object, use NewSegmentFetcher once.
func (c *Client) FetchSegment(ctx context.Context, id string, m *storage.Manifest, seg int, o FetchOptions) ([][]byte, error) {
	f, err := c.NewSegmentFetcher(ctx, id, m)
	if err != nil {
		return nil, err
	}
	return f.Fetch(ctx, seg, o)
}
