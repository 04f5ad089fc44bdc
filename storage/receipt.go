package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// receiptTag starts every receipt message, so a receipt signature can never
// be taken for a transaction's or an HTTP request's.
const receiptTag = "stratus/receipt/v1\n"

// ReceiptLifetime is how long a provider's receipt stays valid after it is
// signed, at most: long enough to commit. A provider keeps the shards until
// its receipt expires, so it gives a shorter lifetime if its collector's
// grace for uploads is shorter.
const ReceiptLifetime = 10 * time.Minute

// MaxReceiptLifetime is the latest expiry the ledger accepts, counted from
// the block time: a provider's pin on the shards never has to outlast it.
const MaxReceiptLifetime = time.Hour

// SignatureSize is the length of a receipt's ed25519 signature.
const SignatureSize = 64

// Receipt is a provider's statement that it holds, for the owner, every
// shard that a manifest places on it, and will keep them at least until
// ExpiresMs: it is what lets a commit name the provider. It is signed over
// ReceiptMessage.
type Receipt struct {
	ExpiresMs int64  `json:"expires_ms"`
	Signature []byte `json:"signature"`
}

// ReceiptMessage returns the bytes a provider signs:
//
//	"stratus/receipt/v1\n" || sha256(manifest) || provider[32] || owner[32] || uint64be(expires_ms)
//
// where manifest is the canonical encoding of the manifest with its
// providers (d is its ManifestDigest), so the receipt covers both the shard hashes and which of them are placed on
// the provider: a receipt for one placement cannot vouch for another of the
// same object. There is no chain id: the provider does not read it, and the
// owner, the manifest and the expiry already tie a receipt to one upload.
// Taking the digest lets a ledger checking the many receipts of one commit
// hash the manifest once.
func ReceiptMessage(d [sha256.Size]byte, provider, owner identity.Address, expiresMs int64) []byte {
	b := make([]byte, 0, len(receiptTag)+len(d)+len(provider)+len(owner)+8)
	b = append(b, receiptTag...)
	b = append(b, d[:]...)
	b = append(b, provider[:]...)
	b = append(b, owner[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(expiresMs))
}

// ManifestDigest is the SHA-256 of a manifest's canonical encoding, as a
// receipt message holds it.
func ManifestDigest(manifest []byte) [sha256.Size]byte { return sha256.Sum256(manifest) }

// SignReceipt returns key's receipt for manifest, owned by owner, valid
// until expires.
func SignReceipt(key *identity.Key, manifest []byte, owner identity.Address, expires time.Time) Receipt {
	ms := expires.UnixMilli()
	return Receipt{ExpiresMs: ms, Signature: key.Sign(ReceiptMessage(ManifestDigest(manifest), key.Address(), owner, ms))}
}

// VerifyReceipt checks that r is provider's receipt for the manifest whose
// ManifestDigest is digest, owned by owner, and still valid at now. It returns an errs.Invalid error saying
// what is wrong: a bad signature, an expired receipt, or one that expires
// more than MaxReceiptLifetime after now.
func VerifyReceipt(r Receipt, digest [sha256.Size]byte, provider, owner identity.Address, now time.Time) error {
	switch ms := now.UnixMilli(); {
	case len(r.Signature) != SignatureSize:
		return errs.E(errs.Invalid, "provider %s's receipt has a %d-byte signature, not %d", provider, len(r.Signature), SignatureSize)
	case r.ExpiresMs <= ms:
		return errs.E(errs.Invalid, "provider %s's receipt expired at %d ms, before %d ms", provider, r.ExpiresMs, ms)
	case r.ExpiresMs-ms > MaxReceiptLifetime.Milliseconds():
		return errs.E(errs.Invalid, "provider %s's receipt expires at %d ms, more than %s after %d ms", provider, r.ExpiresMs, MaxReceiptLifetime, ms)
	}
	return verifySignature(r, digest, provider, owner)
}

// VerifyReceiptSignature is VerifyReceipt without the time checks: a
// client uses it on a receipt it was just given, and leaves the expiry to
// the ledger, whose block time is the one that counts.
func VerifyReceiptSignature(r Receipt, manifest []byte, provider, owner identity.Address) error {
	return verifySignature(r, ManifestDigest(manifest), provider, owner)
}

func verifySignature(r Receipt, digest [sha256.Size]byte, provider, owner identity.Address) error {
	if len(r.Signature) != SignatureSize || !identity.Verify(provider, ReceiptMessage(digest, provider, owner, r.ExpiresMs), r.Signature) {
		return errs.E(errs.Invalid, "provider %s's receipt is not its signature over this manifest for owner %s", provider, owner)
	}
	return nil
}

// Providers returns the providers the manifest places shards on, each once,
// in the order of its provider table (first appearance). Shards without a provider are left out.
func (m *Manifest) Providers() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range m.Segments {
		for _, sh := range s.Shards {
			if sh.Provider != "" && !seen[sh.Provider] {
				seen[sh.Provider] = true
				out = append(out, sh.Provider)
			}
		}
	}
	return out
}
