package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	nm "github.com/cometbft/cometbft/node"
	sm "github.com/cometbft/cometbft/state"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/dashboard"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/gov"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/pebblestore"
	"github.com/stratus-cloud/stratus/provider"
	"github.com/stratus-cloud/stratus/tokens"
)

// Node is a running Stratus node: ledger, consensus and REST API.
type Node struct {
	Home   string
	Config Config

	log     *slog.Logger
	store   *pebblestore.Store
	metrics *domainMetrics
	app     *abci.App
	comet   *nm.Node
	httpSrv *http.Server
	apiURL  string
	rpcAddr string
	api     *api.Server

	wroteRuntime bool
	roles        *roles
	storage      []storageService
	storageMu    sync.Mutex // guards storage's services, which StopStorage and StartStorage swap
	// What StartStorage needs to start a stopped provider again.
	storageLedger provider.Ledger
	storagePass   string
	compute       computeSet
	audit         *auditIndexer // the audit query index and event stream

	submissions chan submission
	stopAdmit   chan struct{}

	// cometState is CometBFT's state store, for validator sets at past
	// heights; nm.Node only hands it out through its RPC environment.
	cometState func() (sm.Store, error)
}

// Runtime is what a running node writes to RuntimeFile.
type Runtime struct {
	PID     int    `json:"pid"`
	API     string `json:"api"`
	RPC     string `json:"rpc"`
	P2P     string `json:"p2p"`
	ChainID string `json:"chain_id"`
	// Storage lists the storage providers the node runs.
	Storage []StorageRuntime `json:"storage,omitempty"`
	// Compute lists the compute providers the node runs.
	Compute []ComputeRuntime `json:"compute,omitempty"`
}

// gcPercent is the garbage collector's target when GOGC is not set. A node
// allocates per request and per transaction and keeps little live heap, so
// the default of 100 spends a tenth of its CPU collecting; 400 trades
// memory, of which a node needs little, for throughput.
const gcPercent = 400

// Registry is the message registry of this release: the ledger's core and
// every module.
func Registry() *ledger.Registry {
	return ledger.DefaultRegistry(market.Module{}, objects.Module{}, functions.Module{}, tokens.Module{}, gov.Module{})
}

// Start opens the home's state, starts consensus, serves the API and runs
// the configured storage and compute providers. Any listen address with
// port 0 gets a free port; the ones chosen are in RuntimeFile(home), APIURL,
// StorageURL and ComputeURL. A home with role "storage" or "compute" runs
// only its providers and their agents, against the validator at cfg.Node.
func Start(ctx context.Context, home string, cfg Config, logger *slog.Logger) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch cfg.Role {
	case RoleStorage, RoleCompute:
		return startProviderHome(ctx, home, cfg, logger)
	case RoleClient:
		return nil, errs.E(errs.Invalid, "%s is a client home: it runs no node; point it at one with node = \"http://HOST:PORT\" in its config", home)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	n := &Node{Home: home, Config: cfg, log: logger}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	// Ports picked now must not be ones the providers are configured on:
	// those were free, and closed, when the home was laid out, and the
	// kernel readily hands a port just closed out again.
	taken := map[string]bool{cfg.API.Listen: true}
	for _, s := range cfg.Storage {
		taken[s.Listen] = true
	}
	for _, c := range cfg.Compute {
		taken[c.Listen] = true
	}
	p2pAddr, err := resolvePort(cfg.Consensus.P2PListen, taken)
	if err != nil {
		return nil, err
	}
	rpcAddr, err := resolvePort(cfg.Consensus.RPCListen, taken)
	if err != nil {
		return nil, err
	}
	n.rpcAddr = rpcAddr
	// The API is bound here and now, so port 0 is left to the system: its
	// choice cannot be taken between a pick and the bind, as a picked port
	// can by another process probing the same one (parallel devnets).
	// System ports are ephemeral ones, which no picked port is.
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return nil, errs.E(errs.Conflict, "the API cannot listen on %s: %v (is another node running? pass --api 127.0.0.1:PORT with a free port)", cfg.API.Listen, err)
	}
	n.apiURL = "http://" + ln.Addr().String()

	if n.store, err = pebblestore.Open(StateDir(home)); err != nil {
		ln.Close()
		return nil, err
	}
	reg := Registry()
	n.app, err = abci.NewApp(ledger.New(reg), n.store, abci.Options{Logger: logger, RetainBlocks: cfg.Consensus.RetainBlocks})
	if err != nil {
		ln.Close()
		return nil, err
	}
	if n.audit, err = newAuditIndexer(n, home); err != nil {
		ln.Close()
		return nil, err
	}
	b := &backend{n: n}
	n.api = api.NewServer(b, api.Options{Logger: logger, CometRPC: "http://" + rpcAddr})
	n.mountMarket()
	n.mountFunctions()
	n.mountQuery()
	n.mountBlocks()
	dashboard.Mount(n.api)
	if cfg.Mode == ModeDevnet {
		n.mountDevnet()
	}
	n.api.HandleJSON("GET /providers/{name}/healthz", func(r *http.Request) (any, error) {
		for _, p := range cfg.Providers {
			if p == r.PathValue("name") {
				return map[string]string{"status": "ok", "provider": p}, nil
			}
		}
		return nil, errs.E(errs.NotFound, "this node runs no provider named %q", r.PathValue("name"))
	})
	m := newLedgerMetrics(n.api.Registry())
	d := newDomainMetrics(n, n.api.Registry())
	n.metrics = d
	n.app.OnCommit = func(c abci.CommitInfo) {
		m.observe(c)
		d.observe(c)
		n.audit.notify(c)
	}

	n.comet, err = abci.StartComet(ctx, n.app, abci.CometConfig{
		Dir:                 CometDir(home),
		Moniker:             cfg.Moniker,
		P2PListen:           p2pAddr,
		RPCListen:           rpcAddr,
		PersistentPeers:     cfg.Consensus.PersistentPeers,
		TimeoutCommit:       time.Duration(cfg.Consensus.TimeoutCommit),
		TimeoutPropose:      time.Duration(cfg.Consensus.TimeoutPropose),
		EmptyBlocksInterval: time.Duration(cfg.Consensus.EmptyBlocksInterval),
		Logger:              logger,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	n.cometState = sync.OnceValues(func() (sm.Store, error) {
		env, err := n.comet.ConfigureRPC()
		if err != nil {
			return nil, err
		}
		return env.StateStore, nil
	})
	n.audit.start()
	n.submissions, n.stopAdmit = make(chan submission, 4096), make(chan struct{})
	go n.admit(n.stopAdmit)
	n.httpSrv = &http.Server{Handler: n.api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	// HTTP/2 without TLS as well as HTTP/1.1, so one client connection can
	// carry thousands of requests that wait for their commits.
	n.httpSrv.Protocols = new(http.Protocols)
	n.httpSrv.Protocols.SetHTTP1(true)
	n.httpSrv.Protocols.SetUnencryptedHTTP2(true)
	n.httpSrv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1000}
	n.httpSrv.RegisterOnShutdown(n.audit.hub.closeAll) // streams end, so Shutdown does not wait on them
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("API server stopped", "err", err)
		}
	}()
	passphrase := os.Getenv("STRATUS_PASSPHRASE")
	if err := n.startStorage(ctx, n.apiURL, passphrase); err != nil {
		return nil, err
	}
	if err := n.startCompute(ctx, n.apiURL, passphrase); err != nil {
		return nil, err
	}
	rt := Runtime{PID: os.Getpid(), API: n.apiURL, RPC: "http://" + rpcAddr, P2P: p2pAddr, ChainID: n.comet.GenesisDoc().ChainID,
		Storage: n.storageRuntime(), Compute: n.computeRuntime()}
	raw, _ := json.MarshalIndent(rt, "", "  ")
	if err := writeFileAtomic(RuntimeFile(home), raw, 0o600); err != nil {
		return nil, err
	}
	n.wroteRuntime = true
	n.startRoles(n.apiURL, passphrase)
	logger.Info("node started", "home", home, "chain_id", rt.ChainID, "api", n.apiURL, "rpc", rt.RPC, "p2p", p2pAddr)
	return n, nil
}

// resolvePort returns addr, or with port 0 addr's host with a port free a
// moment ago and not in taken, which it adds to taken.
func resolvePort(addr string, taken map[string]bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q is not host:port", addr)
	}
	if port != "0" {
		return addr, nil
	}
	return freePortExcept(host, taken)
}

// freePortExcept returns host:port, a port free a moment ago and not in
// taken, and adds it to taken (see pickPort).
func freePortExcept(host string, taken map[string]bool) (string, error) {
	return pickPort(host, taken)
}

// APIURL is the base URL of the node's REST API.
func (n *Node) APIURL() string { return n.apiURL }

// RPCURL is the CometBFT RPC address.
func (n *Node) RPCURL() string { return "http://" + n.rpcAddr }

// App returns the ABCI application.
func (n *Node) App() *abci.App { return n.app }

// Comet returns the CometBFT node.
func (n *Node) Comet() *nm.Node { return n.comet }

// API returns the REST API server, so other roles can mount routes on it.
func (n *Node) API() *api.Server { return n.api }

// Close stops the compute and storage providers, the API, consensus and the
// store, in that order. It is safe to call on a partly started node.
func (n *Node) Close() error {
	// The node's scheduled jobs first: a storage provider's (anchoring its
	// access log) writes to the provider's store, which closeStorage
	// closes.
	if n.roles != nil {
		n.roles.stop()
		n.roles = nil
	}
	// Then the providers: their requests in flight read the ledger through
	// the API.
	first := n.closeCompute()
	if err := n.closeStorage(); err != nil && first == nil {
		first = err
	}
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			n.httpSrv.Close()
		}
		cancel()
	}
	if n.stopAdmit != nil {
		close(n.stopAdmit)
		n.stopAdmit = nil
	}
	if n.audit != nil {
		// It reads the store and the block store.
		if err := n.audit.stop(); err != nil && first == nil {
			first = err
		}
	}
	if n.comet != nil && n.comet.IsRunning() {
		if err := n.comet.Stop(); err != nil && first == nil {
			first = err
		}
		n.comet.Wait()
	}
	if n.metrics != nil {
		// Its lease scans read the store.
		n.metrics.stop()
		n.metrics = nil
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil && first == nil {
			first = err
		}
		n.store = nil
	}
	if n.wroteRuntime {
		os.Remove(RuntimeFile(n.Home))
		n.wroteRuntime = false
	}
	return first
}

type ledgerMetrics struct {
	height prometheus.Gauge
	txs    *prometheus.CounterVec
	blocks prometheus.Counter
}

func newLedgerMetrics(reg prometheus.Registerer) *ledgerMetrics {
	m := &ledgerMetrics{
		height: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stratus_ledger_height", Help: "Last committed block height."}),
		txs:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_ledger_txs_total", Help: "Transactions executed, by result."}, []string{"result"}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "stratus_ledger_blocks_total", Help: "Blocks committed since start."}),
	}
	reg.MustRegister(m.height, m.txs, m.blocks)
	return m
}

func (m *ledgerMetrics) observe(c abci.CommitInfo) {
	m.height.Set(float64(c.Height))
	m.blocks.Inc()
	m.txs.WithLabelValues("ok").Add(float64(c.NumTxs - c.Failed))
	m.txs.WithLabelValues("failed").Add(float64(c.Failed))
}
