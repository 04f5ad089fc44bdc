package storeclient

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
)

// A signed shard read leaves a receipt that verifies offline and names the
// bytes received; an unsigned read leaves none.
func TestReceiptsOfSignedReads(t *testing.T) {
	body := []byte("some sealed bytes of a shard")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-27/100")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body)
	}))
	defer srv.Close()
	c := New(client.New(srv.URL))
	var mu sync.Mutex
	var got []Receipt
	c.KeepReceipts(func(r Receipt) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
	})
	key := &identity.Key{Priv: ed25519.NewKeyFromSeed(make([]byte, 32))}
	h := shardstore.Hash{1, 2, 3}
	if _, err := c.shards.GetShardSigned(context.Background(), srv.URL, key, h, 0, int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.shards.GetShard(context.Background(), srv.URL, h, 0, int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d receipts, want the signed read's", len(got))
	}
	r := got[0]
	sum := sha256.Sum256(body)
	if r.Status != http.StatusPartialContent || r.Bytes != int64(len(body)) || r.SHA256 != hex.EncodeToString(sum[:]) || r.ReceivedMs == 0 {
		t.Fatalf("receipt %+v", r)
	}
	signer, _, err := r.Request.Verify()
	if err != nil || signer != key.Address() || r.Request.Path != "/shards/"+h.String() {
		t.Fatalf("the receipt's request: signer %s, %v, %+v", signer, err, r.Request)
	}
}
