package node_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// scrape reads /metrics and returns each sample by its name and labels as
// they are written, e.g. `stratus_market_leases{state="active"}`.
func scrape(ctx context.Context, t *testing.T, apiURL string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(httpGet(ctx, t, apiURL+"/metrics"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetric scrapes /metrics until the sample name satisfies ok, and
// returns that scrape: metrics see a block after the client that sent a
// transaction is told it committed.
func waitMetric(ctx context.Context, t *testing.T, apiURL, name string, ok func(float64) bool) map[string]float64 {
	t.Helper()
	for {
		m := scrape(ctx, t, apiURL)
		if v, found := m[name]; found && ok(v) {
			return m
		}
		select {
		case <-ctx.Done():
			v, found := m[name]
			t.Fatalf("%s in /metrics never got the value wanted: last %v (present %v)", name, v, found)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestDomainMetrics scrapes /metrics after a transfer and a storage lease,
// and checks that the domain's series are there and agree with the chain.
func TestDomainMetrics(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: recipient(), Amount: money.UstrPerSTR}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, lease := storageLease(ctx, t, &d, "storage0")

	// The lease scan runs after the block's commit, off its path.
	m := waitMetric(ctx, t, d.n.APIURL(), `stratus_market_leases{state="active"}`, func(v float64) bool { return v >= 1 })
	has := func(name string) float64 {
		t.Helper()
		v, ok := m[name]
		if !ok {
			t.Errorf("/metrics has no %s", name)
		}
		return v
	}
	if h := has("stratus_ledger_height"); h < float64(res.Height) {
		t.Errorf("stratus_ledger_height = %v, before the transfer's block %d", h, res.Height)
	}
	if g := has("stratus_ledger_gas_used_total"); g <= 0 {
		t.Errorf("stratus_ledger_gas_used_total = %v after two transactions", g)
	}
	has("stratus_ledger_block_gas_used")
	if a := has("stratus_audit_log_size"); a <= 0 {
		t.Errorf("stratus_audit_log_size = %v", a)
	}
	var sum float64
	buckets := 0
	for k, v := range m {
		if strings.HasPrefix(k, "stratus_ledger_bucket_ustr{") {
			sum += v
			buckets++
		}
	}
	for _, b := range []string{ledger.BucketBalances, market.BucketEscrow, market.BucketCollateral} {
		has(`stratus_ledger_bucket_ustr{bucket="` + b + `"}`)
	}
	if supply := has("stratus_ledger_supply_ustr"); supply <= 0 || supply != sum {
		t.Errorf("supply %v, sum of %d buckets %v", supply, buckets, sum)
	}
	if e := has(`stratus_ledger_bucket_ustr{bucket="escrow"}`); e <= 0 {
		t.Errorf("escrow %v with lease %d open", e, lease)
	}
	if a := has(`stratus_market_leases{state="active"}`); a < 1 {
		t.Errorf("active leases %v with lease %d active", a, lease)
	}
	for _, s := range []string{market.LeasePending, market.LeaseGrace, market.LeaseClosed} {
		has(`stratus_market_leases{state="` + s + `"}`)
	}
	if c := has("stratus_market_leases_complete"); c != 1 {
		t.Errorf("stratus_market_leases_complete = %v with one lease", c)
	}
	for _, name := range []string{
		"stratus_market_settlement_last_block_ustr", "stratus_market_settled_ustr_total",
		`stratus_storage_proofs_total{result="passed"}`, `stratus_storage_proofs_total{result="missed"}`,
		`stratus_objects_total{event="committed"}`, `stratus_objects_bytes_total{event="dropped"}`,
		"stratus_function_calls_total", "stratus_function_charged_ustr_total",
	} {
		if v := has(name); v < 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
}
