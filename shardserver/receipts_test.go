package shardserver

import (
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/mem"
	"github.com/stratus-cloud/stratus/storage"
)

// receipter signs every receipt its allow list allows, with key.
type receipter struct {
	*allowList
	key *identity.Key
}

func (r *receipter) AuthorizeReceipt(_ context.Context, signer identity.Address) error {
	return r.check("receipt", signer)
}

func (r *receipter) Receipt(_ context.Context, signer identity.Address, manifest []byte, _ *storage.Manifest) (storage.Receipt, error) {
	return storage.SignReceipt(r.key, manifest, signer, time.Now().Add(time.Minute)), nil
}

func emptyManifest(t *testing.T) []byte {
	t.Helper()
	m := storage.Manifest{Params: storage.DefaultParams()}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReceiptRoute: a server whose Authorizer signs no receipts answers
// 404; one that does refuses a stranger (401) and an oversized or
// undecodable body, and the client refuses a receipt signed by another
// key than the provider's.
func TestReceiptRoute(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1<<20)
	raw := emptyManifest(t)
	prov := key(9)
	if _, err := f.client.Receipt(ctx, f.url, f.owner, prov.Address(), raw); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("without a Receipter: %v, want NotFound", err)
	}

	store, err := mem.New(shardstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner, stranger := key(1), key(2)
	auth := &receipter{allowList: &allowList{allowed: map[identity.Address]bool{owner.Address(): true}}, key: prov}
	srv := serve(t, store, auth, httpsig.VerifierOptions{})
	c := &Client{HTTP: srv.Client()}

	rc, err := c.Receipt(ctx, srv.URL, owner, prov.Address(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyReceipt(rc, storage.ManifestDigest(raw), prov.Address(), owner.Address(), time.Now()); err != nil {
		t.Fatalf("the receipt: %v", err)
	}
	for name, tc := range map[string]struct {
		signer *identity.Key
		prov   identity.Address
		body   []byte
		want   errs.Kind
	}{
		"a stranger":                    {stranger, prov.Address(), raw, errs.Unauthorized},
		"not a manifest":                {owner, prov.Address(), []byte("nope"), errs.Invalid},
		"over the size limit":           {owner, prov.Address(), make([]byte, MaxManifestBytes+1), errs.TooLarge},
		"signed by another key than it": {owner, key(3).Address(), raw, errs.Internal},
	} {
		if _, err := c.Receipt(ctx, srv.URL, tc.signer, tc.prov, tc.body); errs.KindOf(err) != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
