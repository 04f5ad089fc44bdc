// Package compute is a compute provider's function service: it runs the
// functions whose replicas this provider holds on the WAGI runtime (package
// wagi), meters their calls, and reports the usage to the ledger in signed,
// sequenced usage reports.
//
// It serves, on a listener of its own (HTTP/1.1 and h2c):
//
//	GET  /healthz                      {"status":"ok", ...}
//	ANY  /fn/{deployment}/{path...}    the deployment's function
//	GET  /fn/{deployment}/_logs        the deployment's log, to its owner
//
// It is not the gateway (package node forwards /fn/ calls from any node to a
// replica), nor the scheduler (the functions ledger module opens and closes
// replicas), nor the runtime itself. It reads the chain through the Ledger
// interface (NewRESTLedger reads a node's REST API) and writes to it only its
// usage reports; acknowledging its leases is the node's provider agent's job.
//
// # Calls
//
// A call is served only for a deployment this provider currently holds a
// replica of (the assignments, refreshed every Config.SyncEvery, and at once
// when a call names a deployment it does not know). Its path below
// /fn/{deployment} is matched against the spec's routes: an exact route
// wins, then the longest prefix route ("/" or one ending in "/...", which
// matches the part before "/..." and everything under it). The function sees
// SCRIPT_NAME=/fn/{deployment}, PATH_INFO the path below it (the whole
// route path, not only the part past the route's prefix) and
// X_MATCHED_ROUTE the route. The spec's env is passed to every instance,
// and its memory, timeout, request and response limits apply (a spec
// without body limits gets the spec file's defaults, 1MiB and 16MiB). A
// deployment that is exhausted
// (Ledger.Payable, cached for SyncEvery) is answered 402. A GET of the path
// /_logs is the log route, never the function's.
//
// Each deployment runs at most scaling.target_concurrency instances at once;
// further calls wait for a slot within their timeout. Waiting calls count in
// the reported concurrency, so that the ledger sees demand beyond one
// replica and scales out.
//
// # Metering and reports
//
// A call that ran (successful or not) counts one call and the memory limit
// in MiB (rounded up) times its wall time in ms (rounded up, at least 1, at
// most the timeout) for MiB-ms. What is metered is saved in Dir/state.json
// every PersistEvery (2 s), so a crash loses at most that much; a report
// adds it. The concurrency reported is capped at what the ledger accepts
// from one replica (functions.ConcurrencyLimit). Every ReportEvery the service sends, for each deployment with
// calls or concurrency in the window, and once more after a window with
// activity (so that a concurrency of 0 reaches the autoscaler), one
// functions.UsageReport. Its sequence is persisted in Dir/state.json before
// it is sent, so a restart never reuses one. A report whose fate is unknown
// (the node did not answer, say) is kept and resent unchanged, same
// sequence and counts, until it is committed or refused as a duplicate: the
// ledger's sequence check makes the resend idempotent, so usage is never
// charged twice nor lost to a transient failure.
package compute

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/wagi"
)

// Ledger is what the service needs from the chain. Errors keep their kinds
// (Unavailable when the node cannot be reached, say).
type Ledger interface {
	// Assignments lists the deployments this provider holds an active replica of.
	Assignments(ctx context.Context, provider identity.Address) ([]functions.Assignment, error)
	// Deployment returns a deployment, or an error of kind NotFound.
	Deployment(ctx context.Context, id uint64) (*functions.DeploymentView, error)
	// Payable returns nil, or an error of kind Insufficient when the deployment may not be called (exhausted).
	Payable(ctx context.Context, id uint64) error
	// Report submits a usage report signed by the provider's key and waits for its commit.
	Report(ctx context.Context, key *identity.Key, r *functions.UsageReport) error
}

// Clock is an optional interface of a Ledger that knows the chain's time and
// the functions module's parameters, from which a usage report's epoch is
// computed as the ledger does: block time / epoch_seconds. The REST ledger
// implements it. Without it, the service uses its own clock 5 s behind and
// the default parameters, which stays valid unless the chain's epoch is
// longer than the default's 60 s.
type Clock interface {
	// BlockTime returns the time of the latest committed block.
	BlockTime(ctx context.Context) (time.Time, error)
	// Params returns the functions module's parameters.
	Params(ctx context.Context) (functions.Params, error)
}

// Fetcher returns a module's bytes by storage object ID (the node passes
// one built on storeclient.Get).
type Fetcher func(ctx context.Context, objectID string) ([]byte, error)

// Defaults of Config.
const (
	DefaultSyncEvery = 2 * time.Second
	// DefaultMaxConcurrency is a deployment's instance limit when its spec
	// has no scaling.target_concurrency (the chain's rule,
	// functions.Instances).
	DefaultMaxConcurrency = functions.DefaultInstances
	// MaxConcurrency caps any deployment's concurrent instances.
	MaxConcurrency = functions.MaxInstances
	// DefaultPersistEvery is how often metered usage not yet reported is
	// saved to Dir/state.json: a crash (kill -9) loses at most that much.
	DefaultPersistEvery = 2 * time.Second
	// LogBytes is how much of each deployment's log is kept.
	LogBytes = 1 << 20
)

// Config configures a Service.
type Config struct {
	// Name is the provider's name in logs, such as "compute0".
	Name string
	// Key is the provider's operator key: it signs the usage reports, and
	// its address is the provider on the ledger.
	Key *identity.Key
	// Dir holds the compilation cache (Dir/cache) and the report sequences
	// (Dir/state.json). Only one Service may use it at a time.
	Dir string
	// Listen is the function server's host:port; port 0 picks a free one.
	Listen string
	// Ledger answers what the provider serves and takes its usage reports.
	Ledger Ledger
	// Fetch reads a module from storage.
	Fetch Fetcher
	// Logger receives the service's log; nil discards it.
	Logger *slog.Logger
	// ReportEvery is how often usage is reported; default the functions
	// params' epoch (60 s).
	ReportEvery time.Duration
	// SyncEvery is how often the assignments are refreshed; default 2 s.
	SyncEvery time.Duration
	// PersistEvery is how often the usage metered since the last report is
	// saved, so that a crash loses at most that much; default 2 s.
	PersistEvery time.Duration
}

// Validate checks the fields Start needs.
func (c Config) Validate() error {
	switch {
	case c.Key == nil || c.Ledger == nil || c.Fetch == nil || c.Dir == "":
		return errs.E(errs.Invalid, "compute provider %s: a key, a ledger, a fetcher and a folder are required", c.Name)
	case c.ReportEvery < 0 || c.SyncEvery < 0 || c.PersistEvery < 0:
		return errs.E(errs.Invalid, "compute provider %s: report, sync and persist intervals must not be negative", c.Name)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errs.E(errs.Invalid, "compute provider %s: listen %q is not host:port", c.Name, c.Listen)
	}
	return nil
}

// Service is a running compute provider. Close it when done.
type Service struct {
	cfg    Config
	log    *slog.Logger
	addr   identity.Address
	rt     *wagi.Runtime
	verify *httpsig.Verifier
	srv    *http.Server
	url    string
	state  *stateFile

	// ctx lives as long as the Service: module loads and the loops use it.
	ctx     context.Context
	cancel  context.CancelFunc
	closing chan struct{} // closed first by Close: ends the log followers
	wg      sync.WaitGroup
	once    sync.Once

	mu       sync.Mutex
	deps     map[uint64]*deployment
	syncMu   sync.Mutex // one sync at a time
	lastSync time.Time  // when the last refresh ended
	lastRead time.Time  // when it started reading the ledger
	reportMu sync.Mutex // one report cycle at a time

	// loads counts the module loads running; none starts once loadsClosed,
	// so that Close never closes the runtime under a compilation (wazero
	// panics when a module is compiled on a closed runtime).
	loadsMu     sync.Mutex
	loadsClosed bool
	loads       sync.WaitGroup
}

// Start opens the state in cfg.Dir, serves functions on cfg.Listen and
// starts the sync and report loops. It returns an error of kind Invalid for
// a bad Config, Conflict if the address is taken, and Internal if the
// folder cannot be used. A ledger it cannot reach yet is not an error: the
// loops keep trying.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	if cfg.PersistEvery == 0 {
		cfg.PersistEvery = DefaultPersistEvery
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, errs.E(errs.Internal, "compute provider %s: folder %s: %v", cfg.Name, cfg.Dir, err)
	}
	st, err := loadState(filepath.Join(cfg.Dir, "state.json"))
	if err != nil {
		return nil, err
	}
	if cfg.ReportEvery == 0 {
		cfg.ReportEvery = time.Duration(functions.DefaultParams().EpochSeconds) * time.Second
		if c, ok := cfg.Ledger.(Clock); ok {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if p, err := c.Params(pctx); err == nil && p.EpochSeconds > 0 {
				cfg.ReportEvery = time.Duration(p.EpochSeconds) * time.Second
			}
			cancel()
		}
	}
	s := &Service{
		cfg: cfg, log: log.With("provider", cfg.Name), addr: cfg.Key.Address(), state: st,
		deps: map[uint64]*deployment{}, closing: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.rt, err = wagi.New(ctx, wagi.Config{CacheDir: filepath.Join(cfg.Dir, "cache")}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, errs.E(errs.Conflict, "compute provider %s: cannot listen on %s: %v; pick another port", cfg.Name, cfg.Listen, err)
	}
	s.url = "http://" + ln.Addr().String()
	if s.verify, err = newVerifier(ctx, cfg.Dir, ln.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	// HTTP/2 without TLS as well, as the node's API: a gateway can carry
	// many calls over one connection.
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	s.srv.Protocols.SetUnencryptedHTTP2(true)
	s.srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1000}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("function server stopped", "err", err)
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := s.sync(sctx); err != nil {
		s.log.Warn("cannot read this provider's replicas yet; retrying", "err", err)
	}
	cancel()
	s.wg.Add(3)
	go s.loop(cfg.PersistEvery, s.carryOver)
	go s.loop(cfg.SyncEvery, func() {
		if err := s.sync(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("refreshing replicas failed", "err", err)
		}
	})
	go s.loop(cfg.ReportEvery, func() { s.reportAll(s.ctx) })
	s.log.Info("compute provider started", "url", s.url, "address", s.addr.String())
	return s, nil
}

// newVerifier checks signatures over this provider's own endpoint
// (authority, its host:port), refusing after a restart any signature an
// earlier run may have accepted (the watermark in dir).
func newVerifier(ctx context.Context, dir, authority string) (*httpsig.Verifier, error) {
	w, err := httpsig.OpenWatermark(filepath.Join(dir, "signatures.watermark"))
	if err != nil {
		return nil, err
	}
	if err := w.WaitReady(ctx); err != nil {
		return nil, err
	}
	return httpsig.NewVerifier(httpsig.VerifierOptions{Authority: authority, Watermark: w}), nil
}

func (s *Service) loop(every time.Duration, f func()) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// URL returns the function server's base URL, such as http://127.0.0.1:7001.
func (s *Service) URL() string { return s.url }

// Addr returns the provider's address on the ledger.
func (s *Service) Addr() identity.Address { return s.addr }

// finalReport bounds the last report cycle Close runs.
const finalReport = 3 * time.Second

// Close stops serving, tries once more to report the usage not reported
// yet (for at most 3 s), saves what is still unreported in Dir/state.json
// for the next start, and closes the runtime.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		if s.srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), finalReport)
			s.srv.Shutdown(sctx)
			cancel()
			s.srv.Close()
		}
		s.cancel()
		s.wg.Wait()
		s.loadsMu.Lock()
		s.loadsClosed = true
		s.loadsMu.Unlock()
		s.loads.Wait()
		if s.rt != nil {
			rctx, cancel := context.WithTimeout(context.Background(), finalReport)
			s.reportAll(rctx)
			cancel()
			s.carryOver()
			err = s.rt.Close(context.Background())
		}
	})
	return err
}
