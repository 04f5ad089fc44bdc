package objects

import (
	"math"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// MaxLeases bounds the leases one commit may list.
const MaxLeases = 64

// Commit is objects/commit: record an object whose shards the signer has
// uploaded to the providers named in the manifest, paid for by the listed
// storage leases. It is encoded in binary, not JSON like the other
// messages, because its manifest is up to a megabyte and base64 would add a
// third:
//
//	bytes(manifest) uvarint(len(leases)) uvarint(lease)* uvarint(expires_ms) bool(public)
//	uvarint(len(receipts)) receipt* bytes(wrapped_key)
//	receipt = uvarint(expires_ms) signature[64]
//
// wrapped_key is at most MaxWrappedKey bytes: empty for a public object,
// and for a private one the object's data key wrapped to the owner's key
// (see private.go).
type Commit struct {
	// Manifest is storage.Manifest.MarshalBinary, every ShardRef.Provider
	// set to the did:key of the provider holding the shard (base64 in JSON).
	Manifest []byte `json:"manifest"`
	// Leases are the signer's active storage leases that pay for the
	// shards, at least one with each provider of the manifest; none for
	// the empty object, which has no shards.
	Leases []uint64 `json:"leases"`
	// ExpiresMs is when the object is removed, in unix milliseconds; 0
	// keeps it until it is removed.
	ExpiresMs int64 `json:"expires_ms"`
	Public    bool  `json:"public"`
	// Receipts are the providers' storage receipts for Manifest and the
	// signer, one for each provider of the manifest in the order of its
	// provider table (storage.Manifest.Providers): a provider is named,
	// and later challenged, only on shards it signed for. None for the
	// empty object.
	Receipts []storage.Receipt `json:"receipts"`
	// WrappedKey is, for a private object (Public false), its data key
	// wrapped to the owner's key: an age file of the 32-byte key to the
	// owner's ed25519 key as an ssh-ed25519 recipient. A public object
	// has none.
	WrappedKey []byte `json:"wrapped_key,omitempty"`
}

// Remove is objects/remove, by the object's owner.
type Remove struct {
	ID string `json:"id"`
}

// MaxRenewSeconds bounds one renewal: 100 years.
const MaxRenewSeconds = 100 * 365 * 24 * 3600

// Renew is objects/renew: top up every lease of object ID with what it
// costs for Seconds more at its current rate, ceil(rate x Seconds / 10^9)
// ustr each, paid by the signer (anyone may pay for an object, as anyone may
// top up a lease). It is one transaction: either every lease is topped up
// or none is.
type Renew struct {
	ID      string `json:"id"`
	Seconds uint64 `json:"seconds,string"`
}

func (*Commit) Type() string                   { return "objects/commit" }
func (*Remove) Type() string                   { return "objects/remove" }
func (*Renew) Type() string                    { return "objects/renew" }
func (m *Remove) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *Remove) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }
func (m *Renew) Encode(w *codec.Writer)        { ledger.EncodeJSON(w, m) }
func (m *Renew) Decode(r *codec.Reader) error  { return ledger.DecodeJSON(r, m) }

// Encode implements ledger.Msg.
func (m *Commit) Encode(w *codec.Writer) {
	w.BytesField(m.Manifest)
	w.Uvarint(uint64(len(m.Leases)))
	for _, id := range m.Leases {
		w.Uvarint(id)
	}
	w.Uvarint(uint64(m.ExpiresMs))
	w.Bool(m.Public)
	w.Uvarint(uint64(len(m.Receipts)))
	for _, rc := range m.Receipts {
		w.Uvarint(uint64(rc.ExpiresMs))
		w.Fixed(rc.Signature)
	}
	w.BytesField(m.WrappedKey)
}

// Decode implements ledger.Msg.
func (m *Commit) Decode(r *codec.Reader) error {
	var out Commit
	out.Manifest = r.BytesField(ledger.MaxTxBytes)
	n := r.Uvarint()
	if r.Err() == nil && n > MaxLeases {
		return errs.E(errs.Invalid, "a commit lists %d leases; at most %d are allowed", n, MaxLeases)
	}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		out.Leases = append(out.Leases, r.Uvarint())
	}
	exp := r.Uvarint()
	if r.Err() == nil && exp > math.MaxInt64 {
		return errs.E(errs.Invalid, "expires_ms %d is out of range", exp)
	}
	out.ExpiresMs = int64(exp)
	out.Public = r.Bool()
	n = r.Uvarint()
	if r.Err() == nil && n > MaxLeases {
		return errs.E(errs.Invalid, "a commit carries %d receipts; at most %d are allowed", n, MaxLeases)
	}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		exp := r.Uvarint()
		if r.Err() == nil && exp > math.MaxInt64 {
			return errs.E(errs.Invalid, "receipt %d: expires_ms %d is out of range", i, exp)
		}
		out.Receipts = append(out.Receipts, storage.Receipt{ExpiresMs: int64(exp), Signature: r.Fixed(storage.SignatureSize)})
	}
	if wk := r.BytesField(MaxWrappedKey); len(wk) > 0 {
		out.WrappedKey = wk
	}
	if err := r.Err(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Validate implements ledger.Msg.
func (m *Commit) Validate() error {
	_, _, err := m.parse()
	return err
}

// parse decodes and checks the manifest and returns it with the bytes of
// shards each provider holds.
func (m *Commit) parse() (*storage.Manifest, map[identity.Address]uint64, error) {
	man, err := storage.DecodeManifest(m.Manifest)
	if err != nil {
		return nil, nil, errs.E(errs.Invalid, "the object's manifest: %v", err)
	}
	if err := man.Validate(); err != nil {
		return nil, nil, err
	}
	perProv := map[identity.Address]uint64{}
	for i, seg := range man.Segments {
		for j, sh := range seg.Shards {
			if sh.Provider == "" {
				return nil, nil, errs.E(errs.Invalid, "shard %d of segment %d has no provider: place every shard before committing", j, i)
			}
			a, err := identity.ParseDID(sh.Provider)
			if err != nil {
				return nil, nil, errs.E(errs.Invalid, "shard %d of segment %d: provider %q is not a did:key: %v", j, i, sh.Provider, err)
			}
			perProv[a] += uint64(sh.Size)
		}
	}
	switch {
	case len(m.Leases) == 0 && len(perProv) > 0:
		return nil, nil, errs.E(errs.Invalid, "a commit must list the storage leases that pay for the object")
	case len(m.Leases) > 0 && len(perProv) == 0:
		return nil, nil, errs.E(errs.Invalid, "the empty object has no shards: commit it with no leases")
	case len(m.Leases) > MaxLeases:
		return nil, nil, errs.E(errs.Invalid, "a commit lists %d leases; at most %d are allowed", len(m.Leases), MaxLeases)
	case m.ExpiresMs < 0:
		return nil, nil, errs.E(errs.Invalid, "expires_ms must not be negative")
	case len(m.Receipts) != len(perProv):
		return nil, nil, errs.E(errs.Invalid, "a commit carries %d storage receipts but the manifest names %d providers: upload the shards and ask each provider for its receipt", len(m.Receipts), len(perProv))
	}
	for i, rc := range m.Receipts {
		if len(rc.Signature) != storage.SignatureSize || rc.ExpiresMs < 0 {
			return nil, nil, errs.E(errs.Invalid, "receipt %d has a %d-byte signature and expiry %d: a receipt is a %d-byte ed25519 signature and a time", i, len(rc.Signature), rc.ExpiresMs, storage.SignatureSize)
		}
	}
	if err := m.checkWrappedKey(); err != nil {
		return nil, nil, err
	}
	seen := map[uint64]bool{}
	for _, id := range m.Leases {
		if seen[id] {
			return nil, nil, errs.E(errs.Invalid, "lease %d is listed twice", id)
		}
		seen[id] = true
	}
	return man, perProv, nil
}

// Validate implements ledger.Msg.
func (m *Remove) Validate() error {
	_, err := storage.ParseID(m.ID)
	return err
}

// Validate implements ledger.Msg.
func (m *Renew) Validate() error {
	if _, err := storage.ParseID(m.ID); err != nil {
		return err
	}
	if m.Seconds == 0 || m.Seconds > MaxRenewSeconds {
		return errs.E(errs.Invalid, "a renewal is for 1 to %d seconds, not %d", MaxRenewSeconds, m.Seconds)
	}
	return nil
}
