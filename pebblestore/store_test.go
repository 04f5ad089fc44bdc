package pebblestore_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// openStore opens a store in dir and closes it when the test ends, unless
// the test closed it first (closing twice is the test's business).
func openStore(t *testing.T, dir string) *pebblestore.Store {
	t.Helper()
	s, err := pebblestore.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

// newStore opens a fresh store in a temporary folder, closed at cleanup.
func newStore(t *testing.T) *pebblestore.Store {
	t.Helper()
	s := openStore(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return s
}

func set(k, v string) ledger.Change { return ledger.Change{Key: []byte(k), Value: []byte(v)} }
func del(k string) ledger.Change    { return ledger.Change{Key: []byte(k), Delete: true} }

func commit(t *testing.T, s *pebblestore.Store, h int64, app string, writes []ledger.Change, index ...pebblestore.IndexEntry) {
	t.Helper()
	if err := s.Commit(h, []byte(app), writes, index); err != nil {
		t.Fatalf("Commit(%d): %v", h, err)
	}
}

func wantGet(t *testing.T, r ledger.Reader, key string, want []byte) {
	t.Helper()
	got, err := r.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Errorf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantLast(t *testing.T, s *pebblestore.Store, h int64, app []byte) {
	t.Helper()
	gh, gapp, err := s.Last()
	if err != nil {
		t.Fatalf("Last: %v", err)
	}
	if gh != h || !bytes.Equal(gapp, app) {
		t.Errorf("Last() = %d, %q; want %d, %q", gh, gapp, h, app)
	}
}

func TestEmptyStore(t *testing.T) {
	s := newStore(t)
	wantLast(t, s, 0, nil)
	wantGet(t, s, "missing", nil)
	v, err := s.Index([]byte("missing"))
	if err != nil || v != nil {
		t.Errorf("Index(missing) = %q, %v; want nil, nil", v, err)
	}
	snap := s.Snapshot()
	defer snap.Close()
	if h := snap.Height(); h != 0 {
		t.Errorf("snapshot of an empty store: Height() = %d, want 0", h)
	}
	wantGet(t, snap, "missing", nil)
}

func TestCommitAndLast(t *testing.T) {
	s := newStore(t)
	commit(t, s, 0, "genesis", []ledger.Change{set("a", "1"), set("b", "2")})
	wantLast(t, s, 0, []byte("genesis"))
	wantGet(t, s, "a", []byte("1"))

	commit(t, s, 1, "app1", []ledger.Change{set("a", "10"), set("c", "3"), del("b")})
	wantLast(t, s, 1, []byte("app1"))
	for _, tc := range []struct {
		key  string
		want []byte
	}{
		{"a", []byte("10")},
		{"b", nil},
		{"c", []byte("3")},
		{"d", nil},
	} {
		wantGet(t, s, tc.key, tc.want)
	}

	// Deleting a key that is not there is harmless.
	commit(t, s, 2, "app2", []ledger.Change{del("never")})
	wantLast(t, s, 2, []byte("app2"))
	wantGet(t, s, "never", nil)
}

func TestReopenSeesLastCommit(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	commit(t, s, 1, "app1", []ledger.Change{set("k", "v1"), set("gone", "x")}, pebblestore.IndexEntry{Key: []byte("tx/1"), Value: []byte("rec1")})
	commit(t, s, 2, "app2", []ledger.Change{set("k", "v2"), del("gone")})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, dir)
	defer s.Close()
	wantLast(t, s, 2, []byte("app2"))
	wantGet(t, s, "k", []byte("v2"))
	wantGet(t, s, "gone", nil)
	if v, err := s.Index([]byte("tx/1")); err != nil || string(v) != "rec1" {
		t.Errorf("Index(tx/1) after reopen = %q, %v; want rec1", v, err)
	}
}

func TestOpenTwiceIsConflict(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	s2, err := pebblestore.Open(dir)
	if err == nil {
		s2.Close()
		t.Fatal("opening a store that is already open succeeded")
	}
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("second Open: kind %s (%v), want %s", errs.KindOf(err), err, errs.Conflict)
	}
}

func TestIndexIsOutsideState(t *testing.T) {
	s := newStore(t)
	commit(t, s, 1, "app1", []ledger.Change{set("tx/a", "state")},
		pebblestore.IndexEntry{Key: []byte("tx/a"), Value: []byte("index-a")},
		pebblestore.IndexEntry{Key: []byte("tx/b"), Value: []byte("index-b")},
	)
	wantGet(t, s, "tx/a", []byte("state"))
	wantGet(t, s, "tx/b", nil)
	for k, want := range map[string]string{"tx/a": "index-a", "tx/b": "index-b"} {
		v, err := s.Index([]byte(k))
		if err != nil || string(v) != want {
			t.Errorf("Index(%q) = %q, %v; want %q", k, v, err, want)
		}
	}
	if v, err := s.Index([]byte("tx/c")); err != nil || v != nil {
		t.Errorf("Index(tx/c) = %q, %v; want nil, nil", v, err)
	}
	var keys []string
	if err := s.IterateState(nil, func(k, v []byte) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[tx/a]" {
		t.Errorf("IterateState over everything saw %q, want only the state key tx/a", keys)
	}
	// Nor do the store's own height and app hash show up as state.
	wantGet(t, s, "m/height", nil)
	wantGet(t, s, "../m/height", nil)
}

func TestIterateState(t *testing.T) {
	s := newStore(t)
	keys := []string{
		"a", "acct/", "acct/1", "acct/2", "acct/2/x", "acct0", "b",
		"p\xff", "p\xff\x00", "p\xff\xff", "p\xff\xff\x01", "q",
		"\xff", "\xff\xff", "\xff\xff\xff",
	}
	var writes []ledger.Change
	// Commit in reverse order so that key order comes from the store.
	for i := len(keys) - 1; i >= 0; i-- {
		writes = append(writes, set(keys[i], "v:"+keys[i]))
	}
	commit(t, s, 1, "app1", writes, pebblestore.IndexEntry{Key: []byte("acct/zz"), Value: []byte("index")})

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"acct/", []string{"acct/", "acct/1", "acct/2", "acct/2/x"}},
		{"acct/2", []string{"acct/2", "acct/2/x"}},
		{"acct", []string{"acct/", "acct/1", "acct/2", "acct/2/x", "acct0"}},
		{"p\xff", []string{"p\xff", "p\xff\x00", "p\xff\xff", "p\xff\xff\x01"}},
		{"p\xff\xff", []string{"p\xff\xff", "p\xff\xff\x01"}},
		{"\xff", []string{"\xff", "\xff\xff", "\xff\xff\xff"}},
		{"\xff\xff", []string{"\xff\xff", "\xff\xff\xff"}},
		{"none", nil},
		{"", keys},
	} {
		var got []string
		err := s.IterateState([]byte(tc.prefix), func(k, v []byte) error {
			if string(v) != "v:"+string(k) {
				t.Errorf("prefix %q: key %q has value %q", tc.prefix, k, v)
			}
			got = append(got, string(k))
			return nil
		})
		if err != nil {
			t.Fatalf("IterateState(%q): %v", tc.prefix, err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("IterateState(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}

	stop := fmt.Errorf("stop")
	n := 0
	err := s.IterateState([]byte("acct/"), func(k, v []byte) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("IterateState with a failing callback: %v after %d calls, want %v after 1", err, n, stop)
	}
}

func TestSnapshot(t *testing.T) {
	s := newStore(t)
	commit(t, s, 1, "app1", []ledger.Change{set("k", "v1"), set("old", "x")})
	snap := s.Snapshot()
	defer snap.Close()
	commit(t, s, 2, "app2", []ledger.Change{set("k", "v2"), set("new", "y"), del("old")})

	if h := snap.Height(); h != 1 {
		t.Errorf("snapshot Height() = %d, want 1", h)
	}
	wantGet(t, snap, "k", []byte("v1"))
	wantGet(t, snap, "old", []byte("x"))
	wantGet(t, snap, "new", nil)

	wantGet(t, s, "k", []byte("v2"))
	wantGet(t, s, "old", nil)
	wantGet(t, s, "new", []byte("y"))

	snap2 := s.Snapshot()
	defer snap2.Close()
	if h := snap2.Height(); h != 2 {
		t.Errorf("second snapshot Height() = %d, want 2", h)
	}
	wantGet(t, snap2, "k", []byte("v2"))
}

// TestGetReturnsACopy checks that a value read stays valid after the store
// moves on.
func TestGetReturnsACopy(t *testing.T) {
	s := newStore(t)
	commit(t, s, 1, "app1", []ledger.Change{set("k", "first")})
	v, err := s.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, 2, "app2", []ledger.Change{set("k", "second")})
	if string(v) != "first" {
		t.Errorf("value read before a commit changed to %q", v)
	}
}

// TestCommitDoesNotKeepCallerBuffers checks that Commit copies keys and
// values, so the ledger may reuse its buffers.
func TestCommitDoesNotKeepCallerBuffers(t *testing.T) {
	s := newStore(t)
	key, val := []byte("k"), []byte("v")
	app := []byte("app1")
	if err := s.Commit(1, app, []ledger.Change{{Key: key, Value: val}}, nil); err != nil {
		t.Fatal(err)
	}
	key[0], val[0], app[0] = 'x', 'x', 'x'
	wantGet(t, s, "k", []byte("v"))
	wantLast(t, s, 1, []byte("app1"))
}
