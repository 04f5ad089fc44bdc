// Package httpsig signs and verifies Stratus's off-chain HTTP calls (a client
// uploading a shard to a provider, say) with HTTP Message Signatures (RFC
// 9421), ed25519 only.
//
// It implements one fixed profile, not all of RFC 9421. A signature has the
// label "stratus" and covers, in this order,
//
//	"@method" "@authority" "@path" "@query" "content-digest"
//
// with the parameters created, expires, nonce, keyid (the signer's did:key)
// and alg="ed25519". The body is bound through its RFC 9530 Content-Digest
// (sha-256), which every signed request carries, even an empty one. The
// profile covers "@path" and "@query" rather than "@target-uri" because the
// scheme is not visible to a provider behind a TLS-terminating proxy.
//
// The Verifier checks the signature, over the server's own authority, a
// time window and a nonce that may be used once, and the body's digest. It
// does not decide what the signer may do: callers pass an Authorize that
// checks the ledger, and only requests it allows use up a nonce.
package httpsig

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// Label is the signature label of Stratus signatures in the Signature and
// Signature-Input dictionaries.
const Label = "stratus"

// Alg is the only signature algorithm, as named in the alg parameter.
const Alg = "ed25519"

// DefaultWindow is how long a signature made by Sign stays valid.
const DefaultWindow = time.Minute

// MaxNonceLen is the longest nonce, in bytes, that Sign and the Verifier accept.
const MaxNonceLen = 128

// components are the covered components of a Stratus signature, in order.
var components = []string{"@method", "@authority", "@path", "@query", "content-digest"}

// signOptions are set by SignOptions.
type signOptions struct {
	digest   *[sha256.Size]byte
	noDigest bool
	window   time.Duration
}

// A SignOption changes how Sign signs.
type SignOption func(*signOptions)

// WithoutBodyDigest leaves the body out of the signature: no
// Content-Digest is computed, sent or covered. Use it only for a request
// whose body is named by a hash in its signed path (a shard PUT), whose
// receiver checks the body against that hash and verifies with
// Verifier.VerifyContentAddressed; it saves hashing the body twice more.
func WithoutBodyDigest() SignOption {
	return func(o *signOptions) { o.noDigest = true }
}

// WithDigest gives the SHA-256 of the body, for a streaming body that Sign
// cannot read ahead of sending.
func WithDigest(sum [sha256.Size]byte) SignOption {
	return func(o *signOptions) { o.digest = &sum }
}

// WithWindow sets how long the signature stays valid, instead of
// DefaultWindow. Verifiers refuse windows longer than their MaxWindow.
func WithWindow(d time.Duration) SignOption {
	return func(o *signOptions) { o.window = d }
}

// NewNonce returns a fresh random nonce for Sign. Its only error is an
// Internal one, when the system has no randomness to give.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errs.E(errs.Internal, "making a nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ContentDigest returns the RFC 9530 Content-Digest field value for a body
// whose SHA-256 is sum: "sha-256=:<base64>:".
func ContentDigest(sum [sha256.Size]byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// ParseContentDigest returns the sha-256 digest in a Content-Digest field
// value. Other algorithms may be present and are ignored. It returns an
// error of kind Unauthorized if the value is malformed or has no sha-256.
func ParseContentDigest(v string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if len(v) > maxHeader {
		return sum, errs.E(errs.Unauthorized, "the Content-Digest header is longer than %d bytes", maxHeader)
	}
	ms, err := parseDictionary(v)
	if err != nil {
		return sum, errs.E(errs.Unauthorized, "the Content-Digest header is malformed: %w", err)
	}
	for _, m := range ms {
		if m.key != "sha-256" {
			continue
		}
		if m.inner || m.item.kind != kindBytes || len(m.item.b) != sha256.Size {
			return sum, errs.E(errs.Unauthorized, "the Content-Digest header's sha-256 is not a 32-byte byte sequence: send sha-256=:<base64 of the body's SHA-256>:")
		}
		copy(sum[:], m.item.b)
		return sum, nil
	}
	return sum, errs.E(errs.Unauthorized, "the Content-Digest header has no sha-256 digest: send sha-256=:<base64 of the body's SHA-256>:")
}

// Sign signs req as key at time now with nonce, setting the Content-Digest,
// Signature-Input and Signature headers. Unless WithDigest is given, it
// hashes the body, which must be empty (nil or http.NoBody) or replayable
// through req.GetBody, as http.NewRequest arranges for a bytes.Reader,
// bytes.Buffer or strings.Reader. The signature expires DefaultWindow after
// now, unless WithWindow says otherwise.
//
// Errors: Invalid for an empty, too long or non-printable nonce, a
// non-positive window, or a streaming body without WithDigest; Internal if
// the body cannot be read.
func Sign(req *http.Request, key *identity.Key, now time.Time, nonce string, opts ...SignOption) error {
	o := signOptions{window: DefaultWindow}
	for _, opt := range opts {
		opt(&o)
	}
	if nonce == "" || len(nonce) > MaxNonceLen || !printableASCII(nonce) {
		return errs.E(errs.Invalid, "signing %s %s: the nonce must be 1 to %d printable ASCII characters: use httpsig.NewNonce", req.Method, req.URL.Path, MaxNonceLen)
	}
	if o.window < time.Second {
		return errs.E(errs.Invalid, "signing %s %s: the window %v is shorter than a second", req.Method, req.URL.Path, o.window)
	}
	covered := components
	switch {
	case o.noDigest:
		covered = slices.DeleteFunc(slices.Clone(components), func(c string) bool { return c == "content-digest" })
		req.Header.Del("Content-Digest")
	case o.digest == nil:
		sum, err := bodyDigest(req)
		if err != nil {
			return err
		}
		o.digest = &sum
	}
	if !o.noDigest {
		req.Header.Set("Content-Digest", ContentDigest(*o.digest))
	}

	created := now.Unix()
	params := sigParams{
		components: covered,
		created:    created,
		expires:    created + int64(o.window/time.Second),
		nonce:      nonce,
		keyid:      key.Address().String(),
		alg:        Alg,
	}
	params.raw = params.serialize()
	base, err := signatureBase(req, params, "")
	if err != nil {
		return err
	}
	sig := key.Sign([]byte(base))
	req.Header.Set("Signature-Input", Label+"="+params.raw)
	req.Header.Set("Signature", Label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return nil
}

func bodyDigest(req *http.Request) ([sha256.Size]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return sha256.Sum256(nil), nil
	}
	if req.GetBody == nil {
		return [sha256.Size]byte{}, errs.E(errs.Invalid, "signing %s %s: the body is a stream: pass its SHA-256 with httpsig.WithDigest", req.Method, req.URL.Path)
	}
	body, err := req.GetBody()
	if err != nil {
		return [sha256.Size]byte{}, errs.E(errs.Internal, "signing %s %s: reopening the body: %w", req.Method, req.URL.Path, err)
	}
	defer body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		return [sha256.Size]byte{}, errs.E(errs.Internal, "signing %s %s: hashing the body: %w", req.Method, req.URL.Path, err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, nil
}

// sigParams are the parameters of one signature, as in Signature-Input.
type sigParams struct {
	components []string
	created    int64
	expires    int64
	nonce      string
	keyid      string
	alg        string
	raw        string // the serialized inner list and parameters, as signed
}

// serialize returns the canonical serialization of p, the value of the
// "@signature-params" component.
func (p sigParams) serialize() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range p.components {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sfString(c))
	}
	b.WriteString(");created=")
	b.WriteString(strconv.FormatInt(p.created, 10))
	b.WriteString(";expires=")
	b.WriteString(strconv.FormatInt(p.expires, 10))
	b.WriteString(";nonce=")
	b.WriteString(sfString(p.nonce))
	b.WriteString(";keyid=")
	b.WriteString(sfString(p.keyid))
	b.WriteString(";alg=")
	b.WriteString(sfString(p.alg))
	return b.String()
}

// signatureBase builds the signature base of RFC 9421 §2.5: one line per
// covered component, then the "@signature-params" line, joined by LF with
// no trailing LF. A non-empty authority is the "@authority" value, in place
// of the request's host.
func signatureBase(req *http.Request, p sigParams, authority string) (string, error) {
	var b strings.Builder
	for _, c := range p.components {
		v, err := componentValue(req, c)
		if c == "@authority" && authority != "" {
			v, err = authority, nil
		}
		if err != nil {
			return "", err
		}
		b.WriteString(sfString(c))
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(p.raw)
	return b.String(), nil
}

func componentValue(req *http.Request, c string) (string, error) {
	switch c {
	case "@method":
		return req.Method, nil
	case "@authority":
		host := req.Host
		if host == "" && req.URL != nil {
			host = req.URL.Host
		}
		if host == "" {
			return "", errs.E(errs.Unauthorized, "the request has no host, so its \"@authority\" cannot be signed: send a Host header")
		}
		return strings.ToLower(host), nil
	case "@path":
		p := req.URL.EscapedPath()
		if p == "" {
			p = "/"
		}
		return p, nil
	case "@query":
		return "?" + req.URL.RawQuery, nil
	case "content-digest":
		vs := req.Header.Values("Content-Digest")
		if len(vs) == 0 {
			return "", errs.E(errs.Unauthorized, "the request covers \"content-digest\" but has no Content-Digest header: send sha-256=:<base64 of the body's SHA-256>:")
		}
		if len(vs) > 1 {
			return "", errs.E(errs.Unauthorized, "the request has %d Content-Digest headers: send one", len(vs))
		}
		v := strings.TrimSpace(vs[0])
		if !printableASCII(v) {
			return "", errs.E(errs.Unauthorized, "the Content-Digest header has non-ASCII characters")
		}
		return v, nil
	}
	return "", errs.E(errs.Unauthorized, "the signature covers %q, which Stratus signatures don't use: cover %s", c, strings.Join(quoteAll(components), " "))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = sfString(s)
	}
	return out
}
