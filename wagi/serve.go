package wagi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/stratus-cloud/stratus/errs"
)

// Request is one call of a function.
type Request struct {
	Method     string      // GET when empty
	ScriptName string      // the prefix the function is mounted on, e.g. "/fn/echo"; SCRIPT_NAME
	Path       string      // the path below ScriptName, decoded, "/" when empty; PATH_INFO
	RawQuery   string      // without '?'; QUERY_STRING
	Proto      string      // HTTP/1.1 when empty; SERVER_PROTOCOL
	Host       string      // host[:port] the client asked for; SERVER_NAME, SERVER_PORT
	TLS        bool        // the client used https
	RemoteAddr string      // ip:port of the client; REMOTE_ADDR, REMOTE_PORT
	Header     http.Header // becomes HTTP_* variables
	Body       io.Reader   // stdin; nil for none

	MatchedRoute  string            // the route pattern that matched; X_MATCHED_ROUTE
	DeploymentEnv map[string]string // the deployment's own variables
	Log           io.Writer         // receives stderr, at most Limits.MaxLogBytes per call; nil drops it
}

// NewRequest converts an incoming HTTP request. scriptName is the prefix the
// function is mounted on: r.URL.Path must start with it, and the remainder
// becomes PATH_INFO.
func NewRequest(r *http.Request, scriptName, matchedRoute string) *Request {
	path := strings.TrimPrefix(r.URL.Path, scriptName)
	if !strings.HasPrefix(r.URL.Path, scriptName) {
		path, scriptName = r.URL.Path, ""
	}
	return &Request{
		Method:       r.Method,
		ScriptName:   scriptName,
		Path:         path,
		RawQuery:     r.URL.RawQuery,
		Proto:        r.Proto,
		Host:         r.Host,
		TLS:          r.TLS != nil,
		RemoteAddr:   r.RemoteAddr,
		Header:       r.Header,
		Body:         r.Body,
		MatchedRoute: matchedRoute,
	}
}

// Response is what a call produced.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Usage  Usage
}

// Usage is what one call consumed, for billing per call and per GB-ms.
type Usage struct {
	// Wall is the call's wall time on the provider: waiting for no one,
	// from instantiation (or reuse) to the end of the handler.
	Wall time.Duration
	// Start is the part of Wall spent instantiating and initializing a
	// fresh instance: the cold start. Zero when an idle instance was reused.
	Start time.Duration
	// MemoryBytes is the peak size of the instance's linear memory.
	MemoryBytes uint64
	// Reused reports that a pooled instance of a reusable module served the call.
	Reused bool
}

// GBMillis returns memory × wall time in GB-milliseconds (GB = 2^30 bytes),
// the unit of the per-GB-ms price.
func (u Usage) GBMillis() float64 {
	return float64(u.MemoryBytes) / (1 << 30) * float64(u.Wall) / float64(time.Millisecond)
}

// errOutputCap is the cancel cause when stdout goes over its limit.
var errOutputCap = errors.New("stdout over limit")

// Serve runs one call. A command module (exports _start) gets a fresh
// instance; a reusable module (exports wagi_serve) gets an idle instance from
// the Module's pool, or a new one.
//
// On success it returns the parsed CGI response. When the function itself
// fails, Serve returns an error that wraps one of the sentinels (ErrTimeout,
// ErrTrap, ErrExit, ErrMemoryLimit, ErrResponseTooLarge, ErrBadResponse,
// ErrInstantiate) together with a Response whose status, headers and body are
// the error to send to the client and whose Usage is what the failed call
// consumed. ErrRequestTooLarge, ErrBusy and ErrClosed come with a nil Response:
// no instance ran. A failure never leaves state behind for other calls.
func (m *Module) Serve(ctx context.Context, req *Request, limits Limits) (*Response, error) {
	limits = limits.withDefaults()
	return m.serve(ctx, req, limits)
}

func (m *Module) serve(ctx context.Context, req *Request, limits Limits) (*Response, error) {
	body, err := readBody(req.Body, limits.MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	if err := m.gate.acquire(ctx, limits.MaxConcurrency); err != nil {
		if ctx.Err() == context.DeadlineExceeded && context.Cause(ctx) == context.DeadlineExceeded {
			return nil, fail(ErrBusy, nil, "%s: all %d concurrent instances stayed busy for %s; retry later or raise max concurrency", m, limits.MaxConcurrency, limits.Timeout)
		}
		return nil, errs.E(errs.Unavailable, "call canceled while waiting for a free instance: %w", err)
	}
	defer m.gate.release()
	if m.c.minMemory > limits.MemoryBytes {
		return nil, fail(ErrMemoryLimit, nil, "%s declares %d MiB of initial memory, over its limit of %d MiB; raise the memory limit",
			m, m.c.minMemory>>20, limits.MemoryBytes>>20)
	}
	if m.c.reusable {
		return m.serveReusable(ctx, req, limits, false, body)
	}
	return m.serveFresh(ctx, req, limits, body)
}

func readBody(r io.Reader, limit int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, errs.E(errs.Invalid, "read request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, fail(ErrRequestTooLarge, nil, "request body is over the function's limit of %d bytes", limit)
	}
	return b, nil
}

// serveFresh runs a command module in a fresh instance.
func (m *Module) serveFresh(ctx context.Context, req *Request, limits Limits, body []byte) (*Response, error) {
	callCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	stdout := &cappedWriter{max: limits.MaxResponseBytes, stop: func() { stop(errOutputCap) }}
	stderr := &logWriter{out: req.Log, left: limits.MaxLogBytes}
	meter := &memoryMeter{limit: limits.MemoryBytes}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs(argv0(req)).
		WithStdin(bytes.NewReader(body)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(cryptoRand{})
	for _, kv := range req.Env(len(body)) {
		k, v, _ := strings.Cut(kv, "=")
		cfg = cfg.WithEnv(k, v)
	}
	start := time.Now()
	mod, err := m.instantiate(experimental.WithMemoryAllocator(callCtx, meter), cfg)
	usage := Usage{Wall: time.Since(start), MemoryBytes: meter.peak.Load()}
	usage.Start = usage.Wall
	if mod != nil {
		mod.Close(context.Background())
	}
	if err := m.classify(ctx, callCtx, err, stdout, meter, limits, true); err != nil {
		logFailure(stderr, err)
		return errorResponse(err, usage), err
	}
	return m.respond(stdout.buf, usage)
}

func (m *Module) respond(out []byte, usage Usage) (*Response, error) {
	status, header, body, err := parseCGI(out)
	if err != nil {
		return errorResponse(err, usage), err
	}
	return &Response{Status: status, Header: header, Body: body, Usage: usage}, nil
}

// classify turns what wazero returned into one of the package's errors, or nil.
func (m *Module) classify(ctx, callCtx context.Context, err error, stdout *cappedWriter, meter *memoryMeter, limits Limits, instantiating bool) error {
	if errors.Is(context.Cause(callCtx), errOutputCap) || stdout.over {
		return fail(ErrResponseTooLarge, nil, "%s wrote more than %d bytes to stdout and was stopped; shrink the response or raise max response size", m, limits.MaxResponseBytes)
	}
	var exit *sys.ExitError
	if err == nil || (errors.As(err, &exit) && exit.ExitCode() == 0) {
		return nil
	}
	if meter.refused.Load() {
		return fail(ErrMemoryLimit, err, "%s ran out of memory: it tried to grow past its limit of %d MiB; raise the memory limit or use less", m, limits.MemoryBytes>>20)
	}
	if exit != nil {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fail(ErrTimeout, nil, "%s did not finish within its timeout of %s and was stopped", m, limits.Timeout)
		case sys.ExitCodeContextCanceled:
			if ctx.Err() == context.DeadlineExceeded {
				return fail(ErrTimeout, nil, "%s did not finish within its timeout of %s and was stopped", m, limits.Timeout)
			}
			return errs.E(errs.Unavailable, "call of %s canceled by the caller: %w", m, context.Canceled)
		}
		return fail(ErrExit, err, "%s exited with status %d; see its log", m, exit.ExitCode())
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if strings.Contains(msg, "wasm error:") {
		return fail(ErrTrap, err, "%s trapped: %s", m, msg)
	}
	if instantiating {
		return fail(ErrInstantiate, err, "%s could not be instantiated: %s", m, msg)
	}
	return fail(ErrTrap, err, "%s failed: %s", m, msg)
}

// errorResponse is the HTTP answer for a failed call.
func errorResponse(err error, usage Usage) *Response {
	return &Response{
		Status: HTTPStatus(err),
		Header: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"},
			ErrorHeader:    {Reason(err)},
		},
		Body:  []byte(fmt.Sprintf("function error (%s): %v\n", Reason(err), err)),
		Usage: usage,
	}
}

func logFailure(w io.Writer, err error) {
	fmt.Fprintf(w, "[stratus] call failed (%s): %v\n", Reason(err), err)
}

func argv0(req *Request) string {
	if req.ScriptName != "" {
		return req.ScriptName
	}
	return "function.wasm"
}

// instance is a live instance of a reusable module.
type instance struct {
	mod    api.Module
	serve  api.Function
	stdin  *swapReader
	stdout *cappedWriter
	stderr *logWriter
	meter  *memoryMeter
}

// swapReader is a reusable instance's stdin, pointed at each call's input.
type swapReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (s *swapReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		return 0, io.EOF
	}
	return s.r.Read(p)
}

func (s *swapReader) set(r io.Reader) {
	s.mu.Lock()
	s.r = r
	s.mu.Unlock()
}

// serveReusable runs a call on a pooled instance of a reusable module.
// fresh forces a new instance (to measure cold start).
func (m *Module) serveReusable(ctx context.Context, req *Request, limits Limits, fresh bool, in []byte) (*Response, error) {
	var usage Usage
	start := time.Now()
	inst := (*instance)(nil)
	if !fresh {
		inst = m.takeIdle()
	}
	usage.Reused = inst != nil
	if inst == nil {
		var err error
		inst, err = m.newInstance(ctx, req, limits)
		usage.Start = time.Since(start)
		if err != nil {
			usage.Wall = usage.Start
			logFailure(&logWriter{out: req.Log, left: limits.MaxLogBytes}, err)
			return errorResponse(err, usage), err
		}
	}
	callCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	inst.stdin.set(bytes.NewReader(frame(req, in)))
	inst.stdout.reset(limits.MaxResponseBytes, func() { stop(errOutputCap) })
	inst.stderr.reset(req.Log, limits.MaxLogBytes)
	_, err := inst.serve.Call(callCtx)
	usage.Wall = time.Since(start)
	usage.MemoryBytes = inst.meter.peak.Load()
	if err := m.classify(ctx, callCtx, err, inst.stdout, inst.meter, limits, false); err != nil {
		logFailure(inst.stderr, err)
		inst.mod.Close(context.Background())
		return errorResponse(err, usage), err
	}
	out := bytes.Clone(inst.stdout.buf)
	inst.stdin.set(nil)
	inst.stderr.reset(nil, 0)
	m.putIdle(inst, limits.MaxConcurrency)
	return m.respond(out, usage)
}

// frame encodes a call for wagi_serve's stdin: a little-endian uint32 n, n
// bytes of NUL-terminated KEY=VALUE pairs (the same environment a command
// would get), then the body.
func frame(req *Request, body []byte) []byte {
	var env []byte
	for _, kv := range req.Env(len(body)) {
		env = append(env, kv...)
		env = append(env, 0)
	}
	out := make([]byte, 4, 4+len(env)+len(body))
	binary.LittleEndian.PutUint32(out, uint32(len(env)))
	out = append(out, env...)
	return append(out, body...)
}

func (m *Module) newInstance(ctx context.Context, req *Request, limits Limits) (*instance, error) {
	inst := &instance{
		stdin:  &swapReader{},
		stdout: &cappedWriter{max: limits.MaxResponseBytes},
		stderr: &logWriter{out: req.Log, left: limits.MaxLogBytes},
		meter:  &memoryMeter{limit: limits.MemoryBytes},
	}
	initCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	inst.stdout.stop = func() { stop(errOutputCap) }
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs(argv0(req)).
		WithStdin(inst.stdin).
		WithStdout(inst.stdout).
		WithStderr(inst.stderr).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(cryptoRand{}).
		WithStartFunctions()
	for k, v := range req.DeploymentEnv {
		cfg = cfg.WithEnv(k, v)
	}
	if m.c.hasInit {
		cfg = cfg.WithStartFunctions(ExportInitialize)
	}
	mod, err := m.instantiate(experimental.WithMemoryAllocator(initCtx, inst.meter), cfg)
	if err := m.classify(ctx, initCtx, err, inst.stdout, inst.meter, limits, true); err != nil {
		if mod != nil {
			mod.Close(context.Background())
		}
		return nil, err
	}
	inst.mod = mod
	inst.serve = mod.ExportedFunction(ExportServe)
	return inst, nil
}

func (m *Module) takeIdle() *instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.idle); n > 0 {
		inst := m.idle[n-1]
		m.idle = m.idle[:n-1]
		return inst
	}
	return nil
}

func (m *Module) putIdle(inst *instance, keep int) {
	m.mu.Lock()
	if !m.close && len(m.idle) < keep {
		m.idle = append(m.idle, inst)
		inst = nil
	}
	m.mu.Unlock()
	if inst != nil {
		inst.mod.Close(context.Background())
	}
}

// Prewarm starts idle instances of a reusable module until n are waiting, so
// that their initialization (for Go, the runtime's start-up) happens off the
// request path. It does nothing for command modules, whose start-up cannot be
// separated from the call. Errors are those of a failed instantiation.
func (m *Module) Prewarm(ctx context.Context, n int, req *Request, limits Limits) error {
	if !m.c.reusable {
		return nil
	}
	limits = limits.withDefaults()
	n = min(n, limits.MaxConcurrency)
	if req == nil {
		req = &Request{}
	}
	for {
		m.mu.Lock()
		have := len(m.idle)
		m.mu.Unlock()
		if have >= n {
			return nil
		}
		initCtx, cancel := context.WithTimeout(ctx, limits.Timeout)
		inst, err := m.newInstance(initCtx, req, limits)
		cancel()
		if err != nil {
			return err
		}
		m.putIdle(inst, n)
	}
}
