package shardserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/mem"
)

// privateAuth is an allowList whose private shards only listed readers read.
type privateAuth struct {
	allowList
	private map[shardstore.Hash]map[identity.Address]bool
}

func (a *privateAuth) AuthorizeRead(_ context.Context, signer *identity.Address, h shardstore.Hash) (bool, error) {
	readers, ok := a.private[h]
	switch {
	case !ok:
		return false, nil
	case signer == nil:
		return true, errs.E(errs.Unauthorized, "shard %s is private: sign the request", h)
	case !readers[*signer]:
		return true, errs.E(errs.Forbidden, "%s may not read shard %s: ask the owner for a grant", *signer, h)
	}
	return true, nil
}

// readLog records what it is asked to, or fails when told to.
type readLog struct {
	mu   sync.Mutex
	recs []string
	fail bool
}

func (l *readLog) Record(_ context.Context, r *http.Request, signer identity.Address, h shardstore.Hash, off, n int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("the log's disk is full")
	}
	if r.Header.Get("Signature") == "" {
		return errors.New("a record without the reader's signature")
	}
	l.recs = append(l.recs, signer.String()+" "+h.String()+" "+strconv.FormatInt(off, 10)+"+"+strconv.FormatInt(n, 10))
	return nil
}

func (l *readLog) records() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recs...)
}

func TestPrivateReads(t *testing.T) {
	ctx := context.Background()
	store, err := mem.New(shardstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner, grantee, stranger := key(1), key(2), key(3)
	priv, privData := shard("private sealed bytes")
	pub, pubData := shard("public bytes")
	auth := &privateAuth{allowList: allowList{allowed: map[identity.Address]bool{owner.Address(): true}},
		private: map[shardstore.Hash]map[identity.Address]bool{priv: {owner.Address(): true, grantee.Address(): true}}}
	log := &readLog{}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = New(store, auth, httpsig.NewVerifier(httpsig.VerifierOptions{Authority: srv.Listener.Addr().String()}), Options{ReadLog: log})
	srv.Start()
	t.Cleanup(srv.Close)
	c := &Client{HTTP: srv.Client()}
	for h, d := range map[shardstore.Hash][]byte{priv: privData, pub: pubData} {
		if err := c.PutShard(ctx, srv.URL, owner, h, d); err != nil {
			t.Fatal(err)
		}
	}

	// Refused: unsigned (401), a stranger (403), each with a problem
	// document that says what to do, and nothing recorded.
	if _, err := c.GetShard(ctx, srv.URL, priv, 0, -1); !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "sign") {
		t.Fatalf("unsigned read of a private shard: %v", err)
	}
	if _, err := c.GetShardSigned(ctx, srv.URL, stranger, priv, 0, -1); !errs.Is(err, errs.Forbidden) || !strings.Contains(err.Error(), "grant") {
		t.Fatalf("a stranger's read of a private shard: %v", err)
	}
	resp, err := http.Get(srv.URL + "/shards/" + priv.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" || strings.Contains(string(body), string(privData)) {
		t.Fatalf("unsigned read: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if r := log.records(); len(r) != 0 {
		t.Fatalf("refused reads were recorded: %v", r)
	}

	// Allowed: the owner and the grantee, each recorded with the bytes
	// it is served; a HEAD sends none and is not recorded.
	for _, k := range []*identity.Key{owner, grantee} {
		got, err := c.GetShardSigned(ctx, srv.URL, k, priv, 8, 6)
		if err != nil || string(got) != "sealed" {
			t.Fatalf("%s's read: %q, %v", k.Address(), got, err)
		}
	}
	if _, err := c.GetShardSigned(ctx, srv.URL, grantee, priv, 0, 0); err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	want := []string{owner.Address().String() + " " + priv.String() + " 8+6", grantee.Address().String() + " " + priv.String() + " 8+6"}
	if r := log.records(); strings.Join(r, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records %v, want %v", r, want)
	}

	// The range the signature covers is the one served, whatever the
	// unsigned Range header says.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/shards/"+priv.String()+"?range=bytes%3D0-6", nil)
	nonce, _ := httpsig.NewNonce()
	if err := httpsig.Sign(req, grantee, time.Now(), nonce); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=8-13")
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(body) != "private" || resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("signed range: %d %q %q", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}

	// No record, no read: 503, and no byte.
	log.fail = true
	_, err = c.GetShardSigned(ctx, srv.URL, grantee, priv, 0, -1)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "record") {
		t.Fatalf("a read that could not be recorded: %v", err)
	}

	// Public shards: anyone, signed or not, and nothing recorded.
	log.fail = false
	n := len(log.records())
	if got, err := c.GetShard(ctx, srv.URL, pub, 0, -1); err != nil || string(got) != string(pubData) {
		t.Fatalf("unsigned public read: %q %v", got, err)
	}
	if got, err := c.GetShardSigned(ctx, srv.URL, stranger, pub, 0, -1); err != nil || string(got) != string(pubData) {
		t.Fatalf("signed public read: %q %v", got, err)
	}
	if len(log.records()) != n {
		t.Fatal("a public read was recorded")
	}
}
