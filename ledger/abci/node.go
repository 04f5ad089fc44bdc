package abci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	cmttypes "github.com/cometbft/cometbft/types"
)

// CometConfig is the part of CometBFT's configuration Stratus sets. The rest
// keeps CometBFT's defaults.
type CometConfig struct {
	// Dir is CometBFT's root: config/ holds genesis.json and the keys,
	// data/ its block store and WAL.
	Dir             string
	Moniker         string
	P2PListen       string // host:port
	RPCListen       string // host:port
	PersistentPeers string // id@host:port,...
	// TimeoutCommit is the pause after a commit before the next height;
	// with one validator it is the block time.
	TimeoutCommit  time.Duration
	TimeoutPropose time.Duration
	// EmptyBlocksInterval, if positive, makes blocks without transactions
	// no more often than this; zero makes them at every height.
	EmptyBlocksInterval time.Duration
	// Prometheus, if set, serves CometBFT's own metrics there.
	Prometheus string
	Logger     *slog.Logger
}

// GenesisFile returns the path of the genesis document under dir.
func GenesisFile(dir string) string { return filepath.Join(dir, "config", "genesis.json") }

// PrivValidatorKeyFile returns the path of the consensus key under dir.
func PrivValidatorKeyFile(dir string) string {
	return filepath.Join(dir, "config", "priv_validator_key.json")
}

// NodeKeyFile returns the path of the p2p key under dir.
func NodeKeyFile(dir string) string { return filepath.Join(dir, "config", "node_key.json") }

func cometConfig(c CometConfig) *cmtcfg.Config {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(c.Dir)
	cfg.Moniker = c.Moniker
	cfg.P2P.ListenAddress = "tcp://" + c.P2PListen
	cfg.P2P.PersistentPeers = c.PersistentPeers
	cfg.P2P.AddrBookStrict = false // peers are on loopback in devnet and testnet
	cfg.P2P.AllowDuplicateIP = true
	cfg.P2P.PexReactor = c.PersistentPeers != ""
	cfg.RPC.ListenAddress = "tcp://" + c.RPCListen
	if c.TimeoutCommit > 0 {
		cfg.Consensus.TimeoutCommit = c.TimeoutCommit
	}
	if c.TimeoutPropose > 0 {
		cfg.Consensus.TimeoutPropose = c.TimeoutPropose
	}
	cfg.Consensus.CreateEmptyBlocks = true
	cfg.Consensus.CreateEmptyBlocksInterval = c.EmptyBlocksInterval
	// The ledger keeps its own transaction index in Pebble; CometBFT's
	// would index every transaction a second time.
	cfg.TxIndex.Indexer = "null"
	cfg.Mempool.Size = 50_000
	cfg.Mempool.MaxTxsBytes = 512 << 20
	cfg.Mempool.CacheSize = 100_000
	cfg.Storage.DiscardABCIResponses = true
	if c.Prometheus != "" {
		cfg.Instrumentation.Prometheus = true
		cfg.Instrumentation.PrometheusListenAddr = c.Prometheus
	}
	return cfg
}

// StartComet starts CometBFT in this process, driving app through
// per-connection local clients so that CheckTx and queries never wait behind
// FinalizeBlock. Stop the returned node with Stop and Wait.
func StartComet(ctx context.Context, app *App, c CometConfig) (*nm.Node, error) {
	cfg := cometConfig(c)
	if err := cfg.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("consensus config: %w", err)
	}
	gen, err := cmttypes.GenesisDocFromFile(cfg.GenesisFile())
	if err != nil {
		return nil, fmt.Errorf("read genesis: %w", err)
	}
	app.SetChainID(gen.ChainID)
	pv := privval.LoadFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
	nodeKey, err := p2p.LoadNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("load node key: %w", err)
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n, err := nm.NewNodeWithContext(ctx, cfg, pv, nodeKey,
		proxy.NewConnSyncLocalClientCreator(app),
		func() (*cmttypes.GenesisDoc, error) { return gen, nil },
		dbProvider,
		nm.DefaultMetricsProvider(cfg.Instrumentation),
		cometLogger{logger.With("module", "comet")},
	)
	if err != nil {
		return nil, fmt.Errorf("create consensus node: %w", err)
	}
	if err := n.Start(); err != nil {
		return nil, fmt.Errorf("start consensus node: %w", err)
	}
	return n, nil
}

// cometLogger routes CometBFT's logs into slog. CometBFT logs every block
// at Info; that is Debug for a Stratus operator.
type cometLogger struct{ l *slog.Logger }

func (c cometLogger) Debug(msg string, kv ...any) {}
func (c cometLogger) Info(msg string, kv ...any)  { c.l.Debug(msg, kv...) }
func (c cometLogger) Error(msg string, kv ...any) {
	if shutdownNoise(msg, kv) {
		c.l.Debug(msg, kv...)
		return
	}
	c.l.Warn(msg, kv...)
}

// shutdownNoise reports the errors CometBFT logs when its own listeners
// close during a clean stop.
func shutdownNoise(msg string, kv []any) bool {
	if strings.Contains(msg, "transport is closed") {
		return true
	}
	for _, v := range kv {
		if err, ok := v.(error); ok && errors.Is(err, net.ErrClosed) {
			return true
		}
	}
	return false
}
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{c.l.With(kv...)}
}
