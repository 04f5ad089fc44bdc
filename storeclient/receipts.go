package storeclient

import (
	"context"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/storage"
)

// Receipts asks every provider that manifest (a placed manifest's canonical
// encoding) names for its storage receipt, signed by key, the object's
// future owner, and returns them in the manifest's provider order, as
// objects.Commit wants them. Call it once every shard is uploaded: a
// provider signs only for shards it holds. Errors: Invalid for a manifest
// that does not decode; NotFound when a provider is not registered or does
// not hold one of its shards (the error names it); the providers' other
// errors, with their kinds.
func (c *Client) Receipts(ctx context.Context, key *identity.Key, manifest []byte) ([]storage.Receipt, error) {
	man, err := storage.DecodeManifest(manifest)
	if err != nil {
		return nil, err
	}
	if len(man.Providers()) == 0 {
		return nil, nil
	}
	eps, err := c.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for did, p := range eps {
		urls[did] = p.Endpoint
	}
	return c.receipts(ctx, key, manifest, man, urls)
}

// receipts is Receipts with the providers' endpoints known (urls maps a
// provider's did:key to its shard API). Each provider is asked in
// parallel, up to three times while it is unavailable, as a shard upload
// is.
func (c *Client) receipts(ctx context.Context, key *identity.Key, raw []byte, man *storage.Manifest, urls map[string]string) ([]storage.Receipt, error) {
	provs := man.Providers()
	out := make([]storage.Receipt, len(provs))
	errc := make(chan error, len(provs))
	for i, did := range provs {
		go func() {
			addr, err := identity.ParseDID(did)
			if err != nil {
				errc <- errs.E(errs.Invalid, "provider %q of the manifest: %w", did, err)
				return
			}
			url, ok := urls[did]
			if !ok || url == "" {
				errc <- errs.E(errs.NotFound, "provider %s of the manifest is not registered: place its shards elsewhere", did)
				return
			}
			for attempt := 0; attempt < 3; attempt++ {
				if attempt > 0 {
					select {
					case <-ctx.Done():
						errc <- ctx.Err()
						return
					case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
					}
				}
				if out[i], err = c.shards.Receipt(ctx, url, key, addr, raw); err == nil {
					errc <- nil
					return
				}
				if k := errs.KindOf(err); k != errs.Unavailable && k != errs.Timeout {
					break // the provider refused: asking again won't help
				}
			}
			errc <- fmt.Errorf("asking provider %s (%s) for its storage receipt: %w", did, url, err)
		}()
	}
	var first error
	for range provs {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}
