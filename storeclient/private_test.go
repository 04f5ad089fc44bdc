package storeclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestPrivateRoundTrips: the owner reads back private objects of sizes
// around the sealed chunks and segments, whole and by ranges, and no
// provider's disk holds a byte of the plaintext.
func TestPrivateRoundTrips(t *testing.T) {
	for _, n := range []int{0, 1, storeclient.SealChunk, storeclient.SealChunk + 1, int(storage.DefaultSegmentSize) + 3*storeclient.SealChunk + 77} {
		data := randomBytes(n, uint64(100+n))
		res := shared.put(t, data, storeclient.PutOptions{Private: true})
		if res.Size != storeclient.SealedSize(int64(n)) {
			t.Fatalf("%d bytes: stored size %d, want the sealed %d", n, res.Size, storeclient.SealedSize(int64(n)))
		}
		got, gr, err := shared.get(t, res.ID, storeclient.GetOptions{Key: shared.demo})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
		if gr.Size != int64(n) || gr.Bytes != int64(n) {
			t.Fatalf("%d bytes: result %+v", n, gr)
		}
		for _, r := range [][2]int64{{0, 10}, {int64(n) / 2, 100}, {storeclient.SealChunk - 5, 10}, {int64(n) - 3, 3}} {
			if r[0] < 0 || r[0]+r[1] > int64(n) || r[1] == 0 {
				continue
			}
			got, _, err := shared.get(t, res.ID, storeclient.GetOptions{Key: shared.demo, Offset: r[0], Length: r[1]})
			if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("%d bytes, range %v: got %d bytes, %v", n, r, len(got), err)
			}
		}
		if n < 1024 {
			continue
		}
		info, err := shared.sc.Info(context.Background(), res.ID)
		if err != nil {
			t.Fatal(err)
		}
		probe := data[n/2 : n/2+64]
		for _, seg := range info.Manifest.Segments {
			for _, ref := range seg.Shards {
				b, err := os.ReadFile(shardPath(t, shared.names(t, []string{ref.Provider})[0], ref.Hash))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, probe) || bytes.Contains(b, data[:64]) {
					t.Fatalf("%d bytes: provider %s stores plaintext in shard %s", n, ref.Provider, ref.Hash)
				}
			}
		}
	}
}

// TestPrivateAccess plays a private object's life: a stranger and an
// unsigned request are refused, a grantee reads, a revoked grantee is
// refused again, the gateway never serves it, and refusals change nothing
// on the ledger.
func TestPrivateAccess(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(300_000, 21)
	res := shared.put(t, data, storeclient.PutOptions{Private: true})
	bob := funded(t, 10*money.UstrPerSTR)
	mallory := funded(t, 10*money.UstrPerSTR)
	info, err := shared.sc.Info(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref := info.Manifest.Segments[0].Shards[0]
	ep := endpointOf(t, ref.Provider)
	h := shardstore.Hash(ref.Hash)
	sc := &shardserver.Client{}

	// Without a key, with a stranger's key: refused by the client, and by
	// the providers.
	if _, _, err := shared.get(t, res.ID, storeclient.GetOptions{}); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("get without a key: %v", err)
	}
	before := shared.balance(t, mallory)
	if _, _, err := shared.get(t, res.ID, storeclient.GetOptions{Key: mallory}); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a stranger's get: %v", err)
	}
	if _, err := sc.GetShard(ctx, ep, h, 0, 10); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("an unsigned read of a private shard: %v", err)
	}
	if _, err := sc.GetShardSigned(ctx, ep, mallory, h, 0, 10); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a stranger's signed read of a private shard: %v", err)
	}
	resp, err := http.Get(shared.n.APIURL() + "/v1/objects/" + res.ID + "/content")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || bytes.Contains(body, data[:32]) || !bytes.Contains(body, []byte("stratus store get")) {
		t.Fatalf("gateway on a private object: %d %s", resp.StatusCode, body)
	}
	// A stranger cannot grant itself access, nor revoke the owner's grants.
	if _, err := shared.sc.Grant(ctx, mallory, res.ID, mallory.Address(), time.Time{}, client.SendOptions{}); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("a stranger's grant: %v", err)
	}
	if after := shared.balance(t, mallory); after != before {
		t.Fatalf("refusals cost the stranger %d ustr", before-after)
	}

	// The owner grants bob, who reads it byte for byte.
	if _, err := shared.sc.Grant(ctx, shared.demo, res.ID, bob.Address(), time.Now().Add(time.Hour), client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	gs, err := shared.sc.Grants(ctx, res.ID)
	if err != nil || len(gs) != 1 || gs[0].Grantee != bob.Address() {
		t.Fatalf("grants: %+v, %v", gs, err)
	}
	got, _, err := shared.get(t, res.ID, storeclient.GetOptions{Key: bob})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the grantee's get: %d bytes, %v", len(got), err)
	}
	// Mallory, still without a grant, cannot use bob's wrapped key.
	if _, err := storeclient.UnwrapKey(gs[0].WrappedKey, mallory); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("unwrapping bob's key with mallory's: %v", err)
	}

	// Revoked: the client finds no grant, and the providers refuse bob's
	// signed reads once their answer (cached for at most a second) is
	// fresh.
	if _, err := shared.sc.Revoke(ctx, shared.demo, res.ID, bob.Address(), client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := shared.get(t, res.ID, storeclient.GetOptions{Key: bob}); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a revoked grantee's get: %v", err)
	}
	waitFor(t, "the provider to refuse the revoked grantee", func() bool {
		_, err := sc.GetShardSigned(ctx, ep, bob, h, 0, 10)
		return errs.Is(err, errs.Forbidden)
	})
	// The owner still reads.
	if b, err := sc.GetShardSigned(ctx, ep, shared.demo, h, 0, 10); err != nil || len(b) != 10 {
		t.Fatalf("the owner's signed read: %v", err)
	}
}

// TestGrantOfAPublicObjectIsRefused: a public object has nothing to grant.
func TestGrantOfAPublicObjectIsRefused(t *testing.T) {
	res := shared.put(t, randomBytes(1000, 22), storeclient.PutOptions{})
	bob, _, _ := identity.GenerateKey()
	if _, err := shared.sc.Grant(context.Background(), shared.demo, res.ID, bob.Address(), time.Time{}, client.SendOptions{}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("grant of a public object: %v", err)
	}
}

func endpointOf(t *testing.T, did string) string {
	t.Helper()
	ps, err := shared.api.Providers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Operator.String() == did {
			return p.Endpoint
		}
	}
	t.Fatalf("no provider %s", did)
	return ""
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (it asserts an outcome, not a time).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
