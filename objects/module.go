// Package objects is the ledger module that records stored objects: an
// object's manifest (its erasure-coding parameters and every shard's hash and
// provider), the storage leases that pay for its shards, how many bytes of
// each lease it uses, and when it expires.
//
// It holds no value of its own. Leases are the market's: committing an object
// only checks that the signer's active storage leases with each provider have
// room for that provider's shards, and records the use. Removing an object,
// by its owner or at its expiry, releases the use and closes every lease of
// the object that no other object still uses, through the market's own
// market/close_lease handler run as the lease's consumer (who is the owner),
// so the market settles the lease and refunds the remaining escrow.
//
// State, under "objects/":
//
//	obj/<root32>               -> Object (JSON)
//	byowner/<owner32><root32>  -> empty
//	leaseuse/<lease id, 8 BE>  -> LeaseUse (JSON)
//	due/<expires ms, 8 BE><root32> -> empty
//
// EndBlock walks due/ up to the block time only, so its cost grows with the
// objects that expire in the block, not with the objects in state.
package objects

import (
	"encoding/json"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// Module is the objects ledger module.
type Module struct{}

var _ ledger.Module = Module{}

// Name implements ledger.Module.
func (Module) Name() string { return "objects" }

func handle[M ledger.Msg](f func(*ledger.Context, identity.Address, M) error) ledger.Handler {
	return func(ctx *ledger.Context, signer identity.Address, msg ledger.Msg) error {
		return f(ctx, signer, msg.(M))
	}
}

// Msgs implements ledger.Module.
func (Module) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{
		{New: func() ledger.Msg { return &Commit{} }, Handler: handle(commit)},
		{New: func() ledger.Msg { return &Remove{} }, Handler: handle(remove)},
	}
}

// InitGenesis implements ledger.Module. The module has no genesis section:
// objects are only created by transactions.
func (Module) InitGenesis(*ledger.Context, json.RawMessage) error { return nil }

// EndBlock removes the objects whose expiry is at or before the block time.
func (Module) EndBlock(ctx *ledger.Context) error { return newStore(ctx).expireDue() }
