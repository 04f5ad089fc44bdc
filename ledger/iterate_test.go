package ledger_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// TestCacheIterate checks the overlay's merged walk against a plain model,
// over both parents: a map and Pebble.
func TestCacheIterate(t *testing.T) {
	base := map[string]string{"p/a": "1", "p/c": "3", "p/e": "5", "q/x": "9"}
	st, err := pebblestore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var writes []ledger.Change
	mem := ledger.MemReader{}
	for k, v := range base {
		writes = append(writes, ledger.Change{Key: []byte(k), Value: []byte(v)})
		mem[k] = []byte(v)
	}
	slices.SortFunc(writes, func(a, b ledger.Change) int { return slices.Compare(a.Key, b.Key) })
	if err := st.Commit(1, []byte("h"), writes, nil); err != nil {
		t.Fatal(err)
	}
	for name, parent := range map[string]ledger.Reader{"mem": mem, "pebble": st} {
		t.Run(name, func(t *testing.T) {
			c := ledger.NewCache(parent)
			c.Set([]byte("p/b"), []byte("2"))  // new, between parent keys
			c.Set([]byte("p/c"), []byte("33")) // overwrite
			c.Delete([]byte("p/e"))            // delete
			c.Set([]byte("p/f"), []byte("6"))  // new, after all parent keys
			c.Set([]byte("r/z"), []byte("0"))  // other prefix
			walk := func(limit int) []string {
				var got []string
				err := c.Iterate([]byte("p/"), func(k, v []byte) error {
					got = append(got, fmt.Sprintf("%s=%s", k, v))
					if len(got) == limit {
						return ledger.ErrStop
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			want := []string{"p/a=1", "p/b=2", "p/c=33", "p/f=6"}
			if got := walk(-1); !slices.Equal(got, want) {
				t.Errorf("walk = %v, want %v", got, want)
			}
			for n := 1; n <= len(want); n++ {
				if got := walk(n); !slices.Equal(got, want[:n]) {
					t.Errorf("walk stopping after %d = %v, want %v", n, got, want[:n])
				}
			}
			boom := errors.New("boom")
			if err := c.Iterate([]byte("p/"), func(k, v []byte) error { return boom }); !errors.Is(err, boom) {
				t.Errorf("callback error = %v, want boom", err)
			}
		})
	}
}

// TestCacheRandomOverlay drives the overlay with random writes, deletes,
// snapshots, reverts and walks, and checks every walk and the final
// changes against a plain model: the order the overlay keeps (placed
// lazily, undone on revert) must always be the keys' order.
func TestCacheRandomOverlay(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		parent := ledger.MemReader{}
		for i := range 30 {
			if r.IntN(2) == 0 {
				parent[fmt.Sprintf("k/%02d", i)] = []byte("p")
			}
			if r.IntN(3) == 0 {
				parent[fmt.Sprintf("a/%02d", i)] = []byte("p")
			}
		}
		c := ledger.NewCache(parent)
		model := map[string]string{}
		for k, v := range parent {
			model[k] = string(v)
		}
		type snap struct {
			at    int
			model map[string]string
		}
		var snaps []snap
		for step := range 400 {
			// Several namespaces: a walk places only its own namespace's
			// new keys, and Changes merges the rest in.
			spaces := []string{"a/", "k/", "z/", "kk"}
			k := fmt.Sprintf("%s%02d", spaces[r.IntN(len(spaces))], r.IntN(40))
			switch op := r.IntN(10); {
			case op < 4:
				v := fmt.Sprint(step)
				c.Set([]byte(k), []byte(v))
				model[k] = v
			case op < 5:
				c.Delete([]byte(k))
				delete(model, k)
			case op < 6:
				snaps = append(snaps, snap{c.Snapshot(), maps.Clone(model)})
			case op < 7 && len(snaps) > 0:
				s := snaps[len(snaps)-1]
				snaps = snaps[:len(snaps)-1]
				c.Revert(s.at)
				model = s.model
			case op < 8:
				c.Seal()
				snaps = nil
			default:
				prefixes := []string{"k/", "a/", "z/", "k", ""}
				prefix := prefixes[r.IntN(len(prefixes))]
				var got []string
				if err := c.Iterate([]byte(prefix), func(k, v []byte) error { got = append(got, string(k)+"="+string(v)); return nil }); err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, k := range slices.Sorted(maps.Keys(model)) {
					if strings.HasPrefix(k, prefix) {
						want = append(want, k+"="+model[k])
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: walk %v, want %v", seed, step, got, want)
				}
			}
		}
		// Keys new to the overlay after its last walk, in namespaces that
		// sort before, between and after the walked ones, and one walk of a
		// single namespace: Changes merges what was never placed.
		for _, k := range []string{"0/new", "b/new", "zz/new", "k/new"} {
			c.Set([]byte(k), []byte("n"))
			model[k] = "n"
		}
		if err := c.Iterate([]byte("k/"), func(k, v []byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
		ch := c.Changes()
		for i := 1; i < len(ch); i++ {
			if bytes.Compare(ch[i-1].Key, ch[i].Key) >= 0 {
				t.Fatalf("seed %d: changes not strictly sorted: %q then %q", seed, ch[i-1].Key, ch[i].Key)
			}
		}
		after := maps.Clone(parent)
		after.Apply(ch)
		if len(after) != len(model) {
			t.Fatalf("seed %d: %d keys after the changes, want %d", seed, len(after), len(model))
		}
		for k, v := range model {
			if string(after[k]) != v {
				t.Fatalf("seed %d: %s = %q after the changes, want %q", seed, k, after[k], v)
			}
		}
	}
}
