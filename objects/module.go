// Package objects is the ledger module that records stored objects: an
// object's manifest (its erasure-coding parameters and every shard's hash and
// provider), the storage leases that pay for its shards, how many bytes of
// each lease it uses, and when it expires. It is not the storage itself
// (providers hold the shards) nor the client that uploads them.
//
// It holds no value of its own. Leases are the market's: committing an object
// only checks that the signer's active storage leases with each provider have
// room for that provider's shards, and records the use. An object lives only
// while every lease it uses is paid: the module implements market.LeaseHooks,
// so a consumer or provider cannot close such a lease (BeforeLeaseClose
// refuses), and a lease that closes for any other reason (escrow gone,
// unacknowledged, SLA breaches) drops the objects it paid for
// (AfterLeaseClose). Removing an object, by its owner, at its expiry or
// because it is no longer paid, releases the use and closes every lease of
// the object that no other object still uses, with market.CloseLeaseAs as
// the lease's consumer (who is the owner), so the market settles the lease
// and refunds the remaining escrow. Shard references are counted per owner,
// so only an owner's own paid objects keep its copy of a shard on a provider.
//
// State, under "objects/":
//
//	obj/<root32>               -> Object (JSON)
//	byowner/<owner32><root32>  -> empty
//	leaseuse/<lease id, 8 BE>  -> LeaseUse (JSON)
//	leaseobj/<lease id, 8 BE><root32> -> empty
//	due/<expires ms, 8 BE><root32> -> empty
//	shard/<provider32><hash32><owner32> -> uvarint count
//	grant/<root32><grantee32>  -> GrantRecord (JSON), private objects only
//
// EndBlock walks due/ up to the block time only, and a closing lease walks
// its own leaseobj/ entries only, so the cost grows with the objects that
// fall due, never with the objects in state.
package objects

import (
	"github.com/stratus-cloud/stratus/ledger"
)

// Module is the objects ledger module.
type Module struct{}

var _ ledger.Module = Module{}

// Name implements ledger.Module.
func (Module) Name() string { return "objects" }

// Msgs implements ledger.Module.
func (Module) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{
		{New: func() ledger.Msg { return &Commit{} }, Handler: ledger.Handle(commit)},
		{New: func() ledger.Msg { return &Remove{} }, Handler: ledger.Handle(remove)},
		{New: func() ledger.Msg { return &Renew{} }, Handler: ledger.Handle(renew)},
		{New: func() ledger.Msg { return &Anchor{} }, Handler: ledger.Handle(anchor)},
		{New: func() ledger.Msg { return &Prove{} }, Handler: ledger.Handle(prove)},
		{New: func() ledger.Msg { return &Repair{} }, Handler: ledger.Handle(repair)},
		{New: func() ledger.Msg { return &Grant{} }, Handler: ledger.Handle(grant)},
		{New: func() ledger.Msg { return &Revoke{} }, Handler: ledger.Handle(revoke)},
	}
}

// EndBlock removes the objects whose expiry is at or before the block time,
// issues and judges storage challenges, and loses and assigns shards for
// repair, each bounded by the parameters.
func (Module) EndBlock(ctx *ledger.Context) error {
	s := newStore(ctx)
	if err := s.expireDue(); err != nil {
		return err
	}
	p, err := s.params()
	if err != nil {
		return err
	}
	if err := s.proofPass(p); err != nil {
		return err
	}
	return s.repairPass(p)
}
