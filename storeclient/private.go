package storeclient

import (
	"context"
	"io"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// Private objects: Put with PutOptions.Private seals the bytes with a fresh
// data key before erasure coding (seal.go) and commits the key wrapped to
// the owner; Grant wraps it to a grantee; Get with GetOptions.Key finds
// the reader's wrapped key, opens it, fetches the shards with signed
// requests (providers serve a private object's shards only to its owner
// and current grantees) and opens the bytes. Providers and the ledger see
// only sealed bytes and wrapped keys.

// sealed is a private object's bytes as Put stores them.
type sealed struct {
	r       io.ReaderAt
	size    int64
	wrapped []byte // the data key, wrapped to the owner
}

// seal draws a data key for the size bytes of r, and returns their sealed
// form and the key wrapped to owner.
func seal(r io.ReaderAt, size int64, owner identity.Address) (*sealed, error) {
	if size < 0 || size > storage.MaxObjectSize {
		return nil, errs.E(errs.Invalid, "object size %d is outside [0, %d]", size, int64(storage.MaxObjectSize))
	}
	key, err := NewDataKey()
	if err != nil {
		return nil, err
	}
	sr, err := newSealedReader(r, size, key)
	if err != nil {
		return nil, err
	}
	wrapped, err := WrapKey(key, owner)
	if err != nil {
		return nil, err
	}
	return &sealed{r: sr, size: sr.size, wrapped: wrapped}, nil
}

// DataKey returns the data key of private object v for reader: the key
// wrapped to the owner, or to a grant of reader's that is live. It fails
// with Unauthorized without a reader, Forbidden when reader has no live
// grant, and Invalid for a public object.
func (c *Client) DataKey(ctx context.Context, v *objects.ObjectView, reader *identity.Key) ([]byte, error) {
	if v.Public {
		return nil, errs.E(errs.Invalid, "object %s is public: it has no data key", v.ID)
	}
	if reader == nil {
		return nil, errs.E(errs.Unauthorized, "object %s is private: read it with the key of its owner or of a DID it was granted to", v.ID)
	}
	if reader.Address() == v.Owner {
		return UnwrapKey(v.WrappedKey, reader)
	}
	g, err := c.api.Grant(ctx, v.ID, reader.Address().String())
	if errs.Is(err, errs.NotFound) {
		return nil, errs.E(errs.Forbidden, "object %s is private and %s has no grant to read it (none was given, or it was revoked): ask its owner, %s, to run `stratus store grant %s %s`", v.ID, reader.Address(), v.Owner, v.ID, reader.Address())
	}
	if err != nil {
		return nil, err
	}
	if !g.Live(time.Now().UnixMilli()) {
		return nil, errs.E(errs.Forbidden, "object %s is private and %s's grant to read it ended at %s: ask its owner, %s, for a new one", v.ID, reader.Address(), time.UnixMilli(g.UntilMs).UTC().Format(time.RFC3339), v.Owner)
	}
	return UnwrapKey(g.WrappedKey, reader)
}

// getPrivate is Get of private object v: it reads the sealed chunks that
// hold the range o asks for, with requests signed by o.Key, and writes
// their plaintext to w.
func (c *Client) getPrivate(ctx context.Context, v *objects.ObjectView, m *storage.Manifest, w io.Writer, o GetOptions) (*GetResult, error) {
	key, err := c.DataKey(ctx, v, o.Key)
	if err != nil {
		return nil, err
	}
	plain, err := plainSize(m.Size)
	if err != nil {
		return nil, err
	}
	length := o.Length
	if length < 0 || (length == 0 && o.Offset == 0) {
		length = plain
	}
	if o.Offset < 0 || o.Offset > plain {
		return nil, errs.E(errs.Invalid, "offset %d is outside the %d-byte object", o.Offset, plain)
	}
	length = min(length, plain-o.Offset)
	res := &GetResult{ID: v.ID, Size: plain, Offset: o.Offset, Faults: []Fault{}}
	if length == 0 && plain > 0 {
		return res, nil
	}
	first := o.Offset / SealChunk
	end := min(m.Size, (o.Offset+length+SealChunk-1)/SealChunk*sealedChunk)
	if length == 0 {
		end = m.Size // the empty object: its one chunk still proves it is empty
	}
	ow, err := newOpenWriter(w, key, m.Size, first, o.Offset-first*SealChunk, length)
	if err != nil {
		return nil, err
	}
	inner := o
	inner.Offset, inner.Length = first*sealedChunk, end-first*sealedChunk
	if p := o.Progress; p != nil {
		inner.Progress = func(done, total int64) { p(min(length, done*length/max(total, 1)), length) }
	}
	r, err := c.get(ctx, v, m, ow, inner, o.Key)
	if r != nil {
		res.Faults = r.Faults
	}
	res.Bytes = ow.written
	if err != nil {
		return res, err
	}
	if ow.next <= ow.last && ow.next*sealedChunk < end {
		return res, errs.E(errs.Internal, "object %s: the read stopped inside chunk %d", v.ID, ow.next)
	}
	return res, nil
}

// SignWith makes f sign its shard requests with key, as the shards of a
// private object need: providers serve them to its owner, its grantees
// and the provider assigned a repair of it (the sealed bytes: a repairer
// learns nothing of the plaintext). Call it before the first Fetch.
func (f *SegmentFetcher) SignWith(key *identity.Key) { f.d.signer = key }

// GrantResult says what Grant or Revoke did.
type GrantResult struct {
	ID      string `json:"id"`
	Grantee string `json:"grantee"`
	UntilMs int64  `json:"until_ms,omitempty"`
	Tx      string `json:"tx"`
	Height  int64  `json:"height"`
	Fee     string `json:"fee"`
	// Result is the transaction's (or, with SendOptions.DryRun, the
	// simulation's).
	Result api.TxResult `json:"-"`
}

// Grant lets grantee read private object id until until (the zero time for
// no end): it opens the data key with the owner's key and commits
// objects/grant with the key wrapped to grantee. It fails with
// Unauthorized unless key owns the object, Invalid for a public object.
func (c *Client) Grant(ctx context.Context, key *identity.Key, id string, grantee identity.Address, until time.Time, o client.SendOptions) (*GrantResult, error) {
	v, _, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Owner != key.Address() {
		return nil, errs.E(errs.Unauthorized, "object %s is %s's, not %s's: only its owner can grant access to it", v.ID, v.Owner, key.Address())
	}
	if v.Public {
		return nil, errs.E(errs.Invalid, "object %s is public: anyone can read it already; store the file with --private to control who reads it", v.ID)
	}
	dk, err := UnwrapKey(v.WrappedKey, key)
	if err != nil {
		return nil, err
	}
	wrapped, err := WrapKey(dk, grantee)
	if err != nil {
		return nil, err
	}
	msg := &objects.Grant{ID: v.ID, Grantee: grantee.String(), WrappedKey: wrapped}
	if !until.IsZero() {
		msg.UntilMs = until.UnixMilli()
	}
	res, err := c.api.Send(ctx, key, msg, o)
	if err != nil {
		return nil, err
	}
	return &GrantResult{ID: v.ID, Grantee: msg.Grantee, UntilMs: msg.UntilMs, Tx: res.Hash, Height: res.Height, Fee: res.Fee, Result: res}, nil
}

// Revoke ends grantee's grant on object id: providers stop serving its
// shards to grantee at once. It fails with NotFound if there is no such
// grant, Unauthorized unless key owns the object.
func (c *Client) Revoke(ctx context.Context, key *identity.Key, id string, grantee identity.Address, o client.SendOptions) (*GrantResult, error) {
	v, _, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	msg := &objects.Revoke{ID: v.ID, Grantee: grantee.String()}
	res, err := c.api.Send(ctx, key, msg, o)
	if err != nil {
		return nil, err
	}
	return &GrantResult{ID: v.ID, Grantee: msg.Grantee, Tx: res.Hash, Height: res.Height, Fee: res.Fee, Result: res}, nil
}

// Grants returns the grants of object id, expired ones included.
func (c *Client) Grants(ctx context.Context, id string) ([]objects.GrantRecord, error) {
	v, _, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	gs, err := c.api.Grants(ctx, v.ID)
	if gs == nil {
		gs = []objects.GrantRecord{}
	}
	return gs, err
}
