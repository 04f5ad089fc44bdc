package objects_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// TestSampleByBytes places and removes shards of random sizes on one
// provider (removals from the middle, the front and the end, so that the
// last placement moves into every kind of hole) and, after each change,
// checks that every byte the provider holds is drawn to the placement that
// holds it in position order, and that a draw past the last byte is
// refused.
func TestSampleByBytes(t *testing.T) {
	c := newChain(t)
	ctx := c.Query()
	prov := testKey("sampled").Address()
	r := rand.New(rand.NewPCG(7, 7))
	var live []storage.ID
	for step := range 400 {
		if len(live) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(live))
			if ok, err := objects.UnplaceSized(ctx, prov, live[i]); err != nil || !ok {
				t.Fatalf("step %d: unplace: %v, %v", step, ok, err)
			}
			live = append(live[:i], live[i+1:]...)
		} else {
			root := storage.ID(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(step))))
			if err := objects.PlaceSized(ctx, prov, root, int64(1+r.IntN(40))); err != nil {
				t.Fatal(err)
			}
			live = append(live, root)
		}
		roots, sizes, err := objects.PlacedSizes(ctx, prov)
		if err != nil {
			t.Fatal(err)
		}
		if len(roots) != len(live) {
			t.Fatalf("step %d: %d placements, want %d", step, len(roots), len(live))
		}
		var at uint64
		for pos, sz := range sizes {
			for b := at; b < at+uint64(sz); b++ {
				got, err := objects.SampleByte(ctx, prov, b)
				if err != nil || got != roots[pos] {
					t.Fatalf("step %d: byte %d drew %x (%v), want position %d's %x (bytes %d to %d)",
						step, b, got[:4], err, pos, roots[pos][:4], at, at+uint64(sz)-1)
				}
			}
			at += uint64(sz)
		}
		if _, err := objects.SampleByte(ctx, prov, at); err == nil {
			t.Fatalf("step %d: byte %d of %d drew a placement", step, at, at)
		}
	}
}
