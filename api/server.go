// Package api is the REST API of a Stratus node: JSON under /v1, RFC 9457
// problem details for errors, the OpenAPI document, Prometheus metrics and a
// health check. It answers from a Backend and knows nothing of CometBFT or
// the ledger's storage; the node package supplies the Backend and the
// listener.
package api

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// openAPI is the OpenAPI 3.0.3 document served at /v1/openapi.json. Every
// route the Server registers must appear in it; a test checks.
//
//go:embed openapi.json
var openAPI []byte

// DefaultMaxBodyBytes bounds request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 2 << 20

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives internal errors. Nil discards them.
	Logger *slog.Logger
	// Registry holds the API's metrics and is served at /metrics. When nil,
	// the Server makes one and adds the Go and process collectors to it.
	Registry *prometheus.Registry
	// MaxBodyBytes bounds request bodies; larger ones get 413. 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// CometRPC is the CometBFT RPC address reported by /v1/status when the
	// backend does not fill it in.
	CometRPC string
}

// Server is the REST API of a node: JSON under /v1, problem details for
// errors, the OpenAPI document, Prometheus metrics and a health check.
type Server struct {
	b       Backend
	log     *slog.Logger
	reg     *prometheus.Registry
	maxBody int64
	comet   string
	mux     *http.ServeMux
	metrics *metrics

	unmatched http.Handler

	mu     sync.Mutex
	routes []string // patterns, in registration order
}

// NewServer returns a Server that answers from b. It panics if opts.Registry
// already holds metrics with the API's names.
func NewServer(b Backend, opts Options) *Server {
	s := &Server{
		b:       b,
		log:     opts.Logger,
		reg:     opts.Registry,
		maxBody: opts.MaxBodyBytes,
		comet:   opts.CometRPC,
		mux:     http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.metrics = newMetrics(s.reg)
	s.unmatched = s.metrics.instrument(unmatchedRoute, http.HandlerFunc(s.serveUnmatched))

	s.handle("GET /v1/status", s.status)
	s.handle("GET /v1/accounts/{did}", s.account)
	s.handle("POST /v1/txs", s.submitTx)
	s.handle("POST /v1/txs/simulate", s.simulateTx)
	s.handle("GET /v1/txs/{hash}", s.tx)
	s.handle("GET /v1/blocks/{height}", s.block)
	s.handle("GET /v1/supply", s.supply)
	s.Mount("GET /v1/openapi.json", http.HandlerFunc(serveOpenAPI))
	s.Mount("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	s.Mount("GET /healthz", http.HandlerFunc(serveHealth))
	return s
}

// Handler returns the http.Handler that serves every mounted route.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Registry returns the registry served at /metrics, so that the node can add
// its own metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Mount adds a route. The pattern is an http.ServeMux pattern with a method,
// such as "GET /v1/leases/{id}", and labels the route's metrics. Like
// http.ServeMux.Handle, it panics if the pattern is invalid or conflicts with
// one already mounted. Mounting while serving is safe.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, h))
	s.mu.Lock()
	s.routes = append(s.routes, pattern)
	s.mu.Unlock()
}

// Routes returns the patterns mounted so far.
func (s *Server) Routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.routes...)
}

// HandleJSON mounts a JSON route for other parts of the node: f's result is
// written as a 200 JSON body, and its error as a problem.
func (s *Server) HandleJSON(pattern string, f func(*http.Request) (any, error)) {
	s.handle(pattern, func(_ http.ResponseWriter, r *http.Request) (any, error) { return f(r) })
}

// handle mounts a JSON route: f's result is written as a 200 JSON body, and
// its error as a problem.
func (s *Server) handle(pattern string, f func(http.ResponseWriter, *http.Request) (any, error)) {
	s.Mount(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := f(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeBody(w, http.StatusOK, "application/json", v)
	}))
}

// Fail writes err as a problem, for routes mounted with Mount that are not
// JSON.
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, err error) { s.fail(w, r, err) }

// fail writes err as a problem, logging it when it is the server's fault.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(err)
	if p.Status >= 500 && r.Context().Err() == nil {
		s.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "route", r.Pattern, "status", p.Status, "err", err)
	}
	writeProblem(w, p)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unmatched.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// serveUnmatched turns the mux's plain-text 404 and 405 answers into problems.
func (s *Server) serveUnmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &recorder{header: make(http.Header)}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusMethodNotAllowed:
		w.Header()["Allow"] = rec.header["Allow"]
		p := problem(errs.Invalid, http.StatusMethodNotAllowed,
			r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(rec.header.Values("Allow"), ", "))
		p.Type = ProblemTypeBase + "method_not_allowed"
		p.Title = "Method not allowed"
		writeProblem(w, p)
	default:
		writeProblem(w, problem(errs.NotFound, http.StatusNotFound,
			"no route for "+r.Method+" "+r.URL.Path+"; see /v1/openapi.json for the API"))
	}
}

// recorder keeps the status and headers a handler writes, and drops its body.
type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return len(b), nil
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (s *Server) status(_ http.ResponseWriter, r *http.Request) (any, error) {
	st, err := s.b.Status(r.Context())
	if err != nil {
		return nil, err
	}
	if st.CometRPC == "" {
		st.CometRPC = s.comet
	}
	if st.Validators == nil {
		st.Validators = []Validator{}
	}
	return st, nil
}

func (s *Server) account(_ http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return nil, err
	}
	return s.b.Account(r.Context(), addr.String())
}

// submitTx accepts a JSON SubmitRequest or, with Content-Type
// application/octet-stream, the raw transaction. The query parameter wait
// also asks to wait for the commit.
func (s *Server) submitTx(w http.ResponseWriter, r *http.Request) (any, error) {
	wait := false
	if q := r.URL.Query().Get("wait"); q != "" {
		var err error
		if wait, err = strconv.ParseBool(q); err != nil {
			return nil, errs.E(errs.Invalid, "wait=%q is not a boolean: use wait=true or wait=false", q)
		}
	}
	tx, w2, err := s.readTx(w, r)
	if err != nil {
		return nil, err
	}
	return s.b.SubmitTx(r.Context(), tx, wait || w2)
}

func (s *Server) simulateTx(w http.ResponseWriter, r *http.Request) (any, error) {
	tx, _, err := s.readTx(w, r)
	if err != nil {
		return nil, err
	}
	return s.b.SimulateTx(r.Context(), tx)
}

// readTx reads a transaction sent as JSON ({"tx": base64, "wait": bool})
// or as raw bytes.
func (s *Server) readTx(w http.ResponseWriter, r *http.Request) ([]byte, bool, error) {
	wait := false
	if r.ContentLength > s.maxBody {
		return nil, false, s.tooLarge()
	}
	body := http.MaxBytesReader(w, r.Body, s.maxBody)

	var tx []byte
	switch ct := mediaType(r); ct {
	case "application/octet-stream":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, false, s.bodyError(err)
		}
		tx = b
	case "", "application/json":
		var req SubmitRequest
		if err := decodeJSON(body, &req); err != nil {
			return nil, false, s.bodyError(err)
		}
		tx, wait = req.Tx, req.Wait
	default:
		return nil, false, errs.E(errs.Invalid, "Content-Type %q is not supported: send application/json or application/octet-stream", ct)
	}
	if len(tx) == 0 {
		return nil, false, errs.E(errs.Invalid, "the transaction is empty: send {\"tx\": \"<base64>\", \"wait\": false} or the raw bytes as application/octet-stream")
	}
	return tx, wait, nil
}

func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// decodeJSON decodes exactly one JSON value, rejecting unknown fields.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err != nil:
		return err
	default:
		return errs.E(errs.Invalid, "the request body holds more than one JSON value")
	}
}

// bodyError explains why a request body could not be read or decoded.
func (s *Server) bodyError(err error) error {
	var (
		maxErr    *http.MaxBytesError
		b64Err    base64.CorruptInputError
		e         *errs.Error
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxErr):
		return s.tooLarge()
	case errors.As(err, &e):
		return err
	case errors.As(err, &b64Err):
		return errs.E(errs.Invalid, "tx is not valid base64 (standard encoding, padded): bad data at byte %d", int64(b64Err))
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "the request body is empty: send {\"tx\": \"<base64>\", \"wait\": false}")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "the request body is truncated JSON")
	case errors.As(err, &typeErr):
		return errs.E(errs.Invalid, "field %q of the request body cannot be a JSON %s: tx is a base64 string and wait a boolean", typeErr.Field, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return errs.E(errs.Invalid, "the request body is not valid JSON: %v", err)
	default:
		return errs.E(errs.Invalid, "the request body is not a valid submit request: %v", err)
	}
}

func (s *Server) tooLarge() error {
	return errs.E(errs.TooLarge, "the request body is larger than the limit of %d bytes", s.maxBody)
}

// tx looks a transaction up by its hash, passed to the backend in lower case.
func (s *Server) tx(_ http.ResponseWriter, r *http.Request) (any, error) {
	h := r.PathValue("hash")
	if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
		return nil, errs.E(errs.Invalid, "%q is not a transaction hash: it should be 64 hex characters", h)
	}
	return s.b.Tx(r.Context(), strings.ToLower(h))
}

// block looks a block up by height; "latest" is the height in Status.
func (s *Server) block(_ http.ResponseWriter, r *http.Request) (any, error) {
	arg := r.PathValue("height")
	var height int64
	if arg == "latest" {
		st, err := s.b.Status(r.Context())
		if err != nil {
			return nil, err
		}
		if st.Height < 1 {
			return nil, errs.E(errs.NotFound, "the chain has no blocks yet")
		}
		height = st.Height
	} else {
		h, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || h < 1 {
			return nil, errs.E(errs.Invalid, "%q is not a block height: use a positive integer or \"latest\"", arg)
		}
		height = h
	}
	b, err := s.b.Block(r.Context(), height)
	if err != nil {
		return nil, err
	}
	if b.TxHashes == nil {
		b.TxHashes = []string{}
	}
	return b, nil
}

func (s *Server) supply(_ http.ResponseWriter, r *http.Request) (any, error) {
	sup, err := s.b.Supply(r.Context())
	if err != nil {
		return nil, err
	}
	if sup.Buckets == nil {
		sup.Buckets = map[string]string{}
	}
	return sup, nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

func serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok")
}

// writeBody writes v as JSON, without escaping <, > and & for HTML.
func writeBody(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a type with a broken MarshalJSON gets here: a programming error.
		status, contentType = http.StatusInternalServerError, ProblemContentType
		buf.Reset()
		enc.Encode(problem(errs.Internal, status, "encoding the response: "+err.Error()))
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
