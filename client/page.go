package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
)

// PageOptions choose one page of a list endpoint.
type PageOptions struct {
	// Limit is the most items the page holds; 0 means the server's
	// default (api.DefaultPageLimit). The server refuses more than
	// api.MaxPageLimit.
	Limit int
	// After is the Next of the previous page; empty for the first page.
	After string
}

func (o PageOptions) query() string {
	var q []string
	if o.Limit > 0 {
		q = append(q, "limit="+strconv.Itoa(o.Limit))
	}
	if o.After != "" {
		q = append(q, "after="+url.QueryEscape(o.After))
	}
	return strings.Join(q, "&")
}

// withQuery appends query to path, which may have one already.
func withQuery(path, query string) string {
	switch {
	case query == "":
		return path
	case strings.Contains(path, "?"):
		return path + "&" + query
	default:
		return path + "?" + query
	}
}

// getPage fetches one page of the list at path.
func getPage[T any](ctx context.Context, c *Client, path string, o PageOptions) (api.Page[T], error) {
	var p api.Page[T]
	err := c.Get(ctx, withQuery(path, o.query()), &p)
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, err
}

// getAll follows the pages of the list at path to the end.
func getAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	out := []T{}
	o := PageOptions{Limit: api.MaxPageLimit}
	for {
		p, err := getPage[T](ctx, c, path, o)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out, nil
		}
		if p.Next == o.After {
			return nil, errs.E(errs.Internal, "the node's list at %s gave the cursor %q twice", path, p.Next)
		}
		o.After = p.Next
	}
}

// ProvidersPage returns one page of GET /v1/providers, by address.
func (c *Client) ProvidersPage(ctx context.Context, o PageOptions) (api.Page[market.Provider], error) {
	return getPage[market.Provider](ctx, c, "/v1/providers", o)
}

// StateOpen is the LeaseFilter State of the leases that are pending,
// active or in grace.
const StateOpen = "open"

// LeaseFilter chooses the leases of GET /v1/leases: those of Consumer, or
// of Provider, or (both set) the consumer's with that provider; State, if
// set, is a lease state or "open" (pending, active or grace), and Class
// storage or compute.
type LeaseFilter struct {
	Consumer, Provider string
	State, Class       string
}

func (f LeaseFilter) path() string {
	q := url.Values{}
	for k, v := range map[string]string{"consumer": f.Consumer, "provider": f.Provider, "state": f.State, "class": f.Class} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return "/v1/leases?" + q.Encode()
}

// LeasesPage returns one page of the leases f chooses, by id, without
// their SLA windows.
func (c *Client) LeasesPage(ctx context.Context, f LeaseFilter, o PageOptions) (api.Page[market.LeaseView], error) {
	return getPage[market.LeaseView](ctx, c, f.path(), o)
}

// AllLeases returns every lease f chooses, following the pages.
func (c *Client) AllLeases(ctx context.Context, f LeaseFilter) ([]market.LeaseView, error) {
	return getAll[market.LeaseView](ctx, c, f.path())
}

// PriceHistoryPage returns a class's reference prices: without o.After the
// latest o.Limit epochs, with it the epochs after that one, oldest first.
func (c *Client) PriceHistoryPage(ctx context.Context, class string, o PageOptions) (api.Page[market.PricePoint], error) {
	return getPage[market.PricePoint](ctx, c, "/v1/prices/history?class="+url.QueryEscape(class), o)
}

// ObjectsPage returns one page of an owner's objects, by ID.
func (c *Client) ObjectsPage(ctx context.Context, owner string, o PageOptions) (api.Page[objects.ObjectView], error) {
	return getPage[objects.ObjectView](ctx, c, "/v1/objects?owner="+url.QueryEscape(owner), o)
}

// Deployments returns every deployment of owner, removed ones included,
// following the pages of GET /v1/functions.
func (c *Client) Deployments(ctx context.Context, owner string) ([]functions.Deployment, error) {
	return getAll[functions.Deployment](ctx, c, "/v1/functions?owner="+url.QueryEscape(owner))
}

// DeploymentsPage returns one page of owner's deployments, by id.
func (c *Client) DeploymentsPage(ctx context.Context, owner string, o PageOptions) (api.Page[functions.Deployment], error) {
	return getPage[functions.Deployment](ctx, c, "/v1/functions?owner="+url.QueryEscape(owner), o)
}

// Replicas returns the replicas a compute provider (a did:key) holds,
// following the pages of GET /v1/providers/{did}/replicas.
func (c *Client) Replicas(ctx context.Context, provider string) ([]functions.Assignment, error) {
	return getAll[functions.Assignment](ctx, c, "/v1/providers/"+url.PathEscape(provider)+"/replicas")
}
