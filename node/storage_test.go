package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// TestDevnetStorageProviders checks the devnet's five storage providers:
// registered at their shard APIs' URLs, healthy, taking a demo shard only
// once the demo key holds a lease with the provider and only as much as the
// lease allows, and keeping shards and ports across a restart.
func TestDevnetStorageProviders(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	cfg, err := node.LoadConfig(d.home)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Storage) != node.DevnetStorage {
		t.Fatalf("devnet config has %d storage providers, want %d: %+v", len(cfg.Storage), node.DevnetStorage, cfg.Storage)
	}
	rt, err := node.ReadRuntime(d.home)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Storage) != node.DevnetStorage {
		t.Errorf("runtime lists storage %+v, want %d providers", rt.Storage, node.DevnetStorage)
	}
	addrs := map[string]identity.Address{}
	for i, sc := range cfg.Storage {
		name := fmt.Sprintf("storage%d", i)
		url := d.n.StorageURL(name)
		if sc.Name != name || url != "http://"+sc.Listen || strings.HasSuffix(url, ":0") {
			t.Errorf("storage %d: config %+v, URL %q; want %s on its configured port", i, sc, url, name)
		}
		addr := keyAddress(t, d.home, name)
		addrs[name] = addr
		p, err := d.c.Provider(ctx, addr.String())
		if err != nil {
			t.Fatalf("provider %s: %v", name, err)
		}
		if p.Endpoint != url || len(p.Offers) != 1 || p.Offers[0].Class != market.ClassStorage || p.Offers[0].Capacity != node.StorageCapacity {
			t.Errorf("provider %s registered as %+v; want endpoint %s offering 1 TiB of storage", name, p, url)
		}
		if i < len(rt.Storage) && (rt.Storage[i].Name != name || rt.Storage[i].URL != url || rt.Storage[i].Address != addr.String()) {
			t.Errorf("runtime storage %d = %+v, want %s at %s", i, rt.Storage[i], name, url)
		}
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("%s healthz: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s healthz: %s", name, resp.Status)
		}
	}

	// Without a lease with storage3, the demo key may not store there.
	const name = "storage3"
	url, prov := d.n.StorageURL(name), addrs[name]
	sc := &shardserver.Client{}
	h, data := demoShard("a shard of the demo key's ", 10_000)
	err = sc.PutShard(ctx, url, d.demo, h, data)
	if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "open one with `stratus lease open") {
		t.Fatalf("PutShard without a lease = %v, want unauthorized saying to open a lease", err)
	}
	if _, err := sc.GetShard(ctx, url, h, 0, -1); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetShard of the refused shard = %v, want not found", err)
	}

	// With one, it may store up to the lease's quantity.
	res, err := d.c.Send(ctx, d.demo, &market.OpenLease{Class: market.ClassStorage, Quantity: 64 << 10, Deposit: money.UstrPerSTR, Provider: &prov}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, e := range res.Events {
		if e.Type == "lease.opened" {
			id = ustr(t, e.Attrs["lease"])
		}
	}
	// The provider cached "no lease" a moment ago; before it refuses it
	// looks again, and the lease, committed, counts at once.
	if err := sc.PutShard(ctx, url, d.demo, h, data); err != nil {
		t.Fatalf("PutShard with a lease: %v", err)
	}
	if got, err := sc.GetShard(ctx, url, h, 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Errorf("GetShard = %d bytes, %v; want the %d put", len(got), err, len(data))
	}
	big, bigData := demoShard("too big for the lease ", 60<<10)
	if err := sc.PutShard(ctx, url, d.demo, big, bigData); !errs.Is(err, errs.TooLarge) || !strings.Contains(err.Error(), "open a larger lease") {
		t.Errorf("PutShard past the lease = %v, want too large", err)
	}
	// The agent acknowledges the lease.
	waitLease(ctx, t, d.c, id, "active", func(l market.LeaseView) bool { return l.State == market.LeaseActive })
	// Another provider still refuses: the lease is with storage3 only.
	if err := sc.PutShard(ctx, d.n.StorageURL("storage1"), d.demo, h, data); !errs.Is(err, errs.Unauthorized) {
		t.Errorf("PutShard to storage1 = %v, want unauthorized", err)
	}

	// A restart keeps the ports, and the shard.
	if err := d.n.Close(); err != nil {
		t.Fatal(err)
	}
	n2, _ := startNode(t, d.home, cfg)
	if got := n2.StorageURL(name); got != url {
		t.Errorf("after a restart %s is at %s, want %s", name, got, url)
	}
	if got, err := sc.GetShard(ctx, url, h, 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Errorf("GetShard after a restart = %d bytes, %v", len(got), err)
	}
}

// demoShard returns size bytes made of s and their shard hash.
func demoShard(s string, size int) (shardstore.Hash, []byte) {
	data := bytes.Repeat([]byte(s), size/len(s)+1)[:size]
	return shardstore.Hash(storage.ShardHash(data, storage.DefaultLeafSize)), data
}

func TestStorageConfigValidate(t *testing.T) {
	storageHome := func() node.Config {
		c := node.DefaultConfig()
		c.Role, c.Node = node.RoleStorage, "http://127.0.0.1:7070"
		c.Providers = []string{"s0"}
		c.Storage = []node.StorageConfig{node.DefaultStorage("s0", "127.0.0.1:0", 1<<30)}
		return c
	}
	tests := []struct {
		name   string
		change func(*node.Config)
		want   string // in the error; "" for none
	}{
		{"storage home", func(c *node.Config) {}, ""},
		{"storage home needs no API", func(c *node.Config) { c.API.Listen, c.ChainID = "", "" }, ""},
		{"unknown role", func(c *node.Config) { c.Role = "archiver" }, "role"},
		{"no node", func(c *node.Config) { c.Node = "" }, "needs node"},
		{"no storage", func(c *node.Config) { c.Storage, c.Providers = nil, nil }, "[[storage]]"},
		{"agent without a provider", func(c *node.Config) { c.Providers = append(c.Providers, "compute0") }, `"compute0" has no [[storage]]`},
		{"no name", func(c *node.Config) { c.Storage[0].Name = "" }, "no name"},
		{"twice", func(c *node.Config) { c.Storage = append(c.Storage, c.Storage[0]) }, "two storage providers"},
		{"bad listen", func(c *node.Config) { c.Storage[0].Listen = "7001" }, "host:port"},
		{"no dir", func(c *node.Config) { c.Storage[0].Dir = "" }, "no dir"},
		{"negative capacity", func(c *node.Config) { c.Storage[0].Capacity = -1 }, "negative"},
		{"validator with storage", func(c *node.Config) { c.Role, c.Node = node.RoleValidator, "" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := storageHome()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errs.Is(err, errs.Invalid)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestStorageHome runs a testnet's storage home against its validator, in
// this process: the provider serves, its agent acknowledges leases over the
// validator's API, and Close removes the runtime file.
func TestStorageHome(t *testing.T) {
	dir := t.TempDir()
	nodes, err := node.InitTestnetWith(dir, 1, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[1].Name != "storage0" || nodes[1].Role != node.RoleStorage {
		t.Fatalf("InitTestnetWith(1, 1) = %+v, want validator0 and storage0", nodes)
	}
	if listed, err := node.TestnetNodes(dir); err != nil || fmt.Sprint(listed) != fmt.Sprint(nodes) {
		t.Errorf("TestnetNodes = %+v, %v; want %+v", listed, err, nodes)
	}
	vcfg, err := node.LoadConfig(nodes[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	vcfg.Consensus.TimeoutCommit = node.Duration(50 * time.Millisecond)
	v, _ := startNode(t, nodes[0].Home, vcfg)
	scfg, err := node.LoadConfig(nodes[1].Home)
	if err != nil {
		t.Fatal(err)
	}
	if scfg.Role != node.RoleStorage || scfg.Node != v.APIURL() || len(scfg.Storage) != 1 {
		t.Fatalf("storage home config %+v; want role storage reading %s", scfg, v.APIURL())
	}
	s, stop := startNode(t, nodes[1].Home, scfg)
	url := s.StorageURL("storage0")
	if url != "http://"+scfg.Storage[0].Listen {
		t.Errorf("StorageURL = %q, want http://%s", url, scfg.Storage[0].Listen)
	}
	rt, err := node.ReadRuntime(nodes[1].Home)
	if err != nil || rt.API != "" || len(rt.Storage) != 1 || rt.Storage[0].URL != url {
		t.Errorf("storage home runtime %+v, %v; want its provider at %s and no API", rt, err, url)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := client.New(v.APIURL())
	prov := keyAddress(t, nodes[1].Home, "storage0")
	if p, err := c.Provider(ctx, prov.String()); err != nil || p.Endpoint != url {
		t.Fatalf("provider storage0 = %+v, %v; want endpoint %s", p, err, url)
	}
	demo, err := identity.OpenKeystore(node.KeysDir(node.ClientHome(dir))).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, demo, &market.OpenLease{Class: market.ClassStorage, Quantity: 1 << 20, Deposit: money.UstrPerSTR, Provider: &prov}, client.SendOptions{})
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
	h, data := demoShard("stored on a storage home ", 5_000)
	if err := (&shardserver.Client{}).PutShard(ctx, url, demo, h, data); err != nil {
		t.Errorf("PutShard: %v", err)
	}

	stop()
	if _, err := node.ReadRuntime(nodes[1].Home); err == nil {
		t.Error("the storage home's runtime file is left after Close")
	}
}
