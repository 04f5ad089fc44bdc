package ledger_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
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
