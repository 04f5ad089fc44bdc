package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// fakeLedger is a Ledger whose leases and references the test sets.
type fakeLedger struct {
	mu    sync.Mutex
	quota map[identity.Address]uint64
	refs  map[refKey]uint64
	// private maps a private object's shard to who may read it.
	private map[shardstore.Hash]map[identity.Address]bool
}

// refKey is a shard's references by one owner's objects.
type refKey struct {
	h     shardstore.Hash
	owner identity.Address
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{quota: map[identity.Address]uint64{}, refs: map[refKey]uint64{}}
}

func (f *fakeLedger) Quota(_ context.Context, consumer, _ identity.Address) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quota[consumer], nil
}

func (f *fakeLedger) Refs(_ context.Context, _ identity.Address, h shardstore.Hash, owner identity.Address) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if owner != (identity.Address{}) {
		return f.refs[refKey{h, owner}], nil
	}
	var n uint64
	for k, v := range f.refs {
		if k.h == h {
			n += v
		}
	}
	return n, nil
}

func (f *fakeLedger) setQuota(a identity.Address, q uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.quota[a] = q
}

// setRefs sets the references of owner's live objects to h.
func (f *fakeLedger) setRefs(h shardstore.Hash, owner *identity.Key, n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs[refKey{h, owner.Address()}] = n
}

// staleLedger is a fakeLedger behind a cache that the test refreshes by
// hand: Quota answers from the cache, FreshQuota from the fakeLedger.
type staleLedger struct {
	*fakeLedger
	mu     sync.Mutex
	cached map[identity.Address]uint64
	fresh  int // FreshQuota calls
}

func (s *staleLedger) Quota(_ context.Context, consumer, _ identity.Address) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cached[consumer], nil
}

func (s *staleLedger) FreshQuota(ctx context.Context, consumer, provider identity.Address) (uint64, error) {
	q, err := s.fakeLedger.Quota(ctx, consumer, provider)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh++
	s.cached[consumer] = q
	return q, err
}

func key(name string) *identity.Key {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "provider test key "+name)
	return &identity.Key{Priv: ed25519.NewKeyFromSeed(seed)}
}

// shard returns size bytes made from s and their Merkle shard hash.
func shard(s string, size int) (shardstore.Hash, []byte) {
	data := bytes.Repeat([]byte(s), size/len(s)+1)[:size]
	return shardstore.Hash(storage.ShardHash(data, storage.DefaultLeafSize)), data
}

type fixture struct {
	svc    *Service
	ledger *fakeLedger // what the ledger says
	dir    string
	c      *shardserver.Client
}

// start starts a service in dir with ledger. The collector's loop waits an
// hour between passes, so only the test runs it.
func start(t *testing.T, dir string, l *fakeLedger, capacity int64) *fixture {
	t.Helper()
	return startWith(t, dir, l, l, capacity)
}

// startWith is start with the service reading ledger, in front of l.
func startWith(t *testing.T, dir string, l *fakeLedger, ledger Ledger, capacity int64) *fixture {
	t.Helper()
	svc, err := Start(context.Background(), Config{Name: "storage-test", Key: key("provider"), Dir: dir, Listen: "127.0.0.1:0",
		Capacity: capacity, Ledger: ledger, GCInterval: time.Hour, GCGrace: 30 * time.Minute})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return &fixture{svc: svc, ledger: l, dir: dir, c: &shardserver.Client{}}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return start(t, t.TempDir(), newFakeLedger(), 1<<30)
}

func (f *fixture) stored(t *testing.T, h shardstore.Hash) bool {
	t.Helper()
	_, err := f.svc.Store().Stat(context.Background(), h)
	if err != nil && !errs.Is(err, errs.NotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func (f *fixture) used(t *testing.T) int64 {
	t.Helper()
	used, _, err := f.svc.Store().Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return used
}

// rawPut sends a PUT of data as h, signed by signer (nil: unsigned) after
// change has had a go at the request, and returns the status and problem.
func (f *fixture) rawPut(t *testing.T, signer *identity.Key, h shardstore.Hash, data []byte, change func(*http.Request)) (int, api.Problem) {
	t.Helper()
	req, err := http.NewRequest("PUT", f.svc.URL()+"/shards/"+h.String(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if signer != nil {
		nonce, _ := httpsig.NewNonce()
		if err := httpsig.Sign(req, signer, time.Now(), nonce); err != nil {
			t.Fatal(err)
		}
	}
	if change != nil {
		change(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p api.Problem
	if resp.StatusCode >= 300 {
		if ct := resp.Header.Get("Content-Type"); ct != api.ProblemContentType {
			t.Errorf("error Content-Type = %q, want %q", ct, api.ProblemContentType)
		}
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("problem %q: %v", b, err)
		}
	}
	return resp.StatusCode, p
}

func TestUploadWithinQuota(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := key("alice")
	h1, d1 := shard("first shard ", 10_000)
	h2, d2 := shard("second shard ", 6_000)
	f.ledger.setQuota(alice.Address(), 15_000)

	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h1, d1); err != nil {
		t.Fatalf("PutShard within the quota: %v", err)
	}
	got, err := f.c.GetShard(ctx, f.svc.URL(), h1, 0, -1)
	if err != nil || !bytes.Equal(got, d1) {
		t.Fatalf("GetShard = %d bytes, %v; want the %d bytes put", len(got), err, len(d1))
	}
	if held := f.svc.keep.holding(alice.Address()); held != 10_000 {
		t.Errorf("alice holds %d bytes, want 10000", held)
	}

	// 10000 held + 6000 > 15000: refused before the body is read, with the
	// status, kind and advice reaching the client.
	err = f.c.PutShard(ctx, f.svc.URL(), alice, h2, d2)
	if !errs.Is(err, errs.TooLarge) {
		t.Fatalf("PutShard over the quota = %v, want too large", err)
	}
	for _, want := range []string{"allow 15000 bytes and you hold 10000", "open a larger lease", f.svc.Addr().String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("over-quota error %q does not say %q", err, want)
		}
	}
	status, p := f.rawPut(t, alice, h2, d2, nil)
	if status != http.StatusRequestEntityTooLarge || p.Kind != string(errs.TooLarge) || !strings.Contains(p.Detail, "open a larger lease") {
		t.Errorf("over quota: %d %+v, want 413 and a too_large problem", status, p)
	}
	if f.stored(t, h2) || f.used(t) != 10_000 {
		t.Errorf("the refused shard was written: stored %v, store uses %d bytes", f.stored(t, h2), f.used(t))
	}

	// Putting a shard one holds again costs nothing, even at the limit.
	f.ledger.setQuota(alice.Address(), 10_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h1, d1); err != nil {
		t.Errorf("PutShard of a shard alice holds, at her limit: %v", err)
	}
	if held := f.svc.keep.holding(alice.Address()); held != 10_000 {
		t.Errorf("after the second put alice holds %d bytes, want 10000", held)
	}

	// A larger lease lets the second one in.
	f.ledger.setQuota(alice.Address(), 16_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h2, d2); err != nil {
		t.Fatalf("PutShard after a larger lease: %v", err)
	}
	if held := f.svc.keep.holding(alice.Address()); held != 16_000 {
		t.Errorf("alice holds %d bytes, want 16000", held)
	}
}

func TestRefusedWritesStoreNothing(t *testing.T) {
	alice, mallory := key("alice"), key("mallory")
	h, data := shard("refused ", 5_000)
	tests := []struct {
		name   string
		signer *identity.Key
		change func(*http.Request)
		status int
		detail string
	}{
		{"no lease", mallory, nil, 401, "has no storage lease with provider"},
		{"unsigned", nil, nil, 401, "Signature-Input"},
		{"signed by another key", alice, func(r *http.Request) {
			other, _ := http.NewRequest("PUT", r.URL.String(), bytes.NewReader(data))
			httpsig.Sign(other, mallory, time.Now(), "other")
			r.Header.Set("Signature", other.Header.Get("Signature"))
		}, 401, "bad signature"},
		{"bytes that are not the shard", alice, func(r *http.Request) {
			_, other := shard("refuseD ", 5_000)
			other2 := bytes.Clone(other)
			r.Body = io.NopCloser(bytes.NewReader(other2))
			r.GetBody = nil
		}, 401, "Content-Digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.ledger.setQuota(alice.Address(), 1<<20)
			status, p := f.rawPut(t, tt.signer, h, data, tt.change)
			if status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("status %d, problem %+v; want %d saying %q", status, p, tt.status, tt.detail)
			}
			if f.stored(t, h) || f.used(t) != 0 {
				t.Errorf("refused write left the shard: stored %v, %d bytes used", f.stored(t, h), f.used(t))
			}
			if held := f.svc.keep.holding(alice.Address()) + f.svc.keep.holding(mallory.Address()); held != 0 {
				t.Errorf("refused write recorded %d bytes held", held)
			}
		})
	}
	// The client's error for the no-lease case says what to do.
	f := newFixture(t)
	err := f.c.PutShard(context.Background(), f.svc.URL(), mallory, h, data)
	if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "open one with `stratus lease open --resource storage --provider "+f.svc.Addr().String()) {
		t.Errorf("PutShard without a lease = %v, want unauthorized telling how to open a lease", err)
	}
}

// TestRefusalLooksAgain: a write the cached leases would refuse is checked
// against fresh ones first, so a lease opened a moment ago counts.
func TestRefusalLooksAgain(t *testing.T) {
	ctx := context.Background()
	fl := newFakeLedger()
	sl := &staleLedger{fakeLedger: fl, cached: map[identity.Address]uint64{}}
	f := startWith(t, t.TempDir(), fl, sl, 1<<30)
	alice := key("alice")
	h1, d1 := shard("first ", 6_000)
	h2, d2 := shard("second ", 6_000)

	// No lease in the cache, one on the ledger.
	fl.setQuota(alice.Address(), 10_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h1, d1); err != nil {
		t.Fatalf("PutShard with a lease the cache missed: %v", err)
	}
	// A larger lease than the cache knows.
	fl.setQuota(alice.Address(), 12_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h2, d2); err != nil {
		t.Fatalf("PutShard with a lease grown since: %v", err)
	}
	// Within the cached quota, the ledger is not asked again; past the
	// fresh one, it is asked once and the write refused.
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h1, d1); err != nil || sl.fresh != 2 {
		t.Errorf("PutShard of a held shard = %v after %d fresh reads, want nil after 2", err, sl.fresh)
	}
	h3, d3 := shard("third ", 1_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h3, d3); !errs.Is(err, errs.TooLarge) || sl.fresh != 3 {
		t.Errorf("PutShard past the fresh quota = %v after %d fresh reads, want too large after 3", err, sl.fresh)
	}
	if err := f.c.PutShard(ctx, f.svc.URL(), key("bob"), h3, d3); !errs.Is(err, errs.Unauthorized) || sl.fresh != 4 {
		t.Errorf("PutShard without a lease = %v after %d fresh reads, want unauthorized after 4", err, sl.fresh)
	}
}

// TestConcurrentUploadsKeepToQuota sends many uploads at once: whatever
// their interleaving, no more than the quota is accepted.
func TestConcurrentUploadsKeepToQuota(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := key("alice")
	const size, n, fits = 4_096, 16, 3
	f.ledger.setQuota(alice.Address(), fits*size)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, d := shard(fmt.Sprintf("concurrent %02d ", i), size)
			err := f.c.PutShard(ctx, f.svc.URL(), alice, h, d)
			if err != nil && !errs.Is(err, errs.TooLarge) {
				t.Errorf("PutShard %d: %v", i, err)
			}
			mu.Lock()
			if err == nil {
				ok++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	held := f.svc.keep.holding(alice.Address())
	if ok < 1 || ok > fits || held != int64(ok)*size || f.used(t) != held {
		t.Errorf("%d uploads accepted, %d bytes held, %d used; want between 1 and %d accepted and their bytes held", ok, held, f.used(t), fits)
	}
	f.svc.keep.mu.Lock()
	defer f.svc.keep.mu.Unlock()
	if len(f.svc.keep.writes) != 0 || len(f.svc.keep.reserved) != 0 {
		t.Errorf("reservations left after every request ended: %v %v", f.svc.keep.writes, f.svc.keep.reserved)
	}
}

func TestDeleteRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice, bob, carol := key("alice"), key("bob"), key("carol")
	for _, k := range []*identity.Key{alice, bob, carol} {
		f.ledger.setQuota(k.Address(), 1<<20)
	}
	h, data := shard("shared ", 8_000)
	for _, k := range []*identity.Key{alice, bob} {
		if err := f.c.PutShard(ctx, f.svc.URL(), k, h, data); err != nil {
			t.Fatal(err)
		}
	}
	if f.used(t) != 8_000 {
		t.Errorf("two consumers' copies of one shard use %d bytes, want 8000", f.used(t))
	}

	// Only a consumer who stored it.
	if err := f.c.DeleteShard(ctx, f.svc.URL(), carol, h); !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "only a consumer who stored a shard can delete it") {
		t.Errorf("delete by carol = %v, want unauthorized", err)
	}
	// Not while a live object uses it.
	f.ledger.setRefs(h, alice, 1)
	if err := f.c.DeleteShard(ctx, f.svc.URL(), alice, h); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "still part of your live objects") {
		t.Errorf("delete of a referenced shard = %v, want conflict", err)
	}
	f.ledger.setRefs(h, alice, 0)
	// Another owner's objects that place the same shard (carol's copy of
	// a public manifest, bob's own object) do not keep alice's copy.
	f.ledger.setRefs(h, carol, 1)
	f.ledger.setRefs(h, bob, 1)

	// Alice's delete drops her claim; bob's copy stays.
	if err := f.c.DeleteShard(ctx, f.svc.URL(), alice, h); err != nil {
		t.Fatalf("alice's delete: %v", err)
	}
	if !f.stored(t, h) || f.svc.keep.holding(alice.Address()) != 0 || f.svc.keep.holding(bob.Address()) != 8_000 {
		t.Errorf("after alice's delete: stored %v, alice holds %d, bob %d; want kept for bob", f.stored(t, h),
			f.svc.keep.holding(alice.Address()), f.svc.keep.holding(bob.Address()))
	}
	if err := f.c.DeleteShard(ctx, f.svc.URL(), alice, h); !errs.Is(err, errs.Unauthorized) {
		t.Errorf("alice's second delete = %v, want unauthorized", err)
	}
	// Bob's own object keeps his.
	if err := f.c.DeleteShard(ctx, f.svc.URL(), bob, h); !errs.Is(err, errs.Conflict) {
		t.Errorf("bob's delete while his object uses it = %v, want conflict", err)
	}
	f.ledger.setRefs(h, bob, 0)
	// The last claim's delete removes the shard.
	if err := f.c.DeleteShard(ctx, f.svc.URL(), bob, h); err != nil {
		t.Fatalf("bob's delete: %v", err)
	}
	if f.stored(t, h) || f.used(t) != 0 || f.svc.keep.holding(bob.Address()) != 0 {
		t.Errorf("after the last delete: stored %v, used %d, bob holds %d", f.stored(t, h), f.used(t), f.svc.keep.holding(bob.Address()))
	}
	if err := f.c.DeleteShard(ctx, f.svc.URL(), bob, h); !errs.Is(err, errs.NotFound) {
		t.Errorf("delete of a deleted shard = %v, want not found", err)
	}
}

func TestGC(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := key("alice")
	f.ledger.setQuota(alice.Address(), 1<<20)
	put := func(s string) shardstore.Hash {
		h, d := shard(s, 5_000)
		if err := f.c.PutShard(ctx, f.svc.URL(), alice, h, d); err != nil {
			t.Fatal(err)
		}
		return h
	}
	unused, used := put("unreferenced "), put("referenced ")
	f.ledger.setRefs(used, alice, 2)
	// A shard whose claim a crash lost, straight into the store.
	orphan, od := shard("orphan ", 5_000)
	if err := f.svc.Store().Put(ctx, orphan, bytes.NewReader(od), int64(len(od))); err != nil {
		t.Fatal(err)
	}

	// Young shards stay, referenced or not.
	if n, err := f.svc.gc(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("gc of young shards = %d, %v; want 0 deleted", n, err)
	}
	for _, h := range []shardstore.Hash{unused, used, orphan} {
		if !f.stored(t, h) {
			t.Errorf("young shard %s was collected", h)
		}
	}

	// Past the grace period the unreferenced ones go, with their claims.
	later := time.Now().Add(time.Hour)
	if n, err := f.svc.gc(ctx, later); err != nil || n != 2 {
		t.Errorf("gc an hour later = %d, %v; want 2 deleted", n, err)
	}
	if f.stored(t, unused) || f.stored(t, orphan) || !f.stored(t, used) {
		t.Errorf("after gc: unreferenced %v, orphan %v, referenced %v; want only the referenced one kept",
			f.stored(t, unused), f.stored(t, orphan), f.stored(t, used))
	}
	if held := f.svc.keep.holding(alice.Address()); held != 5_000 {
		t.Errorf("alice holds %d bytes after gc, want 5000", held)
	}

	// A put refreshes a shard: once its object is gone it still waits out
	// the grace period from the last put.
	f.ledger.setRefs(used, alice, 0)
	put("referenced ")
	if n, err := f.svc.gc(ctx, time.Now().Add(time.Minute)); err != nil || n != 0 || !f.stored(t, used) {
		t.Errorf("gc just after a put = %d, %v (stored %v); want it kept", n, err, f.stored(t, used))
	}
	// A claim whose file vanished frees the quota.
	if err := f.svc.Store().Delete(ctx, used); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.gc(ctx, time.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if held := f.svc.keep.holding(alice.Address()); held != 0 {
		t.Errorf("alice holds %d bytes of a lost shard after gc, want 0", held)
	}
	if cs, _ := f.svc.idx.claims(used); len(cs) != 0 {
		t.Errorf("claims on a lost shard after gc: %+v", cs)
	}
}

// TestGCSparesAnUploadUnderWay: a consumer still putting shards keeps its
// earlier, not yet referenced ones, however long ago it put them.
func TestGCSparesAnUploadUnderWay(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := key("alice")
	f.ledger.setQuota(alice.Address(), 1<<20)
	h, d := shard("first of a long upload ", 5_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h, d); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	// Alice is still uploading a minute before the pass.
	f.svc.keep.mu.Lock()
	f.svc.keep.active[alice.Address()] = later.Add(-time.Minute)
	f.svc.keep.mu.Unlock()
	if n, err := f.svc.gc(ctx, later); err != nil || n != 0 || !f.stored(t, h) {
		t.Fatalf("gc during the upload = %d, %v (stored %v); want the shard kept", n, err, f.stored(t, h))
	}
	// Once she has been quiet for the grace period, it goes.
	if n, err := f.svc.gc(ctx, later.Add(time.Hour)); err != nil || n != 1 || f.stored(t, h) {
		t.Fatalf("gc after the upload stopped = %d, %v (stored %v); want it collected", n, err, f.stored(t, h))
	}
}

func TestGCSkipsReferencedShardsForAWhile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := key("alice")
	f.ledger.setQuota(alice.Address(), 1<<20)
	h, d := shard("kept a while ", 5_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h, d); err != nil {
		t.Fatal(err)
	}
	f.ledger.setRefs(h, alice, 1)
	t0 := time.Now().Add(time.Hour)
	if n, err := f.svc.gc(ctx, t0); err != nil || n != 0 {
		t.Fatalf("gc = %d, %v", n, err)
	}
	// The object goes; within GCGrace of the last check the shard is not
	// asked about again, after it is.
	f.ledger.setRefs(h, alice, 0)
	if n, _ := f.svc.gc(ctx, t0.Add(time.Minute)); n != 0 || !f.stored(t, h) {
		t.Errorf("gc a minute after a referenced check deleted %d", n)
	}
	if n, _ := f.svc.gc(ctx, t0.Add(31*time.Minute)); n != 1 || f.stored(t, h) {
		t.Errorf("gc past the grace after the check = %d (stored %v), want 1 deleted", n, f.stored(t, h))
	}
}

func TestRestartKeepsOwnership(t *testing.T) {
	ctx := context.Background()
	dir, l := t.TempDir(), newFakeLedger()
	alice, bob := key("alice"), key("bob")
	l.setQuota(alice.Address(), 12_000)
	l.setQuota(bob.Address(), 1<<20)
	f := start(t, dir, l, 1<<30)
	h, d := shard("survives a restart ", 10_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h, d); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	f = start(t, dir, l, 1<<30)
	if held := f.svc.keep.holding(alice.Address()); held != 10_000 {
		t.Errorf("after a restart alice holds %d bytes, want 10000", held)
	}
	h2, d2 := shard("too much ", 4_000)
	if err := f.c.PutShard(ctx, f.svc.URL(), alice, h2, d2); !errs.Is(err, errs.TooLarge) {
		t.Errorf("after a restart, PutShard past the quota = %v, want too large", err)
	}
	if err := f.c.DeleteShard(ctx, f.svc.URL(), bob, h); !errs.Is(err, errs.Unauthorized) {
		t.Errorf("after a restart, delete by bob = %v, want unauthorized", err)
	}
	if err := f.c.DeleteShard(ctx, f.svc.URL(), alice, h); err != nil || f.stored(t, h) {
		t.Errorf("after a restart, delete by alice = %v (stored %v), want deleted", err, f.stored(t, h))
	}
}

func TestStartRefusesASecondServiceOnOneFolder(t *testing.T) {
	dir := t.TempDir()
	start(t, dir, newFakeLedger(), 0)
	_, err := Start(context.Background(), Config{Name: "second", Key: key("provider"), Dir: dir, Listen: "127.0.0.1:0", Ledger: newFakeLedger()})
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("Start on a folder in use = %v, want conflict", err)
	}
}

func TestHealthz(t *testing.T) {
	f := start(t, t.TempDir(), newFakeLedger(), 1<<20)
	resp, err := http.Get(f.svc.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h shardserver.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 || h.Status != "ok" || h.Quota != 1<<20 {
		t.Errorf("healthz = %d %+v %v", resp.StatusCode, h, err)
	}
}

// CanRead implements Ledger: the fake knows no private object unless a
// test sets one with setPrivate.
func (f *fakeLedger) CanRead(_ context.Context, _ identity.Address, h shardstore.Hash, reader identity.Address) (bool, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	readers, ok := f.private[h]
	if !ok {
		return false, true, nil
	}
	return true, readers[reader], nil
}

// setPrivate makes h a private object's shard that readers may read.
func (f *fakeLedger) setPrivate(h shardstore.Hash, readers ...identity.Address) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.private == nil {
		f.private = map[shardstore.Hash]map[identity.Address]bool{}
	}
	m := map[identity.Address]bool{}
	for _, r := range readers {
		m[r] = true
	}
	f.private[h] = m
}
