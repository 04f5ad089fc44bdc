package functions

import (
	"encoding/binary"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// DeploymentsAfter returns up to limit of owner's deployments with ids
// above after, in id order, and whether more follow: one page of
// GET /v1/functions?owner=.
func DeploymentsAfter(ctx *ledger.Context, owner identity.Address, after uint64, limit int) ([]Deployment, bool, error) {
	s := newStore(ctx)
	p := key(prefByOwner, owner)
	out := []Deployment{}
	more := false
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		id := binary.BigEndian.Uint64(k[len(p):])
		if id <= after {
			return nil
		}
		if len(out) == limit {
			more = true
			return ledger.ErrStop
		}
		d, err := s.deployment(id)
		if err != nil {
			return err
		}
		out = append(out, *d)
		return nil
	})
	return out, more, err
}
