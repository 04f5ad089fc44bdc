package bench_test

import (
	"encoding/json"
	"testing"

	"github.com/stratus-cloud/stratus/bench"
)

// TestMarketTiny runs the market benchmark small and checks that its JSON
// line carries every figure, positive.
func TestMarketTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 leases on a Pebble store")
	}
	res, err := bench.Market(bench.MarketOptions{Leases: 2000, Touch: 50, Blocks: 3, PerBlock: 500, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"block_ms_1k", "block_ms_100k", "ratio", "commit_ms_1k", "commit_ms_100k", "setup_s", "setup_leases_per_s", "store_mib"} {
		if v, ok := m[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number (%s)", k, m[k], b)
		}
	}
	if res.Leases != 2000 || res.Touch != 50 || len(res.Samples1k) != 3 || len(res.Samples100k) != 3 {
		t.Errorf("result %s does not describe 2000 leases, 50 touched, 3 blocks", b)
	}
}

func TestMarketRefusesBadOptions(t *testing.T) {
	for _, o := range []bench.MarketOptions{{Leases: 1000, Touch: 10}, {Leases: 2000, Touch: 0}, {Leases: 2000, Touch: 1001}} {
		if _, err := bench.Market(o); err == nil {
			t.Errorf("Market(%+v) succeeded, want an error", o)
		}
	}
}

// TestMarketCold runs the market benchmark without reading the stores
// through first, and checks that the result says so.
func TestMarketCold(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1500 leases on a Pebble store")
	}
	res, err := bench.Market(bench.MarketOptions{Leases: 1500, Touch: 10, Blocks: 1, PerBlock: 500, Cold: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cold || res.BlockMs1k <= 0 || res.BlockMs100k <= 0 {
		t.Errorf("cold run: %+v, want cold true and both block times positive", res)
	}
}
