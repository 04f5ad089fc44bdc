package shardserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/internal/bufpool"
	"github.com/stratus-cloud/stratus/shardstore"
)

// Client talks to providers' shard APIs. The zero value uses
// http.DefaultClient and time.Now; it is safe for concurrent use.
type Client struct {
	HTTP *http.Client
	Now  func() time.Time
}

// PutShard uploads data as shard h to the provider at baseURL (such as
// "http://127.0.0.1:7001"), signed by key. The provider's errors come back
// with their kinds: Unauthorized when the signature or the lease is
// refused, Invalid when data don't match h, TooLarge when the provider's
// quota is full; transport failures are Unavailable or Timeout.
func (c *Client) PutShard(ctx context.Context, baseURL string, key *identity.Key, h shardstore.Hash, data []byte) error {
	return c.signedCall(ctx, http.MethodPut, baseURL, key, h, data, http.StatusCreated)
}

// DeleteShard deletes shard h from the provider at baseURL, signed by key.
// Errors are as for PutShard, and NotFound if the provider has no such
// shard.
func (c *Client) DeleteShard(ctx context.Context, baseURL string, key *identity.Key, h shardstore.Hash) error {
	return c.signedCall(ctx, http.MethodDelete, baseURL, key, h, nil, http.StatusNoContent)
}

// signedCall sends a signed request about shard h and expects want.
func (c *Client) signedCall(ctx context.Context, method, baseURL string, key *identity.Key, h shardstore.Hash, data []byte, want int) error {
	req, err := c.signed(ctx, method, baseURL, key, h, data)
	if err != nil {
		return err
	}
	resp, err := c.do(req, baseURL)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != want {
		return api.ErrorFromResponse(resp, "the provider at "+baseURL)
	}
	return nil
}

// GetShard returns n bytes of shard h starting at off from the provider at
// baseURL, or everything from off to the end if n < 0. It does not verify
// the bytes: that is the caller's job, against its manifest. Errors:
// NotFound if the provider has no such shard; Invalid for a negative off or
// a range past the end; Internal if the provider sends the wrong number of
// bytes; Unavailable or Timeout for transport failures. The returned slice
// may come from package bufpool; a caller done with it may hand it back.
func (c *Client) GetShard(ctx context.Context, baseURL string, h shardstore.Hash, off, n int64) ([]byte, error) {
	return c.getShard(ctx, baseURL, nil, h, off, n)
}

// GetShardSigned is GetShard signed by key, as a provider requires for the
// shards of a private object: it serves them only to the object's owner
// and current grantees, and records each read. The range is named in the
// signed query as well, so the signature binds the bytes asked for.
// Errors: as GetShard, and Forbidden when key's owner has no grant (or it
// was revoked), Unauthorized when the signature is refused, Unavailable
// when the provider cannot record the read.
func (c *Client) GetShardSigned(ctx context.Context, baseURL string, key *identity.Key, h shardstore.Hash, off, n int64) ([]byte, error) {
	if key == nil {
		return nil, errs.E(errs.Invalid, "shard %s: a signed read needs a key", h)
	}
	return c.getShard(ctx, baseURL, key, h, off, n)
}

func (c *Client) getShard(ctx context.Context, baseURL string, key *identity.Key, h shardstore.Hash, off, n int64) ([]byte, error) {
	if off < 0 {
		return nil, errs.E(errs.Invalid, "shard %s: offset %d is negative", h, off)
	}
	method := http.MethodGet
	if n == 0 {
		method = http.MethodHead // only to check that the shard and offset exist
	}
	var rng string
	switch {
	case n > 0:
		rng = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	case n < 0 && off > 0:
		rng = fmt.Sprintf("bytes=%d-", off)
	}
	u := shardURL(baseURL, h)
	if key != nil && rng != "" {
		u += "?range=" + url.QueryEscape(rng)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, errs.E(errs.Invalid, "provider URL %q: %w", baseURL, err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if key != nil {
		if err := c.sign(req, key, nil); err != nil {
			return nil, err
		}
	}
	resp, err := c.do(req, baseURL)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
	case http.StatusRequestedRangeNotSatisfiable:
		// bytes=off- with off at the end is "nothing", which HTTP can't say.
		if size, ok := strings.CutPrefix(resp.Header.Get("Content-Range"), "bytes */"); ok && n < 0 && size == strconv.FormatInt(off, 10) {
			return []byte{}, nil
		}
		return nil, api.ErrorFromResponse(resp, "the provider at "+baseURL)
	default:
		return nil, api.ErrorFromResponse(resp, "the provider at "+baseURL)
	}
	if n == 0 {
		if resp.ContentLength < off {
			return nil, errs.E(errs.Invalid, "shard %s: offset %d is beyond the end of the %d-byte shard", h, off, resp.ContentLength)
		}
		return []byte{}, nil
	}
	var data []byte
	if n > 0 && resp.ContentLength == n {
		// The usual case: read straight into a recycled buffer.
		data = bufpool.Get(int(n))
		if _, err := io.ReadFull(resp.Body, data); err != nil {
			bufpool.Put(data)
			return nil, transportErr(err, baseURL)
		}
	} else if data, err = io.ReadAll(io.LimitReader(resp.Body, shardstore.MaxShardSize+1)); err != nil {
		return nil, transportErr(err, baseURL)
	}
	if resp.StatusCode == http.StatusOK && req.Header.Get("Range") != "" {
		// The provider ignored the range; cut it out here.
		if off > int64(len(data)) {
			return nil, errs.E(errs.Invalid, "shard %s: offset %d is beyond the end of the %d-byte shard", h, off, len(data))
		}
		data = data[off:]
		if n > 0 && n <= int64(len(data)) {
			data = data[:n]
		}
	}
	if resp.StatusCode == http.StatusPartialContent && !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", off)) {
		return nil, errs.E(errs.Internal, "shard %s: the provider at %s sent the range %q, not one starting at %d", h, baseURL, resp.Header.Get("Content-Range"), off)
	}
	if n > 0 && int64(len(data)) != n {
		return nil, errs.E(errs.Invalid, "shard %s: asked for %d bytes at offset %d and got %d: the range runs past the end of the shard", h, n, off, len(data))
	}
	return data, nil
}

func (c *Client) signed(ctx context.Context, method, baseURL string, key *identity.Key, h shardstore.Hash, data []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, shardURL(baseURL, h), bytes.NewReader(data))
	if err != nil {
		return nil, errs.E(errs.Invalid, "provider URL %q: %w", baseURL, err)
	}
	if data == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	var opts []httpsig.SignOption
	if method == http.MethodPut {
		// The shard's hash in the path names the body; see
		// Verifier.VerifyContentAddressed.
		opts = append(opts, httpsig.WithoutBodyDigest())
	}
	if err := c.sign(req, key, opts); err != nil {
		return nil, err
	}
	return req, nil
}

// sign signs req as key, now, with a fresh nonce.
func (c *Client) sign(req *http.Request, key *identity.Key, opts []httpsig.SignOption) error {
	nonce, err := httpsig.NewNonce()
	if err != nil {
		return err
	}
	return httpsig.Sign(req, key, c.clock()(), nonce, opts...)
}

func (c *Client) clock() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

func (c *Client) do(req *http.Request, baseURL string) (*http.Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req.Header.Set("Accept", "application/octet-stream, "+api.ProblemContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportErr(err, baseURL)
	}
	return resp, nil
}

func shardURL(baseURL string, h shardstore.Hash) string {
	return strings.TrimRight(baseURL, "/") + "/shards/" + h.String()
}

func transportErr(err error, baseURL string) error {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errs.E(errs.Timeout, "the provider at %s did not answer in time: %w", baseURL, err)
	default:
		return errs.E(errs.Unavailable, "talking to the provider at %s: %w", baseURL, err)
	}
}

// drain reads a little of what is left of the body so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
}
