package node_test

import (
	"context"
	"testing"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestObjectsOnDevnet commits an object's manifest against a storage lease
// with the devnet's built-in storage provider, and reads it back over the
// API: by ID, and in its owner's list.
func TestObjectsOnDevnet(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	c, demo := d.c, d.demo
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// The built-in provider's agent acknowledges the lease.
	prov, id := storageLease(ctx, t, &d, "storage0")

	p := storage.DefaultParams()
	p.SegmentSize = 64 << 10
	enc, err := storage.NewEncoder(p)
	if err != nil {
		t.Fatal(err)
	}
	es, err := enc.EncodeSegment([]byte("the bytes of a small object, stored three plus two"))
	if err != nil {
		t.Fatal(err)
	}
	man := enc.Manifest()
	for i := range man.Segments {
		for j := range man.Segments[i].Shards {
			man.Segments[i].Shards[j].Provider = prov.String()
		}
	}
	raw, err := man.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The provider signs a receipt only for shards it holds: upload them.
	ps, err := c.Providers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var endpoint string
	for _, p := range ps {
		if p.Operator == prov {
			endpoint = p.Endpoint
		}
	}
	var sc shardserver.Client
	for j, data := range es.Shards {
		if err := sc.PutShard(ctx, endpoint, demo, shardstore.Hash(es.Segment.Shards[j].Hash), data); err != nil {
			t.Fatal(err)
		}
	}
	rcs, err := storeclient.New(c).Receipts(ctx, demo, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, demo, &objects.Commit{Manifest: raw, Leases: []uint64{id}, Receipts: rcs, Public: true}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	var got objects.ObjectView
	if err := c.Get(ctx, "/v1/objects/"+man.ID().String(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != man.ID().String() || got.Owner != demo.Address() || got.Size != man.Size || got.Decoded == nil || got.Decoded.ID() != man.ID() {
		t.Errorf("GET /v1/objects/%s = %+v", man.ID(), got)
	}
	list, err := c.Objects(ctx, demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != man.ID().String() {
		t.Errorf("objects of demo = %+v", list)
	}
	checkSupply(ctx, t, c)
	m := waitMetric(ctx, t, d.n.APIURL(), `stratus_objects_total{event="committed"}`, func(v float64) bool { return v == 1 })
	if b := m[`stratus_objects_bytes_total{event="committed"}`]; b != float64(man.Size) {
		t.Errorf("stratus_objects_bytes_total{event=\"committed\"} = %v, want the object's %d bytes", b, man.Size)
	}
}

// storageLease opens a 1 MiB storage lease from demo with the devnet's
// provider name and waits until its agent acknowledges it.
func storageLease(ctx context.Context, t *testing.T, d *devnet, name string) (identity.Address, uint64) {
	t.Helper()
	info, err := d.ks.Show(name)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := identity.ParseDID(info.Address)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.c.Send(ctx, d.demo, &market.OpenLease{Class: market.ClassStorage, Quantity: 1 << 20, Deposit: money.UstrPerSTR, Provider: &prov}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var lease uint64
	for _, e := range res.Events {
		if e.Type == "lease.opened" {
			lease = ustr(t, e.Attrs["lease"])
		}
	}
	waitLease(ctx, t, d.c, lease, "active", func(l market.LeaseView) bool { return l.State == market.LeaseActive })
	return prov, lease
}
