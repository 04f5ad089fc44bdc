package node_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/provider"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestAccessLogOnDevnet: a private object on the devnet's storage0, read by
// a grantee; the provider records the read, its agent anchors the epoch on
// the ledger once it is over, and the owner sees the read with a valid
// signature and a valid proof against the anchor. Nobody else sees it.
func TestAccessLogOnDevnet(t *testing.T) {
	mg := market.DefaultGenesis()
	mg.Params.EpochSeconds = 2 // so that an epoch ends soon
	d := startDevnet(t, mg)
	c, demo, ks := d.c, d.demo, d.ks
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	prov, lease := storageLease(ctx, t, &d, "storage0")

	// The shards, stand-ins for ciphertext, all on storage0.
	p := storage.DefaultParams()
	p.SegmentSize = 64 << 10
	enc, err := storage.NewEncoder(p)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := enc.EncodeSegment(bytes.Repeat([]byte("sealed bytes "), 300))
	if err != nil {
		t.Fatal(err)
	}
	url := d.n.StorageURL("storage0")
	sc := &shardserver.Client{}
	for _, sh := range seg.Shards {
		h := shardstore.Hash(storage.ShardHash(sh, p.LeafSize))
		if err := sc.PutShard(ctx, url, demo, h, sh); err != nil {
			t.Fatal(err)
		}
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
	rcs, err := storeclient.New(c).Receipts(ctx, demo, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, demo, &objects.Commit{Manifest: raw, Leases: []uint64{lease}, Receipts: rcs, WrappedKey: []byte("the data key, wrapped to demo")}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	id := man.ID().String()
	grantee, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, demo, &objects.Grant{ID: id, Grantee: grantee.Address().String(), WrappedKey: []byte("the data key, wrapped to the grantee")}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	first := shardstore.Hash(man.Segments[0].Shards[0].Hash)
	if _, err := sc.GetShardSigned(ctx, url, grantee, first, 0, 100); err != nil {
		t.Fatalf("the grantee's read: %v", err)
	}

	// The agent anchors the epoch once the ledger is past it.
	var rep *provider.AccessReport
	for {
		if rep, err = provider.GatherAccess(ctx, c, nil, demo, id, 0); err != nil {
			t.Fatal(err)
		}
		if len(rep.Records) == 1 && rep.Records[0].AnchorOK {
			break
		}
		if len(rep.Records) != 1 || rep.Records[0].Failed() {
			t.Fatalf("records %+v", rep.Records)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the read was never anchored: %+v", rep.Records)
		case <-time.After(200 * time.Millisecond):
		}
	}
	r := rep.Records[0]
	if r.Reader != grantee.Address().String() || r.Shard != storage.Hash(first) || r.Bytes != 100 || !r.SignatureOK || r.Failed() || len(rep.Unreachable) != 0 {
		t.Fatalf("the grantee's read: %+v", rep)
	}
	a, err := c.AccessAnchor(ctx, prov.String(), r.Epoch)
	if err != nil || a.Count != 1 || a.Height != r.AnchorHeight {
		t.Fatalf("the anchor: %+v, %v", a, err)
	}

	// Who read the object is the owner's business.
	if _, err := provider.GatherAccess(ctx, c, nil, grantee, id, 0); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("the grantee asked for the log: %v", err)
	}
	if _, err := provider.FetchAccess(ctx, nil, url, grantee, id, 0); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("the grantee asked the provider for the log: %v", err)
	}
	// A second anchor of the same epoch is refused.
	k, err := ks.Load("storage0", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, k, &objects.Anchor{Epoch: r.Epoch, Root: storage.Hash{1}, Count: 1}, client.SendOptions{}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("a second anchor: %v, want Conflict", err)
	}
	checkSupply(ctx, t, c)
}
