package client

import (
	"context"
	"net/url"

	"github.com/stratus-cloud/stratus/objects"
)

// ShardReader asks whether shard hash on provider belongs to a live private
// object, and whether reader (a did:key; "" for an unsigned request) may
// read it (GET /v1/providers/{did}/shards/{hash}/readers/{reader}).
func (c *Client) ShardReader(ctx context.Context, provider, hash, reader string) (*objects.ReadAccess, error) {
	if reader == "" {
		reader = objects.AnonymousReader
	}
	var a objects.ReadAccess
	err := c.Get(ctx, "/v1/providers/"+url.PathEscape(provider)+"/shards/"+url.PathEscape(hash)+"/readers/"+url.PathEscape(reader), &a)
	return &a, err
}

// Grants returns the grants of object id, expired ones included (GET
// /v1/objects/{id}/grants).
func (c *Client) Grants(ctx context.Context, id string) ([]objects.GrantRecord, error) {
	var out struct {
		Grants []objects.GrantRecord `json:"grants"`
	}
	err := c.Get(ctx, "/v1/objects/"+url.PathEscape(id)+"/grants", &out)
	return out.Grants, err
}

// Grant returns grantee's grant on object id, live or not (GET
// /v1/objects/{id}/grants/{grantee}); NotFound if there is none.
func (c *Client) Grant(ctx context.Context, id, grantee string) (*objects.GrantRecord, error) {
	var g objects.GrantRecord
	err := c.Get(ctx, "/v1/objects/"+url.PathEscape(id)+"/grants/"+url.PathEscape(grantee), &g)
	return &g, err
}
