package client

import (
	"context"
	"net/url"

	"github.com/stratus-cloud/stratus/objects"
)

// Challenges lists the open storage challenges of provider (a did:key),
// following the pages of GET /v1/storage/challenges?provider=.
func (c *Client) Challenges(ctx context.Context, provider string) ([]objects.Challenge, error) {
	return getAll[objects.Challenge](ctx, c, "/v1/storage/challenges?provider="+url.QueryEscape(provider))
}

// Repairs lists the repairs assigned to assignee (a did:key), fewest
// healthy shards first, following the pages of GET
// /v1/storage/repairs?assignee=; "" lists every repair, queued or assigned.
func (c *Client) Repairs(ctx context.Context, assignee string) ([]objects.RepairJob, error) {
	p := "/v1/storage/repairs"
	if assignee != "" {
		p += "?assignee=" + url.QueryEscape(assignee)
	}
	return getAll[objects.RepairJob](ctx, c, p)
}

// ProofStats returns a provider's record of storage proofs and repairs.
func (c *Client) ProofStats(ctx context.Context, provider string) (objects.ProofStats, error) {
	var s objects.ProofStats
	return s, c.Get(ctx, "/v1/providers/"+url.PathEscape(provider)+"/proofs", &s)
}
