package market_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// TestCorruptParamsAreAnInternalError: parameters that state holds under
// params/market are checked when a context is made. Corrupt, unknown-field,
// invalid or missing parameters make BeginBlock and queries fail with an
// internal error that says what is wrong, never fall back to defaults.
func TestCorruptParamsAreAnInternalError(t *testing.T) {
	m := ledger.New(ledger.DefaultRegistry(market.Module{}))
	seed := sha256.Sum256([]byte("params test"))
	op := &identity.Key{Priv: ed25519.NewKeyFromSeed(seed[:])}
	g := ledger.Genesis{Params: ledger.DefaultParams(), Validators: []ledger.Validator{{Name: "v", Operator: op.Address(), ConsPubKey: op.Priv.Public().(ed25519.PublicKey), Power: 1}}}
	app, err := g.MarshalAppState(map[string]any{"market": market.DefaultGenesis()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: "params", Time: t0}, app)
	if err != nil {
		t.Fatal(err)
	}
	good := ledger.MemReader{}
	good.Apply(ch.Writes)
	key := string(ledger.ParamsKey("market"))
	if good[key] == nil || good["market/params"] != nil {
		t.Fatalf("market parameters are not stored under %s alone", key)
	}
	hdr := ledger.Header{ChainID: "params", Height: 1, Time: t0.Add(time.Second), Hash: make([]byte, 32), PrevAppHash: ch.AppHash}
	if _, err := m.BeginBlock(good, hdr); err != nil {
		t.Fatalf("BeginBlock over good parameters: %v", err)
	}
	ctx, err := m.NewQueryContext(good, "params", 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := market.GetParams(ctx); got != market.DefaultParams() {
		t.Fatalf("GetParams = %+v, want the genesis defaults", got)
	}

	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"not JSON", []byte(`{"epoch_seconds":`), "corrupt parameters of market"},
		{"unknown field", []byte(`{"epoch_seconds":3600,"surprise":1}`), "corrupt parameters of market"},
		{"invalid", []byte(`{}`), "corrupt parameters of market"},
		{"missing", nil, "no parameters of market"},
	} {
		bad := ledger.MemReader{}
		for k, v := range good {
			bad[k] = v
		}
		if c.raw == nil {
			delete(bad, key)
		} else {
			bad[key] = c.raw
		}
		_, err := m.BeginBlock(bad, hdr)
		if errs.KindOf(err) != errs.Internal || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: BeginBlock = %v, want an internal error saying %q", c.name, err, c.want)
		}
		if _, err := m.NewQueryContext(bad, "params", 0, t0); errs.KindOf(err) != errs.Internal {
			t.Errorf("%s: NewQueryContext = %v, want an internal error", c.name, err)
		}
	}
}
