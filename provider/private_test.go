package provider

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
)

// countingLog is a shardserver.ReadLogger that counts what it records.
type countingLog struct {
	mu   sync.Mutex
	recs []identity.Address
}

func (l *countingLog) Record(_ context.Context, _ *http.Request, signer identity.Address, _ shardstore.Hash, _, _ int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, signer)
	return nil
}

// TestPrivateShardsServedToReadersOnly: the provider serves a private
// object's shard to the readers the ledger names, on signed requests, each
// recorded; an unsigned request and a stranger are refused with what to
// do, and nothing of theirs is recorded.
func TestPrivateShardsServedToReadersOnly(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	log := &countingLog{}
	svc, err := Start(ctx, Config{Name: "storage-test", Key: key("provider"), Dir: t.TempDir(), Listen: "127.0.0.1:0",
		Ledger: l, ReadLog: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	f := &fixture{svc: svc, ledger: l, c: &shardserver.Client{}}
	alice, bob, eve := key("alice"), key("bob"), key("eve")
	l.setQuota(alice.Address(), 1<<20)
	h, data := shard("sealed bytes of a private object ", 1000)
	if err := f.c.PutShard(ctx, svc.URL(), alice, h, data); err != nil {
		t.Fatal(err)
	}
	// Public until a private object places it: anyone reads, unrecorded.
	if got, err := f.c.GetShard(ctx, svc.URL(), h, 0, -1); err != nil || string(got) != string(data) {
		t.Fatalf("public read: %q %v", got, err)
	}
	l.setPrivate(h, alice.Address(), bob.Address())
	if _, err := f.c.GetShard(ctx, svc.URL(), h, 0, -1); !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "stratus store get") {
		t.Fatalf("unsigned read of a private shard: %v", err)
	}
	if _, err := f.c.GetShardSigned(ctx, svc.URL(), eve, h, 0, -1); !errs.Is(err, errs.Forbidden) || !strings.Contains(err.Error(), "stratus store grant") {
		t.Fatalf("a stranger's read: %v", err)
	}
	for _, k := range []*identity.Key{alice, bob} {
		if got, err := f.c.GetShardSigned(ctx, svc.URL(), k, h, 0, -1); err != nil || string(got) != string(data) {
			t.Fatalf("%s's read: %q %v", k.Address(), got, err)
		}
	}
	if len(log.recs) != 2 || log.recs[0] != alice.Address() || log.recs[1] != bob.Address() {
		t.Fatalf("recorded %v, want alice's and bob's reads", log.recs)
	}
	// Revoked: refused at once (the fake ledger caches nothing).
	l.setPrivate(h, alice.Address())
	if _, err := f.c.GetShardSigned(ctx, svc.URL(), bob, h, 0, -1); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a revoked grantee's read: %v", err)
	}
	if len(log.recs) != 2 {
		t.Fatal("a refused read was recorded")
	}
}
