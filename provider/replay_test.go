package provider

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/httpsig"
)

// Attack 11 against real providers: a signed DELETE captured on its way to
// provider A is refused by provider B, where the same consumer stores the
// same shard, and by A after a restart, once A has accepted it.
func TestCapturedDeleteDoesNotReplay(t *testing.T) {
	ctx := context.Background()
	owner := key("owner")
	a, b := newFixture(t), newFixture(t)
	for _, f := range []*fixture{a, b} {
		f.ledger.setQuota(owner.Address(), 1<<20)
	}
	h, data := shard("captured", 4096)
	for _, f := range []*fixture{a, b} {
		if err := f.c.PutShard(ctx, f.svc.URL(), owner, h, data); err != nil {
			t.Fatal(err)
		}
	}
	captured, err := http.NewRequest(http.MethodDelete, a.svc.URL()+"/shards/"+h.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := httpsig.NewNonce()
	if err := httpsig.Sign(captured, owner, time.Now(), nonce); err != nil {
		t.Fatal(err)
	}
	send := func(base string) (int, string) {
		t.Helper()
		req := captured.Clone(ctx)
		u, _ := url.Parse(base)
		req.URL.Host = u.Host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := send(b.svc.URL()); code != http.StatusUnauthorized || !strings.Contains(body, "its own authority") {
		t.Errorf("A's DELETE sent to B = %d %s, want 401 naming B's authority", code, body)
	}
	if !b.stored(t, h) {
		t.Fatal("B deleted the shard on A's request")
	}
	if code, body := send(a.svc.URL()); code != http.StatusNoContent {
		t.Fatalf("the DELETE to A = %d %s, want 204", code, body)
	}

	// A stores the shard again, restarts on the same folder and port, and
	// gets the captured DELETE once more.
	if err := a.c.PutShard(ctx, a.svc.URL(), owner, h, data); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(a.svc.URL(), "http://")
	a.svc.Close()
	svc, err := Start(ctx, Config{Name: "restarted", Key: key("provider"), Dir: a.dir, Listen: addr, Ledger: a.ledger, GCInterval: time.Hour, GCGrace: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	a.svc = svc
	if code, body := send(svc.URL()); code != http.StatusUnauthorized || !strings.Contains(body, "earlier run of this server") {
		t.Errorf("the captured DELETE after A restarted = %d %s, want 401", code, body)
	}
	if !a.stored(t, h) {
		t.Fatal("A deleted the shard on the replayed request")
	}
	// A fresh request from the owner is accepted at once.
	if err := a.c.DeleteShard(ctx, svc.URL(), owner, h); err != nil {
		t.Fatalf("a fresh DELETE after the restart: %v", err)
	}
}
