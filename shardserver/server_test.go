package shardserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/disk"
	"github.com/stratus-cloud/stratus/shardstore/mem"
)

// allowList is an Authorizer that lets listed signers write and delete.
type allowList struct {
	mu      sync.Mutex
	allowed map[identity.Address]bool
	asked   []string
}

func (a *allowList) check(what string, signer identity.Address) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, what)
	if !a.allowed[signer] {
		return errs.E(errs.Unauthorized, "%s has no storage lease with this provider: open one first", signer)
	}
	return nil
}

func (a *allowList) AuthorizeWrite(_ context.Context, signer identity.Address, _ shardstore.Hash, _ int64) error {
	return a.check("write", signer)
}

func (a *allowList) AuthorizeDelete(_ context.Context, signer identity.Address, _ shardstore.Hash) error {
	return a.check("delete", signer)
}

// AuthorizeRead implements Authorizer: every shard of an allowList is
// public (see privateAuth for private ones).
func (a *allowList) AuthorizeRead(context.Context, *identity.Address, shardstore.Hash) (bool, error) {
	return false, nil
}

func key(b byte) *identity.Key {
	return &identity.Key{Priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))}
}

type fixture struct {
	url    string
	store  *mem.Store
	auth   *allowList
	client *Client
	owner  *identity.Key
}

func newFixture(t *testing.T, quota int64) *fixture {
	t.Helper()
	store, err := mem.New(shardstore.Options{Quota: quota})
	if err != nil {
		t.Fatal(err)
	}
	owner := key(1)
	auth := &allowList{allowed: map[identity.Address]bool{owner.Address(): true}}
	srv := serve(t, store, auth, httpsig.VerifierOptions{})
	return &fixture{url: srv.URL, store: store, auth: auth, client: &Client{HTTP: srv.Client()}, owner: owner}
}

// serve starts the shard API over store on a loopback port, checking
// signatures over that port's authority as a provider does.
func serve(t *testing.T, store shardstore.Store, auth Authorizer, opts httpsig.VerifierOptions) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	opts.Authority = srv.Listener.Addr().String()
	srv.Config.Handler = New(store, auth, httpsig.NewVerifier(opts), Options{})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func shard(s string) (shardstore.Hash, []byte) {
	return sha256.Sum256([]byte(s)), []byte(s)
}

// stored reports whether h is in the store.
func (f *fixture) stored(t *testing.T, h shardstore.Hash) bool {
	t.Helper()
	_, err := f.store.Stat(context.Background(), h)
	if err != nil && !errs.Is(err, errs.NotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestPutGetRoundTrip(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	h, data := shard("0123456789")
	if err := f.client.PutShard(ctx, f.url, f.owner, h, data); err != nil {
		t.Fatalf("PutShard: %v", err)
	}
	tests := []struct {
		off, n int64
		want   string
	}{
		{0, -1, "0123456789"},
		{0, 10, "0123456789"},
		{3, 4, "3456"},
		{9, 1, "9"},
		{4, -1, "456789"},
		{10, -1, ""},
		{10, 0, ""},
		{5, 0, ""},
	}
	for _, tt := range tests {
		got, err := f.client.GetShard(ctx, f.url, h, tt.off, tt.n)
		if err != nil || string(got) != tt.want {
			t.Errorf("GetShard(%d, %d) = %q, %v; want %q", tt.off, tt.n, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ off, n int64 }{{11, -1}, {11, 0}, {5, 6}, {-1, 1}} {
		if _, err := f.client.GetShard(ctx, f.url, h, tt.off, tt.n); !errs.Is(err, errs.Invalid) {
			t.Errorf("GetShard(%d, %d) = %v, want invalid", tt.off, tt.n, err)
		}
	}
	other, _ := shard("absent")
	if _, err := f.client.GetShard(ctx, f.url, other, 0, -1); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetShard of a missing shard = %v, want not found", err)
	}

	// A repeated put of the same shard is fine.
	if err := f.client.PutShard(ctx, f.url, f.owner, h, data); err != nil {
		t.Fatalf("second PutShard: %v", err)
	}

	// So is an empty shard.
	eh, empty := shard("")
	if err := f.client.PutShard(ctx, f.url, f.owner, eh, empty); err != nil {
		t.Fatalf("PutShard of an empty shard: %v", err)
	}
	if got, err := f.client.GetShard(ctx, f.url, eh, 0, -1); err != nil || len(got) != 0 {
		t.Errorf("GetShard of an empty shard = %q, %v", got, err)
	}
}

func TestRanges(t *testing.T) {
	f := newFixture(t, 0)
	h, data := shard("0123456789")
	if err := f.client.PutShard(context.Background(), f.url, f.owner, h, data); err != nil {
		t.Fatal(err)
	}
	eh, _ := shard("")
	if err := f.client.PutShard(context.Background(), f.url, f.owner, eh, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, rng string
		h                 shardstore.Hash
		status            int
		body, cr          string
	}{
		{"no range", "GET", "", h, 200, "0123456789", ""},
		{"closed", "GET", "bytes=2-5", h, 206, "2345", "bytes 2-5/10"},
		{"one byte", "GET", "bytes=0-0", h, 206, "0", "bytes 0-0/10"},
		{"open", "GET", "bytes=7-", h, 206, "789", "bytes 7-9/10"},
		{"suffix", "GET", "bytes=-3", h, 206, "789", "bytes 7-9/10"},
		{"suffix longer than shard", "GET", "bytes=-30", h, 206, "0123456789", "bytes 0-9/10"},
		{"end past the end", "GET", "bytes=8-100", h, 206, "89", "bytes 8-9/10"},
		{"last byte", "GET", "bytes=9-9", h, 206, "9", "bytes 9-9/10"},
		{"unit is case-insensitive", "GET", "Bytes=1-1", h, 206, "1", "bytes 1-1/10"},
		{"start at end", "GET", "bytes=10-", h, 416, "", "bytes */10"},
		{"start past end", "GET", "bytes=20-30", h, 416, "", "bytes */10"},
		{"empty suffix", "GET", "bytes=-0", h, 416, "", "bytes */10"},
		{"range of empty shard", "GET", "bytes=0-", eh, 416, "", "bytes */0"},
		{"suffix of empty shard", "GET", "bytes=-1", eh, 416, "", "bytes */0"},
		{"reversed is ignored", "GET", "bytes=5-2", h, 200, "0123456789", ""},
		{"multi-range is ignored", "GET", "bytes=0-1,3-4", h, 200, "0123456789", ""},
		{"other unit is ignored", "GET", "items=0-1", h, 200, "0123456789", ""},
		{"garbage is ignored", "GET", "bytes=a-b", h, 200, "0123456789", ""},
		{"spaces are ignored", "GET", "bytes= 1-2", h, 200, "0123456789", ""},
		{"overflow is ignored", "GET", "bytes=99999999999999999999-", h, 200, "0123456789", ""},
		{"head", "HEAD", "", h, 200, "", ""},
		{"head range", "HEAD", "bytes=1-2", h, 206, "", "bytes 1-2/10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.url+"/shards/"+tt.h.String(), nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, b)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.cr {
				t.Errorf("Content-Range = %q, want %q", got, tt.cr)
			}
			if tt.status == 416 {
				if ct := resp.Header.Get("Content-Type"); ct != api.ProblemContentType {
					t.Errorf("416 Content-Type = %q", ct)
				}
				return
			}
			if string(b) != tt.body {
				t.Errorf("body = %q, want %q", b, tt.body)
			}
			if tt.method == "HEAD" {
				want := "10"
				if tt.status == 206 {
					want = "2"
				}
				if got := resp.Header.Get("Content-Length"); got != want {
					t.Errorf("HEAD Content-Length = %q, want %s", got, want)
				}
			}
			if got := resp.Header.Get("Accept-Ranges"); got != "bytes" {
				t.Errorf("Accept-Ranges = %q", got)
			}
		})
	}
}

// rawPut sends a PUT of body to h, signed by signer (nil: unsigned), after
// change has had a go at the signed request.
func (f *fixture) rawPut(t *testing.T, signer *identity.Key, h shardstore.Hash, body []byte, change func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest("PUT", f.url+"/shards/"+h.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if signer != nil {
		nonce, _ := httpsig.NewNonce()
		if err := httpsig.Sign(req, signer, time.Now(), nonce); err != nil {
			t.Fatal(err)
		}
	}
	if change != nil {
		change(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func problemOf(t *testing.T, resp *http.Response) api.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != api.ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q", ct, api.ProblemContentType)
	}
	var p api.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != resp.StatusCode {
		t.Errorf("problem status %d != response status %d", p.Status, resp.StatusCode)
	}
	return p
}

func TestRefusedWritesStoreNothing(t *testing.T) {
	h, data := shard("shard bytes")
	stranger := key(2)
	tests := []struct {
		name   string
		signer *identity.Key
		body   []byte
		change func(*http.Request)
		status int
		detail string
		asked  bool // whether the authorizer was asked
	}{
		{"unsigned", nil, data, nil, 401, "no Signature-Input header", false},
		{"signed by a stranger", stranger, data, nil, 401, "no storage lease", true},
		{"signature by another key", f1owner(), data, func(r *http.Request) {
			other, _ := http.NewRequest("PUT", r.URL.String(), bytes.NewReader(data))
			httpsig.Sign(other, stranger, time.Now(), "n")
			r.Header.Set("Signature", other.Header.Get("Signature"))
		}, 401, "bad signature", false},
		{"tampered body", f1owner(), data, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("shard bytez")) // same length
			r.GetBody = nil
		}, 401, "does not match its Content-Digest", true},
		{"tampered path", f1owner(), data, func(r *http.Request) {
			r.URL.Path = "/shards/" + strings.Repeat("0", 64)
		}, 401, "bad signature", false},
		{"hash does not match body", f1owner(), []byte("other bytes"), func(r *http.Request) {}, 400, "don't match the hash", true},
		{"bad hash", f1owner(), data, func(r *http.Request) { r.URL.Path = "/shards/xyz" }, 400, "give 64 hex digits", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 0)
			resp := f.rawPut(t, tt.signer, h, tt.body, tt.change)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if p := problemOf(t, resp); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tt.detail)
			}
			if f.stored(t, h) {
				t.Error("the shard was stored")
			}
			if used, _, _ := f.store.Usage(context.Background()); used != 0 {
				t.Errorf("store uses %d bytes", used)
			}
			if asked := len(f.auth.asked) > 0; asked != tt.asked {
				t.Errorf("authorizer asked = %v, want %v", asked, tt.asked)
			}
		})
	}
}

func f1owner() *identity.Key { return key(1) }

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 16)
	h, data := shard("0123456789")

	err := f.client.PutShard(ctx, f.url, key(3), h, data)
	if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "no storage lease") {
		t.Errorf("PutShard by a stranger = %v, want unauthorized", err)
	}
	if err := f.client.PutShard(ctx, f.url, f.owner, h, data); err != nil {
		t.Fatal(err)
	}
	h2, data2 := shard("0123456789abcdef")
	err = f.client.PutShard(ctx, f.url, f.owner, h2, data2)
	if !errs.Is(err, errs.TooLarge) || !strings.Contains(err.Error(), "quota") {
		t.Errorf("PutShard over quota = %v, want too large about the quota", err)
	}
	if f.stored(t, h2) {
		t.Error("the shard over quota was stored")
	}
	resp := f.rawPut(t, f.owner, h2, data2, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("over quota: status %d, want 413", resp.StatusCode)
	}
	p := problemOf(t, resp)
	if p.Kind != string(errs.TooLarge) || !strings.Contains(p.Detail, "quota") {
		t.Errorf("over quota problem = %+v", p)
	}

	_, err = (&Client{}).GetShard(ctx, "http://127.0.0.1:1", h, 0, -1)
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("GetShard from nowhere = %v, want unavailable", err)
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t, 0)
	h, data := shard("replayed")
	req, _ := http.NewRequest("PUT", f.url+"/shards/"+h.String(), bytes.NewReader(data))
	if err := httpsig.Sign(req, f.owner, time.Now(), "once"); err != nil {
		t.Fatal(err)
	}
	again := req.Clone(context.Background())
	again.Body, _ = req.GetBody()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first put: %d", resp.StatusCode)
	}
	if err := f.store.Delete(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed put: status %d, want 401", resp.StatusCode)
	}
	if p := problemOf(t, resp); !strings.Contains(p.Detail, "replayed") {
		t.Errorf("detail = %q", p.Detail)
	}
	if f.stored(t, h) {
		t.Error("the replayed put stored the shard")
	}
}

func TestChunkedPutRefused(t *testing.T) {
	f := newFixture(t, 0)
	h, data := shard("chunked")
	resp := f.rawPut(t, f.owner, h, data, func(r *http.Request) {
		r.Body = io.NopCloser(bytes.NewReader(data)) // unknown length: chunked
		r.GetBody = nil
		r.ContentLength = -1
	})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", resp.StatusCode)
	}
	if p := problemOf(t, resp); !strings.Contains(p.Detail, "Content-Length") {
		t.Errorf("detail = %q", p.Detail)
	}
	if f.stored(t, h) {
		t.Error("stored")
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	h, data := shard("to delete")
	if err := f.client.PutShard(ctx, f.url, f.owner, h, data); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest("DELETE", f.url+"/shards/"+h.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !f.stored(t, h) {
		t.Fatalf("unsigned delete: status %d, stored %v; want 401 and kept", resp.StatusCode, f.stored(t, h))
	}
	if err := f.client.DeleteShard(ctx, f.url, key(4), h); !errs.Is(err, errs.Unauthorized) || !f.stored(t, h) {
		t.Fatalf("delete by a stranger = %v (stored %v), want unauthorized and kept", err, f.stored(t, h))
	}
	if err := f.client.DeleteShard(ctx, f.url, f.owner, h); err != nil {
		t.Fatalf("DeleteShard: %v", err)
	}
	if f.stored(t, h) {
		t.Error("still stored after delete")
	}
	if err := f.client.DeleteShard(ctx, f.url, f.owner, h); !errs.Is(err, errs.NotFound) {
		t.Errorf("second DeleteShard = %v, want not found", err)
	}
}

func TestHealthAndUnknownRoutes(t *testing.T) {
	f := newFixture(t, 1000)
	resp, err := http.Get(f.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var hl Health
	json.NewDecoder(resp.Body).Decode(&hl)
	resp.Body.Close()
	if resp.StatusCode != 200 || hl != (Health{Status: "ok", Used: 0, Quota: 1000}) {
		t.Errorf("healthz = %d %+v", resp.StatusCode, hl)
	}
	resp, err = http.Get(f.url + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if p := problemOf(t, resp); resp.StatusCode != 404 || p.Kind != string(errs.NotFound) {
		t.Errorf("unknown route = %d %+v", resp.StatusCode, p)
	}
}

func TestParseRangeNeverPanics(t *testing.T) {
	for _, h := range []string{"", "bytes=", "bytes=-", "bytes=--", "bytes=1", "bytes=-1-2", "bytes=1-2-3", "bytes", "b"} {
		for _, size := range []int64{0, 1, 10} {
			off, n, partial, err := parseRange(h, size)
			if err == nil && (off < 0 || n < 0 || off+n > size) {
				t.Errorf("parseRange(%q, %d) = %d, %d, %v", h, size, off, n, partial)
			}
		}
	}
}

// TestDiskStoreTamperedBody checks the streaming path against the disk
// store: a body that fails its digest leaves no shard and no temporary file.
func TestDiskStoreTamperedBody(t *testing.T) {
	dir := t.TempDir()
	store, err := disk.Open(context.Background(), dir, shardstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner := key(1)
	auth := &allowList{allowed: map[identity.Address]bool{owner.Address(): true}}
	srv := serve(t, store, auth, httpsig.VerifierOptions{})
	f := &fixture{url: srv.URL, auth: auth, owner: owner}

	h, data := shard("disk shard")
	resp := f.rawPut(t, owner, h, data, func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader("disk shart"))
		r.GetBody = nil
	})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", resp.StatusCode)
	}
	if _, err := store.Stat(context.Background(), h); !errs.Is(err, errs.NotFound) {
		t.Errorf("Stat after a tampered put = %v, want not found", err)
	}
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
	if err := (&Client{}).PutShard(context.Background(), srv.URL, owner, h, data); err != nil {
		t.Fatalf("honest put after a tampered one: %v", err)
	}
}

// keeper is an allowList that is also a Keeper: it records what was stored
// and deleted, and deletes from its store only when told to.
type keeper struct {
	allowList
	store     shardstore.Store
	stored    []string
	deleted   []string
	storedErr error
	remove    bool // whether Delete removes the shard from the store
}

func (k *keeper) Stored(_ context.Context, signer identity.Address, h shardstore.Hash, size int64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stored = append(k.stored, fmt.Sprintf("%s %s %d", signer, h, size))
	return k.storedErr
}

func (k *keeper) Delete(ctx context.Context, signer identity.Address, h shardstore.Hash) error {
	k.mu.Lock()
	k.deleted = append(k.deleted, fmt.Sprintf("%s %s", signer, h))
	k.mu.Unlock()
	if !k.remove {
		return nil
	}
	return k.store.Delete(ctx, h)
}

func TestKeeper(t *testing.T) {
	ctx := context.Background()
	store, err := mem.New(shardstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner := key(1)
	k := &keeper{allowList: allowList{allowed: map[identity.Address]bool{owner.Address(): true}}, store: store}
	srv := serve(t, store, k, httpsig.VerifierOptions{})
	c := &Client{HTTP: srv.Client()}
	h, data := shard("kept")

	// A refused write is not reported as stored.
	if err := c.PutShard(ctx, srv.URL, key(2), h, data); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("PutShard by a stranger = %v, want unauthorized", err)
	}
	if len(k.stored) != 0 {
		t.Fatalf("a refused write was reported: %v", k.stored)
	}
	// A stored one is, with its signer and size.
	if err := c.PutShard(ctx, srv.URL, owner, h, data); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s %s %d", owner.Address(), h, len(data)); len(k.stored) != 1 || k.stored[0] != want {
		t.Errorf("stored %v, want [%s]", k.stored, want)
	}
	// The Keeper's error fails the request with its kind.
	k.storedErr = errs.E(errs.Unavailable, "the index is closed: try again")
	if err := c.PutShard(ctx, srv.URL, owner, h, data); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "the index is closed") {
		t.Errorf("PutShard when Stored fails = %v, want unavailable", err)
	}
	k.storedErr = nil

	// The Keeper decides whether a delete removes the shard.
	if err := c.DeleteShard(ctx, srv.URL, owner, h); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s %s", owner.Address(), h); len(k.deleted) != 1 || k.deleted[0] != want {
		t.Errorf("deleted %v, want [%s]", k.deleted, want)
	}
	if _, err := store.Stat(ctx, h); err != nil {
		t.Errorf("the shard the Keeper kept is gone: %v", err)
	}
	k.remove = true
	if err := c.DeleteShard(ctx, srv.URL, owner, h); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(ctx, h); !errs.Is(err, errs.NotFound) {
		t.Errorf("Stat after the Keeper's delete = %v, want not found", err)
	}
	if err := c.DeleteShard(ctx, srv.URL, owner, h); !errs.Is(err, errs.NotFound) {
		t.Errorf("DeleteShard of a deleted shard = %v, want not found", err)
	}
}

// TestLargeRefusedWrite checks that a write refused before its body is read
// still gets its problem to the client, however large the body.
func TestLargeRefusedWrite(t *testing.T) {
	f := newFixture(t, 0)
	data := make([]byte, 8<<20)
	h := sha256.Sum256(data)
	for range 3 {
		err := f.client.PutShard(context.Background(), f.url, key(9), h, data)
		if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "no storage lease") {
			t.Fatalf("PutShard of 8 MiB by a stranger = %v, want unauthorized with the authorizer's message", err)
		}
	}
}
