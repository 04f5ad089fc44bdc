package objects

import (
	"encoding/json"
	"strconv"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// Private objects. A private object's bytes are encrypted by its owner's
// client before erasure coding, with a data key of its own; the ledger
// never sees that key, only copies of it wrapped to the public keys of the
// accounts that may read: the owner's in the object record (Commit's
// WrappedKey), and each grantee's in a grant. Providers ask CanRead before
// they serve a shard, and serve a private object's shards only to the
// owner and current grantees, on a signed request.
//
// State, under "objects/":
//
//	grant/<root32><grantee32> -> Grant (JSON)
//
// An object has at most MaxGrants grants, so dropping it deletes a bounded
// number of records.

// MaxWrappedKey bounds a wrapped data key, in the commit of a private
// object and in a grant. An age file of one 32-byte key to one ssh-ed25519
// recipient is about 250 bytes.
const MaxWrappedKey = 1 << 10

// MaxGrants bounds the grants of one object, expired ones included until
// they are revoked (a new grant at the limit first clears the expired
// ones), so that dropping an object deletes at most this many records.
const MaxGrants = 64

const prefGrant = "grant/"

// Grant is objects/grant: the owner of private object ID lets Grantee read
// it until UntilMs (unix ms; 0 for no end), giving it the object's data key
// wrapped to the grantee's key. Granting again to the same grantee replaces
// the grant.
type Grant struct {
	ID         string `json:"id"`
	Grantee    string `json:"grantee"`     // did:key
	WrappedKey []byte `json:"wrapped_key"` // base64 in JSON
	UntilMs    int64  `json:"until_ms,omitempty"`
}

// Revoke is objects/revoke: the owner of object ID ends Grantee's grant.
// Providers stop serving the object's shards to the grantee at once (within
// the second or so their answers are cached); what the grantee already
// read, it keeps.
type Revoke struct {
	ID      string `json:"id"`
	Grantee string `json:"grantee"`
}

func (*Grant) Type() string                    { return "objects/grant" }
func (*Revoke) Type() string                   { return "objects/revoke" }
func (m *Grant) Encode(w *codec.Writer)        { ledger.EncodeJSON(w, m) }
func (m *Grant) Decode(r *codec.Reader) error  { return ledger.DecodeJSON(r, m) }
func (m *Revoke) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *Revoke) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }

// Validate implements ledger.Msg.
func (m *Grant) Validate() error {
	if _, err := storage.ParseID(m.ID); err != nil {
		return err
	}
	if _, err := identity.ParseDID(m.Grantee); err != nil {
		return errs.E(errs.Invalid, "grantee %q is not a did:key: %v", m.Grantee, err)
	}
	switch {
	case len(m.WrappedKey) == 0:
		return errs.E(errs.Invalid, "a grant carries the object's data key wrapped to the grantee's key, and this one has none")
	case len(m.WrappedKey) > MaxWrappedKey:
		return errs.E(errs.TooLarge, "the wrapped key is %d bytes; at most %d are allowed", len(m.WrappedKey), MaxWrappedKey)
	case m.UntilMs < 0:
		return errs.E(errs.Invalid, "until_ms must not be negative")
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *Revoke) Validate() error {
	if _, err := storage.ParseID(m.ID); err != nil {
		return err
	}
	if _, err := identity.ParseDID(m.Grantee); err != nil {
		return errs.E(errs.Invalid, "grantee %q is not a did:key: %v", m.Grantee, err)
	}
	return nil
}

// GrantRecord is a grant in state and in the API.
type GrantRecord struct {
	ID         string           `json:"id"`
	Grantee    identity.Address `json:"grantee"`
	WrappedKey []byte           `json:"wrapped_key"`
	UntilMs    int64            `json:"until_ms,omitempty"`
	GrantedMs  int64            `json:"granted_ms"`
}

// Live reports whether the grant lets its grantee read at nowMs.
func (g *GrantRecord) Live(nowMs int64) bool { return g.UntilMs == 0 || nowMs < g.UntilMs }

// checkWrappedKey checks a commit's wrapped key against its visibility.
func (m *Commit) checkWrappedKey() error {
	switch {
	case m.Public && len(m.WrappedKey) > 0:
		return errs.E(errs.Invalid, "a public object carries no wrapped key: its bytes are not encrypted")
	case !m.Public && len(m.WrappedKey) == 0:
		return errs.E(errs.Invalid, "a private object must carry its data key wrapped to the owner's key, or nobody could read it")
	case len(m.WrappedKey) > MaxWrappedKey:
		return errs.E(errs.TooLarge, "the wrapped key is %d bytes; at most %d are allowed", len(m.WrappedKey), MaxWrappedKey)
	}
	return nil
}

func grantKey(root storage.ID, grantee identity.Address) []byte {
	return key(prefGrant, root[:], grantee[:])
}

// grants returns the grants of object root, in grantee order.
func (s *store) grants(root storage.ID) ([]GrantRecord, error) {
	p := key(prefGrant, root[:])
	var out []GrantRecord
	err := s.kv.Iterate(p, func(k, v []byte) error {
		var g GrantRecord
		if err := json.Unmarshal(v, &g); err != nil {
			return errs.E(errs.Internal, "objects: corrupt grant %x: %v", k, err)
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

// privateObject reads object id for a grant or revoke by signer: NotFound,
// Unauthorized unless signer owns it, Invalid if it is public.
func (s *store) privateObject(signer identity.Address, id string) (storage.ID, *Object, error) {
	root, o, err := s.objectByID(id)
	if err != nil {
		return root, nil, err
	}
	if o.Owner != signer {
		return root, nil, errs.E(errs.Unauthorized, "object %s is %s's: only its owner can grant or revoke access to it", o.ID, o.Owner)
	}
	if o.Public {
		return root, nil, errs.E(errs.Invalid, "object %s is public: anyone can read it already, so there is nothing to grant; store the bytes as a private object to control who reads them", o.ID)
	}
	return root, o, nil
}

func grant(ctx *ledger.Context, signer identity.Address, m *Grant) error {
	s := newStore(ctx)
	root, o, err := s.privateObject(signer, m.ID)
	if err != nil {
		return err
	}
	grantee, _ := identity.ParseDID(m.Grantee) // Validate checked it
	if grantee == signer {
		return errs.E(errs.Invalid, "%s owns object %s and reads it with its own key: a grant to oneself is not needed", signer, o.ID)
	}
	now := s.nowMs()
	if m.UntilMs != 0 && m.UntilMs <= now {
		return errs.E(errs.Invalid, "the grant would end at %d ms, not after the block time %d ms", m.UntilMs, now)
	}
	k := grantKey(root, grantee)
	if s.kv.Get(k) == nil {
		gs, err := s.grants(root)
		if err != nil {
			return err
		}
		if len(gs) >= MaxGrants {
			// Expired grants make room first; they grant nothing.
			for _, g := range gs {
				if !g.Live(now) {
					s.kv.Delete(grantKey(root, g.Grantee))
				}
			}
			if gs, err = s.grants(root); err != nil {
				return err
			}
			if len(gs) >= MaxGrants {
				return errs.E(errs.Conflict, "object %s has %d grants, the most one object may have: revoke one first", o.ID, len(gs))
			}
		}
	}
	g := GrantRecord{ID: o.ID, Grantee: grantee, WrappedKey: m.WrappedKey, UntilMs: m.UntilMs, GrantedMs: now}
	s.putJSON(k, g)
	Events.Granted.Emit(ctx, o.ID, signer.String(), grantee.String(), strconv.FormatInt(m.UntilMs, 10))
	return nil
}

func revoke(ctx *ledger.Context, signer identity.Address, m *Revoke) error {
	s := newStore(ctx)
	root, o, err := s.privateObject(signer, m.ID)
	if err != nil {
		return err
	}
	grantee, _ := identity.ParseDID(m.Grantee)
	k := grantKey(root, grantee)
	if s.kv.Get(k) == nil {
		return errs.E(errs.NotFound, "object %s has no grant to %s: see `stratus store grants %s`", o.ID, grantee, o.ID)
	}
	s.kv.Delete(k)
	Events.Revoked.Emit(ctx, o.ID, signer.String(), grantee.String())
	return nil
}

// dropGrants deletes the grants of an object being dropped: at most
// MaxGrants of them.
func (s *store) dropGrants(root storage.ID) error {
	gs, err := s.grants(root)
	if err != nil {
		return err
	}
	for _, g := range gs {
		s.kv.Delete(grantKey(root, g.Grantee))
	}
	return nil
}

// Grants returns the grants of object id, expired ones included, in
// grantee order: errs.Invalid for a malformed ID, errs.NotFound for an
// unknown object.
func Grants(ctx *ledger.Context, id string) ([]GrantRecord, error) {
	s := newStore(ctx)
	root, _, err := s.objectByID(id)
	if err != nil {
		return nil, err
	}
	gs, err := s.grants(root)
	if gs == nil {
		gs = []GrantRecord{}
	}
	return gs, err
}

// GrantOf returns grantee's grant on object id, live or not: NotFound if
// there is none.
func GrantOf(ctx *ledger.Context, id string, grantee identity.Address) (*GrantRecord, error) {
	s := newStore(ctx)
	root, o, err := s.objectByID(id)
	if err != nil {
		return nil, err
	}
	var g GrantRecord
	ok, err := s.getJSON(grantKey(root, grantee), &g)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "%s has no grant on object %s: ask its owner, %s, for one", grantee, o.ID, o.Owner)
	}
	return &g, nil
}

// ReadAccess is the answer of CanRead, and of GET
// /v1/providers/{did}/shards/{hash}/readers/{reader}.
type ReadAccess struct {
	Provider string `json:"provider"`
	Hash     string `json:"hash"`
	Reader   string `json:"reader,omitempty"`
	// Private says that a live private object places the shard on the
	// provider, so it is served only on a signed request by its owner or
	// a current grantee.
	Private bool `json:"private"`
	// Allowed says that reader may read it: always for a public shard.
	Allowed bool `json:"allowed"`
}

// CanRead reports whether shard h on provider belongs to a live private
// object (one placing h on provider), and whether reader may read it: the
// owner or a live grantee (at nowMs) of such an object, or the provider
// assigned a repair of it, which rebuilds a lost shard from the others
// (sealed bytes: it learns nothing of the plaintext). A shard that no live
// object places, or only public ones, is not private, and anyone may read
// it; the zero reader (an unsigned request) may read no private shard. The
// work is one walk of the objects that place h on provider (the placement
// index, Holding), stopped at the first that allows.
func CanRead(ctx *ledger.Context, provider identity.Address, h storage.Hash, reader identity.Address, nowMs int64) (private, allowed bool, err error) {
	s := newStore(ctx)
	var roots []storage.ID
	err = Holding(ctx, provider, h, func(root storage.ID) error {
		roots = append(roots, root)
		return nil
	})
	if err != nil {
		return false, false, err
	}
	for _, root := range roots {
		o, err := s.object(root)
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return false, false, err
		}
		if o.Public {
			continue
		}
		private = true
		if reader == (identity.Address{}) {
			break
		}
		ok, err := s.mayRead(root, o, reader, nowMs)
		if err != nil {
			return false, false, err
		}
		if ok {
			return true, true, nil
		}
	}
	return private, !private, nil
}

// mayRead reports whether reader may read private object o: its owner, a
// live grantee, or the assignee of one of its repairs.
func (s *store) mayRead(root storage.ID, o *Object, reader identity.Address, nowMs int64) (bool, error) {
	if o.Owner == reader {
		return true, nil
	}
	var g GrantRecord
	ok, err := s.getJSON(grantKey(root, reader), &g)
	if err != nil {
		return false, err
	}
	if ok && g.Live(nowMs) {
		return true, nil
	}
	var slots [][]byte
	err = s.kv.Iterate(key(prefJob, root[:]), func(k, _ []byte) error {
		slots = append(slots, append([]byte(nil), k[len(prefJob):]...))
		return nil
	})
	if err != nil {
		return false, err
	}
	who := reader.String()
	for _, slot := range slots {
		j, err := s.job(slot)
		if err != nil {
			return false, err
		}
		if j != nil && j.Assignee == who {
			return true, nil
		}
	}
	return false, nil
}

// AnonymousReader stands for no reader (an unsigned request) in the path
// of GET /v1/providers/{did}/shards/{hash}/readers/{reader}.
const AnonymousReader = "anonymous"
