// Package provider is a storage provider's service: the shard API
// (package shardserver) over a disk store (package shardstore/disk), with
// the rules that tie it to the ledger. A consumer may write as many bytes as
// its storage leases with this provider allow; the provider remembers who
// stored which shard, lets a consumer delete only its own shards and only
// once no live object uses them, and collects the shards nobody needs any
// more: those of crashed uploads and of removed or expired objects. It signs
// a storage receipt, which a commit needs to name this provider, only for
// shards it holds for the asking consumer, and keeps them until the receipt
// expires (receipts.go).
//
// It reads the ledger through the Ledger interface (NewRESTLedger reads a
// node's REST API) and never writes to it: acknowledging leases and keeping
// the registered endpoint current is the node's provider agent's job, and
// so is anchoring the access log of private reads (accesslog.go), which the
// agent does through AccessLog.AnchorDue with its own signed transactions.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/disk"
	"github.com/stratus-cloud/stratus/storage"
)

// Defaults of Config.
const (
	DefaultGCInterval = time.Minute
	DefaultGCGrace    = 30 * time.Minute
)

// Config configures a Service.
type Config struct {
	// Name is the provider's name in logs, such as "storage0".
	Name string
	// Key is the provider's operator key: its address is the provider on
	// the ledger.
	Key *identity.Key
	// Dir holds the shards (Dir/shards) and the index of who stored them
	// (Dir/meta). Only one Service may use it at a time.
	Dir string
	// Listen is the shard API's host:port; port 0 picks a free one.
	Listen string
	// Capacity is the most bytes of shards the store holds (its disk
	// quota); 0 means no limit.
	Capacity int64
	// Ledger answers the lease and reference questions.
	Ledger Ledger
	// Logger receives the service's log; nil discards it.
	Logger *slog.Logger
	// GCInterval is how often the collector runs (default 1 min); GCGrace is
	// how long a shard is kept after its last put while no live object
	// uses it (default 30 min).
	GCInterval, GCGrace time.Duration
	// ReadLog records every signed read of a private object's shard before
	// it is served (shardserver.Options.ReadLog); nil records nothing.
	ReadLog shardserver.ReadLogger
}

// Service is a running storage provider. Close it when done.
type Service struct {
	cfg   Config
	log   *slog.Logger
	addr  identity.Address
	store *disk.Store
	idx   *index
	keep  *keeper
	// access is the log of private reads; nil if the Ledger is not an
	// AccessLedger.
	access *AccessLog
	url    string
	srv    *http.Server

	gcMu       sync.Mutex                    // one collector pass at a time
	referenced map[shardstore.Hash]time.Time // when a shard was last seen referenced

	stopGC context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start opens the store and the index in cfg.Dir, serves the shard API on
// cfg.Listen and starts the collector. It returns an error of kind Invalid
// for a bad Config, Conflict if the address is taken or another process
// holds the folder, and Internal if the folder cannot be used.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	if cfg.Key == nil || cfg.Ledger == nil || cfg.Dir == "" {
		return nil, errs.E(errs.Invalid, "provider %s: a key, a ledger and a folder are required", cfg.Name)
	}
	if cfg.Capacity < 0 || cfg.GCInterval < 0 || cfg.GCGrace < 0 {
		return nil, errs.E(errs.Invalid, "provider %s: capacity, gc interval and gc grace must not be negative", cfg.Name)
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.GCGrace == 0 {
		cfg.GCGrace = DefaultGCGrace
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: log.With("provider", cfg.Name), addr: cfg.Key.Address(), referenced: map[shardstore.Hash]time.Time{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// The index first: it locks the folder against a second process.
	if s.idx, err = openIndex(filepath.Join(cfg.Dir, "meta")); err != nil {
		return nil, err
	}
	s.store, err = disk.Open(ctx, filepath.Join(cfg.Dir, "shards"), shardstore.Options{
		Quota:  cfg.Capacity,
		Verify: storage.ShardVerifier(storage.DefaultLeafSize),
	})
	if err != nil {
		return nil, err
	}
	if s.keep, err = newKeeper(cfg.Key, cfg.Ledger, s.store, s.idx, time.Now); err != nil {
		return nil, err
	}
	s.keep.receiptTTL = min(storage.ReceiptLifetime, cfg.GCGrace)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, errs.E(errs.Conflict, "provider %s cannot listen on %s: %v: choose a free port", cfg.Name, cfg.Listen, err)
	}
	s.url = "http://" + ln.Addr().String()
	// Signatures are checked over this provider's own endpoint, and a
	// watermark refuses after a restart what an earlier run accepted.
	w, err := httpsig.OpenWatermark(filepath.Join(cfg.Dir, "signatures.watermark"))
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := w.WaitReady(ctx); err != nil {
		ln.Close()
		return nil, err
	}
	v := httpsig.NewVerifier(httpsig.VerifierOptions{Authority: ln.Addr().String(), Watermark: w})
	readLog := cfg.ReadLog
	if al, ok := cfg.Ledger.(AccessLedger); ok {
		// The access log (accesslog.go) shares the index, records the
		// private reads unless the Config names another ReadLog, and GET
		// /access sits beside the shard API.
		if s.access, err = newAccessLog(s.idx.db, al, s.addr, ln.Addr().String(), time.Now); err != nil {
			ln.Close()
			return nil, err
		}
		if readLog == nil {
			readLog = s.access
		}
	}
	var h http.Handler = shardserver.New(s.store, s.keep, v, shardserver.Options{Logger: s.log, ReadLog: readLog})
	if s.access != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /access", s.access.accessHandler(v, time.Now, s.log))
		mux.Handle("/", h)
		h = mux
	}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	// HTTP/2 without TLS as well as HTTP/1.1, as the node's API does.
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	s.srv.Protocols.SetUnencryptedHTTP2(true)
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("shard API stopped", "err", err)
		}
	}()
	gctx, cancel := context.WithCancel(context.Background())
	s.stopGC = cancel
	s.wg.Add(1)
	go s.collect(gctx)
	s.log.Info("storage provider started", "url", s.url, "address", s.addr.String(), "dir", cfg.Dir, "capacity", cfg.Capacity)
	return s, nil
}

// URL is the base URL of the shard API, such as http://127.0.0.1:7001.
func (s *Service) URL() string { return s.url }

// Addr is the provider's address on the ledger.
func (s *Service) Addr() identity.Address { return s.addr }

// AccessLog is the log of the private reads the service served, or nil if
// its Ledger cannot answer what the log needs (an AccessLedger).
func (s *Service) AccessLog() *AccessLog { return s.access }

// Store is the shard store the service serves.
func (s *Service) Store() shardstore.Store { return s.store }

// GC runs one pass of the collector now, and returns how many shards it
// deleted. It returns the first error that stopped the pass; a shard whose
// references cannot be read is kept and does not stop it.
func (s *Service) GC(ctx context.Context) (int, error) { return s.gc(ctx, time.Now()) }

// Close stops the shard API (waiting up to 5 s for requests in flight) and
// the collector, and closes the index. It is safe to call more than once and
// on a partly started Service.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if s.srv.Shutdown(ctx) != nil {
				s.srv.Close()
			}
			cancel()
		}
		if s.stopGC != nil {
			s.stopGC()
		}
		s.wg.Wait()
		if s.idx != nil {
			if cerr := s.idx.close(); cerr != nil {
				err = fmt.Errorf("provider %s: close the index: %w", s.cfg.Name, cerr)
			}
		}
	})
	return err
}

// collect runs the collector every GCInterval until ctx ends.
func (s *Service) collect(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.gc(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("shard collection stopped early", "deleted", n, "err", err)
		case n > 0:
			s.log.Info("shards collected", "deleted", n)
		}
	}
}
