package ledger_test

import (
	"testing"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
)

var (
	ownKey   = ledger.NewStoreKey("storetest")
	otherKey = ledger.NewStoreKey("storetest2")
)

// TestStoreKeysKeepModulesInTheirPrefix: a module reaches state only
// through its own StoreKey (the context has no other way in, besides the
// core's methods for accounts, buckets and parameters), each key opens its
// own module's prefix alone, and no module can claim the core's namespaces
// or another module's.
func TestStoreKeysKeepModulesInTheirPrefix(t *testing.T) {
	mustPanic(t, "claiming a core namespace", "core's namespace", func() { ledger.NewStoreKey("acct") })
	mustPanic(t, "claiming params", "core's namespace", func() { ledger.NewStoreKey("params") })
	mustPanic(t, "claiming a name twice", "twice", func() { ledger.NewStoreKey("storetest") })
	mustPanic(t, "a name with a slash", "not a module name", func() { ledger.NewStoreKey("a/b") })
	if ownKey.Prefix() != "storetest/" {
		t.Fatalf("Prefix = %q", ownKey.Prefix())
	}

	c := ledgertest.New(t, ledgertest.Options{ChainID: "store"})
	ctx := c.Query()

	ctx.Store(ownKey).Set([]byte("k"), []byte("v"))
	if got := string(ctx.Store(ownKey).Get([]byte("k"))); got != "v" {
		t.Fatalf("own store read back %q", got)
	}
	// Another module's key opens another module's state only.
	if got := ctx.Store(otherKey).Get([]byte("k")); got != nil {
		t.Fatalf("module storetest2 sees storetest's key: %q", got)
	}
	ctx.Store(otherKey).Set([]byte("k"), []byte("w"))
	if got := string(ctx.Store(ownKey).Get([]byte("k"))); got != "v" {
		t.Fatalf("a write by storetest2 changed storetest's key to %q", got)
	}
}
