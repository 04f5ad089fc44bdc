package market_test

import (
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// TestCorruptParamsAreAnInternalError: parameters that state holds under
// params/market are checked when a context is made. Corrupt, unknown-field,
// invalid or missing parameters make BeginBlock and queries fail with an
// internal error that says what is wrong, never fall back to defaults.
func TestCorruptParamsAreAnInternalError(t *testing.T) {
	chain := ledgertest.New(t, ledgertest.Options{
		ChainID: "params", Registry: ledger.DefaultRegistry(market.Module{}), Genesis: map[string]any{"market": market.DefaultGenesis()},
	})
	m, good, t0 := chain.M, chain.St, chain.Now
	key := string(ledger.ParamsKey("market"))
	if good[key] == nil || good["market/params"] != nil {
		t.Fatalf("market parameters are not stored under %s alone", key)
	}
	hdr := chain.NextHeader()
	if _, err := m.BeginBlock(good, hdr); err != nil {
		t.Fatalf("BeginBlock over good parameters: %v", err)
	}
	if got := market.GetParams(chain.Query()); got != market.DefaultParams() {
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
