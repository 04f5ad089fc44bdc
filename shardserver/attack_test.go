package shardserver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/mem"
)

// Attack 10: a stranger with a throwaway key and no lease sends validly
// signed writes and deletes, many more than the replay cache holds. Every
// one is refused, and the lease holder's upload still succeeds. Before,
// each of them took a place in the cache and, once it was full, every
// signed request got 503.
func TestStrangerFloodDoesNotLockOutLeaseHolder(t *testing.T) {
	ctx := context.Background()
	store, err := mem.New(shardstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	holder, stranger := key(1), key(66)
	auth := &allowList{allowed: map[identity.Address]bool{holder.Address(): true}}
	const slots = 64
	srv := serve(t, store, auth, httpsig.VerifierOptions{MaxNonces: slots})
	c := &Client{HTTP: srv.Client()}
	for i := range 5 * slots {
		h, data := shard(fmt.Sprint("junk ", i))
		call := func() error { return c.PutShard(ctx, srv.URL, stranger, h, data) }
		if i%2 == 1 {
			call = func() error { return c.DeleteShard(ctx, srv.URL, stranger, h) }
		}
		if err := call(); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("stranger's request %d = %v, want unauthorized", i, err)
		}
	}
	h, data := shard("the lease holder's shard")
	if err := c.PutShard(ctx, srv.URL, holder, h, data); err != nil {
		t.Fatalf("the lease holder's upload after %d requests of a stranger: %v", 5*slots, err)
	}
	if err := c.DeleteShard(ctx, srv.URL, holder, h); err != nil {
		t.Fatalf("the lease holder's delete after the flood: %v", err)
	}
}

// Attack 11: a signed DELETE captured on its way to provider A is refused
// by provider B, where the same owner also stores the shard, and by A
// itself after a restart, although its replay cache is gone.
func TestCapturedDeleteDoesNotReplay(t *testing.T) {
	ctx := context.Background()
	owner := key(1)
	newProvider := func(watermark string) (*httptest.Server, *mem.Store) {
		store, err := mem.New(shardstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := httpsig.OpenWatermark(watermark)
		if err != nil {
			t.Fatal(err)
		}
		auth := &allowList{allowed: map[identity.Address]bool{owner.Address(): true}}
		return serve(t, store, auth, httpsig.VerifierOptions{Watermark: w}), store
	}
	dir := t.TempDir()
	a, storeA := newProvider(filepath.Join(dir, "a"))
	b, storeB := newProvider(filepath.Join(dir, "b"))
	c := &Client{HTTP: a.Client()}
	h, data := shard("stored twice")
	for _, p := range []string{a.URL, b.URL} {
		if err := c.PutShard(ctx, p, owner, h, data); err != nil {
			t.Fatal(err)
		}
	}
	captured, err := c.signed(ctx, http.MethodDelete, a.URL, owner, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(base string, host string) int {
		t.Helper()
		req := captured.Clone(ctx)
		u, _ := url.Parse(base)
		req.URL.Host, req.Host = u.Host, host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		drain(resp)
		return resp.StatusCode
	}
	aHost := a.Listener.Addr().String()
	if got := send(a.URL, ""); got != http.StatusNoContent {
		t.Fatalf("the DELETE to A = %d, want 204", got)
	}
	for _, host := range []string{"", aHost} {
		if got := send(b.URL, host); got != http.StatusUnauthorized {
			t.Errorf("A's DELETE replayed to B with Host %q = %d, want 401", host, got)
		}
	}
	if _, err := storeB.Stat(ctx, h); err != nil {
		t.Errorf("B's shard after the replay: %v", err)
	}

	// A restarts: a new verifier on the same watermark and authority, over
	// the same store, which holds the shard again.
	if err := storeA.Put(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	w, err := httpsig.OpenWatermark(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	auth := &allowList{allowed: map[identity.Address]bool{owner.Address(): true}}
	restarted := httptest.NewServer(New(storeA, auth, httpsig.NewVerifier(httpsig.VerifierOptions{Authority: aHost, Watermark: w}), Options{}))
	t.Cleanup(restarted.Close)
	if got := send(restarted.URL, aHost); got != http.StatusUnauthorized {
		t.Errorf("A's DELETE replayed to A after a restart = %d, want 401", got)
	}
	if _, err := storeA.Stat(ctx, h); err != nil {
		t.Errorf("A's shard after the replay: %v", err)
	}
}
