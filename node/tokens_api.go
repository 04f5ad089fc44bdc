package node

import (
	"net/http"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/tokens"
)

// TokenView is a token with its supply, as GET /v1/tokens/{denom} shows it.
type TokenView struct {
	tokens.Token
	Supply string `json:"supply"`
}

// TokenBalance is GET /v1/tokens/{denom}/balances/{did}.
type TokenBalance struct {
	Denom   string `json:"denom"`
	Address string `json:"address"`
	Balance string `json:"balance"`
}

// mountTokens adds the tokens' routes.
func (n *Node) mountTokens() {
	a := n.api
	a.HandleJSON("GET /v1/tokens", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		limit, after, err := api.PageParams(r)
		if err != nil {
			return nil, err
		}
		ts, more, err := tokens.List(ctx, after, limit)
		if err != nil {
			return nil, err
		}
		page := api.Page[TokenView]{Items: []TokenView{}}
		for _, t := range ts {
			page.Items = append(page.Items, TokenView{Token: t, Supply: ledger.FormatInt(ctx.DenomSupply(t.Denom))})
		}
		if more && len(ts) > 0 {
			page.Next = ts[len(ts)-1].Denom
		}
		return page, nil
	}))
	a.HandleJSON("GET /v1/tokens/{denom}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		t, err := tokens.Get(ctx, r.PathValue("denom"))
		if err != nil {
			return nil, err
		}
		return TokenView{Token: *t, Supply: ledger.FormatInt(ctx.DenomSupply(t.Denom))}, nil
	}))
	a.HandleJSON("GET /v1/tokens/{denom}/balances/{did}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		t, err := tokens.Get(ctx, r.PathValue("denom"))
		if err != nil {
			return nil, err
		}
		addr, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		return TokenBalance{Denom: t.Denom, Address: addr.String(), Balance: ledger.FormatInt(ctx.Balance(t.Denom, addr))}, nil
	}))
}
