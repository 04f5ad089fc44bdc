package shardserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/storage"
)

// MaxManifestBytes bounds the body of POST /receipts: a manifest larger than
// a transaction could never be committed.
const MaxManifestBytes = 1 << 20

// A Receipter is an Authorizer that signs storage receipts: the provider's
// statement, checked by the ledger when an object is committed, that it
// holds the shards a manifest places on it. Without one, POST /receipts
// answers 404.
type Receipter interface {
	// AuthorizeReceipt is asked before the body is read; it refuses
	// (Unauthorized) a signer that stores nothing here.
	AuthorizeReceipt(ctx context.Context, signer identity.Address) error
	// Receipt checks that every shard man places on this provider is in
	// the store with a claim by signer, keeps them until the receipt
	// expires, and returns the provider's receipt for manifest (man's
	// canonical encoding) owned by signer. A missing shard is NotFound,
	// naming it; a manifest that places nothing here is Invalid.
	Receipt(ctx context.Context, signer identity.Address, manifest []byte, man *storage.Manifest) (storage.Receipt, error)
}

func (s *server) receipt(w http.ResponseWriter, r *http.Request) {
	rc, ok := s.auth.(Receipter)
	if !ok {
		s.fail(w, r, errs.E(errs.NotFound, "this shard server does not sign storage receipts"))
		return
	}
	if r.ContentLength > MaxManifestBytes {
		s.fail(w, r, errs.E(errs.TooLarge, "a %d-byte manifest is over the %d-byte limit of a commit", r.ContentLength, MaxManifestBytes))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxManifestBytes+1)
	signer, err := s.verify.Verify(r, s.now(), func(signer identity.Address) error {
		return rc.AuthorizeReceipt(r.Context(), signer)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, err := io.ReadAll(r.Body) // Verify left a checked copy
	if err != nil {
		s.fail(w, r, err)
		return
	}
	man, err := storage.DecodeManifest(raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := rc.Receipt(r.Context(), signer, raw, man)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// Receipt asks the provider at baseURL for its storage receipt for
// manifest (a manifest's canonical encoding, providers placed), signed by
// key, whose object key will commit. It checks the receipt's signature
// against provider, so a provider that answers for another key is caught
// here rather than by the ledger. Errors: the provider's, with their kinds
// (NotFound naming a shard it does not hold, Unauthorized for a stranger);
// Internal for a receipt that does not verify; Unavailable or Timeout for
// transport failures.
func (c *Client) Receipt(ctx context.Context, baseURL string, key *identity.Key, provider identity.Address, manifest []byte) (storage.Receipt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/receipts", bytes.NewReader(manifest))
	if err != nil {
		return storage.Receipt{}, errs.E(errs.Invalid, "provider URL %q: %w", baseURL, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	nonce, err := httpsig.NewNonce()
	if err != nil {
		return storage.Receipt{}, err
	}
	if err := httpsig.Sign(req, key, c.clock()(), nonce); err != nil {
		return storage.Receipt{}, err
	}
	resp, err := c.do(req, baseURL)
	if err != nil {
		return storage.Receipt{}, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return storage.Receipt{}, api.ErrorFromResponse(resp, "the provider at "+baseURL)
	}
	var out storage.Receipt
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out); err != nil {
		return storage.Receipt{}, errs.E(errs.Internal, "the provider at %s sent a receipt that is not JSON: %v", baseURL, err)
	}
	if err := storage.VerifyReceiptSignature(out, manifest, provider, key.Address()); err != nil {
		return storage.Receipt{}, errs.E(errs.Internal, "the provider at %s: %w", baseURL, err)
	}
	return out, nil
}
