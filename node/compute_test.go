package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/storage"
)

// getJSON GETs url and decodes a 200 answer into out; it returns the
// status and, for a problem, the problem.
func getJSON(t *testing.T, url string, out any) (int, api.Problem) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var p api.Problem
	if resp.StatusCode != http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != api.ProblemContentType {
			t.Errorf("GET %s: %d with Content-Type %q, want a problem", url, resp.StatusCode, ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Errorf("GET %s: problem body: %v", url, err)
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode, p
}

// TestDevnetCompute checks that a devnet runs compute0 to compute2, each on
// a port of its own, registered at its URL (compute0 at the reference
// price, the others a little dearer), and answers the functions routes and
// the gateway.
func TestDevnetCompute(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	d := startDevnet(t, market.DefaultGenesis())
	cfg, err := node.LoadConfig(d.home)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Compute) != node.DevnetCompute {
		t.Fatalf("config [[compute]] = %+v, want %d providers", cfg.Compute, node.DevnetCompute)
	}
	rt, err := node.ReadRuntime(d.home)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Compute) != node.DevnetCompute {
		t.Errorf("runtime compute = %+v, want %d providers", rt.Compute, node.DevnetCompute)
	}
	ports := map[string]bool{}
	for i, cc := range cfg.Compute {
		name := fmt.Sprintf("compute%d", i)
		if cc != node.DefaultCompute(name, cc.Listen) || strings.HasSuffix(cc.Listen, ":0") || ports[cc.Listen] {
			t.Errorf("config [[compute]] %d = %+v, want %s on a fixed port of its own", i, cc, name)
		}
		ports[cc.Listen] = true
		url := d.n.ComputeURL(name)
		if url == "" {
			t.Fatalf("ComputeURL(%s) is empty", name)
		}
		addr := keyAddress(t, d.home, name)
		if i < len(rt.Compute) && (rt.Compute[i].Name != name || rt.Compute[i].URL != url || rt.Compute[i].Address != addr.String()) {
			t.Errorf("runtime compute %d = %+v, want %s at %s", i, rt.Compute[i], name, url)
		}
		if code, _ := getJSON(t, url+"/healthz", nil); code != http.StatusOK {
			t.Errorf("%s /healthz = %d", name, code)
		}
		p, err := d.c.Provider(ctx, addr.String())
		if err != nil {
			t.Fatal(err)
		}
		bps := uint64(10_000)
		if i > 0 {
			bps = node.DevnetComputeSpareBps
		}
		if p.Endpoint != url || len(p.Offers) != 1 || p.Offers[0].Class != market.ClassCompute || p.Offers[0].Capacity != node.ComputeCapacity ||
			p.Offers[0].Pricing != (market.Rule{Kind: "reference", MultiplierBps: bps}) {
			t.Errorf("%s registered as %+v, want %s with %d cu at %d bps of the reference", name, p, url, node.ComputeCapacity, bps)
		}
	}
	addr := keyAddress(t, d.home, "compute0")

	apiURL := d.n.APIURL()
	var deps api.Page[functions.Deployment]
	if code, p := getJSON(t, apiURL+"/v1/functions?owner="+d.demo.Address().String(), &deps); code != http.StatusOK || deps.Items == nil || len(deps.Items) != 0 || deps.Next != "" {
		t.Errorf("GET /v1/functions?owner=demo = %d %v %+v, want 200 []", code, deps, p)
	}
	raw, err := os.ReadFile(abci.GenesisFile(node.CometDir(d.home)))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AppState struct {
			Functions *functions.Genesis `json:"functions"`
		} `json:"app_state"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.AppState.Functions == nil || *doc.AppState.Functions != functions.DefaultGenesis() {
		t.Errorf("genesis functions section %+v, %v; want the defaults", doc.AppState.Functions, err)
	}
	var params functions.Params
	if code, _ := getJSON(t, apiURL+"/v1/functions/params", &params); code != http.StatusOK || params != functions.DefaultParams() {
		t.Errorf("GET /v1/functions/params = %d %+v, want %+v", code, params, functions.DefaultParams())
	}
	var replicas api.Page[functions.Assignment]
	if code, _ := getJSON(t, apiURL+"/v1/providers/"+addr.String()+"/replicas", &replicas); code != http.StatusOK || replicas.Items == nil || len(replicas.Items) != 0 {
		t.Errorf("GET replicas of compute0 = %d %v, want 200 []", code, replicas)
	}
	for _, tc := range []struct {
		path string
		code int
		kind string
	}{
		{"/v1/functions/99", 404, "not_found"},
		{"/v1/functions/abc", 400, "invalid"},
		{"/v1/functions/99/payable", 404, "not_found"},
		{"/v1/functions/by-name/" + d.demo.Address().String() + "/echo", 404, "not_found"},
		{"/v1/functions?owner=nobody", 400, "invalid"},
		{"/fn/99/hello", 404, "not_found"},
		{"/fn/99", 404, "not_found"},
		{"/fn/x/hello", 400, "invalid"},
	} {
		if code, p := getJSON(t, apiURL+tc.path, nil); code != tc.code || p.Kind != tc.kind || p.Detail == "" {
			t.Errorf("GET %s = %d %+v, want %d %s", tc.path, code, p, tc.code, tc.kind)
		}
	}
}

// TestGatewayForwards deploys a function on a devnet whose one replica
// lands on a stand-in compute provider, cheaper than compute0, and calls it
// through the gateway.
func TestGatewayForwards(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	deadline := time.Now().Add(testTimeout / 3)
	var (
		mu   sync.Mutex
		seen []*http.Request
		body []string
	)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen, body = append(seen, r), append(body, string(b))
		mu.Unlock()
		w.Header().Set("X-Fn", "yes")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "hi from "+r.URL.Path)
	}))
	defer fake.Close()
	d := startDevnet(t, market.DefaultGenesis())
	fk, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: fk.Address(), Amount: node.ProviderFunds}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := &market.RegisterProvider{Endpoint: fake.URL, Region: "local", Collateral: node.ProviderCollateral,
		Offers: []market.Offer{{Class: market.ClassCompute, Capacity: 8, Pricing: market.Rule{Kind: "reference", MultiplierBps: 5_000}}}}
	if _, err := d.c.Send(ctx, fk, reg, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	var mod storage.ID
	copy(mod[:], bytes.Repeat([]byte{7}, len(mod)))
	spec := functions.Spec{
		Module: mod.String(), SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
		Scaling: functions.Scaling{Min: 1, Max: 1, TargetConcurrency: 8, CooldownSeconds: 60}, SpendLimit: 100_000_000,
	}
	res, err := d.c.Send(ctx, d.demo, &functions.Deploy{Name: "echo", Spec: spec, Deposit: 10_000_000}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id, lease string
	for _, e := range res.Events {
		switch e.Type {
		case "function.deployed":
			id = e.Attrs["deployment"]
		case "function.scaled":
			if e.Attrs["provider"] != fk.Address().String() {
				t.Fatalf("the replica went to %s, not to the cheaper stand-in", e.Attrs["provider"])
			}
			lease = e.Attrs["lease"]
		}
	}
	if id == "" || lease == "" {
		t.Fatalf("no function.deployed and function.scaled events with a deployment and lease: %+v", res.Events)
	}
	if code, _ := getJSON(t, d.n.APIURL()+"/v1/functions/"+id+"/payable", nil); code != http.StatusOK {
		t.Errorf("payable = %d, want 200", code)
	}
	var byName functions.DeploymentView
	if code, _ := getJSON(t, d.n.APIURL()+"/v1/functions/by-name/"+d.demo.Address().String()+"/echo", &byName); code != http.StatusOK || strconv.FormatUint(byName.ID, 10) != id {
		t.Errorf("by-name = %d %+v, want deployment %s", code, byName, id)
	}

	// Until the provider acknowledges the replica's lease, no replica runs.
	if code, p := getJSON(t, d.n.APIURL()+"/fn/"+id+"/", nil); code != http.StatusServiceUnavailable || p.Kind != "unavailable" {
		t.Errorf("GET before the lease is acknowledged = %d %+v, want 503", code, p)
	}
	if _, err := d.c.Send(ctx, fk, &market.AckLease{ID: ustr(t, lease)}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.n.APIURL()+"/fn/"+id+"/a%2Fb/c?x=1&y=2", strings.NewReader("payload"))
		req.Header.Set("X-Custom", "kept")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if time.Now().After(deadline) {
			var v json.RawMessage
			getJSON(t, d.n.APIURL()+"/v1/functions/"+id, &v)
			t.Fatalf("the gateway still answers 503: %s\ndeployment: %s", b, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Fn") != "yes" || string(b) != "hi from /fn/"+id+"/a/b/c" {
		t.Fatalf("gateway answered %d %v %q", resp.StatusCode, resp.Header, b)
	}
	mu.Lock()
	r := seen[len(seen)-1]
	got := body[len(body)-1]
	mu.Unlock()
	if r.Method != http.MethodPost || r.URL.EscapedPath() != "/fn/"+id+"/a%2Fb/c" || r.URL.RawQuery != "x=1&y=2" || got != "payload" {
		t.Errorf("provider got %s %s?%s %q", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, got)
	}
	if r.Header.Get("X-Custom") != "kept" || r.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.Header.Get("X-Forwarded-Proto") != "http" ||
		r.Header.Get("X-Forwarded-Host") != strings.TrimPrefix(d.n.APIURL(), "http://") {
		t.Errorf("provider got headers %v", r.Header)
	}

	// /fn/{id} is the route /.
	resp, err = http.Get(d.n.APIURL() + "/fn/" + id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi from /fn/"+id+"/" {
		t.Errorf("GET /fn/%s reached %q, want /fn/%s/", id, b, id)
	}
	if resp.Header.Get("X-Fn") != "yes" {
		t.Errorf("GET /fn/%s: the function's headers were lost: %v", id, resp.Header)
	}
}

func TestComputeConfigValidate(t *testing.T) {
	computeHome := func() node.Config {
		c := node.DefaultConfig()
		c.Role, c.Node = node.RoleCompute, "http://127.0.0.1:7070"
		c.Providers = []string{"c0"}
		c.Compute = []node.ComputeConfig{node.DefaultCompute("c0", "127.0.0.1:0")}
		return c
	}
	tests := []struct {
		name   string
		change func(*node.Config)
		want   string // in the error; "" for none
	}{
		{"compute home", func(c *node.Config) {}, ""},
		{"compute home needs no API", func(c *node.Config) { c.API.Listen, c.ChainID = "", "" }, ""},
		{"no node", func(c *node.Config) { c.Node = "" }, "needs node"},
		{"no compute", func(c *node.Config) { c.Compute, c.Providers = nil, nil }, "[[compute]]"},
		{"agent without a provider", func(c *node.Config) { c.Providers = append(c.Providers, "storage0") }, `"storage0" has no [[compute]]`},
		{"no name", func(c *node.Config) { c.Compute[0].Name = "" }, "no name"},
		{"twice", func(c *node.Config) { c.Compute = append(c.Compute, c.Compute[0]) }, "two providers"},
		{"named like a storage provider", func(c *node.Config) {
			c.Storage = []node.StorageConfig{node.DefaultStorage("c0", "127.0.0.1:0", 1<<30)}
		}, "two providers"},
		{"bad listen", func(c *node.Config) { c.Compute[0].Listen = "7001" }, "host:port"},
		{"no dir", func(c *node.Config) { c.Compute[0].Dir = "" }, "no dir"},
		{"report interval", func(c *node.Config) { c.Compute[0].ReportEvery = node.Duration(time.Second) }, ""},
		{"negative report interval", func(c *node.Config) { c.Compute[0].ReportEvery = -1 }, "report_every"},
		{"validator with compute", func(c *node.Config) { c.Role, c.Node = node.RoleValidator, "" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := computeHome()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errs.Is(err, errs.Invalid)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestComputeHome runs a testnet's compute home against its validator, in
// this process: the service answers, its endpoint is registered, its agent
// acknowledges a replica's lease over the validator's API, and Close
// removes the runtime file.
func TestComputeHome(t *testing.T) {
	dir := t.TempDir()
	nodes, err := node.InitTestnetOf(dir, node.TestnetSize{Validators: 1, Compute: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[1].Name != "compute0" || nodes[1].Role != node.RoleCompute {
		t.Fatalf("InitTestnetOf(1, 0, 1) = %+v, want validator0 and compute0", nodes)
	}
	if listed, err := node.TestnetNodes(dir); err != nil || len(listed) != 2 || listed[1] != nodes[1] {
		t.Errorf("TestnetNodes = %+v, %v; want %+v", listed, err, nodes)
	}
	vcfg, err := node.LoadConfig(nodes[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	vcfg.Consensus.TimeoutCommit = node.Duration(50 * time.Millisecond)
	v, _ := startNode(t, nodes[0].Home, vcfg)
	ccfg, err := node.LoadConfig(nodes[1].Home)
	if err != nil {
		t.Fatal(err)
	}
	if ccfg.Role != node.RoleCompute || ccfg.Node != v.APIURL() || len(ccfg.Compute) != 1 {
		t.Fatalf("compute home config %+v; want role compute reading %s", ccfg, v.APIURL())
	}
	cn, stop := startNode(t, nodes[1].Home, ccfg)
	url := cn.ComputeURL("compute0")
	if url != "http://"+ccfg.Compute[0].Listen {
		t.Errorf("ComputeURL = %q, want http://%s", url, ccfg.Compute[0].Listen)
	}
	rt, err := node.ReadRuntime(nodes[1].Home)
	if err != nil || rt.API != "" || len(rt.Compute) != 1 || rt.Compute[0].URL != url {
		t.Errorf("compute home runtime %+v, %v; want its provider at %s and no API", rt, err, url)
	}
	if code, _ := getJSON(t, url+"/healthz", nil); code != http.StatusOK {
		t.Errorf("compute0 /healthz = %d", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := client.New(v.APIURL())
	prov := keyAddress(t, nodes[1].Home, "compute0")
	if p, err := c.Provider(ctx, prov.String()); err != nil || p.Endpoint != url || p.Offers[0].Class != market.ClassCompute {
		t.Fatalf("provider compute0 = %+v, %v; want a compute provider at %s", p, err, url)
	}
	demo, err := identity.OpenKeystore(node.KeysDir(node.ClientHome(dir))).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, demo, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: money.UstrPerSTR, Provider: &prov}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, e := range res.Events {
		if e.Type == "lease.opened" {
			id = ustr(t, e.Attrs["lease"])
		}
	}
	waitLease(ctx, t, c, id, "active", func(l market.LeaseView) bool { return l.State == market.LeaseActive })

	stop()
	if _, err := node.ReadRuntime(nodes[1].Home); err == nil {
		t.Error("the compute home's runtime file is left after Close")
	}
}
