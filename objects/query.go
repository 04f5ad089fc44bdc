package objects

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// ObjectView is an object's record for the API: with its manifest decoded
// (GetObject only) and the time it is paid until.
type ObjectView struct {
	Object
	// PaidUntilMs is when the first of the object's leases runs out of
	// escrow at its current rate, in unix ms: the object is dropped then
	// unless it is renewed (objects/renew). 0 for an object without
	// leases, which costs nothing; math.MaxInt64 if no lease runs out.
	PaidUntilMs int64             `json:"paid_until_ms"`
	Decoded     *storage.Manifest `json:"decoded_manifest,omitempty"`
}

// GetObject returns an object by its ID string; errs.Invalid for a
// malformed ID, errs.NotFound for an unknown one.
func GetObject(ctx *ledger.Context, id string) (*ObjectView, error) {
	_, o, err := newStore(ctx).objectByID(id)
	if err != nil {
		return nil, err
	}
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return nil, err
	}
	until, err := paidUntil(ctx, o)
	if err != nil {
		return nil, err
	}
	return &ObjectView{Object: *o, PaidUntilMs: until, Decoded: man}, nil
}

// ShardRefs returns how many placements of shard h on provider the live
// objects of every owner hold together.
func ShardRefs(ctx *ledger.Context, provider identity.Address, h storage.Hash) uint64 {
	s := newStore(ctx)
	p := key(prefShard, provider[:], h[:])
	var n uint64
	s.kv.Iterate(p, func(k, _ []byte) error {
		n += s.shardRefs(k)
		return nil
	})
	return n
}

// ShardRefsOf returns how many placements of shard h on provider owner's
// live objects hold, each paid for by owner's own lease with provider. At 0
// the provider may delete owner's copy of the shard: no other account's
// object keeps it, whatever its manifest says.
func ShardRefsOf(ctx *ledger.Context, provider identity.Address, h storage.Hash, owner identity.Address) uint64 {
	return newStore(ctx).shardRefs(key(prefShard, provider[:], h[:], owner[:]))
}

// ShardUse is the answer of GET /v1/providers/{did}/shards/{hash}: the
// references of every owner, or with ?owner= of that owner only.
type ShardUse struct {
	Provider string `json:"provider"`
	Hash     string `json:"hash"`
	Owner    string `json:"owner,omitempty"`
	Refs     uint64 `json:"refs"`
}
