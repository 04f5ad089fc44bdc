package client

import (
	"context"
	"net/url"

	"github.com/stratus-cloud/stratus/objects"
)

// Object returns an object's record, manifest and placement.
func (c *Client) Object(ctx context.Context, id string) (objects.ObjectView, error) {
	var o objects.ObjectView
	return o, c.Get(ctx, "/v1/objects/"+url.PathEscape(id), &o)
}

// Objects lists an owner's objects, each with the time it is paid until,
// following the pages of GET /v1/objects.
func (c *Client) Objects(ctx context.Context, owner string) ([]objects.ObjectView, error) {
	return getAll[objects.ObjectView](ctx, c, "/v1/objects?owner="+url.QueryEscape(owner))
}

// ShardRefs returns how many placements of shard hash (hex) on provider
// (a did:key) the live objects of owner (a did:key) hold, each paid by
// owner's own lease with provider; "" for owner counts every owner's. A
// provider may delete an owner's copy of a shard at 0.
func (c *Client) ShardRefs(ctx context.Context, provider, hash, owner string) (uint64, error) {
	var u objects.ShardUse
	p := "/v1/providers/" + url.PathEscape(provider) + "/shards/" + url.PathEscape(hash)
	if owner != "" {
		p += "?owner=" + url.QueryEscape(owner)
	}
	err := c.Get(ctx, p, &u)
	return u.Refs, err
}
