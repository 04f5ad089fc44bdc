package objects

import (
	"encoding/json"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/storage"
)

// Access-log anchors. A storage provider records every read of a private
// object it serves (the reader's own signed request, see package provider)
// and, once a market epoch is over, commits the RFC 6962 Merkle root and
// count of that epoch's records here. The anchor is what makes the log
// impossible to rewrite later: a record the owner is shown either has an
// inclusion proof against the anchored root or it does not. The record
// format and the proof rules are in docs/storage.md "Access logs".
//
// State, under "objects/":
//
//	anchor/<provider32><epoch 8 BE> -> AnchorRecord (JSON)
//
// One anchor per provider per epoch, written once and never changed.

const prefAnchor = "anchor/"

// MaxAnchorCount bounds the records one anchor may claim: a billion reads
// of one provider in one epoch is far beyond what a provider serves, and the
// bound keeps the count a plain integer everywhere it is shown.
const MaxAnchorCount = 1 << 30

// AnchorMaxAgeSeconds is how old an epoch a provider may still anchor: a
// week. An agent that was down anchors what it missed when it comes back,
// but an epoch cannot be anchored long after its reads, when nobody
// remembers whether the batch is complete.
const AnchorMaxAgeSeconds = 7 * 24 * 3600

// Anchor is objects/anchor: the signer, a registered provider, commits the
// RFC 6962 root over the leaf hashes of its access records of market epoch
// Epoch, in record order, and how many there are. The epoch must be over
// (before the block's epoch) and at most AnchorMaxAgeSeconds old. A second
// anchor of the same provider and epoch is refused with Conflict: the log
// of an epoch, once anchored, cannot be replaced.
type Anchor struct {
	Epoch uint64       `json:"epoch,string"`
	Root  storage.Hash `json:"root"`
	Count uint64       `json:"count,string"`
}

func (*Anchor) Type() string                   { return "objects/anchor" }
func (m *Anchor) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *Anchor) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }

// Validate implements ledger.Msg.
func (m *Anchor) Validate() error {
	switch {
	case m.Count == 0:
		return errs.E(errs.Invalid, "an access-log anchor covers at least one record: an epoch without reads is not anchored")
	case m.Count > MaxAnchorCount:
		return errs.E(errs.Invalid, "an access-log anchor covers at most %d records, not %d", MaxAnchorCount, m.Count)
	case m.Epoch > 1<<62:
		return errs.E(errs.Invalid, "epoch %d is out of range", m.Epoch)
	}
	return nil
}

// AnchorRecord is a provider's anchored access log of one epoch, as state
// holds it: the root and count it committed, and the block that took it.
type AnchorRecord struct {
	Provider identity.Address `json:"provider"`
	Epoch    uint64           `json:"epoch,string"`
	Root     storage.Hash     `json:"root"`
	Count    uint64           `json:"count,string"`
	Height   int64            `json:"height"`
	TimeMs   int64            `json:"time_ms"`
}

// AnchorWindow is which epochs may be anchored now: those from Oldest to
// Current-1. EpochSeconds is the market epoch, so epoch e covers the unix
// milliseconds [e*EpochSeconds*1000, (e+1)*EpochSeconds*1000).
type AnchorWindow struct {
	EpochSeconds int64  `json:"epoch_seconds"`
	Current      uint64 `json:"current_epoch,string"`
	Oldest       uint64 `json:"oldest_epoch,string"`
}

// GetAnchorWindow returns the epochs that may be anchored at the context's
// time.
func GetAnchorWindow(ctx *ledger.Context) AnchorWindow {
	p := market.GetParams(ctx)
	cur := uint64(max(market.EpochOf(ctx, ctx.Time.UnixMilli()), 0))
	age := uint64(max(AnchorMaxAgeSeconds/max(p.EpochSeconds, 1), 1))
	oldest := uint64(0)
	if cur > age {
		oldest = cur - age
	}
	return AnchorWindow{EpochSeconds: p.EpochSeconds, Current: cur, Oldest: oldest}
}

func anchorKey(provider identity.Address, epoch uint64) []byte {
	return key(prefAnchor, provider[:], be(epoch))
}

// GetAnchor returns provider's anchor of epoch. It fails with NotFound if
// the provider has not anchored that epoch.
func GetAnchor(ctx *ledger.Context, provider identity.Address, epoch uint64) (*AnchorRecord, error) {
	var a AnchorRecord
	ok, err := newStore(ctx).getJSON(anchorKey(provider, epoch), &a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "provider %s has not anchored an access log for epoch %d", provider, epoch)
	}
	return &a, nil
}

func anchor(ctx *ledger.Context, signer identity.Address, m *Anchor) error {
	if _, err := market.GetProvider(ctx, signer); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.Unauthorized, "%s is not a registered provider: only providers anchor access logs", signer)
		}
		return err
	}
	w := GetAnchorWindow(ctx)
	switch {
	case m.Epoch >= w.Current:
		return errs.E(errs.Invalid, "epoch %d is not over: the block is in epoch %d, and an epoch is anchored once it has ended", m.Epoch, w.Current)
	case m.Epoch < w.Oldest:
		return errs.E(errs.Invalid, "epoch %d is too old to anchor: epochs from %d on may be anchored (%d s back)", m.Epoch, w.Oldest, AnchorMaxAgeSeconds)
	}
	s := newStore(ctx)
	k := anchorKey(signer, m.Epoch)
	if s.kv.Get(k) != nil {
		return errs.E(errs.Conflict, "provider %s already anchored its access log of epoch %d: an anchored epoch cannot be replaced", signer, m.Epoch)
	}
	rec := AnchorRecord{Provider: signer, Epoch: m.Epoch, Root: m.Root, Count: m.Count, Height: ctx.Height, TimeMs: s.nowMs()}
	b, err := json.Marshal(rec)
	if err != nil {
		return errs.E(errs.Internal, "objects: anchor does not marshal: %v", err)
	}
	s.kv.Set(k, b)
	Events.AccessAnchored.Emit(ctx, signer.String(), ledger.FormatInt(m.Epoch), m.Root.String(), ledger.FormatInt(m.Count))
	return nil
}
