package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/market"
)

// Provider returns a registered provider; an unknown one fails with kind
// NotFound.
func (c *Client) Provider(ctx context.Context, did string) (market.Provider, error) {
	var p market.Provider
	return p, c.Get(ctx, "/v1/providers/"+url.PathEscape(did), &p)
}

// Providers returns every provider, following the pages of
// GET /v1/providers.
func (c *Client) Providers(ctx context.Context) ([]market.Provider, error) {
	return getAll[market.Provider](ctx, c, "/v1/providers")
}

// Lease returns a lease as of the last block.
func (c *Client) Lease(ctx context.Context, id uint64) (market.LeaseView, error) {
	var l market.LeaseView
	return l, c.Get(ctx, "/v1/leases/"+strconv.FormatUint(id, 10), &l)
}

// Leases returns the leases a party is consumer of, or with asProvider,
// provider of, following the pages of GET /v1/leases. A list has no SLA
// windows: Lease has them.
func (c *Client) Leases(ctx context.Context, did string, asProvider bool) ([]market.LeaseView, error) {
	f := LeaseFilter{Consumer: did}
	if asProvider {
		f = LeaseFilter{Provider: did}
	}
	return getAll[market.LeaseView](ctx, c, f.path())
}

// Prices returns the current reference prices.
func (c *Client) Prices(ctx context.Context) ([]market.Price, error) {
	var ps []market.Price
	return ps, c.Get(ctx, "/v1/prices", &ps)
}

// PriceHistory returns a class's reference prices of the latest
// api.MaxPageLimit epochs.
func (c *Client) PriceHistory(ctx context.Context, class string) ([]market.PricePoint, error) {
	p, err := c.PriceHistoryPage(ctx, class, PageOptions{Limit: api.MaxPageLimit})
	return p.Items, err
}
