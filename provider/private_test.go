package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"

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

// readerNode answers GET /v1/providers/{did}/shards/{hash}/readers/{reader}
// with what the test sets, or 503 while down.
type readerNode struct {
	mu               sync.Mutex
	private, allowed bool
	down             bool
	queries          int
}

func (n *readerNode) set(private, allowed, down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.private, n.allowed, n.down = private, allowed, down
}

func (n *readerNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queries++
	if n.down || !strings.Contains(r.URL.Path, "/readers/") {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"title":"down","status":503,"kind":"unavailable","detail":"the node is down"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"private": n.private, "allowed": n.allowed})
}

// TestRESTLedgerReadAnswers: an answer is reused for at most readTTL, so a
// revocation takes effect within a second; while the node is down a public
// answer stands in for a while, a private one never does.
func TestRESTLedgerReadAnswers(t *testing.T) {
	ctx := context.Background()
	n := &readerNode{}
	srv := httptest.NewServer(n)
	t.Cleanup(srv.Close)
	now := time.Unix(1_000_000, 0)
	l := NewRESTLedger(client.New(srv.URL)).(*restLedger)
	l.now = func() time.Time { return now }
	p, bob := key("provider").Address(), key("bob").Address()
	h, _ := shard("x", 10)
	ask := func() (bool, bool, error) { return l.CanRead(ctx, p, h, bob) }

	n.set(true, true, false)
	if priv, ok, err := ask(); err != nil || !priv || !ok {
		t.Fatalf("granted: %v %v %v", priv, ok, err)
	}
	n.set(true, false, false) // revoked
	now = now.Add(readTTL / 2)
	if _, ok, _ := ask(); !ok {
		t.Fatal("the answer was not reused within readTTL")
	}
	now = now.Add(readTTL)
	if _, ok, err := ask(); err != nil || ok {
		t.Fatalf("after readTTL, a revoked grant still reads: %v %v", ok, err)
	}
	// Down: the private answer does not stand in.
	n.set(true, true, true)
	now = now.Add(readTTL)
	if _, _, err := ask(); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("node down, private shard: %v", err)
	}
	// A public answer does, for a while.
	n.set(false, true, false)
	now = now.Add(readTTL)
	if priv, ok, err := ask(); err != nil || priv || !ok {
		t.Fatalf("public: %v %v %v", priv, ok, err)
	}
	// Public for bob is public for anyone: another signer costs no query.
	n.mu.Lock()
	q := n.queries
	n.mu.Unlock()
	if priv, ok, err := l.CanRead(ctx, p, h, key("eve").Address()); err != nil || priv || !ok {
		t.Fatalf("public, for eve: %v %v %v", priv, ok, err)
	}
	n.mu.Lock()
	if n.queries != q {
		t.Fatalf("eve's read of a public shard cost %d queries", n.queries-q)
	}
	n.mu.Unlock()
	n.set(false, true, true)
	now = now.Add(time.Minute)
	if priv, ok, err := ask(); err != nil || priv || !ok {
		t.Fatalf("node down, public shard: %v %v %v", priv, ok, err)
	}
	now = now.Add(publicStale)
	if _, _, err := ask(); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("node down for long, public shard: %v", err)
	}
}
