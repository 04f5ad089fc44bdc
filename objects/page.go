package objects

import (
	"bytes"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// ObjectsAfter returns up to limit of owner's live objects whose IDs sort
// after after (nil: from the first), in ID order, each with the time it is
// paid until (and no decoded manifest), and whether more follow: one page
// of GET /v1/objects?owner=.
func ObjectsAfter(ctx *ledger.Context, owner identity.Address, after *storage.ID, limit int) ([]ObjectView, bool, error) {
	s := newStore(ctx)
	p := key(prefByOwner, owner[:])
	var roots []storage.ID
	more := false
	err := s.kv.Iterate(p, func(k, _ []byte) error {
		if after != nil && bytes.Compare(k[len(p):], after[:]) <= 0 {
			return nil
		}
		if len(roots) == limit {
			more = true
			return ledger.ErrStop
		}
		var id storage.ID
		copy(id[:], k[len(p):])
		roots = append(roots, id)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	out := make([]ObjectView, 0, len(roots))
	for _, id := range roots {
		o, err := s.object(id)
		if err != nil {
			return nil, false, err
		}
		until, err := paidUntil(ctx, o)
		if err != nil {
			return nil, false, err
		}
		out = append(out, ObjectView{Object: *o, PaidUntilMs: until})
	}
	return out, more, nil
}
