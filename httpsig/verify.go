package httpsig

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// maxHeader bounds each of the Signature-Input, Signature and Content-Digest
// headers, all lines together.
const maxHeader = 4096

// VerifierOptions configure a Verifier. Zero fields take the defaults.
type VerifierOptions struct {
	// MaxSkew is how far the signer's clock may run ahead of or behind
	// ours. Default 30s.
	MaxSkew time.Duration
	// MaxWindow is the longest expires-created a signature may have.
	// Default 5m.
	MaxWindow time.Duration
	// MaxNonces bounds the replay cache. When it is full of unexpired
	// nonces, new requests are refused as Unavailable until some expire.
	// Default 1<<16.
	MaxNonces int
	// MaxNoncesPerKey bounds one key's share of the replay cache, so that
	// one authorized signer cannot fill it for the others either. Default
	// MaxNonces/8.
	MaxNoncesPerKey int
	// MaxBody is the largest body Verify reads into memory. Default 1 MiB;
	// larger bodies should be streamed through VerifyHeaders and
	// NewDigestReader.
	MaxBody int64
	// Authority is the server's own host:port, the host of the endpoint
	// URL its clients are given (and that Sign signs, from the request
	// URL). Signatures are checked over it, not over the request's Host
	// header, so a request signed for another server is refused. Empty
	// takes the authority from the Host header, which lets a request signed
	// for one server replay on another: only tests should leave it empty.
	Authority string
	// Watermark, if set, makes replay protection survive a restart: a
	// signature is refused unless it was created after every signature the
	// previous runs accepted. Without it, signatures created before
	// NotBefore are refused.
	Watermark *Watermark
	// NotBefore, when not zero, refuses signatures created (by their
	// created parameter, in Unix seconds) before its second. Servers
	// without a Watermark set it to their start time, so that a signature
	// made for an earlier run of the process is refused after a restart.
	NotBefore time.Time
}

// Verifier checks Stratus signatures and remembers their nonces until they
// expire, so that each signed request is accepted once. It is safe for
// concurrent use.
type Verifier struct {
	opts   VerifierOptions
	nonces nonceCache
}

// NewVerifier returns a Verifier with an empty replay cache.
func NewVerifier(opts VerifierOptions) *Verifier {
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 30 * time.Second
	}
	if opts.MaxWindow <= 0 {
		opts.MaxWindow = 5 * time.Minute
	}
	if opts.MaxNonces <= 0 {
		opts.MaxNonces = 1 << 16
	}
	if opts.MaxNoncesPerKey <= 0 {
		opts.MaxNoncesPerKey = max(opts.MaxNonces/8, 1)
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	opts.Authority = strings.ToLower(opts.Authority)
	return &Verifier{opts: opts, nonces: nonceCache{max: opts.MaxNonces, maxPerKey: opts.MaxNoncesPerKey, seen: make(map[string]time.Time), perKey: make(map[string]int)}}
}

// An Authorize func decides whether signer may make the request that it
// signed; it returns nil to allow and an error (usually of kind
// Unauthorized) to refuse. The Verifier calls it once the signature, window
// and nonce are good, and records the nonce only if it allows the request:
// a key that may do nothing here never takes a place in the replay cache,
// so strangers cannot lock out the signers who may. A nil Authorize allows
// every valid signer; only tests should pass nil.
type Authorize func(signer identity.Address) error

// Verify checks req's signature, time window and nonce at time now, asks
// authorize whether the signer may make the request, records the nonce,
// checks the body and returns the signer's address. It reads the whole body
// (at most MaxBody bytes) and replaces req.Body with a copy, so handlers can
// read it again.
//
// Errors: Unauthorized for anything wrong with the signature, window, nonce
// or digest, saying what; what authorize returned when it refuses; TooLarge
// for a body over MaxBody; Unavailable when the replay cache, or the
// signer's share of it, is full, or the Watermark cannot be saved.
func (v *Verifier) Verify(req *http.Request, now time.Time, authorize Authorize) (identity.Address, error) {
	addr, err := v.VerifyHeaders(req, now, authorize)
	if err != nil {
		return identity.Address{}, err
	}
	body := req.Body
	if body == nil {
		body = http.NoBody
	}
	dr, err := NewDigestReader(body, req.Header.Get("Content-Digest"))
	if err != nil {
		return identity.Address{}, err
	}
	b, err := io.ReadAll(io.LimitReader(dr, v.opts.MaxBody+1))
	if err != nil {
		return identity.Address{}, err
	}
	if int64(len(b)) > v.opts.MaxBody {
		return identity.Address{}, errs.E(errs.TooLarge, "the body is longer than %d bytes: stream it instead", v.opts.MaxBody)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return addr, nil
}

// VerifyHeaders is Verify without the body: it checks the signature, window
// and nonce, and that the signature covers a well-formed Content-Digest, but
// leaves req.Body alone. The caller must read the body through
// NewDigestReader(req.Body, req.Header.Get("Content-Digest")) and trust it
// only once that reader reaches EOF. The nonce is used up either way, once
// authorize allowed the request.
//
// Errors: as Verify, less TooLarge.
func (v *Verifier) VerifyHeaders(req *http.Request, now time.Time, authorize Authorize) (identity.Address, error) {
	addr, _, err := v.verifyHeaders(req, now, false, authorize)
	return addr, err
}

// VerifyContentAddressed is VerifyHeaders for a request whose body is named
// by a hash in its signed path, such as a shard PUT: its signature may leave
// out "content-digest" (see WithoutBodyDigest), since the receiver checks
// the body against that hash anyway. It reports whether the signature
// covers a Content-Digest, which the caller must then check with
// NewDigestReader as usual.
func (v *Verifier) VerifyContentAddressed(req *http.Request, now time.Time, authorize Authorize) (signer identity.Address, digest bool, err error) {
	return v.verifyHeaders(req, now, true, authorize)
}

func (v *Verifier) verifyHeaders(req *http.Request, now time.Time, contentAddressed bool, authorize Authorize) (identity.Address, bool, error) {
	in, err := headerValue(req, "Signature-Input")
	if err != nil {
		return identity.Address{}, false, err
	}
	sigHeader, err := headerValue(req, "Signature")
	if err != nil {
		return identity.Address{}, false, err
	}
	p, err := parseSignatureInputFor(in, contentAddressed)
	if err != nil {
		return identity.Address{}, false, err
	}
	sig, err := parseSignature(sigHeader)
	if err != nil {
		return identity.Address{}, false, err
	}
	addr, err := identity.ParseDID(p.keyid)
	if err != nil {
		return identity.Address{}, false, errs.E(errs.Unauthorized, "the signature's keyid: %v", err)
	}
	if err := v.checkTime(p, now); err != nil {
		return identity.Address{}, false, err
	}
	digest := slices.Contains(p.components, "content-digest")
	if digest {
		if _, err := ParseContentDigest(strings.Join(req.Header.Values("Content-Digest"), ", ")); err != nil {
			return identity.Address{}, false, err
		}
	}
	base, err := signatureBase(req, p, v.opts.Authority)
	if err != nil {
		return identity.Address{}, false, err
	}
	if !identity.Verify(addr, []byte(base), sig) {
		if v.opts.Authority != "" {
			return identity.Address{}, false, errs.E(errs.Unauthorized, "bad signature from %s: this server accepts only signatures over its own authority %q (the host:port of its endpoint, here sent as %q) and the exact method, path, query and Content-Digest received: sign requests for the endpoint the ledger lists", p.keyid, v.opts.Authority, strings.ToLower(req.Host))
		}
		return identity.Address{}, false, errs.E(errs.Unauthorized, "bad signature: it does not match the request as received for %s; sign the exact method, host, path, query and Content-Digest that you send, with the key of the keyid", p.keyid)
	}
	// Keyed by the address, not the keyid as spelled, so one key has one
	// share and one namespace of nonces.
	signer := addr.String()
	nonce := signer + " " + p.nonce
	if v.nonces.used(nonce) {
		return identity.Address{}, false, errReplayed
	}
	// Only a request the signer may make takes a place in the cache, so
	// a stranger's key cannot fill it.
	if authorize != nil {
		if err := authorize(addr); err != nil {
			return identity.Address{}, false, err
		}
	}
	if w := v.opts.Watermark; w != nil {
		if err := w.advance(p.created); err != nil {
			return identity.Address{}, false, err
		}
	}
	expiry := time.Unix(p.expires, 0).Add(v.opts.MaxSkew)
	if err := v.nonces.add(signer, nonce, expiry, now); err != nil {
		return identity.Address{}, false, err
	}
	return addr, digest, nil
}

func (v *Verifier) checkTime(p sigParams, now time.Time) error {
	created, expires := time.Unix(p.created, 0), time.Unix(p.expires, 0)
	switch {
	case p.expires <= p.created:
		return errs.E(errs.Unauthorized, "the signature expires (%d) before or when it was created (%d): set expires after created", p.expires, p.created)
	case expires.Sub(created) > v.opts.MaxWindow:
		return errs.E(errs.Unauthorized, "the signature is valid for %v, longer than the %v allowed: sign with a shorter window", expires.Sub(created), v.opts.MaxWindow)
	case created.After(now.Add(v.opts.MaxSkew)):
		return errs.E(errs.Unauthorized, "the signature was created %v in the future, more than the %v of clock skew allowed: check the signer's clock", created.Sub(now).Round(time.Second), v.opts.MaxSkew)
	case !now.Before(expires.Add(v.opts.MaxSkew)):
		return errs.E(errs.Unauthorized, "the signature expired %v ago: sign the request again (and check the signer's clock)", now.Sub(expires).Round(time.Second))
	case !v.opts.NotBefore.IsZero() && p.created < v.opts.NotBefore.Unix():
		return errs.E(errs.Unauthorized, "the signature was created at %d, before this server started (%d): it may have been used already, so sign the request again", p.created, v.opts.NotBefore.Unix())
	}
	if w := v.opts.Watermark; w != nil && p.created <= w.floor {
		return errs.E(errs.Unauthorized, "the signature was created at %d, no later than signatures an earlier run of this server accepted (up to %d): it may have been used already, so sign the request again", p.created, w.floor)
	}
	return nil
}

func headerValue(req *http.Request, name string) (string, error) {
	vs := req.Header.Values(name)
	if len(vs) == 0 {
		return "", errs.E(errs.Unauthorized, "the request has no %s header: sign it with a Stratus key (RFC 9421, label %q)", name, Label)
	}
	n := 0
	for _, v := range vs {
		n += len(v) + 2
	}
	if n > maxHeader {
		return "", errs.E(errs.Unauthorized, "the %s header is longer than %d bytes", name, maxHeader)
	}
	return strings.Join(vs, ", "), nil
}

// parseSignatureInput finds the Stratus signature's parameters in a
// Signature-Input field value and checks that they are complete.
func parseSignatureInput(v string) (sigParams, error) { return parseSignatureInputFor(v, false) }

// parseSignatureInputFor parses a Signature-Input; with contentAddressed,
// "content-digest" may be left out of the components.
func parseSignatureInputFor(v string, contentAddressed bool) (sigParams, error) {
	var p sigParams
	if len(v) > maxHeader {
		return p, errs.E(errs.Unauthorized, "the Signature-Input header is longer than %d bytes", maxHeader)
	}
	ms, err := parseDictionary(v)
	if err != nil {
		return p, errs.E(errs.Unauthorized, "the Signature-Input header is malformed: %w", err)
	}
	i := slices.IndexFunc(ms, func(m sfMember) bool { return m.key == Label })
	if i < 0 {
		return p, errs.E(errs.Unauthorized, "the Signature-Input header has no signature labelled %q", Label)
	}
	m := ms[i]
	if !m.inner {
		return p, errs.E(errs.Unauthorized, "the %q Signature-Input is not an inner list of components", Label)
	}
	for _, it := range m.items {
		if it.kind != kindString {
			return p, errs.E(errs.Unauthorized, "the %q Signature-Input lists a component that is not a string", Label)
		}
		if len(it.params) > 0 {
			return p, errs.E(errs.Unauthorized, "the component %q has parameters, which Stratus signatures don't use", it.s)
		}
		if slices.Contains(p.components, it.s) {
			return p, errs.E(errs.Unauthorized, "the component %q is listed twice", it.s)
		}
		if !slices.Contains(components, it.s) {
			return p, errs.E(errs.Unauthorized, "the signature covers %q, which Stratus signatures don't use: cover %s", it.s, strings.Join(quoteAll(components), " "))
		}
		p.components = append(p.components, it.s)
	}
	for _, c := range components {
		if !slices.Contains(p.components, c) && (c != "content-digest" || !contentAddressed) {
			return p, errs.E(errs.Unauthorized, "missing component: the signature must cover %q (cover %s)", c, strings.Join(quoteAll(components), " "))
		}
	}
	var have struct{ created, expires bool }
	for _, prm := range m.params {
		val := prm.val
		switch prm.key {
		case "created", "expires":
			if val.kind != kindInt || val.i < 0 {
				return p, errs.E(errs.Unauthorized, "the signature's %s is not a non-negative integer of Unix seconds", prm.key)
			}
			if prm.key == "created" {
				p.created, have.created = val.i, true
			} else {
				p.expires, have.expires = val.i, true
			}
		case "nonce", "keyid", "alg":
			if val.kind != kindString {
				return p, errs.E(errs.Unauthorized, "the signature's %s is not a string", prm.key)
			}
			switch prm.key {
			case "nonce":
				if len(val.s) == 0 || len(val.s) > MaxNonceLen {
					return p, errs.E(errs.Unauthorized, "the signature's nonce must be 1 to %d characters", MaxNonceLen)
				}
				p.nonce = val.s
			case "keyid":
				p.keyid = val.s
			case "alg":
				if val.s != Alg {
					return p, errs.E(errs.Unauthorized, "the signature's alg is %q: Stratus signatures use %q", val.s, Alg)
				}
				p.alg = val.s
			}
		default:
			return p, errs.E(errs.Unauthorized, "the signature has the parameter %q, which Stratus signatures don't use", prm.key)
		}
	}
	switch {
	case !have.created:
		return p, errs.E(errs.Unauthorized, "the signature has no created parameter: add created=<Unix seconds>")
	case !have.expires:
		return p, errs.E(errs.Unauthorized, "the signature has no expires parameter: add expires=<Unix seconds>")
	case p.nonce == "":
		return p, errs.E(errs.Unauthorized, "the signature has no nonce parameter: add a fresh random nonce")
	case p.keyid == "":
		return p, errs.E(errs.Unauthorized, "the signature has no keyid parameter: add the signer's did:key")
	case p.alg == "":
		return p, errs.E(errs.Unauthorized, "the signature has no alg parameter: add alg=%q", Alg)
	}
	p.raw = m.raw
	return p, nil
}

// parseSignature finds the Stratus signature's bytes in a Signature field
// value.
func parseSignature(v string) ([]byte, error) {
	ms, err := parseDictionary(v)
	if err != nil {
		return nil, errs.E(errs.Unauthorized, "the Signature header is malformed: %w", err)
	}
	i := slices.IndexFunc(ms, func(m sfMember) bool { return m.key == Label })
	if i < 0 {
		return nil, errs.E(errs.Unauthorized, "the Signature header has no signature labelled %q", Label)
	}
	if m := ms[i]; m.inner || m.item.kind != kindBytes || len(m.item.b) != 64 {
		return nil, errs.E(errs.Unauthorized, "the %q Signature is not a 64-byte ed25519 signature in a byte sequence (:base64:)", Label)
	}
	return ms[i].item.b, nil
}

// DigestReader passes a body through while hashing it, and at its end
// checks the hash against a Content-Digest. Create one with NewDigestReader.
type DigestReader struct {
	r    io.Reader
	h    hash.Hash
	want [sha256.Size]byte
	err  error // sticky result once the end is reached
}

// ErrDigestMismatch is wrapped by the error a DigestReader returns, in place
// of io.EOF, when the body does not match its Content-Digest. Its kind is
// Unauthorized.
var ErrDigestMismatch = errs.E(errs.Unauthorized, "the body does not match its Content-Digest: it was changed in transit, or the digest was computed over other bytes")

// NewDigestReader returns a reader of r that fails at r's end, with an
// error wrapping ErrDigestMismatch instead of io.EOF, unless the bytes read
// have the SHA-256 in contentDigest. It returns an error of kind
// Unauthorized if contentDigest is malformed.
func NewDigestReader(r io.Reader, contentDigest string) (*DigestReader, error) {
	want, err := ParseContentDigest(contentDigest)
	if err != nil {
		return nil, err
	}
	return &DigestReader{r: r, h: sha256.New(), want: want}, nil
}

// Read implements io.Reader.
func (d *DigestReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		var got [sha256.Size]byte
		d.h.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], d.want[:]) == 1 {
			d.err = io.EOF
		} else {
			d.err = errs.E(errs.Unauthorized, "%w (its SHA-256 is %x)", ErrDigestMismatch, got)
		}
		return n, d.err
	}
	return n, err
}

// Close closes the underlying reader if it is an io.Closer.
func (d *DigestReader) Close() error {
	if c, ok := d.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

var errReplayed = errs.E(errs.Unauthorized, "replayed request: this nonce was already used with this key; sign each request with a fresh nonce")

// nonceCache remembers (keyid, nonce) pairs until their signatures expire,
// and how many each keyid holds.
type nonceCache struct {
	max, maxPerKey int

	mu     sync.Mutex
	seen   map[string]time.Time
	perKey map[string]int
	heap   expiryHeap
}

// used reports whether key is in the cache; add is the check that counts,
// this one spares the authorization of a plain replay.
func (c *nonceCache) used(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[key]
	return ok
}

func (c *nonceCache) add(keyid, key string, expiry, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.heap) > 0 && !c.heap[0].expiry.After(now) {
		e := heap.Pop(&c.heap).(entry)
		delete(c.seen, e.key)
		if c.perKey[e.keyid]--; c.perKey[e.keyid] <= 0 {
			delete(c.perKey, e.keyid)
		}
	}
	if _, ok := c.seen[key]; ok {
		return errReplayed
	}
	if c.perKey[keyid] >= c.maxPerKey {
		return errs.E(errs.Unavailable, "%s has %d signed requests in the last minutes, its share of this server's %d: retry in a minute", keyid, c.maxPerKey, c.max)
	}
	if len(c.seen) >= c.max {
		return errs.E(errs.Unavailable, "the server is tracking %d recent signed requests, its limit: retry in a minute", c.max)
	}
	c.seen[key] = expiry
	c.perKey[keyid]++
	heap.Push(&c.heap, entry{key: key, keyid: keyid, expiry: expiry})
	return nil
}

func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type entry struct {
	key, keyid string
	expiry     time.Time
}

type expiryHeap []entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expiry.Before(h[j].expiry) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
