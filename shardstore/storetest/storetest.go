// Package storetest is the conformance suite that every shardstore.Store
// backend passes: round trips, range reads, verification, size and quota
// limits, ordering, concurrency and cancellation, all through the interface.
//
// It tests behaviour every backend shares, not a backend's own concerns
// (durability, file layout); those tests live with the backend. It is a
// test helper, not for production code.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
)

// Opener returns a new, empty store with the given quota in bytes that
// verifies Puts with shardstore.VerifySHA256. It arranges its own cleanup
// with t.Cleanup.
type Opener func(t *testing.T, quota int64) shardstore.Store

// bigQuota is the quota of subtests that aren't about the quota.
const bigQuota = 1 << 30

// Run runs the conformance suite against the stores open returns, each
// subtest with a fresh store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		test func(*testing.T, Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"Range", testRange},
		{"NotFound", testNotFound},
		{"Stat", testStat},
		{"Delete", testDelete},
		{"IdempotentPut", testIdempotentPut},
		{"WrongBytes", testWrongBytes},
		{"WrongLength", testWrongLength},
		{"Quota", testQuota},
		{"List", testList},
		{"ListStops", testListStops},
		{"Concurrent", testConcurrent},
		{"ConcurrentPutDelete", testConcurrentPutDelete},
		{"Canceled", testCanceled},
		{"CanceledMidPut", testCanceledMidPut},
		{"Scrub", testScrub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, open) })
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	for _, size := range []int{0, 1, 4096, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := open(t, bigQuota)
			h, data := Shard(size, uint64(size))
			put(t, s, h, data)
			if got := get(t, s, h, 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("Get(%d bytes) returned %d different bytes", size, len(got))
			}
			wantUsage(t, s, int64(size), bigQuota)
		})
	}
}

func testRange(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h, data := Shard(10000, 1)
	put(t, s, h, data)
	empty, _ := Shard(0, 0)
	put(t, s, empty, nil)

	tests := []struct {
		name    string
		h       shardstore.Hash
		off, n  int64
		want    []byte
		wantErr errs.Kind
	}{
		{name: "start", h: h, off: 0, n: 10, want: data[:10]},
		{name: "middle", h: h, off: 4000, n: 100, want: data[4000:4100]},
		{name: "end", h: h, off: 9990, n: 10, want: data[9990:]},
		{name: "to end", h: h, off: 5000, n: -1, want: data[5000:]},
		{name: "whole", h: h, off: 0, n: 10000, want: data},
		{name: "zero length", h: h, off: 123, n: 0, want: nil},
		{name: "at end", h: h, off: 10000, n: -1, want: nil},
		{name: "empty shard", h: empty, off: 0, n: -1, want: nil},
		{name: "off beyond size", h: h, off: 10001, n: -1, wantErr: errs.Invalid},
		{name: "off beyond size with n", h: h, off: 20000, n: 1, wantErr: errs.Invalid},
		{name: "negative off", h: h, off: -1, n: 1, wantErr: errs.Invalid},
		{name: "past end", h: h, off: 9995, n: 10, wantErr: errs.Invalid},
		{name: "past end of empty", h: empty, off: 0, n: 1, wantErr: errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := s.Get(context.Background(), tt.h, tt.off, tt.n)
			if tt.wantErr != "" {
				if rc != nil {
					rc.Close()
				}
				wantKind(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Get(off %d, n %d): %v", tt.off, tt.n, err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("reading Get(off %d, n %d): %v", tt.off, tt.n, err)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Get(off %d, n %d) = %d bytes, want %d bytes (%x…)", tt.off, tt.n, len(got), len(tt.want), tt.want[:min(len(tt.want), 8)])
			}
		})
	}
}

func testNotFound(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h, _ := Shard(10, 1)
	ctx := context.Background()
	_, err := s.Get(ctx, h, 0, -1)
	wantKind(t, err, errs.NotFound)
	_, err = s.Stat(ctx, h)
	wantKind(t, err, errs.NotFound)
	wantKind(t, s.Delete(ctx, h), errs.NotFound)
	if sc, ok := s.(shardstore.Scrubber); ok {
		wantKind(t, sc.Verify(ctx, h), errs.NotFound)
	}
}

func testStat(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h, data := Shard(777, 2)
	before := time.Now()
	put(t, s, h, data)
	after := time.Now()
	info, err := s.Stat(context.Background(), h)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Hash != h || info.Size != 777 {
		t.Errorf("Stat = {%s, %d}, want {%s, 777}", info.Hash, info.Size, h)
	}
	// File systems round timestamps, so allow some slack.
	if info.Created.Before(before.Add(-2*time.Second)) || info.Created.After(after.Add(2*time.Second)) {
		t.Errorf("Stat Created = %v, want between %v and %v", info.Created, before, after)
	}
}

func testDelete(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h1, d1 := Shard(100, 1)
	h2, d2 := Shard(200, 2)
	put(t, s, h1, d1)
	put(t, s, h2, d2)
	if err := s.Delete(context.Background(), h1); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantAbsent(t, s, h1)
	wantKind(t, s.Delete(context.Background(), h1), errs.NotFound)
	if got := get(t, s, h2, 0, -1); !bytes.Equal(got, d2) {
		t.Errorf("Delete of one shard changed another")
	}
	wantUsage(t, s, 200, bigQuota)
	wantList(t, s, h2)
	put(t, s, h1, d1) // and it can come back
	wantUsage(t, s, 300, bigQuota)
}

func testIdempotentPut(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h, data := Shard(5000, 3)
	put(t, s, h, data)
	info, err := s.Stat(context.Background(), h)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	put(t, s, h, data)
	info2, err := s.Stat(context.Background(), h)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info2 != info {
		t.Errorf("re-Put changed Stat from %+v to %+v", info, info2)
	}
	wantUsage(t, s, 5000, bigQuota)
	wantList(t, s, h)
}

func testWrongBytes(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h, data := Shard(4096, 4)
	_, other := Shard(4096, 5)
	err := s.Put(context.Background(), h, bytes.NewReader(other), int64(len(other)))
	wantKind(t, err, errs.Invalid)
	wantEmpty(t, s, h)
	put(t, s, h, data) // a failed Put leaves nothing in the way
	// Bytes that don't match a stored hash don't replace it either.
	_, tail := Shard(5000, 6)
	wantKind(t, s.Put(context.Background(), h, bytes.NewReader(tail), 5000), errs.Invalid)
	if got := get(t, s, h, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("a rejected Put changed the stored shard")
	}
}

func testWrongLength(t *testing.T, open Opener) {
	h, data := Shard(1000, 7)
	tests := []struct {
		name     string
		r        io.Reader
		size     int64
		wantKind errs.Kind
	}{
		{"short reader", bytes.NewReader(data[:999]), 1000, errs.Invalid},
		{"empty reader", bytes.NewReader(nil), 1000, errs.Invalid},
		// The first size bytes verify, but the body goes on.
		{"long reader", io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{0})), 1000, errs.Invalid},
		{"negative size", bytes.NewReader(data), -1, errs.Invalid},
		{"too large", bytes.NewReader(data), shardstore.MaxShardSize + 1, errs.TooLarge},
		// Any kind will do when the body fails: the store can't tell whose fault it is.
		{"reader fails", io.MultiReader(bytes.NewReader(data[:500]), errReader{}), 1000, ""},
		{"reader fails at end", io.MultiReader(bytes.NewReader(data), errReader{}), 1000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, bigQuota)
			err := s.Put(context.Background(), h, tt.r, tt.size)
			if tt.wantKind == "" && err == nil {
				t.Errorf("Put: got no error, want one")
			} else if tt.wantKind != "" {
				wantKind(t, err, tt.wantKind)
			}
			wantEmpty(t, s, h)
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func testQuota(t *testing.T, open Opener) {
	s := open(t, 1000)
	wantUsage(t, s, 0, 1000)
	h600, d600 := Shard(600, 1)
	h400, d400 := Shard(400, 2)
	h1, d1 := Shard(1, 3)
	h0, _ := Shard(0, 0)
	put(t, s, h600, d600)
	put(t, s, h400, d400)
	wantUsage(t, s, 1000, 1000)

	err := s.Put(context.Background(), h1, bytes.NewReader(d1), 1)
	wantKind(t, err, errs.TooLarge)
	if !errors.Is(err, shardstore.ErrQuota) {
		t.Errorf("Put past the quota: %v, want an error wrapping ErrQuota", err)
	}
	wantAbsent(t, s, h1)
	wantUsage(t, s, 1000, 1000)

	put(t, s, h400, d400) // re-Put of a stored shard needs no room
	put(t, s, h0, nil)    // nor does an empty one
	wantUsage(t, s, 1000, 1000)

	if err := s.Delete(context.Background(), h400); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantUsage(t, s, 600, 1000)
	put(t, s, h1, d1)
	wantUsage(t, s, 601, 1000)

	// A shard bigger than the whole quota fails the same way.
	hBig, dBig := Shard(1001, 4)
	s2 := open(t, 1000)
	err = s2.Put(context.Background(), hBig, bytes.NewReader(dBig), 1001)
	if !errors.Is(err, shardstore.ErrQuota) {
		t.Errorf("Put of 1001 bytes into a 1000-byte quota: %v, want ErrQuota", err)
	}
	wantEmpty(t, s2, hBig)
}

func testList(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	want := map[shardstore.Hash]int64{}
	for i := range 40 {
		h, data := Shard(i*37, uint64(i))
		put(t, s, h, data)
		want[h] = int64(i * 37)
	}
	var got []shardstore.Info
	err := s.List(context.Background(), func(info shardstore.Info) error {
		got = append(got, info)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("List returned %d shards, want %d", len(got), len(want))
	}
	for i, info := range got {
		if size, ok := want[info.Hash]; !ok || size != info.Size {
			t.Errorf("List returned %s with size %d, want size %d (stored: %v)", info.Hash, info.Size, size, ok)
		}
		if i > 0 && bytes.Compare(got[i-1].Hash[:], info.Hash[:]) >= 0 {
			t.Errorf("List returned %s after %s, want ascending hash order", info.Hash, got[i-1].Hash)
		}
		if info.Created.IsZero() {
			t.Errorf("List returned %s with no Created time", info.Hash)
		}
	}
}

func testListStops(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	for i := range 5 {
		h, data := Shard(10, uint64(i))
		put(t, s, h, data)
	}
	stop := errors.New("stop")
	calls := 0
	err := s.List(context.Background(), func(shardstore.Info) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("List whose callback fails on the 3rd call: err %v after %d calls, want %v after 3", err, calls, stop)
	}
}

func testConcurrent(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	ctx := context.Background()
	const writers, perWriter = 8, 4
	shared, sharedData := Shard(64<<10, 999)
	var wg sync.WaitGroup
	var total int64 = int64(len(sharedData))
	for w := range writers {
		for i := range perWriter {
			total += int64(1000 + w*perWriter + i)
		}
		wg.Go(func() {
			for i := range perWriter {
				h, data := Shard(1000+w*perWriter+i, uint64(100+w*perWriter+i))
				if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if got, err := readAll(s.Get(ctx, h, 0, -1)); err != nil || !bytes.Equal(got, data) {
					t.Errorf("Get after Put: %d bytes, %v", len(got), err)
				}
			}
		})
		// Every writer also races to store the same shard; all succeed.
		wg.Go(func() {
			if err := s.Put(ctx, shared, bytes.NewReader(sharedData), int64(len(sharedData))); err != nil {
				t.Errorf("concurrent Put of the same shard: %v", err)
			}
			if got, err := readAll(s.Get(ctx, shared, 0, -1)); err != nil || !bytes.Equal(got, sharedData) {
				t.Errorf("Get of the shared shard: %d bytes, %v", len(got), err)
			}
		})
		wg.Go(func() {
			if err := s.List(ctx, func(shardstore.Info) error { return nil }); err != nil {
				t.Errorf("List during Puts: %v", err)
			}
		})
	}
	wg.Wait()
	wantUsage(t, s, total, bigQuota)
	n := 0
	if err := s.List(ctx, func(shardstore.Info) error { n++; return nil }); err != nil {
		t.Fatalf("List: %v", err)
	}
	if n != writers*perWriter+1 {
		t.Errorf("List after concurrent Puts saw %d shards, want %d", n, writers*perWriter+1)
	}
}

// testConcurrentPutDelete races Puts and Deletes of one shard, then checks
// the usage counter agrees with whether it ended up stored.
func testConcurrentPutDelete(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	ctx := context.Background()
	h, data := Shard(3000, 8)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Errorf("Put: %v", err)
				}
				if err := s.Delete(ctx, h); err != nil && !errs.Is(err, errs.NotFound) {
					t.Errorf("Delete: %v", err)
				}
			}
		})
	}
	wg.Wait()
	want := int64(0)
	if _, err := s.Stat(ctx, h); err == nil {
		want = 3000
	}
	wantUsage(t, s, want, bigQuota)
}

func testCanceled(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	stored, sd := Shard(100, 1)
	put(t, s, stored, sd)
	h, data := Shard(100, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	wantCanceled := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", op, err)
		}
	}
	wantCanceled("Put", s.Put(ctx, h, bytes.NewReader(data), 100))
	rc, err := s.Get(ctx, stored, 0, -1)
	if rc != nil {
		rc.Close()
	}
	wantCanceled("Get", err)
	_, err = s.Stat(ctx, stored)
	wantCanceled("Stat", err)
	wantCanceled("Delete", s.Delete(ctx, stored))
	wantCanceled("List", s.List(ctx, func(shardstore.Info) error { return nil }))
	_, _, err = s.Usage(ctx)
	wantCanceled("Usage", err)

	wantAbsent(t, s, h)
	if got := get(t, s, stored, 0, -1); !bytes.Equal(got, sd) {
		t.Errorf("canceled Delete removed the shard")
	}
	wantUsage(t, s, 100, bigQuota)
}

// testCanceledMidPut cancels while the body is being read.
func testCanceledMidPut(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	h, data := Shard(1<<20, 9)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelingReader{r: bytes.NewReader(data), after: 1000, cancel: cancel}
	err := s.Put(ctx, h, r, int64(len(data)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put canceled midway: %v, want context.Canceled", err)
	}
	wantEmpty(t, s, h)
}

// cancelingReader cancels its context once it has returned after bytes.
type cancelingReader struct {
	r      io.Reader
	after  int
	read   int
	cancel func()
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), 512)]
	n, err := c.r.Read(p)
	if c.read += n; c.read >= c.after {
		c.cancel()
	}
	return n, err
}

func testScrub(t *testing.T, open Opener) {
	s := open(t, bigQuota)
	sc, ok := s.(shardstore.Scrubber)
	if !ok {
		t.Skip("store is not a Scrubber")
	}
	h, data := Shard(9000, 10)
	put(t, s, h, data)
	if err := sc.Verify(context.Background(), h); err != nil {
		t.Errorf("Verify of a good shard: %v", err)
	}
}

// Shard returns size deterministic pseudo-random bytes drawn from seed and
// their SHA-256.
func Shard(size int, seed uint64) (shardstore.Hash, []byte) {
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	rng.Read(data)
	return sha256.Sum256(data), data
}

func put(t *testing.T, s shardstore.Store, h shardstore.Hash, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
}

func get(t *testing.T, s shardstore.Store, h shardstore.Hash, off, n int64) []byte {
	t.Helper()
	data, err := readAll(s.Get(context.Background(), h, off, n))
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): %v", h, off, n, err)
	}
	return data
}

func readAll(rc io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return data, err
}

func wantKind(t *testing.T, err error, k errs.Kind) {
	t.Helper()
	if err == nil {
		t.Errorf("got no error, want one of kind %s", k)
	} else if got := errs.KindOf(err); got != k {
		t.Errorf("got error %q of kind %s, want kind %s", err, got, k)
	}
}

func wantUsage(t *testing.T, s shardstore.Store, used, quota int64) {
	t.Helper()
	gotUsed, gotQuota, err := s.Usage(context.Background())
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if gotUsed != used || gotQuota != quota {
		t.Errorf("Usage = %d of %d, want %d of %d", gotUsed, gotQuota, used, quota)
	}
}

// wantAbsent checks that h isn't stored, by every read method.
func wantAbsent(t *testing.T, s shardstore.Store, h shardstore.Hash) {
	t.Helper()
	ctx := context.Background()
	_, err := s.Stat(ctx, h)
	wantKind(t, err, errs.NotFound)
	rc, err := s.Get(ctx, h, 0, -1)
	if rc != nil {
		rc.Close()
	}
	wantKind(t, err, errs.NotFound)
	err = s.List(ctx, func(info shardstore.Info) error {
		if info.Hash == h {
			t.Errorf("List includes %s, which should not be stored", h)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
}

// wantEmpty checks that a store holds nothing, h included.
func wantEmpty(t *testing.T, s shardstore.Store, h shardstore.Hash) {
	t.Helper()
	wantAbsent(t, s, h)
	wantList(t, s)
	used, _, err := s.Usage(context.Background())
	if err != nil || used != 0 {
		t.Errorf("Usage = %d, %v; want 0 after a failed Put", used, err)
	}
}

func wantList(t *testing.T, s shardstore.Store, want ...shardstore.Hash) {
	t.Helper()
	var got []shardstore.Hash
	if err := s.List(context.Background(), func(info shardstore.Info) error {
		got = append(got, info.Hash)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}
