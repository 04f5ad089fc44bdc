// Package client is a Go client for a Stratus node's REST API, used by the
// CLI and by tests. Errors come back as *errs.Error, with the kind the node
// put in its problem details, so callers can map them to exit codes; the one
// exception is the context's own error when the caller cancels.
//
// It does not sign transactions; it sends bytes someone else signed.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
)

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// New returns a client for the node at baseURL, such as
// "http://127.0.0.1:8080". A URL without a scheme gets http://.
//
// The default HTTP client keeps connections alive, gives up dialing after 5
// seconds, and bounds a whole request at 2 minutes, which leaves room for
// SubmitTx to wait for a commit. Use a context for tighter limits.
func New(baseURL string, opts ...Option) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	c := &Client{base: strings.TrimRight(baseURL, "/")}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 10 * time.Second
		t.MaxIdleConnsPerHost = 16
		c.hc = &http.Client{Transport: t, Timeout: 2 * time.Minute}
	}
	return c
}

// BaseURL returns the node's URL, as the client uses it.
func (c *Client) BaseURL() string { return c.base }

// Status returns the node's view of the chain.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	return st, c.Get(ctx, "/v1/status", &st)
}

// Account returns the balance and nonce of the account with the given
// did:key. A malformed address fails with kind Invalid.
func (c *Client) Account(ctx context.Context, did string) (api.Account, error) {
	var a api.Account
	return a, c.Get(ctx, "/v1/accounts/"+url.PathEscape(did), &a)
}

// SubmitTx sends a signed transaction. With wait, it returns once the
// transaction is committed. A transaction the node rejects fails with the
// node's kind, such as Invalid or Insufficient.
//
// The bytes go as application/octet-stream, which spares both sides the
// base64 and JSON of the JSON form.
func (c *Client) SubmitTx(ctx context.Context, tx []byte, wait bool) (api.TxResult, error) {
	var res api.TxResult
	path := "/v1/txs"
	if wait {
		path += "?wait=true"
	}
	return res, c.doType(ctx, http.MethodPost, path, "application/octet-stream", tx, &res)
}

// Tx returns a committed transaction by its hex hash. An unknown hash fails
// with kind NotFound.
func (c *Client) Tx(ctx context.Context, hash string) (api.TxResult, error) {
	var res api.TxResult
	return res, c.Get(ctx, "/v1/txs/"+url.PathEscape(hash), &res)
}

// Block returns the block at height, or the latest block when height is 0
// or less. A height above the chain's fails with kind NotFound.
func (c *Client) Block(ctx context.Context, height int64) (api.Block, error) {
	h := "latest"
	if height > 0 {
		h = strconv.FormatInt(height, 10)
	}
	var b api.Block
	return b, c.Get(ctx, "/v1/blocks/"+h, &b)
}

// Supply returns the total supply and the buckets that hold it.
func (c *Client) Supply(ctx context.Context) (api.Supply, error) {
	var s api.Supply
	return s, c.Get(ctx, "/v1/supply", &s)
}

// Get fetches path (which may hold a query) and decodes the JSON answer into
// out, unless out is nil.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON to path, unless in is nil, and decodes the JSON
// answer into out, unless out is nil.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errs.E(errs.Invalid, "encoding the request to %s: %w", path, err)
		}
		body = b
	}
	return c.do(ctx, http.MethodPost, path, body, out)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	return c.doType(ctx, method, path, "application/json", body, out)
}

func (c *Client) doType(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return errs.E(errs.Invalid, "bad request to the node at %s: %w", c.base, err)
	}
	req.Header.Set("Accept", "application/json, "+api.ProblemContentType)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 400 && resp.StatusCode < 500 && !isJSON(resp) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return c.notANode(resp.Status, b, method, path)
	}
	if resp.StatusCode >= 400 {
		return api.ErrorFromResponse(resp, "the node")
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	head := &headReader{r: resp.Body}
	if err := json.NewDecoder(head).Decode(out); err != nil {
		if ctx.Err() != nil {
			return c.transportError(ctx, err)
		}
		if !isJSON(resp) {
			return c.notANode(resp.Status, head.head, method, path)
		}
		return errs.E(errs.Internal, "reading the node's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// isJSON reports whether resp says its body is JSON (problem details
// included), as every answer of a Stratus node's API does.
func isJSON(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "application/json" || mt == api.ProblemContentType
}

// notANode is the error for an answer no Stratus node gives: a client
// error without problem details (another web server's "404 page not
// found"), or a success that is not JSON.
func (c *Client) notANode(status string, b []byte, method, path string) error {
	what := status
	if text := strings.Join(strings.Fields(string(b)), " "); text != "" && utf8.ValidString(text) {
		what += " " + strconv.Quote(text)
	}
	route, _, _ := strings.Cut(path, "?")
	return errs.E(errs.Invalid, "%s is not a Stratus node: it answered %s %s with %s, not the JSON a node sends; check --node (or STRATUS_NODE): it must be the URL of a node's REST API, the api.listen address in the node's config, such as http://127.0.0.1:7070", c.base, method, route, what)
}

// transportError classifies a failure to get a response at all.
func (c *Client) transportError(ctx context.Context, err error) error {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &dnsErr):
		return errs.E(errs.Unavailable, "cannot reach the node at %s: is it running? start one with `stratus devnet`, or pass --node URL", c.base)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errs.E(errs.Timeout, "the node at %s did not answer in time: %w", c.base, err)
	default:
		return errs.E(errs.Unavailable, "talking to the node at %s: %w", c.base, err)
	}
}

// headReader keeps the first 200 bytes read through it, to quote an answer
// that turned out not to be JSON.
type headReader struct {
	r    io.Reader
	head []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if k := min(n, 200-len(h.head)); k > 0 {
		h.head = append(h.head, p[:k]...)
	}
	return n, err
}
