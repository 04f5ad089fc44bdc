package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
)

// TestProviderShowSaysWhyNoLeases: `provider show` of a provider whose
// collateral SLA refunds drained below the minimum says that it gets no new
// leases, why, and what to do; and it shows the refunds it could not pay.
func TestProviderShowSaysWhyNoLeases(t *testing.T) {
	addr, err := identity.ParseDID(testDID)
	if err != nil {
		t.Fatal(err)
	}
	view := market.ProviderView{
		Provider: market.Provider{Operator: addr, Endpoint: "https://p.example", Region: "eu", State: market.ProviderActive,
			Collateral: 12_500_000, Score: 7000, Breaches: 3, RefundShortfall: 4_000_000},
		NoNewLeases: market.NoLeasesCollateral, MinCollateral: 100_000_000,
		Reason: "its collateral 12.5STR is below the minimum of 100STR a provider needs to take new leases",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/providers/"+testDID {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			market.ProviderView
			Leases []string `json:"leases"`
		}{view, []string{"4"}})
	}))
	defer srv.Close()
	t.Setenv("STRATUS_NODE", "")
	stdout, stderr, code := runCLI(t, "", "--home", t.TempDir(), "--node", srv.URL, "provider", "show", testDID)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"collateral: 12.5STR\n",
		"unpaid refunds: 4STR (SLA refunds its collateral could not cover)\n",
		"new leases: no, its collateral 12.5STR is below the minimum of 100STR a provider needs to take new leases; add collateral with `stratus provider update --from KEY --add-collateral AMOUNT`\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("provider show lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, _ = runCLI(t, "", "--home", t.TempDir(), "--node", srv.URL, "provider", "show", testDID, "--output", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got["takes_new_leases"] != false || got["no_new_leases"] != "collateral_below_minimum" || got["min_collateral"] != "100000000" {
		t.Errorf("json %v", got)
	}
}
