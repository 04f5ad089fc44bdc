package node

import (
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/gov"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// mountGov adds governance's routes.
func (n *Node) mountGov() {
	a := n.api
	a.HandleJSON("GET /v1/gov/proposals", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		limit, after, err := api.PageParams(r)
		if err != nil {
			return nil, err
		}
		var before uint64
		if after != "" {
			if before, err = strconv.ParseUint(after, 10, 64); err != nil || before == 0 {
				return nil, badCursor(after, "a proposal id")
			}
		}
		ps, more, err := gov.Proposals(ctx, before, limit)
		if err != nil {
			return nil, err
		}
		page := api.Page[gov.Proposal]{Items: append([]gov.Proposal{}, ps...)}
		if more {
			page.Next = strconv.FormatUint(ps[len(ps)-1].ID, 10)
		}
		return page, nil
	}))
	a.HandleJSON("GET /v1/gov/proposals/{id}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil || id == 0 {
			return nil, errs.E(errs.Invalid, "%q is not a proposal id: ids are positive integers", r.PathValue("id"))
		}
		return gov.GetProposal(ctx, id)
	}))
	a.HandleJSON("GET /v1/gov/bonds/{did}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		addr, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		b, err := gov.GetBond(ctx, addr)
		if err != nil {
			return nil, err
		}
		return struct {
			Address string `json:"address"`
			gov.Bond
		}{addr.String(), b}, nil
	}))
}
