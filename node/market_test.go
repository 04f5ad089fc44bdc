package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
)

// TestProviderThatGoesDownPays runs the whole SLA loop on a devnet with
// two-second epochs: the validator's prober probes a provider's health
// endpoint and reports on the ledger, and when the provider goes down its
// leases' windows breach, the consumer is refunded from the provider's
// collateral, and after three breaches in a row the lease closes for
// migration. Nothing in it is simulated but the clock's scale.
func TestProviderThatGoesDownPays(t *testing.T) {
	mg := market.DefaultGenesis()
	mg.Params.EpochSeconds = 2
	d := startDevnet(t, mg)
	c, demo := d.c, d.demo
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The provider: a key of its own, and a health endpoint we can stop.
	prov := &identity.Key{Priv: ed25519.NewKeyFromSeed([]byte("stratus test provider: it fails."))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok"))
			return
		}
		http.NotFound(w, r)
	})}
	go health.Serve(ln)
	defer health.Close()
	send := func(k *identity.Key, m ledger.Msg) {
		t.Helper()
		if _, err := c.Send(ctx, k, m, client.SendOptions{}); err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
	}
	send(demo, &ledger.Transfer{To: prov.Address(), Amount: 2000 * money.UstrPerSTR})
	send(prov, &market.RegisterProvider{Endpoint: "http://" + ln.Addr().String(), Region: "test",
		Offers:     []market.Offer{{Class: market.ClassCompute, Capacity: 8, Pricing: market.Rule{Kind: "fixed", Price: 100 * market.NanoPerUstr}}},
		Collateral: 1000 * money.UstrPerSTR})
	pa := prov.Address()
	res, err := c.Send(ctx, demo, &market.OpenLease{Class: market.ClassCompute, Quantity: 4, Deposit: 100 * money.UstrPerSTR,
		Provider: &pa, SLA: market.SLA{TargetBps: 9900, WindowSeconds: 4}}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, e := range res.Events {
		if e.Type == "lease.opened" {
			id = ustr(t, e.Attrs["lease"])
		}
	}
	send(prov, &market.AckLease{ID: id})
	before, err := c.Account(ctx, demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}

	// While the provider answers, windows pass without a breach.
	waitLease(ctx, t, c, id, "a window with quorum", func(l market.LeaseView) bool {
		for _, w := range l.Windows {
			if w.Quorum {
				return true
			}
		}
		return false
	})
	l, _ := c.Lease(ctx, id)
	for _, w := range l.Windows {
		if w.Breach {
			t.Errorf("window %d breached while the provider was up: %+v", w.Index, w)
		}
	}

	// The provider goes down: three breaches, refunds, migration.
	health.Close()
	l = waitLease(ctx, t, c, id, "closed for SLA", func(l market.LeaseView) bool { return l.State == market.LeaseClosed })
	if l.CloseReason != "sla" {
		t.Fatalf("lease closed with reason %q, want sla; windows %+v", l.CloseReason, l.Windows)
	}
	var refunds uint64
	breaches := 0
	for _, w := range l.Windows {
		if w.Breach {
			breaches++
			refunds += w.Refund
			if w.AvailabilityBps >= 9900 || w.Refund == 0 && w.Charges > 0 {
				t.Errorf("breach window %+v", w)
			}
		}
	}
	if breaches < 3 || refunds != l.SLARefunded || refunds == 0 {
		t.Errorf("%d breaches refunding %d, lease says %d", breaches, refunds, l.SLARefunded)
	}
	p, err := c.Provider(ctx, pa.String())
	if err != nil {
		t.Fatal(err)
	}
	if p.Collateral != 1000*money.UstrPerSTR-refunds || p.Breaches < 3 || p.Score >= 10_000 {
		t.Errorf("provider after breaches: collateral %d (want %d), breaches %d, score %d", p.Collateral, 1000*money.UstrPerSTR-refunds, p.Breaches, p.Score)
	}
	after, err := c.Account(ctx, demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	// The consumer got back the SLA refunds and the unspent escrow.
	if got, want := ustr(t, after.Balance)-ustr(t, before.Balance), refunds+l.Refunded; got != want {
		t.Errorf("consumer balance rose by %d, want refunds %d + escrow refund %d", got, refunds, l.Refunded)
	}
	if l.Deposited != l.Escrow+l.Settled+l.Refunded {
		t.Errorf("lease money: deposited %d != escrow %d + settled %d + refunded %d", l.Deposited, l.Escrow, l.Settled, l.Refunded)
	}
	checkSupply(ctx, t, c)
}

func waitLease(ctx context.Context, t *testing.T, c *client.Client, id uint64, what string, ok func(market.LeaseView) bool) market.LeaseView {
	t.Helper()
	for {
		l, err := c.Lease(ctx, id)
		if err == nil && ok(l) {
			return l
		}
		select {
		case <-ctx.Done():
			t.Fatalf("lease %d never got %s: last %+v (%v)", id, what, l, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// devnet is a devnet node started in a temporary home, with a client and
// the demo key.
type devnet struct {
	home string
	n    *node.Node
	c    *client.Client
	ks   *identity.Keystore
	demo *identity.Key
}

// startDevnet lays out a devnet with the market genesis mg and starts it on
// free ports with 100 ms blocks, its built-in providers' agents running.
func startDevnet(t *testing.T, mg market.Genesis) devnet {
	t.Helper()
	d := devnet{home: filepath.Join(t.TempDir(), "devnet")}
	if _, err := node.InitDevnetWith(d.home, devnetConfig(), "", mg); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(d.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	d.n, _ = startNode(t, d.home, cfg)
	d.c = client.New(d.n.APIURL())
	d.ks = identity.OpenKeystore(node.KeysDir(d.home))
	if d.demo, err = d.ks.Load(node.DemoKey, ""); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEveryRouteIsInOpenAPI checks that each route a devnet node mounts,
// the node's own as well as the API's, is described in openapi.json.
func TestEveryRouteIsInOpenAPI(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	resp, err := http.Get(d.n.APIURL() + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	routes := d.n.API().Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "...}", "}") // {path...} is {path}
		path = strings.TrimSuffix(path, "{$}")       // /{$} is exactly /
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %q is missing from openapi.json", route)
		}
	}

	// One store of parameters, one encoding, every module's in it.
	var params map[string]json.RawMessage
	if err := d.c.Get(context.Background(), "/v1/params", &params); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ledger", "market", "objects", "functions"} {
		if len(params[name]) < 10 {
			t.Errorf("GET /v1/params has no %s parameters: %s", name, params[name])
		}
	}
	var mp market.Params
	if err := json.Unmarshal(params["market"], &mp); err != nil || mp != market.DefaultParams() {
		t.Errorf("GET /v1/params market = %+v (%v), want the devnet's defaults %+v", mp, err, market.DefaultParams())
	}

	// Every module's event kinds are declared, with the roles that the
	// audit index and the dashboard find accounts and resources by.
	var kinds struct {
		Kinds []ledger.EventKind `json:"kinds"`
	}
	if err := d.c.Get(context.Background(), "/v1/events/kinds", &kinds); err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, k := range kinds.Kinds {
		for _, a := range k.Attrs {
			roles[k.Type+"/"+a.Key] = a.Role
		}
	}
	for key, want := range map[string]string{
		"bank.transfer/to": ledger.RoleAccount, "lease.opened/lease": ledger.RoleLease, "lease.opened/consumer": ledger.RoleAccount,
		"object.committed/id": ledger.RoleObject, "function.deployed/deployment": ledger.RoleDeployment,
		"sla.breach/refund": ledger.RoleAmount, "storage.proof_missed/provider": ledger.RoleAccount,
	} {
		if got, ok := roles[key]; !ok || got != want {
			t.Errorf("GET /v1/events/kinds: %s has role %q (declared: %v), want %q", key, got, ok, want)
		}
	}
}
