package provider

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// placed encodes data at 1+1 in one segment, and places shard 0 on
// provider and shard 1 on other; it returns the manifest's encoding and the
// two shards.
func placed(t *testing.T, data []byte, provider, other identity.Address) ([]byte, storage.EncodedSegment) {
	t.Helper()
	enc, err := storage.NewEncoder(storage.Params{K: 1, M: 1, SegmentSize: 8192, LeafSize: storage.DefaultLeafSize})
	if err != nil {
		t.Fatal(err)
	}
	es, err := enc.EncodeSegment(data)
	if err != nil {
		t.Fatal(err)
	}
	man := enc.Manifest()
	man.Segments[0].Shards[0].Provider = provider.String()
	man.Segments[0].Shards[1].Provider = other.String()
	raw, err := man.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return raw, es
}

// clock is a settable clock for the keeper.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestReceipts: the provider signs a receipt only for a signer that holds,
// here, every shard the manifest places on it; a stranger, a manifest
// naming a shard it does not hold (or one another consumer stored), and one
// that places nothing on it are refused and get no signature. Once given,
// the receipt pins the shards: the signer's delete frees its quota but
// keeps the file until the receipt expires, so the signer cannot delete
// the shards and still commit with the receipt.
func TestReceipts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	clk := &clock{t: time.Now()}
	f.svc.keep.now = clk.now
	prov, other := f.svc.addr, key("other-provider").Address()
	alice, bob, stranger := key("alice"), key("bob"), key("stranger")
	for _, k := range []*identity.Key{alice, bob} {
		f.ledger.setQuota(k.Address(), 1<<20)
	}
	raw, es := placed(t, []byte("alice's object"), prov, other)
	h := shardstore.Hash(es.Segment.Shards[0].Hash)

	// Nothing uploaded yet: alice is a stranger here too.
	for _, k := range []*identity.Key{stranger, alice} {
		if _, err := f.c.Receipt(ctx, f.svc.URL(), k, prov, raw); errs.KindOf(err) != errs.Unauthorized {
			t.Fatalf("%s's request before any upload: %v, want Unauthorized", k.Name, err)
		}
	}
	// Bob stored the shard, alice stored another one: the shard is not
	// alice's.
	if err := f.c.PutShard(ctx, f.svc.URL(), bob, h, es.Shards[0]); err != nil {
		t.Fatal(err)
	}
	oh, od := shard("alice's other shard", 1000)
	f.ledger.setRefs(oh, alice, 1) // a live object of hers keeps it
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, oh, od); err != nil {
		t.Fatal(err)
	}
	_, err := f.c.Receipt(ctx, f.svc.URL(), alice, prov, raw)
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), h.String()) || !strings.Contains(err.Error(), "shard 0 of segment 0") {
		t.Fatalf("a manifest naming a shard alice did not store: %v, want NotFound naming it", err)
	}
	// A manifest that places nothing here.
	elsewhere, _ := placed(t, []byte("alice's object"), other, other)
	if _, err := f.c.Receipt(ctx, f.svc.URL(), alice, prov, elsewhere); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("a manifest placing nothing here: %v, want Invalid", err)
	}
	// Not a manifest at all.
	if _, err := f.c.Receipt(ctx, f.svc.URL(), alice, prov, []byte("not a manifest")); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("garbage: %v, want Invalid", err)
	}

	// Alice uploads it: the receipt is the provider's signature over the
	// manifest for alice, and for nobody else.
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h, es.Shards[0]); err != nil {
		t.Fatal(err)
	}
	rc, err := f.c.Receipt(ctx, f.svc.URL(), alice, prov, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyReceipt(rc, storage.ManifestDigest(raw), prov, alice.Address(), clk.now()); err != nil {
		t.Fatalf("the receipt: %v", err)
	}
	if err := storage.VerifyReceipt(rc, storage.ManifestDigest(raw), prov, bob.Address(), clk.now()); err == nil {
		t.Fatal("alice's receipt verifies for bob")
	}

	// Alice deletes the shard: her claim goes, the file stays while the
	// receipt is valid, and the collector keeps it too.
	if err := f.c.DeleteShard(ctx, f.svc.URL(), alice, h); err != nil {
		t.Fatal(err)
	}
	if err := f.c.DeleteShard(ctx, f.svc.URL(), bob, h); err != nil {
		t.Fatal(err)
	}
	if got := f.svc.keep.holding(alice.Address()); got != 1000 {
		t.Fatalf("alice holds %d bytes after the delete, want her other shard's 1000", got)
	}
	if !f.stored(t, h) {
		t.Fatal("the shard was deleted while a receipt for it is valid")
	}
	clk.add(f.svc.keep.receiptTTL - time.Second)
	if n, err := f.svc.gc(ctx, clk.now().Add(time.Hour)); err != nil || n != 0 || !f.stored(t, h) {
		t.Fatalf("gc before the receipt expired: %d, %v, stored %v", n, err, f.stored(t, h))
	}
	// Once it expired (the ledger refuses it from then on), the collector
	// deletes the file.
	clk.add(2 * time.Second)
	if n, err := f.svc.gc(ctx, clk.now().Add(time.Hour)); err != nil || n != 1 || f.stored(t, h) {
		t.Fatalf("gc after the receipt expired: %d, %v, stored %v", n, err, f.stored(t, h))
	}
}
