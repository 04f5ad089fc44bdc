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

// Objects lists an owner's objects, following the pages of
// GET /v1/objects.
func (c *Client) Objects(ctx context.Context, owner string) ([]objects.Object, error) {
	return getAll[objects.Object](ctx, c, "/v1/objects?owner="+url.QueryEscape(owner))
}

// ShardRefs returns how many placements of shard hash (hex) on provider
// (a did:key) the live objects hold; a provider may delete a shard at 0.
func (c *Client) ShardRefs(ctx context.Context, provider, hash string) (uint64, error) {
	var u objects.ShardUse
	err := c.Get(ctx, "/v1/providers/"+url.PathEscape(provider)+"/shards/"+url.PathEscape(hash), &u)
	return u.Refs, err
}
