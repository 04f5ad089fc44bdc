package bench_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stratus-cloud/stratus/bench"
)

// TestBlockSmall runs the block benchmark with small blocks and checks that
// every transaction succeeded, every figure was measured and the ratio is
// the largest block's time per transaction over the smallest's. It asserts
// no timing.
func TestBlockSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("executes 700 open_lease transactions on Pebble stores")
	}
	sizes := []int{50, 100, 200}
	res, err := bench.Block(bench.BlockOptions{Sizes: sizes, Rounds: 2, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != len(sizes) || res.Rounds != 2 {
		t.Fatalf("result %s does not describe sizes %v, 2 rounds", b, sizes)
	}
	for i, s := range res.Blocks {
		if s.Txs != sizes[i] || s.OK != 2*sizes[i] {
			t.Errorf("block %d: %d of %d transactions succeeded, want all %d (%s)", i, s.OK, 2*s.Txs, 2*sizes[i], b)
		}
		if s.ExecMs <= 0 || s.CommitMs <= 0 || s.PerTxUs <= 0 || len(s.Samples) != 2 {
			t.Errorf("block %d: exec %v ms, commit %v ms, per tx %v µs, %d samples: want positive figures and 2 samples", i, s.ExecMs, s.CommitMs, s.PerTxUs, len(s.Samples))
		}
		if want := 1000 * s.ExecMs / float64(s.Txs); math.Abs(s.PerTxUs-want) > 1e-9*want {
			t.Errorf("block %d: per_tx_us %v, want exec_ms x 1000 / txs = %v", i, s.PerTxUs, want)
		}
	}
	if want := res.Blocks[2].PerTxUs / res.Blocks[0].PerTxUs; res.Ratio <= 0 || math.Abs(res.Ratio-want) > 1e-9*want {
		t.Errorf("ratio %v, want per_tx_us(200) / per_tx_us(50) = %v", res.Ratio, want)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"blocks", "ratio", "rounds", "consumers", "providers", "cores"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
}

func TestBlockRefusesBadSizes(t *testing.T) {
	for _, sizes := range [][]int{{100}, {200, 100}, {0, 100}, {100, 100}} {
		if _, err := bench.Block(bench.BlockOptions{Sizes: sizes}); err == nil {
			t.Errorf("Block(sizes %v) succeeded, want an error", sizes)
		}
	}
}
