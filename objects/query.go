package objects

import (
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// ObjectView is an object's record with its manifest decoded, for the API.
type ObjectView struct {
	Object
	Decoded *storage.Manifest `json:"decoded_manifest"`
}

// GetObject returns an object by its ID string; errs.Invalid for a
// malformed ID, errs.NotFound for an unknown one.
func GetObject(ctx *ledger.Context, id string) (*ObjectView, error) {
	root, err := storage.ParseID(id)
	if err != nil {
		return nil, err
	}
	o, err := newStore(ctx).object(root)
	if err != nil {
		return nil, err
	}
	man, err := storage.DecodeManifest(o.Manifest)
	if err != nil {
		return nil, err
	}
	return &ObjectView{Object: *o, Decoded: man}, nil
}

// ObjectsOf returns an owner's objects in ID-root order.
func ObjectsOf(ctx *ledger.Context, owner identity.Address) ([]Object, error) {
	s := newStore(ctx)
	p := key(prefByOwner, owner[:])
	out := []Object{}
	var roots []storage.ID
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		var id storage.ID
		copy(id[:], k[len(p):])
		roots = append(roots, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range roots {
		o, err := s.object(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

// ShardRefs returns how many placements of shard h on provider the live
// objects hold: 0 means the provider may delete the shard.
func ShardRefs(ctx *ledger.Context, provider identity.Address, h storage.Hash) uint64 {
	return newStore(ctx).shardRefs(key(prefShard, provider[:], h[:]))
}

// ShardUse is the answer of GET /v1/providers/{did}/shards/{hash}.
type ShardUse struct {
	Provider string `json:"provider"`
	Hash     string `json:"hash"`
	Refs     uint64 `json:"refs"`
}
