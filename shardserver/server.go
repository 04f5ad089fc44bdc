// Package shardserver is a storage provider's shard API over HTTP:
// range-capable reads of content-addressed shards, and writes and deletes
// that must be signed (package httpsig) and allowed by an Authorizer, which
// in a node checks the signer's storage lease and its quota on the ledger.
// Reads are public, except of the shards of private objects: those are
// served only on a signed request that the Authorizer allows (the owner or
// a current grantee, on the ledger), and each such read is first recorded
// by the ReadLogger. It also has the Client that speaks this API.
//
// It is not a store (it serves any shardstore.Store) and it does not decide
// who may write: the Authorizer does. An Authorizer that is also a Keeper
// hears of every stored write and does the deletes itself.
//
// Routes:
//
//	PUT    /shards/{hash}  signed; the body is the shard; 201
//	GET    /shards/{hash}  public, or signed for a private object's shard;
//	                       single byte ranges; 200, 206 or 416; a private
//	                       shard unsigned 401, by a signer without a grant 403
//	HEAD   /shards/{hash}  as GET, without the body (and not recorded)
//	DELETE /shards/{hash}  signed; 204
//	POST   /receipts       signed; the body is a manifest; 200 with the storage receipt
//	GET    /healthz        200 with the store's usage
//
// Errors are RFC 9457 problem details with the status of their errs kind
// (errs.HTTPStatus); a refused signature or authorization is 401, a signer
// the Authorizer knows but refuses (Forbidden) 403.
//
// A signed read may name its range in the query, as ?range=bytes=A-B, so
// that the signature (which covers the query, not the Range header) binds
// the bytes asked for; the query's range then wins over a Range header.
package shardserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
)

// An Authorizer decides whether a signer may change a shard. Both methods
// return nil to allow and an error to refuse; an error of kind
// Unauthorized (the usual refusal) becomes 401, and other kinds keep their
// own status (Unavailable when the ledger can't be reached, say).
type Authorizer interface {
	// AuthorizeWrite is asked before the body of a Put is read, with the
	// size that the request declares.
	AuthorizeWrite(ctx context.Context, signer identity.Address, h shardstore.Hash, size int64) error
	// AuthorizeDelete is asked before a shard is deleted.
	AuthorizeDelete(ctx context.Context, signer identity.Address, h shardstore.Hash) error
	// AuthorizeRead is asked before a shard is read, with the request's
	// signer, or nil for an unsigned request. It reports whether h is a
	// shard of a private object here. A public shard is readable by
	// anyone (private false, nil error); a private one only by a signer
	// it allows (true, nil). Otherwise it returns an error: Unauthorized
	// for an unsigned read of a private shard, Forbidden for a signer who
	// is neither the owner nor a current grantee.
	AuthorizeRead(ctx context.Context, signer *identity.Address, h shardstore.Hash) (private bool, err error)
}

// A ReadLogger records the signed reads of private shards. The server calls
// Record once such a read is authorized and before it sends any byte, with
// the request (its signature headers are the reader's proof of asking), the
// signer, the shard and the bytes it is about to send (off and n, after the
// range is resolved against the shard's size). If Record fails, the read is
// refused with 503: no private byte leaves without a record. HEAD requests
// send no bytes and are not recorded.
type ReadLogger interface {
	Record(ctx context.Context, r *http.Request, signer identity.Address, h shardstore.Hash, off, n int64) error
}

// A Keeper is an Authorizer that also keeps track of who stored which
// shard, so that a shard several signers stored stays until the last of them
// deletes it. When the server's Authorizer is a Keeper, the server tells it
// about each write it stored, and leaves deletes to it.
type Keeper interface {
	Authorizer
	// Stored is called once a write that AuthorizeWrite allowed is in the
	// store, before the server answers. An error fails the request with its
	// kind; the shard stays in the store.
	Stored(ctx context.Context, signer identity.Address, h shardstore.Hash, size int64) error
	// Delete is called instead of the store's Delete once AuthorizeDelete
	// allowed a delete. It drops signer's claim on h and deletes the shard
	// from the store when no claim is left. Its errors are as for
	// shardstore.Store.Delete.
	Delete(ctx context.Context, signer identity.Address, h shardstore.Hash) error
}

// Options configure a server. The zero value is ready to use.
type Options struct {
	// Now is the clock that signatures are checked against; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives errors that cannot be sent to the client; nil means
	// slog.Default().
	Logger *slog.Logger
	// ReadLog records each signed read of a private shard before it is
	// served; nil records nothing.
	ReadLog ReadLogger
}

type server struct {
	store   shardstore.Store
	auth    Authorizer
	verify  *httpsig.Verifier
	now     func() time.Time
	log     *slog.Logger
	readLog ReadLogger
}

// New returns the shard API over store. Writes and deletes are checked by v
// and then auth. It panics if store, auth or v is nil.
func New(store shardstore.Store, auth Authorizer, v *httpsig.Verifier, opts Options) http.Handler {
	if store == nil || auth == nil || v == nil {
		panic("shardserver.New: store, auth and verifier are required")
	}
	s := &server{store: store, auth: auth, verify: v, now: opts.Now, log: opts.Logger, readLog: opts.ReadLog}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /shards/{hash}", s.put)
	mux.HandleFunc("GET /shards/{hash}", s.get) // and HEAD
	mux.HandleFunc("DELETE /shards/{hash}", s.delete)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("POST /receipts", s.receipt) // see receipts.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errs.E(errs.NotFound, "no route for %s %s: the shard API serves /shards/{hash} and /healthz", r.Method, r.URL.Path))
	})
	return mux
}

func (s *server) put(w http.ResponseWriter, r *http.Request) {
	h, err := shardstore.ParseHash(r.PathValue("hash"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	size := r.ContentLength
	switch {
	case size < 0:
		s.fail(w, r, errs.E(errs.Invalid, "shard %s: the request has no Content-Length: send the shard with its length, not chunked", h))
		return
	case size > shardstore.MaxShardSize:
		s.fail(w, r, errs.E(errs.TooLarge, "shard %s: %d bytes is more than the %d-byte shard limit: use smaller segments", h, size, shardstore.MaxShardSize))
		return
	}
	// The path names the bytes and the store checks them against it, so
	// the signature need not cover a digest of the body as well. The
	// nonce is kept only if the signer may write, so strangers cannot
	// fill the replay cache.
	signer, digest, err := s.verify.VerifyContentAddressed(r, s.now(), func(signer identity.Address) error {
		return s.auth.AuthorizeWrite(r.Context(), signer, h, size)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body io.Reader = r.Body
	if digest {
		if body, err = httpsig.NewDigestReader(r.Body, r.Header.Get("Content-Digest")); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.store.Put(r.Context(), h, body, size); err != nil {
		s.fail(w, r, err)
		return
	}
	if k, ok := s.auth.(Keeper); ok {
		if err := k.Stored(r.Context(), signer, h, size); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Location", "/shards/"+h.String())
	w.WriteHeader(http.StatusCreated)
}

// errPublic stops the verification of a signed read of a public shard
// before its nonce is kept: such a read needs no signature, and strangers
// must not fill the replay cache with them.
var errPublic = errs.E(errs.Internal, "a public shard")

// authorizeRead checks a read of h: signed or not, and by whom. It returns
// the signer of an allowed private read, nil for a public shard.
func (s *server) authorizeRead(r *http.Request, h shardstore.Hash) (*identity.Address, error) {
	if r.Header.Get("Signature") == "" && r.Header.Get("Signature-Input") == "" {
		private, err := s.auth.AuthorizeRead(r.Context(), nil, h)
		if err == nil && private {
			err = errs.E(errs.Internal, "shard %s: the authorizer allowed an unsigned read of a private shard", h)
		}
		return nil, err
	}
	var private bool
	signer, err := s.verify.Verify(r, s.now(), func(signer identity.Address) error {
		p, err := s.auth.AuthorizeRead(r.Context(), &signer, h)
		if err != nil {
			return err
		}
		if private = p; !private {
			return errPublic
		}
		return nil
	})
	switch {
	case errors.Is(err, errPublic):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &signer, nil
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	h, err := shardstore.ParseHash(r.PathValue("hash"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reader, err := s.authorizeRead(r, h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info, err := s.store.Stat(r.Context(), h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("ETag", `"`+h.String()+`"`)
	rng := r.Header.Get("Range")
	if q := r.URL.Query().Get("range"); q != "" && reader != nil {
		rng = q
	}
	off, n, partial, err := parseRange(rng, info.Size)
	if err != nil {
		hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
		s.writeProblem(w, http.StatusRequestedRangeNotSatisfiable, api.ProblemFor(errs.E(errs.Invalid, "shard %s: %v", h, err)))
		return
	}
	if reader != nil {
		// A private shard: nobody between here and the reader keeps it.
		hdr.Set("Cache-Control", "private, no-store")
		if r.Method != http.MethodHead && s.readLog != nil {
			if err := s.readLog.Record(r.Context(), r, *reader, h, off, n); err != nil {
				s.log.Error("recording a private read", "shard", h.String(), "reader", reader.String(), "err", err)
				s.fail(w, r, errs.E(errs.Unavailable, "shard %s: this provider could not record your read in its access log, and serves no private read without a record: try again later, or read the shard from another provider", h))
				return
			}
		}
	}
	var body io.ReadCloser
	if r.Method != http.MethodHead {
		if body, err = s.store.Get(r.Context(), h, off, n); err != nil {
			s.fail(w, r, err)
			return
		}
		defer body.Close()
	}
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		hdr.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if body == nil {
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		s.log.Warn("sending shard", "shard", h.String(), "remote", r.RemoteAddr, "err", err)
	}
}

func (s *server) delete(w http.ResponseWriter, r *http.Request) {
	h, err := shardstore.ParseHash(r.PathValue("hash"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	signer, err := s.verify.Verify(r, s.now(), func(signer identity.Address) error {
		return s.auth.AuthorizeDelete(r.Context(), signer, h)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	del := s.store.Delete
	if k, ok := s.auth.(Keeper); ok {
		del = func(ctx context.Context, h shardstore.Hash) error { return k.Delete(ctx, signer, h) }
	}
	if err := del(r.Context(), h); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"`
	Used   int64  `json:"used"`
	Quota  int64  `json:"quota"`
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	used, quota, err := s.store.Usage(r.Context())
	if err != nil {
		s.fail(w, r, errs.E(errs.Unavailable, "the shard store does not answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Health{Status: "ok", Used: used, Quota: quota})
}

// fail answers with err as a problem.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := api.ProblemFor(err)
	if p.Status >= 500 {
		s.log.Error("shard API", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.writeProblem(w, p.Status, p)
}

func (s *server) writeProblem(w http.ResponseWriter, status int, p api.Problem) {
	p.Status = status
	if status == http.StatusRequestedRangeNotSatisfiable {
		p.Title = http.StatusText(status)
	}
	b, _ := json.Marshal(p) // a Problem always marshals
	hdr := w.Header()
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", api.ProblemContentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// parseRange reads a Range header for a representation of size bytes. It
// returns the bytes to send and whether that is a partial response. As RFC
// 9110 §14.2 allows, a header it does not understand (another unit, a
// malformed or multi-part range) is ignored and the whole shard is sent. It
// returns an error only for a range that cannot be satisfied, which gets
// 416.
func parseRange(h string, size int64) (off, n int64, partial bool, err error) {
	full := func() (int64, int64, bool, error) { return 0, size, false, nil }
	const unit = "bytes="
	if len(h) < len(unit) || !strings.EqualFold(h[:len(unit)], unit) {
		return full()
	}
	spec := h[len(unit):]
	first, last, ok := strings.Cut(spec, "-")
	if !ok || strings.Contains(last, "-") || strings.Contains(spec, ",") {
		return full()
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 18 {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return 0, false
			}
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	if first == "" { // bytes=-n: the last n bytes
		k, ok := num(last)
		if !ok {
			return full()
		}
		if k == 0 || size == 0 {
			return 0, 0, false, errs.E(errs.Invalid, "the range %q selects no bytes of the %d-byte shard", h, size)
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	a, ok := num(first)
	if !ok {
		return full()
	}
	end := size - 1
	if last != "" {
		b, ok := num(last)
		if !ok || b < a {
			return full()
		}
		end = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, errs.E(errs.Invalid, "the range %q starts at or past the end of the %d-byte shard", h, size)
	}
	return a, end - a + 1, true, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ParseRange is the Range parsing the shard API uses, for other byte
// servers (the node's object gateway): see parseRange.
func ParseRange(h string, size int64) (off, n int64, partial bool, err error) {
	return parseRange(h, size)
}
