package node

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/compute"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/wagi"
)

// The function gateway: ANY /fn/{id}/{path...} on any node forwards the
// call to a replica of deployment id, at {provider endpoint}/fn/{id}/{path}.
//
// It reads the deployment from committed state, once per block: a
// deployment that cannot pay gets 402, one with no servable replica 503.
// Replicas whose lease is active (or in grace) and whose provider is
// registered share the calls round robin; a provider that failed a call is
// skipped for fnFailCooldown while others are left. When a provider cannot
// be reached or answers 502 or 503, the call goes to another replica if it
// is safe to send twice: an idempotent method, or a connection that was
// never made, and a body of at most fnReplayBytes, kept for the retry.

const (
	// fnReplayBytes is the largest request body the gateway keeps to send
	// again; a larger one streams through and is never retried.
	fnReplayBytes = 1 << 20
	// fnMaxAttempts bounds the replicas one call is tried on.
	fnMaxAttempts = 3
	// fnFailCooldown is how long a provider that failed a call is tried
	// only when no other is left.
	fnFailCooldown = 10 * time.Second
	// fnRouteCache bounds the deployments whose routes are kept.
	fnRouteCache = 4096
)

type fnGateway struct {
	n  *Node
	hc *http.Client

	mu     sync.Mutex
	routes map[uint64]fnRoute
	next   map[uint64]uint64    // round-robin position, by deployment
	failed map[string]time.Time // endpoint -> last failure
}

// fnRoute is where a deployment's calls go, as of a height, and the
// spec_hash in force then.
type fnRoute struct {
	height  int64
	targets []fnTarget
	spec    string
	err     error
}

// fnTarget is one servable replica.
type fnTarget struct {
	endpoint string
	provider identity.Address
	lease    uint64
}

func newFnGateway(n *Node) *fnGateway {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	// The provider bounds a call by the function's timeout; this only
	// catches one that stopped answering.
	t.ResponseHeaderTimeout = 5 * time.Minute
	// Pass the caller's Accept-Encoding and the function's encoding
	// through untouched.
	t.DisableCompression = true
	return &fnGateway{
		n:      n,
		hc:     &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		routes: map[uint64]fnRoute{},
		next:   map[uint64]uint64{},
		failed: map[string]time.Time{},
	}
}

// route returns deployment id's servable replicas and spec_hash as of the
// last block. Its errors are Payable's: NotFound, Insufficient, Conflict.
func (g *fnGateway) route(id uint64) (fnRoute, error) {
	h, _ := g.n.app.Height()
	g.mu.Lock()
	rt, ok := g.routes[id]
	g.mu.Unlock()
	if ok && rt.height == h {
		return rt, rt.err
	}
	rt = fnRoute{height: h}
	rt.targets, rt.spec, rt.err = g.lookup(id)
	if rt.err != nil && errs.KindOf(rt.err) == errs.Internal {
		return rt, rt.err // not cached: it may pass
	}
	g.mu.Lock()
	if len(g.routes) >= fnRouteCache {
		clear(g.routes)
	}
	g.routes[id] = rt
	g.mu.Unlock()
	return rt, rt.err
}

func (g *fnGateway) lookup(id uint64) ([]fnTarget, string, error) {
	ctx, snap, err := g.n.queryContext()
	if err != nil {
		return nil, "", err
	}
	defer snap.Close()
	if err := functions.Payable(ctx, id); err != nil {
		return nil, "", err
	}
	d, err := functions.GetDeployment(ctx, id)
	if err != nil {
		return nil, "", err
	}
	var out []fnTarget
	for _, r := range d.Replicas {
		if r.LeaseState != market.LeaseActive && r.LeaseState != market.LeaseGrace {
			continue
		}
		p, err := market.GetProvider(ctx, r.Provider)
		if err != nil || p.Endpoint == "" {
			continue
		}
		out = append(out, fnTarget{endpoint: strings.TrimRight(p.Endpoint, "/"), provider: r.Provider, lease: r.Lease})
	}
	return out, d.Spec.SpecHash, nil
}

// order returns the targets to try, in turn: round robin over the ones
// that did not fail lately, then those that did.
func (g *fnGateway) order(id uint64, ts []fnTarget) []fnTarget {
	g.mu.Lock()
	defer g.mu.Unlock()
	start := g.next[id]
	g.next[id] = start + 1
	now := time.Now()
	var good, bad []fnTarget
	for i := range ts {
		t := ts[(start+uint64(i))%uint64(len(ts))]
		if at, ok := g.failed[t.endpoint]; ok && now.Sub(at) < fnFailCooldown {
			bad = append(bad, t)
		} else {
			good = append(good, t)
		}
	}
	return append(good, bad...)
}

func (g *fnGateway) markFailed(endpoint string) {
	g.mu.Lock()
	g.failed[endpoint] = time.Now()
	g.mu.Unlock()
}

func (g *fnGateway) markOK(endpoint string) {
	g.mu.Lock()
	if _, ok := g.failed[endpoint]; ok {
		delete(g.failed, endpoint)
	}
	g.mu.Unlock()
}

func (g *fnGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := deploymentID(raw)
	if err != nil {
		g.n.api.Fail(w, r, err)
		return
	}
	rt, err := g.route(id)
	if err != nil {
		g.n.failPayment(w, r, err)
		return
	}
	g.forward(w, r, id, raw, rt)
}

// forward sends the call to one of rt's targets, and to another when that
// is safe and the first failed.
func (g *fnGateway) forward(w http.ResponseWriter, r *http.Request, id uint64, raw string, rt fnRoute) {
	targets := rt.targets
	if len(targets) == 0 {
		g.n.api.Fail(w, r, errs.E(errs.Unavailable, "deployment %d has no running replica: its leases are still being acknowledged or were lost; retry in a few seconds, and see `stratus fn info %d`", id, id))
		return
	}
	// The path after /fn/{id}, as the caller escaped it.
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/fn/"+raw)
	if rest == "" {
		rest = "/"
	}
	body, err := readReplayable(r)
	if err != nil {
		g.n.api.Fail(w, r, errs.E(errs.Invalid, "cannot read the request body: %v", err))
		return
	}
	safe := idempotent(r.Method)
	var lastErr error
	order := g.order(id, targets)
	for i, t := range order {
		if i == fnMaxAttempts {
			break
		}
		more := i+1 < len(order) && i+1 < fnMaxAttempts
		out, err := g.outgoing(r, t, id, rest, rt.spec, body)
		if err != nil {
			g.n.api.Fail(w, r, errs.E(errs.Invalid, "cannot forward the call: %v", err))
			return
		}
		resp, err := g.hc.Do(out)
		if err != nil {
			if r.Context().Err() != nil {
				return // the caller went away
			}
			g.markFailed(t.endpoint)
			g.n.log.Warn("function call failed at a provider", "deployment", id, "provider", t.provider.String(), "lease", t.lease, "err", err)
			lastErr = err
			if more && body.replayable && (safe || neverConnected(err)) {
				continue
			}
			break
		}
		if (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable) && more && body.replayable && safe {
			g.markFailed(t.endpoint)
			g.n.log.Warn("function call failed at a provider", "deployment", id, "provider", t.provider.String(), "lease", t.lease, "status", resp.StatusCode)
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			continue
		}
		if resp.StatusCode < 500 {
			g.markOK(t.endpoint)
		}
		copyResponse(w, resp)
		return
	}
	g.n.api.Fail(w, r, errs.E(errs.Unavailable, "no replica of deployment %d answered: %v; retry in a few seconds", id, lastErr))
}

// replayBody is a request body, kept whole when small enough to send again.
type replayBody struct {
	buf        []byte
	rest       io.Reader // the unread part of a body too large to keep
	length     int64
	replayable bool
}

func readReplayable(r *http.Request) (*replayBody, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return &replayBody{replayable: true}, nil
	}
	if r.ContentLength > fnReplayBytes {
		return &replayBody{rest: r.Body, length: r.ContentLength}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, fnReplayBytes+1))
	if err != nil {
		return nil, err
	}
	if len(buf) > fnReplayBytes {
		return &replayBody{buf: buf, rest: r.Body, length: r.ContentLength}, nil
	}
	return &replayBody{buf: buf, length: int64(len(buf)), replayable: true}, nil
}

func (b *replayBody) reader() io.Reader {
	switch {
	case b.rest != nil && len(b.buf) > 0:
		return io.MultiReader(bytes.NewReader(b.buf), b.rest)
	case b.rest != nil:
		return b.rest
	case len(b.buf) > 0:
		return bytes.NewReader(b.buf)
	}
	return nil
}

// outgoing builds the request to target t, naming spec, the spec_hash the
// call is for.
func (g *fnGateway) outgoing(r *http.Request, t fnTarget, id uint64, rest, spec string, body *replayBody) (*http.Request, error) {
	u := t.endpoint + "/fn/" + strconv.FormatUint(id, 10) + rest
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u, body.reader())
	if err != nil {
		return nil, err
	}
	out.ContentLength = body.length
	if body.length == 0 && body.rest == nil {
		out.Body = nil
	}
	copyHeader(out.Header, r.Header)
	// Only names that map to a CGI variable of their own are forwarded (as
	// nginx drops names with '_'), so no header can pass for the
	// X-Forwarded-* the gateway sets below, which replace the caller's.
	for k := range out.Header {
		if !wagi.CGISafeHeader(k) || strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Forwarded-") || http.CanonicalHeaderKey(k) == "Forwarded" {
			delete(out.Header, k)
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Forwarded-For", ip)
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	out.Header.Set("X-Forwarded-Proto", proto)
	out.Header.Set("X-Forwarded-Host", r.Host)
	// The caller's own is replaced: only the gateway says which spec.
	out.Header.Set(compute.SpecHeader, spec)
	return out, nil
}

// hopHeaders are connection-level headers a proxy does not forward.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
	for _, f := range src.Values("Connection") {
		for _, k := range strings.Split(f, ",") {
			dst.Del(strings.TrimSpace(k))
		}
	}
	for _, k := range hopHeaders {
		dst.Del(k)
	}
}

// copyBufs recycles copyResponse's buffers: allocating and zeroing 32 KiB
// for every call was a tenth of the gateway's CPU (bench compute).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyResponse writes the provider's response, flushing as it streams.
func copyResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if resp.ContentLength < 0 {
				rc.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// The status is sent: cut the response short so the
				// caller sees a truncated body, not a complete one.
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

// idempotent reports whether a call with method may be sent twice.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// neverConnected reports whether err is a failure to connect, so that the
// request was not sent.
func neverConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
