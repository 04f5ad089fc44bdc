package testnet

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/node"
)

// Cluster is a testnet of validators that all run in this process, for
// consensus and fault tests and for benchmarks. Its homes are laid out by
// node.InitTestnet, so each validator has the same files, ports and genesis
// as one started by `stratus testnet start`; only the process boundary is
// missing.
//
// A Cluster is safe for concurrent use. Its methods that wait take a
// context; the ones that cannot fail call t.Fatal.
type Cluster struct {
	t TB
	// Dir holds validator0 ... validatorN-1 and the client home.
	Dir string

	homes   []string
	cfgs    []node.Config
	clients []*client.Client
	log     *slog.Logger

	mu    sync.Mutex
	nodes []*node.Node // nil while stopped
	demo  *identity.Key
	// seen is the highest height at which Send saw a commit; Send waits
	// for its node to reach it before reading a nonce, so that one test's
	// sends through different nodes read their own writes.
	seen int64
}

// Consensus timeouts of a Cluster: short, since every peer is in this
// process, but long enough that a loaded machine still makes blocks.
const (
	clusterTimeoutCommit  = 200 * time.Millisecond
	clusterTimeoutPropose = 500 * time.Millisecond
)

// startTimeout bounds how long NewCluster waits for the first block.
const startTimeout = 60 * time.Second

// TB is the part of testing.TB a Cluster uses. Taking it instead of
// testing.TB keeps the testing package out of the stratus binary, which
// links this package for `stratus testnet`.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	TempDir() string
}

// NewCluster lays out a testnet of n validators in a temporary folder,
// starts every validator in this process and waits until all of them have
// committed the first block. t.Cleanup stops them.
func NewCluster(t TB, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	tns, err := node.InitTestnet(dir, n, "")
	if err != nil {
		t.Fatalf("lay out a testnet of %d: %v", n, err)
	}
	c := &Cluster{t: t, Dir: dir, log: testLogger(t), nodes: make([]*node.Node, n)}
	t.Cleanup(c.closeAll)
	for _, tn := range tns {
		cfg, err := node.LoadConfig(tn.Home)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Consensus.TimeoutCommit = node.Duration(clusterTimeoutCommit)
		cfg.Consensus.TimeoutPropose = node.Duration(clusterTimeoutPropose)
		c.homes = append(c.homes, tn.Home)
		c.cfgs = append(c.cfgs, cfg)
		// The API port is fixed in the config, so one client serves
		// every start of the node.
		c.clients = append(c.clients, client.New("http://"+cfg.API.Listen))
	}
	for i := range n {
		c.start(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for i := range n {
		if err := c.WaitHeight(ctx, i, 1); err != nil {
			t.Fatalf("cluster of %d did not make its first block: %v", n, err)
		}
	}
	return c
}

// Len returns the number of validators.
func (c *Cluster) Len() int { return len(c.homes) }

// Home returns validator i's home.
func (c *Cluster) Home(i int) string { return c.homes[i] }

// Node returns validator i, or nil while it is stopped.
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Client returns an API client for validator i. It keeps working across
// Stop and Restart, and fails with kind Unavailable while the node is down.
func (c *Cluster) Client(i int) *client.Client { return c.clients[i] }

// Stop closes validator i, as a clean shutdown would.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("stop validator%d: it is not running", i)
	}
	if err := n.Close(); err != nil {
		c.t.Fatalf("stop validator%d: %v", i, err)
	}
}

// Restart starts validator i again on its home, after Stop.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Node(i) != nil {
		c.t.Fatalf("restart validator%d: it is running; Stop it first", i)
	}
	c.start(i)
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	n, err := node.Start(context.Background(), c.homes[i], c.cfgs[i], c.log.With("node", fmt.Sprintf("validator%d", i)))
	if err != nil {
		c.t.Fatalf("start validator%d: %v", i, err)
	}
	if n.APIURL() != c.clients[i].BaseURL() {
		n.Close()
		c.t.Fatalf("validator%d serves its API at %s, not at its configured %s", i, n.APIURL(), c.clients[i].BaseURL())
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

// Diagnose logs, for each running validator, its height, whether it is
// still syncing blocks, and its peers: what a test that waited in vain for
// a height needs to say why.
func (c *Cluster) Diagnose() {
	c.t.Helper()
	c.mu.Lock()
	nodes := slices.Clone(c.nodes)
	c.mu.Unlock()
	for i, n := range nodes {
		if n == nil {
			c.t.Logf("validator%d: stopped", i)
			continue
		}
		cm := n.Comet()
		var peers []string
		for _, p := range cm.Switch().Peers().List() {
			dir := "in"
			if p.IsOutbound() {
				dir = "out"
			}
			peers = append(peers, fmt.Sprintf("%.8s(%s)", p.ID(), dir))
		}
		c.t.Logf("validator%d %.8s: block store at %d, syncing blocks %v, peers %v", i, cm.NodeInfo().ID(), cm.BlockStore().Height(), cm.ConsensusReactor().WaitSync(), peers)
	}
}

// closeAll stops every running validator, all at once.
func (c *Cluster) closeAll() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = make([]*node.Node, len(nodes))
	c.mu.Unlock()
	var wg sync.WaitGroup
	for i, n := range nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Close(); err != nil {
				c.t.Errorf("close validator%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// Height returns the last height validator i has committed, or 0 while it is
// stopped.
func (c *Cluster) Height(i int) int64 {
	n := c.Node(i)
	if n == nil {
		return 0
	}
	h, _ := n.App().Height()
	return h
}

// WaitHeight waits until validator i has committed height h. It fails if the
// context ends first, or if the validator is stopped.
func (c *Cluster) WaitHeight(ctx context.Context, i int, h int64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := c.Node(i)
		if n == nil {
			return fmt.Errorf("validator%d is stopped", i)
		}
		got, _ := n.App().Height()
		if got >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("validator%d is at height %d, waiting for %d: %w", i, got, h, ctx.Err())
		case <-tick.C:
		}
	}
}

// DemoKey returns the funded demo key of the cluster's client home.
func (c *Cluster) DemoKey() *identity.Key {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.demo == nil {
		k, err := identity.OpenKeystore(node.KeysDir(node.ClientHome(c.Dir))).Load(node.DemoKey, "")
		if err != nil {
			c.t.Fatalf("load the demo key: %v", err)
		}
		c.demo = k
	}
	return c.demo
}

// Send transfers amt ustr from one key to an address through validator i's
// API and waits for the commit, as `stratus tx send` does. A transaction
// that is committed but fails is an error with its kind.
func (c *Cluster) Send(ctx context.Context, i int, from *identity.Key, to identity.Address, amt uint64) (api.TxResult, error) {
	c.mu.Lock()
	seen := c.seen
	c.mu.Unlock()
	if err := c.WaitHeight(ctx, i, seen); err != nil {
		return api.TxResult{}, err
	}
	res, err := SendTransfer(ctx, c.Client(i), from, to, amt)
	if res.Height > 0 {
		c.mu.Lock()
		c.seen = max(c.seen, res.Height)
		c.mu.Unlock()
	}
	return res, err
}

// GenesisSupply returns the ustr a testnet of n validators starts with: the
// demo key's and each operator's.
func GenesisSupply(n int) uint64 {
	return node.DemoFunds + uint64(n)*node.OperatorFunds
}

// SendTransfer signs a transfer of amt ustr with from, with the nonce, fee
// and chain id the node reports, submits it through c and waits for the
// commit. A transaction that is committed but fails is an error with its
// kind, and its result.
func SendTransfer(ctx context.Context, c *client.Client, from *identity.Key, to identity.Address, amt uint64) (api.TxResult, error) {
	return c.Send(ctx, from, &ledger.Transfer{To: to, Amount: amt}, client.SendOptions{})
}

// TransferGas is a gas limit that covers any transfer under the default gas
// table (one uses about 2,000), for tests that sign transfers without a
// simulation.
const TransferGas = 10_000

// SignTransfer returns the encoding of a signed transfer with a gas limit of
// TransferGas at price ustr per gas.
func SignTransfer(chainID string, from *identity.Key, nonce, price uint64, to identity.Address, amt uint64) ([]byte, error) {
	tx := &ledger.Tx{ChainID: chainID, Nonce: nonce, GasLimit: TransferGas, GasPrice: price, Msg: &ledger.Transfer{To: to, Amount: amt}}
	if err := tx.Msg.Validate(); err != nil {
		return nil, err
	}
	if err := tx.Sign(from); err != nil {
		return nil, err
	}
	return tx.Bytes(), nil
}

// testLogger returns a logger that keeps the last warnings and errors of the
// cluster and writes them to t.Log at the end of a test that failed.
// CometBFT reports every dropped peer as an error, so a passing test stays
// quiet.
func testLogger(t TB) *slog.Logger {
	h := &tbHandler{state: &tbState{}}
	t.Cleanup(func() {
		h.state.mu.Lock()
		defer h.state.mu.Unlock()
		h.state.done = true
		if t.Failed() && len(h.state.lines) > 0 {
			t.Logf("the cluster's last %d warnings:\n%s", len(h.state.lines), strings.Join(h.state.lines, "\n"))
		}
	})
	return slog.New(h)
}

// keptLogLines is how many lines testLogger keeps.
const keptLogLines = 300

type tbHandler struct {
	state *tbState
	attrs []slog.Attr
	group string
}

// tbState is shared by a handler and those derived from it.
type tbState struct {
	mu    sync.Mutex
	done  bool
	lines []string
}

func (h *tbHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *tbHandler) Handle(_ context.Context, r slog.Record) error {
	msg := fmt.Sprintf("%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	for _, a := range h.attrs {
		msg += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		msg += " " + a.String()
		return true
	})
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	if !h.state.done {
		if len(h.state.lines) == keptLogLines {
			h.state.lines = append(h.state.lines[:0], h.state.lines[1:]...)
		}
		h.state.lines = append(h.state.lines, msg)
	}
	return nil
}

func (h *tbHandler) WithAttrs(as []slog.Attr) slog.Handler {
	nh := *h
	nh.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	if h.group != "" {
		for i := len(h.attrs); i < len(nh.attrs); i++ {
			nh.attrs[i].Key = h.group + "." + nh.attrs[i].Key
		}
	}
	return &nh
}

func (h *tbHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	nh := *h
	if h.group != "" {
		name = h.group + "." + name
	}
	nh.group = name
	return &nh
}
