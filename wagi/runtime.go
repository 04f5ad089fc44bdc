package wagi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/stratus-cloud/stratus/errs"
)

// Export names that decide how a module is run.
const (
	// ExportStart is a WASI command's entry point: one fresh instance per call.
	ExportStart = "_start"
	// ExportInitialize is a WASI reactor's initializer, run once per instance.
	ExportInitialize = "_initialize"
	// ExportServe marks a reusable (reactor) module: an instance is
	// initialized once and then serves one call at a time through this
	// export. See the package documentation for its calling convention.
	ExportServe = "wagi_serve"
)

// Config configures a Runtime.
type Config struct {
	// CacheDir holds compiled machine code across restarts. Empty means an
	// in-memory cache that dies with the Runtime.
	CacheDir string
	// MaxMemoryBytes is the ceiling for any module's memory, whatever its
	// Limits say. Zero means 4 GiB, the wasm32 maximum.
	MaxMemoryBytes uint64
}

// Runtime compiles WASI modules and runs their calls. It is safe for
// concurrent use; one per compute provider is enough.
type Runtime struct {
	wz    wazero.Runtime
	cache wazero.CompilationCache

	mu       sync.Mutex
	compiled map[[32]byte]*compiled
	closed   bool
}

// compiled is the machine code of one module, shared by every Module handle
// with the same SHA-256.
type compiled struct {
	hash      [32]byte
	code      wazero.CompiledModule
	reusable  bool   // exports wagi_serve and no _start
	hasInit   bool   // exports _initialize
	minMemory uint64 // bytes the module's memory starts with
}

// New returns a Runtime. It fails with an errs.Invalid error when the cache
// directory cannot be created.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, errs.E(errs.Invalid, "compilation cache dir %q: %v; pass a writable directory", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true)
	if cfg.MaxMemoryBytes > 0 {
		pages := cfg.MaxMemoryBytes / pageSize
		if pages == 0 {
			pages = 1
		}
		if pages < 65536 {
			rc = rc.WithMemoryLimitPages(uint32(pages))
		}
	}
	wz := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wz); err != nil {
		wz.Close(ctx)
		cache.Close(ctx)
		return nil, errs.E(errs.Internal, "instantiate WASI: %w", err)
	}
	return &Runtime{wz: wz, cache: cache, compiled: make(map[[32]byte]*compiled)}, nil
}

const pageSize = 65536

// Close closes every instance and compiled module, and the cache handle
// (the files in CacheDir stay). Calls in flight fail.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	err := r.wz.Close(ctx)
	return errors.Join(err, r.cache.Close(ctx))
}

// Compile validates and compiles a WASI preview1 module, or reuses the
// machine code of an identical module (same SHA-256) compiled before by this
// Runtime or found in the on-disk cache. Each call returns a new *Module with
// its own concurrency slots and instance pool, so a deployment should compile
// once and keep its Module.
//
// It fails with ErrInvalidModule (kind errs.Invalid) when the bytes are not
// WebAssembly, when the module imports anything but wasi_snapshot_preview1
// functions, or when it exports neither _start nor wagi_serve; with
// ErrClosed after Close.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	hash := sha256.Sum256(wasm)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fail(ErrClosed, nil, "function runtime is closed")
	}
	c := r.compiled[hash]
	r.mu.Unlock()
	if c == nil {
		var err error
		c, err = r.compile(ctx, hash, wasm)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if prev := r.compiled[hash]; prev != nil {
			c.code.Close(ctx)
			c = prev
		} else {
			r.compiled[hash] = c
		}
		r.mu.Unlock()
	}
	return &Module{rt: r, c: c}, nil
}

func (r *Runtime) compile(ctx context.Context, hash [32]byte, wasm []byte) (*compiled, error) {
	short := hex.EncodeToString(hash[:4])
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fail(ErrInvalidModule, nil, "module %s is not WebAssembly (no \\0asm header); upload a .wasm file built for wasip1", short)
	}
	code, err := r.wz.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fail(ErrInvalidModule, err, "module %s does not compile: %v", short, err)
	}
	bad := func(format string, args ...any) (*compiled, error) {
		code.Close(ctx)
		return nil, fail(ErrInvalidModule, nil, "module %s: "+format, append([]any{short}, args...)...)
	}
	for _, f := range code.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return bad("imports %s.%s, but functions may import only %s (WASI preview1); rebuild for GOOS=wasip1 or --target wasm32-wasip1",
				mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	if len(code.ImportedMemories()) > 0 {
		return bad("imports a memory; a WASI module must define and export its own")
	}
	exports := code.ExportedFunctions()
	c := &compiled{hash: hash, code: code}
	_, hasStart := exports[ExportStart]
	serve, hasServe := exports[ExportServe]
	_, c.hasInit = exports[ExportInitialize]
	switch {
	case hasStart:
	case hasServe:
		if len(serve.ParamTypes()) != 0 || len(serve.ResultTypes()) != 0 {
			return bad("export %s must take no parameters and return nothing", ExportServe)
		}
		c.reusable = true
	default:
		return bad("exports neither %s (a WASI command) nor %s (a reusable WAGI reactor)", ExportStart, ExportServe)
	}
	for _, m := range code.ExportedMemories() {
		c.minMemory = max(c.minMemory, uint64(m.Min())*pageSize)
	}
	return c, nil
}

// Module is a compiled function as one deployment uses it: the shared machine
// code plus the deployment's concurrency slots and, for reusable modules, its
// pool of idle instances. It is safe for concurrent use.
type Module struct {
	rt   *Runtime
	c    *compiled
	gate gate

	mu    sync.Mutex
	idle  []*instance // reusable modules only
	close bool
}

// Hash returns the module's SHA-256 in hex: its identity in the cache.
func (m *Module) Hash() string { return hex.EncodeToString(m.c.hash[:]) }

// Reusable reports whether the module exports wagi_serve without _start, so
// that one instance serves many calls in turn.
func (m *Module) Reusable() bool { return m.c.reusable }

// Close discards the Module's idle instances. The compiled code stays in the
// Runtime for other handles.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	idle := m.idle
	m.idle, m.close = nil, true
	m.mu.Unlock()
	for _, in := range idle {
		in.mod.Close(ctx)
	}
	return nil
}

// ColdStart measures a call of GET / on a fresh instance of the already
// compiled module: instantiation, the language runtime's start-up and the
// handler itself. For a reusable module that is _initialize plus one call.
// Errors are those of Serve.
func (m *Module) ColdStart(ctx context.Context, limits Limits) (time.Duration, error) {
	req := &Request{Method: "GET", Path: "/", Host: "localhost"}
	start := time.Now()
	var err error
	if m.c.reusable {
		limits = limits.withDefaults()
		ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
		defer cancel()
		_, err = m.serveReusable(ctx, req, limits, true, nil)
	} else {
		_, err = m.Serve(ctx, req, limits)
	}
	return time.Since(start), err
}

// instantiate runs one fresh instance. For a command it runs _start to
// completion; for a reactor it runs _initialize and returns the live module.
func (m *Module) instantiate(ctx context.Context, cfg wazero.ModuleConfig) (api.Module, error) {
	m.rt.mu.Lock()
	closed := m.rt.closed
	m.rt.mu.Unlock()
	if closed {
		return nil, fail(ErrClosed, nil, "function runtime is closed")
	}
	return m.rt.wz.InstantiateModule(ctx, m.c.code, cfg)
}

func (m *Module) String() string { return fmt.Sprintf("module %s", m.Hash()[:8]) }
