package httpsig

import (
	"testing"

	"github.com/stratus-cloud/stratus/errs"
)

func TestRecordedVerifiesLater(t *testing.T) {
	key := fixedKey(7)
	req := signed(t, key, "GET", "http://provider.example:7001/shards/ab%2Fcd?x=1", "", "n1")
	v := NewVerifier(VerifierOptions{Authority: "provider.example:7001"})
	if _, err := v.Verify(req, t0, nil); err != nil {
		t.Fatal(err)
	}
	rec, err := Record(req, "provider.example:7001")
	if err != nil {
		t.Fatal(err)
	}
	signer, created, err := rec.Verify()
	if err != nil {
		t.Fatalf("a recorded request does not verify: %v", err)
	}
	if signer != key.Address() || !created.Equal(t0) {
		t.Fatalf("signer %s at %v, want %s at %v", signer, created, key.Address(), t0)
	}

	// Any change to what was signed breaks it, long after the window.
	for name, change := range map[string]func(*Recorded){
		"method":    func(r *Recorded) { r.Method = "DELETE" },
		"authority": func(r *Recorded) { r.Authority = "other.example:7001" },
		"path":      func(r *Recorded) { r.Path = "/shards/ef" },
		"query":     func(r *Recorded) { r.Query = "?x=2" },
		"digest":    func(r *Recorded) { r.ContentDigest = "sha-256=:AAAA:" },
		"input":     func(r *Recorded) { r.SignatureInput = r.SignatureInput[:len(r.SignatureInput)-3] + `ab"` },
		"signer": func(r *Recorded) {
			o := signed(t, fixedKey(8), "GET", "http://provider.example:7001/shards/ab%2Fcd?x=1", "", "n1")
			r.Signature = o.Header.Get("Signature")
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := rec
			change(&r)
			if _, _, err := r.Verify(); !errs.Is(err, errs.Unauthorized) {
				t.Fatalf("a changed record verifies: %v", err)
			}
		})
	}
}
