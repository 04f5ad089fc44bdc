package httpsig

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// onlyKey allows the given key and refuses every other signer, as a
// provider's lease check refuses a key with no lease.
func onlyKey(allowed *identity.Key) Authorize {
	return func(signer identity.Address) error {
		if signer != allowed.Address() {
			return errs.E(errs.Unauthorized, "%s has no lease here", signer)
		}
		return nil
	}
}

// Attack 10: a throwaway key signs valid requests as fast as it can; none
// of them may take a place in the replay cache, so the lease holder's
// request still gets in.
func TestStrangerCannotFillTheReplayCache(t *testing.T) {
	stranger, holder := fixedKey(7), fixedKey(8)
	v := NewVerifier(VerifierOptions{MaxNonces: 64})
	auth := onlyKey(holder)
	for i := range 1000 {
		_, err := v.Verify(signed(t, stranger, "DELETE", "http://h/shards/x", "", fmt.Sprint("s", i)), t0, auth)
		if !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("stranger's request %d: Verify = %v, want unauthorized", i, err)
		}
	}
	if n := v.nonces.len(); n != 0 {
		t.Fatalf("after the stranger's flood the cache holds %d nonces, want 0", n)
	}
	if _, err := v.Verify(signed(t, holder, "DELETE", "http://h/shards/x", "", "mine"), t0, auth); err != nil {
		t.Fatalf("lease holder after the flood: %v", err)
	}
}

// One authorized key cannot fill the cache for the others either: each key
// has its own share.
func TestEachKeyHasItsShare(t *testing.T) {
	greedy, other := fixedKey(7), fixedKey(8)
	v := NewVerifier(VerifierOptions{MaxNonces: 64, MaxNoncesPerKey: 8})
	var refused int
	for i := range 100 {
		_, err := v.Verify(signed(t, greedy, "GET", "http://h/x", "", fmt.Sprint("g", i)), t0, nil)
		switch {
		case errs.Is(err, errs.Unavailable):
			refused++
		case err != nil:
			t.Fatalf("greedy request %d: %v", i, err)
		}
	}
	if refused != 92 {
		t.Errorf("greedy key: %d of 100 refused, want 92 (its share is 8)", refused)
	}
	if _, err := v.Verify(signed(t, other, "GET", "http://h/x", "", "o"), t0, nil); err != nil {
		t.Fatalf("another key after the greedy one: %v", err)
	}
}

// A replayed request is refused before authorization, so replays cost no
// ledger lookups, and the refusal says it was replayed.
func TestReplayIsNotAuthorizedAgain(t *testing.T) {
	key := fixedKey(1)
	v := NewVerifier(VerifierOptions{})
	calls := 0
	auth := func(identity.Address) error { calls++; return nil }
	req := signed(t, key, "GET", "http://h/x", "", "n")
	again := req.Clone(req.Context())
	if _, err := v.Verify(req, t0, auth); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(again, t0, auth); !errors.Is(err, errReplayed) {
		t.Fatalf("replay = %v, want replayed", err)
	}
	if calls != 1 {
		t.Errorf("authorize called %d times, want 1", calls)
	}
}

// Attack 11, first half: a request signed for one provider is refused by
// another, whatever Host header it arrives with; one signed for this
// provider is accepted even when a proxy changed the Host header.
func TestAuthorityIsTheServersOwn(t *testing.T) {
	key := fixedKey(1)
	a := NewVerifier(VerifierOptions{Authority: "provider-a.example:7001"})
	b := NewVerifier(VerifierOptions{Authority: "Provider-B.example:7002"})
	forA := signed(t, key, "DELETE", "http://provider-a.example:7001/shards/x", "", "n")

	toB := forA.Clone(forA.Context())
	toB.Host = "provider-b.example:7002"
	_, err := b.Verify(toB, t0, nil)
	if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), `its own authority "provider-b.example:7002"`) {
		t.Fatalf("A's request sent to B = %v, want unauthorized naming B's authority", err)
	}
	// Even with A's Host header kept, B checks over its own authority.
	if _, err := b.Verify(forA.Clone(forA.Context()), t0, nil); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("A's request with A's Host sent to B = %v, want unauthorized", err)
	}
	proxied := forA.Clone(forA.Context())
	proxied.Host = "10.0.0.5:7001"
	if _, err := a.Verify(proxied, t0, nil); err != nil {
		t.Fatalf("A's request through a proxy that rewrote Host: %v", err)
	}
}

// Attack 11, second half: a request accepted before a restart is refused
// after it, with a Watermark (even when dated ahead by the allowed skew)
// and without one (by NotBefore).
func TestReplayAfterRestart(t *testing.T) {
	key := fixedKey(1)
	path := filepath.Join(t.TempDir(), "watermark")
	open := func() *Verifier {
		t.Helper()
		w, err := OpenWatermark(path)
		if err != nil {
			t.Fatal(err)
		}
		return NewVerifier(VerifierOptions{Watermark: w})
	}
	first := open()
	ahead := signedAt(t, key, "DELETE", "http://h/shards/x", "ahead", t0.Add(20*time.Second))
	req := signed(t, key, "DELETE", "http://h/shards/x", "", "n")
	for _, r := range []*http.Request{req, ahead} {
		if _, err := first.Verify(r.Clone(r.Context()), t0, nil); err != nil {
			t.Fatal(err)
		}
	}
	second := open()
	for name, r := range map[string]*http.Request{"captured": req, "dated ahead": ahead} {
		_, err := second.Verify(r, t0.Add(21*time.Second), nil)
		if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "earlier run of this server") {
			t.Errorf("%s request after a restart = %v, want unauthorized", name, err)
		}
	}
	fresh := signedAt(t, key, "DELETE", "http://h/shards/x", "fresh", t0.Add(21*time.Second))
	if _, err := second.Verify(fresh, t0.Add(21*time.Second), nil); err != nil {
		t.Fatalf("a fresh request after the restart: %v", err)
	}

	restarted := NewVerifier(VerifierOptions{NotBefore: t0.Add(time.Second)})
	_, err := restarted.Verify(signed(t, key, "DELETE", "http://h/shards/x", "", "m"), t0.Add(2*time.Second), nil)
	if !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "before this server started") {
		t.Fatalf("without a watermark, a request from before the start = %v, want unauthorized", err)
	}
}

func TestWatermarkRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watermark")
	if err := writeFile(path, "yesterday"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWatermark(path); !errs.Is(err, errs.Internal) {
		t.Fatalf("OpenWatermark of garbage = %v, want internal", err)
	}
}

func signedAt(t *testing.T, key *identity.Key, method, url, nonce string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(req, key, at, nonce); err != nil {
		t.Fatal(err)
	}
	return received(req, "")
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
