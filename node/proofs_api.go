package node

import (
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/objects"
)

// mountProofs adds the routes of storage proofs and repair.
func (n *Node) mountProofs() {
	a := n.api
	a.HandleJSON("GET /v1/storage/challenges", n.query(listChallenges))
	a.HandleJSON("GET /v1/storage/repairs", n.query(listRepairs))
	a.HandleJSON("GET /v1/storage/params", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		return objects.GetParams(ctx)
	}))
	a.HandleJSON("GET /v1/providers/{did}/proofs", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		addr, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		return objects.ProofStatsOf(ctx, addr)
	}))
}

// listChallenges is GET /v1/storage/challenges?provider=DID: the
// provider's open challenges, in id order.
func listChallenges(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	prov, err := identity.ParseDID(r.URL.Query().Get("provider"))
	if err != nil {
		return nil, err
	}
	var from uint64
	if after != "" {
		if from, err = strconv.ParseUint(after, 10, 64); err != nil {
			return nil, badCursor(after, "a challenge id")
		}
	}
	cs, more, err := objects.ChallengesAfter(ctx, prov, from, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[objects.Challenge]{Items: cs}
	if more && len(cs) > 0 {
		page.Next = strconv.FormatUint(cs[len(cs)-1].ID, 10)
	}
	return page, nil
}

// listRepairs is GET /v1/storage/repairs[?assignee=DID]: the repairs
// assigned to a provider, fewest healthy shards first, or every repair.
func listRepairs(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	var who *identity.Address
	if a := r.URL.Query().Get("assignee"); a != "" {
		addr, err := identity.ParseDID(a)
		if err != nil {
			return nil, err
		}
		who = &addr
	}
	var from []byte
	if after != "" {
		if from, err = hex.DecodeString(after); err != nil {
			return nil, badCursor(after, "a repair cursor")
		}
	}
	js, next, err := objects.RepairsAfter(ctx, who, from, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[objects.RepairJob]{Items: js}
	if next != nil {
		page.Next = hex.EncodeToString(next)
	}
	return page, nil
}
