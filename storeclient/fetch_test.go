package storeclient_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestFetchSegmentRebuildsWhatIsExcluded is the repair worker's read: with
// the shard being rebuilt excluded and another provider down, the segment's
// k+m shards come back, each equal to the one stored, the excluded one
// rebuilt from parity.
func TestFetchSegmentRebuildsWhatIsExcluded(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(2*int(storage.DefaultSegmentSize)+77, 21)
	res := shared.put(t, data, storeclient.PutOptions{})
	_, m, err := shared.sc.Object(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	seg := 1
	refs := m.Segments[seg].Shards
	lost := 4 // a parity shard
	down := shared.names(t, []string{refs[0].Provider})[0]
	stop(t, down)

	f, err := storeclient.New(shared.api).NewSegmentFetcher(ctx, res.ID, m)
	if err != nil {
		t.Fatal(err)
	}
	some, err := f.Fetch(ctx, seg, storeclient.FetchOptions{Exclude: []int{lost}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for j, s := range some {
		if s != nil {
			n++
			if j == lost {
				t.Errorf("excluded shard %d was fetched", j)
			}
		}
	}
	if n != m.Params.K {
		t.Fatalf("fetched %d shards, want k=%d", n, m.Params.K)
	}

	all, err := f.Fetch(ctx, seg, storeclient.FetchOptions{Exclude: []int{lost}, Full: true})
	if err != nil {
		t.Fatal(err)
	}
	for j, s := range all {
		if err := storage.VerifyShard(refs[j], m.Params.LeafSize, s); err != nil {
			t.Errorf("shard %d: %v", j, err)
		}
	}
	// The rebuilt shard is byte for byte the one its provider holds.
	name := shared.names(t, []string{refs[lost].Provider})[0]
	onDisk, err := os.ReadFile(shardPath(t, name, refs[lost].Hash))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, all[lost]) {
		t.Fatalf("rebuilt shard %d differs from the stored one", lost)
	}
	// Only the shard asked for is rebuilt.
	one, err := f.Fetch(ctx, seg, storeclient.FetchOptions{Exclude: []int{lost}, Rebuild: []int{lost}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one[lost], onDisk) {
		t.Fatalf("shard %d rebuilt alone differs from the stored one", lost)
	}
	n = 0
	for _, s := range one {
		if s != nil {
			n++
		}
	}
	if n != m.Params.K+1 {
		t.Fatalf("with Rebuild of one shard, %d shards came back, want k+1=%d", n, m.Params.K+1)
	}
	if len(f.Faults()) == 0 {
		t.Errorf("no fault reported for the provider that is down")
	}

	// Excluding m+1 shards leaves too few: a clear error, not a hang.
	_, err = f.Fetch(ctx, seg, storeclient.FetchOptions{Exclude: []int{1, 2, 3}})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("with 3 excluded and 1 down: %v, want Unavailable", err)
	}
	if _, err := f.Fetch(ctx, 7, storeclient.FetchOptions{}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("segment out of range: %v, want Invalid", err)
	}
	if _, err := f.Fetch(ctx, 0, storeclient.FetchOptions{Exclude: []int{5}}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("shard out of range: %v, want Invalid", err)
	}
}

// TestFetchSegmentRoutesAroundALiar: a provider that serves bytes which do
// not match the manifest cannot make a repairer rebuild wrong data: its
// shard is refused, reported, and the lost shard is rebuilt from the
// others, byte for byte.
func TestFetchSegmentRoutesAroundALiar(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(int(storage.DefaultSegmentSize)+33, 22)
	res := shared.put(t, data, storeclient.PutOptions{})
	_, m, err := shared.sc.Object(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	refs := m.Segments[0].Shards
	const lost, liar = 3, 0
	want, err := os.ReadFile(shardPath(t, shared.names(t, []string{refs[lost].Provider})[0], refs[lost].Hash))
	if err != nil {
		t.Fatal(err)
	}
	path := shardPath(t, shared.names(t, []string{refs[liar].Provider})[0], refs[liar].Hash)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0x5a
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := storeclient.New(shared.api).NewSegmentFetcher(ctx, res.ID, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Fetch(ctx, 0, storeclient.FetchOptions{Exclude: []int{lost}, Rebuild: []int{lost}})
	if err != nil {
		t.Fatal(err)
	}
	if got[liar] != nil {
		t.Errorf("the liar's shard was kept")
	}
	if !bytes.Equal(got[lost], want) {
		t.Fatalf("the rebuilt shard differs from the one stored")
	}
	corrupt := 0
	for _, fl := range f.Faults() {
		if fl.Kind == "corrupt" && fl.Provider == refs[liar].Provider {
			corrupt++
		}
	}
	if corrupt != 1 {
		t.Fatalf("faults %+v: want the liar reported corrupt once", f.Faults())
	}
}
