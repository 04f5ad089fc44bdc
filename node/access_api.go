package node

import (
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/objects"
)

// mountAccess adds the routes of access-log anchors (objects/anchor): a
// provider's anchor of one epoch, and which epochs may be anchored now.
func (n *Node) mountAccess() {
	a := n.api
	a.HandleJSON("GET /v1/providers/{did}/anchors/{epoch}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		p, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		e, err := strconv.ParseUint(r.PathValue("epoch"), 10, 64)
		if err != nil {
			return nil, errs.E(errs.Invalid, "%q is not an epoch: epochs are non-negative integers", r.PathValue("epoch"))
		}
		return objects.GetAnchor(ctx, p, e)
	}))
	a.HandleJSON("GET /v1/storage/anchors", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		return objects.GetAnchorWindow(ctx), nil
	}))
}
