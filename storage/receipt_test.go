package storage_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/storage"
)

func receiptKey(name string) *identity.Key {
	seed := sha256.Sum256([]byte("receipt-test/" + name))
	return &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
}

// TestReceipt: a receipt verifies only for its manifest, provider and
// owner, within its validity, and its message has the documented layout.
func TestReceipt(t *testing.T) {
	prov, owner, other := receiptKey("provider"), receiptKey("owner"), receiptKey("other")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	man := []byte("a manifest's bytes")
	rc := storage.SignReceipt(prov, man, owner.Address(), now.Add(storage.ReceiptLifetime))
	d := storage.ManifestDigest(man)

	msg := storage.ReceiptMessage(d, prov.Address(), owner.Address(), rc.ExpiresMs)
	if len(msg) != 19+32+32+32+8 || !strings.HasPrefix(string(msg), "stratus/receipt/v1\n") {
		t.Fatalf("receipt message %q", msg)
	}
	if err := storage.VerifyReceipt(rc, d, prov.Address(), owner.Address(), now); err != nil {
		t.Fatalf("a good receipt: %v", err)
	}
	long := storage.SignReceipt(prov, man, owner.Address(), now.Add(storage.MaxReceiptLifetime+time.Second))
	for name, tc := range map[string]struct {
		rc          storage.Receipt
		d           [32]byte
		prov, owner identity.Address
		now         time.Time
	}{
		"another manifest":   {rc, storage.ManifestDigest([]byte("another")), prov.Address(), owner.Address(), now},
		"another provider":   {rc, d, other.Address(), owner.Address(), now},
		"another owner":      {rc, d, prov.Address(), other.Address(), now},
		"expired":            {rc, d, prov.Address(), owner.Address(), now.Add(storage.ReceiptLifetime)},
		"valid for too long": {long, d, prov.Address(), owner.Address(), now},
		"expiry changed":     {storage.Receipt{ExpiresMs: rc.ExpiresMs - 1, Signature: rc.Signature}, d, prov.Address(), owner.Address(), now},
		"short signature":    {storage.Receipt{ExpiresMs: rc.ExpiresMs, Signature: rc.Signature[:63]}, d, prov.Address(), owner.Address(), now},
	} {
		if err := storage.VerifyReceipt(tc.rc, tc.d, tc.prov, tc.owner, tc.now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
