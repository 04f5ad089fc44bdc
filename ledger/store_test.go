package ledger_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/ledger"
)

var ownKey = ledger.NewStoreKey("storetest")

// TestStoreKeysKeepModulesInTheirPrefix: a module reaches its own state
// only through its StoreKey, and the context refuses raw access to the
// core's keys and to any module's state.
func TestStoreKeysKeepModulesInTheirPrefix(t *testing.T) {
	mustPanic(t, "claiming a core namespace", "core's namespace", func() { ledger.NewStoreKey("acct") })
	mustPanic(t, "claiming params", "core's namespace", func() { ledger.NewStoreKey("params") })
	mustPanic(t, "claiming a name twice", "twice", func() { ledger.NewStoreKey("storetest") })
	mustPanic(t, "a name with a slash", "not a module name", func() { ledger.NewStoreKey("a/b") })
	if ownKey.Prefix() != "storetest/" {
		t.Fatalf("Prefix = %q", ownKey.Prefix())
	}

	m := ledger.New(ledger.DefaultRegistry())
	op := testKey("store-op")
	g := ledger.Genesis{Params: ledger.DefaultParams(), Validators: []ledger.Validator{{Name: "v", Operator: op.Address(), ConsPubKey: op.Priv.Public().(ed25519.PublicKey), Power: 1}}}
	app, err := g.MarshalAppState(nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: "store", Time: t0}, app)
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.MemReader{}
	st.Apply(ch.Writes)
	ctx, err := m.NewQueryContext(st, "store", 0, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}

	ctx.Store(ownKey).Set([]byte("k"), []byte("v"))
	if got := string(ctx.Store(ownKey).Get([]byte("k"))); got != "v" {
		t.Fatalf("own store read back %q", got)
	}
	a := op.Address()
	acct := append([]byte(ledger.AccountPrefix), a[:]...)
	mustPanic(t, "a raw read of an account", "core's", func() { ctx.Get(acct) })
	mustPanic(t, "a raw write of the supply", "core's", func() { ctx.Set([]byte("supply"), []byte{1}) })
	mustPanic(t, "a raw write of parameters", "core's", func() { ctx.Set(ledger.ParamsKey("ledger"), []byte("{}")) })
	mustPanic(t, "a raw read of the audit log", "core's", func() { ctx.Get([]byte("audit/range")) })
	mustPanic(t, "a raw write into a module's state", "belongs to module storetest", func() { ctx.Set([]byte("storetest/k"), []byte("x")) })
	mustPanic(t, "a raw walk of a module's state", "belongs to module storetest", func() { ctx.Iterate([]byte("storetest/"), nil) })
	mustPanic(t, "a raw delete in a module's state", "belongs to module storetest", func() { ctx.Delete([]byte("storetest/k")) })
	// Keys nobody owns stay open to raw access (the ledger's own tests use
	// them).
	ctx.Set([]byte("scratch/k"), []byte("x"))
	if string(ctx.Get([]byte("scratch/k"))) != "x" {
		t.Fatal("unowned key did not read back")
	}
}
