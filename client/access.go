package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/stratus-cloud/stratus/objects"
)

// AccessAnchor returns provider's (a did:key) anchored access log of
// epoch. It fails with NotFound if the provider has not anchored it.
func (c *Client) AccessAnchor(ctx context.Context, provider string, epoch uint64) (objects.AnchorRecord, error) {
	var a objects.AnchorRecord
	return a, c.Get(ctx, "/v1/providers/"+url.PathEscape(provider)+"/anchors/"+strconv.FormatUint(epoch, 10), &a)
}

// AnchorWindow returns the epochs that may be anchored now and the epoch
// length.
func (c *Client) AnchorWindow(ctx context.Context) (objects.AnchorWindow, error) {
	var w objects.AnchorWindow
	return w, c.Get(ctx, "/v1/storage/anchors", &w)
}
