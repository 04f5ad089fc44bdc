package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/stratus-cloud/stratus/market"
)

// Provider returns a registered provider; an unknown one fails with kind
// NotFound.
func (c *Client) Provider(ctx context.Context, did string) (market.Provider, error) {
	var p market.Provider
	return p, c.Get(ctx, "/v1/providers/"+url.PathEscape(did), &p)
}

// Providers returns every provider.
func (c *Client) Providers(ctx context.Context) ([]market.Provider, error) {
	var ps []market.Provider
	return ps, c.Get(ctx, "/v1/providers", &ps)
}

// Lease returns a lease as of the last block.
func (c *Client) Lease(ctx context.Context, id uint64) (market.LeaseView, error) {
	var l market.LeaseView
	return l, c.Get(ctx, "/v1/leases/"+strconv.FormatUint(id, 10), &l)
}

// Leases returns the leases a party is consumer of, or with asProvider,
// provider of.
func (c *Client) Leases(ctx context.Context, did string, asProvider bool) ([]market.LeaseView, error) {
	role := "consumer"
	if asProvider {
		role = "provider"
	}
	var ls []market.LeaseView
	return ls, c.Get(ctx, "/v1/leases?"+role+"="+url.QueryEscape(did), &ls)
}

// Prices returns the current reference prices.
func (c *Client) Prices(ctx context.Context) ([]market.Price, error) {
	var ps []market.Price
	return ps, c.Get(ctx, "/v1/prices", &ps)
}

// PriceHistory returns a class's reference prices over time.
func (c *Client) PriceHistory(ctx context.Context, class string) ([]market.PricePoint, error) {
	var ps []market.PricePoint
	return ps, c.Get(ctx, "/v1/prices/history?class="+url.QueryEscape(class), &ps)
}
