package httpsig

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// Recorded is a signed request as a server keeps it to show later who
// asked: the values of the components a Stratus signature covers, and its
// Signature-Input and Signature fields. Anyone can check it offline with
// Verify, long after the request's window has passed, because it carries
// everything the signature base is built from. It is what a storage
// provider's access log holds of each private read.
type Recorded struct {
	Method    string `json:"method"`
	Authority string `json:"authority"`
	// Path is the "@path" value (the escaped path); Query the "@query"
	// value, "?" and the raw query.
	Path  string `json:"path"`
	Query string `json:"query"`
	// ContentDigest is the Content-Digest field, "" if the signature does
	// not cover it.
	ContentDigest  string `json:"content_digest,omitempty"`
	SignatureInput string `json:"signature_input"`
	Signature      string `json:"signature"`
}

// Record returns what Verify needs of req, a request this server has
// verified, with authority the server's own (VerifierOptions.Authority; ""
// takes it from the Host header, as the Verifier does). It returns an error
// of kind Unauthorized if req is not a Stratus-signed request.
func Record(req *http.Request, authority string) (Recorded, error) {
	in, err := headerValue(req, "Signature-Input")
	if err != nil {
		return Recorded{}, err
	}
	sig, err := headerValue(req, "Signature")
	if err != nil {
		return Recorded{}, err
	}
	if authority == "" {
		if authority, err = componentValue(req, "@authority"); err != nil {
			return Recorded{}, err
		}
	}
	rec := Recorded{Method: req.Method, Authority: strings.ToLower(authority), SignatureInput: in, Signature: sig}
	rec.Path, _ = componentValue(req, "@path")
	rec.Query, _ = componentValue(req, "@query")
	if vs := req.Header.Values("Content-Digest"); len(vs) == 1 {
		rec.ContentDigest = strings.TrimSpace(vs[0])
	}
	return rec, nil
}

// Verify checks the recorded signature and returns its signer (the keyid's
// did:key) and when it was signed (its created parameter). It does not
// check the time window or the nonce: those protect the server from
// replays when the request arrives, while Verify answers a later question,
// whether the signer really signed this request. It returns an error of
// kind Unauthorized saying what is wrong, as the Verifier does.
func (r Recorded) Verify() (identity.Address, time.Time, error) {
	if len(r.SignatureInput) > maxHeader || len(r.Signature) > maxHeader {
		return identity.Address{}, time.Time{}, errs.E(errs.Unauthorized, "the recorded signature fields are longer than %d bytes", maxHeader)
	}
	p, err := parseSignatureInputFor(r.SignatureInput, true)
	if err != nil {
		return identity.Address{}, time.Time{}, err
	}
	sig, err := parseSignature(r.Signature)
	if err != nil {
		return identity.Address{}, time.Time{}, err
	}
	addr, err := identity.ParseDID(p.keyid)
	if err != nil {
		return identity.Address{}, time.Time{}, errs.E(errs.Unauthorized, "the signature's keyid: %v", err)
	}
	if slices.Contains(p.components, "content-digest") && r.ContentDigest == "" {
		return identity.Address{}, time.Time{}, errs.E(errs.Unauthorized, "the signature covers \"content-digest\" but the record has none")
	}
	vals := map[string]string{"@method": r.Method, "@authority": r.Authority, "@path": r.Path, "@query": r.Query, "content-digest": r.ContentDigest}
	var b strings.Builder
	for _, c := range p.components {
		v := vals[c]
		if !printableASCII(v) {
			return identity.Address{}, time.Time{}, errs.E(errs.Unauthorized, "the recorded %q has non-ASCII characters", c)
		}
		b.WriteString(sfString(c))
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(p.raw)
	if !identity.Verify(addr, []byte(b.String()), sig) {
		return identity.Address{}, time.Time{}, errs.E(errs.Unauthorized, "bad signature: the recorded request (%s %s%s at %s) is not what %s signed", r.Method, r.Path, r.Query, r.Authority, p.keyid)
	}
	return addr, time.Unix(p.created, 0), nil
}
