package storeclient

import (
	"context"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
)

// placeAttempts is how many times PlaceShard tries a provider that is
// unavailable, times out or fails inside.
const placeAttempts = 3

// PlaceShard stores data as shard h with the provider whose shard API is at
// endpoint, in a PUT signed by key (RFC 9421): the provider counts it
// against key's storage leases with it. A provider that is unavailable,
// times out or fails inside is tried again, up to three times in all, after
// 300 ms then 600 ms; one that refuses (Unauthorized, Invalid, TooLarge) is
// not, and its error comes back with its kind.
func (c *Client) PlaceShard(ctx context.Context, key *identity.Key, endpoint string, h shardstore.Hash, data []byte) error {
	var err error
	for attempt := 0; attempt < placeAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
			}
		}
		if err = c.shards.PutShard(ctx, endpoint, key, h, data); err == nil {
			return nil
		}
		if k := errs.KindOf(err); k != errs.Unavailable && k != errs.Timeout && k != errs.Internal {
			return err // the provider refused: trying again won't help
		}
	}
	return fmt.Errorf("after %d attempts: %w", placeAttempts, err)
}
