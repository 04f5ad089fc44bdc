package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
)

// testTimeout bounds each wait on the node. It is generous: the tests check
// behaviour, not speed.
const testTimeout = 60 * time.Second

// devnetConfig is a devnet config on free loopback ports with fast blocks.
func devnetConfig() node.Config {
	cfg := node.DefaultConfig()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Consensus.P2PListen = "127.0.0.1:0"
	cfg.Consensus.RPCListen = "127.0.0.1:0"
	cfg.Consensus.TimeoutCommit = node.Duration(50 * time.Millisecond)
	cfg.Consensus.TimeoutPropose = node.Duration(500 * time.Millisecond)
	return cfg
}

// startNode starts the node of home. The returned function closes it once,
// checking the error; t.Cleanup calls it too, for a test that stops early.
func startNode(t *testing.T, home string, cfg node.Config) (*node.Node, func()) {
	t.Helper()
	n, err := node.Start(context.Background(), home, cfg, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := n.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return n, stop
}

func ustr(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := money.ParseUstr(s)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return v
}

// checkSupply checks that the node's buckets add up to its supply, and the
// supply is what the devnet genesis minted.
func checkSupply(ctx context.Context, t *testing.T, c *client.Client) {
	t.Helper()
	s, err := c.Supply(ctx)
	if err != nil {
		t.Fatalf("supply: %v", err)
	}
	var sum uint64
	for name, v := range s.Buckets {
		var err error
		if sum, err = money.Add(sum, ustr(t, v)); err != nil {
			t.Fatalf("bucket %s overflows the sum: %v", name, err)
		}
	}
	total := ustr(t, s.Supply)
	if sum != total {
		t.Errorf("at height %d buckets %v add up to %d, supply is %d", s.Height, s.Buckets, sum, total)
	}
	if want := node.DevnetSupply(); total != want {
		t.Errorf("supply %d, want %d as the devnet genesis minted", total, want)
	}
	if _, ok := s.Buckets[ledger.BucketBalances]; !ok {
		t.Errorf("supply has no %s bucket: %v", ledger.BucketBalances, s.Buckets)
	}
	if s.Height < 1 {
		t.Errorf("supply at height %d, want at least 1 after a commit", s.Height)
	}
}

func recipient() identity.Address {
	seed := sha256.Sum256([]byte("stratus-node-test/recipient"))
	return identity.AddressOf(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
}

// TestDevnetNode starts a devnet, sends a transfer through the REST API,
// reads it back every way the API offers, and restarts the node.
func TestDevnetNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	home := t.TempDir()
	cfg := devnetConfig()
	if created, err := node.InitDevnet(home, cfg, ""); err != nil || !created {
		t.Fatalf("InitDevnet = %v, %v", created, err)
	}
	n, stop := startNode(t, home, cfg)
	c := client.New(n.APIURL())

	if strings.HasSuffix(n.APIURL(), ":0") || !strings.HasPrefix(n.APIURL(), "http://127.0.0.1:") {
		t.Errorf("APIURL %q is not the port actually chosen", n.APIURL())
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if st.ChainID != "stratus-devnet" {
		t.Errorf("status chain_id %q, want stratus-devnet", st.ChainID)
	}
	if p := ledger.DefaultParams(); len(st.Validators) != 1 || st.MinGasPrice != money.FormatUstr(p.MinGasPrice) || st.MaxBlockGas != p.MaxBlockGas {
		t.Errorf("status validators %+v min gas price %q max block gas %d", st.Validators, st.MinGasPrice, st.MaxBlockGas)
	}

	rt, err := node.ReadRuntime(home)
	if err != nil {
		t.Fatalf("runtime file: %v", err)
	}
	if rt.API != n.APIURL() || rt.RPC != n.RPCURL() || rt.PID != os.Getpid() || rt.ChainID != cfg.ChainID {
		t.Errorf("runtime %+v, want api %s rpc %s pid %d chain %s", rt, n.APIURL(), n.RPCURL(), os.Getpid(), cfg.ChainID)
	}
	for _, a := range []string{rt.RPC, rt.P2P} {
		if strings.HasSuffix(a, ":0") || a == "" {
			t.Errorf("runtime address %q is not a chosen port", a)
		}
	}

	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		t.Fatalf("load demo key: %v", err)
	}
	to := recipient()
	const amount = 5 * money.UstrPerSTR
	// The simulation says what the transfer uses; it is signed with a
	// limit of twice that, and pays for what it uses.
	price := ustr(t, st.MinGasPrice)
	probe := &ledger.Tx{ChainID: st.ChainID, Nonce: 0, GasLimit: 1_000_000, GasPrice: price, Msg: &ledger.Transfer{To: to, Amount: amount}}
	if err := probe.Sign(demo); err != nil {
		t.Fatal(err)
	}
	sim, err := c.Simulate(ctx, probe.Bytes())
	if err != nil || sim.Code != 0 || sim.GasUsed == 0 || sim.Fee != money.FormatUstr(sim.GasUsed*price) {
		t.Fatalf("simulate: %+v, %v", sim, err)
	}
	tx := &ledger.Tx{ChainID: st.ChainID, Nonce: 0, GasLimit: 2 * sim.GasUsed, GasPrice: price, Msg: &ledger.Transfer{To: to, Amount: amount}}
	if err := tx.Sign(demo); err != nil {
		t.Fatal(err)
	}
	hash := tx.Hash().String()
	res, err := c.SubmitTx(ctx, tx.Bytes(), true)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if res.Hash != hash || res.Code != 0 || res.Height < 1 || res.Signer != demo.Address().String() {
		t.Fatalf("submit result %+v, want hash %s committed with code 0", res, hash)
	}

	// The same bytes again are refused, and change nothing.
	if _, err := c.SubmitTx(ctx, tx.Bytes(), false); err == nil {
		t.Error("a replayed transaction was accepted")
	}

	got, err := c.Tx(ctx, hash)
	if err != nil {
		t.Fatalf("GET /v1/txs/%s: %v", hash, err)
	}
	if got.Hash != hash || got.Height != res.Height || got.Index != res.Index || got.Code != 0 || got.Type != "bank/transfer" {
		t.Errorf("GET /v1/txs = %+v, want it at height %d", got, res.Height)
	}
	// A transfer to a fresh account: delivered, it reads and writes what
	// the simulation did, so it uses the same gas.
	fee := sim.GasUsed * price
	if got.GasUsed != sim.GasUsed || got.Fee != money.FormatUstr(fee) || got.GasLimit != 2*sim.GasUsed {
		t.Errorf("GET /v1/txs: gas %d of %d, fee %s; want %d of %d, fee %d", got.GasUsed, got.GasLimit, got.Fee, sim.GasUsed, 2*sim.GasUsed, fee)
	}
	if _, err := c.Tx(ctx, strings.Repeat("ab", 32)); !errs.Is(err, errs.NotFound) {
		t.Errorf("GET /v1/txs of an unknown hash: %v, want kind NotFound", err)
	}

	blk, err := c.Block(ctx, res.Height)
	if err != nil {
		t.Fatalf("GET /v1/blocks/%d: %v", res.Height, err)
	}
	if blk.Height != res.Height || !slices.Contains(blk.TxHashes, hash) || blk.NumTxs != len(blk.TxHashes) {
		t.Errorf("block %d = %+v, want it to list %s", res.Height, blk, hash)
	}
	if _, err := c.Block(ctx, 1<<40); !errs.Is(err, errs.NotFound) {
		t.Errorf("GET /v1/blocks of a future height: %v, want kind NotFound", err)
	}

	acct, err := c.Account(ctx, to.String())
	if err != nil || ustr(t, acct.Balance) != amount {
		t.Errorf("recipient account %+v, %v; want balance %d", acct, err, amount)
	}
	acct, err = c.Account(ctx, demo.Address().String())
	if err != nil || acct.Nonce != 1 || ustr(t, acct.Balance) != node.DemoFunds-amount-fee {
		t.Errorf("demo account %+v, %v; want nonce 1 balance %d", acct, err, node.DemoFunds-amount-fee)
	}
	checkSupply(ctx, t, c)

	// CometBFT's own RPC stays reachable for standard tooling, and
	// abci_query reaches the ledger.
	if rpc := httpGet(ctx, t, n.RPCURL()+"/status"); !strings.Contains(rpc, `"network":"stratus-devnet"`) {
		t.Errorf("CometBFT RPC /status does not name the chain:\n%.500s", rpc)
	}
	if q := httpGet(ctx, t, n.RPCURL()+`/abci_query?path="/supply"`); !strings.Contains(q, `"code":0`) || !strings.Contains(q, `"value":"`) {
		t.Errorf("CometBFT RPC abci_query /supply failed:\n%.500s", q)
	}
	metrics := httpGet(ctx, t, n.APIURL()+"/metrics")
	if !strings.Contains(metrics, "stratus_ledger_height") {
		t.Errorf("/metrics does not hold stratus_ledger_height:\n%.2000s", metrics)
	}

	// A second node on the same home is refused while the first runs, and
	// leaves the first one's runtime file alone.
	rtBefore, _ := os.ReadFile(node.RuntimeFile(home))
	for _, tc := range []struct {
		name string
		cfg  node.Config
	}{
		{"free ports", devnetConfig()},
		{"the same API port", func() node.Config {
			c := devnetConfig()
			c.API.Listen = strings.TrimPrefix(n.APIURL(), "http://")
			return c
		}()},
	} {
		n2, err := node.Start(ctx, home, tc.cfg, nil)
		if err == nil {
			n2.Close()
			t.Fatalf("%s: a second Start on a running home succeeded", tc.name)
		}
		if !errs.Is(err, errs.Conflict) {
			t.Errorf("%s: second Start: %v (kind %s), want kind %s", tc.name, err, errs.KindOf(err), errs.Conflict)
		}
		if rt, _ := os.ReadFile(node.RuntimeFile(home)); string(rt) != string(rtBefore) {
			t.Errorf("%s: the refused Start changed the runtime file from %s to %s", tc.name, rtBefore, rt)
		}
	}
	if _, err := c.Status(ctx); err != nil {
		t.Errorf("the first node stopped answering after a refused second Start: %v", err)
	}

	st, err = c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	height := st.Height
	stop()
	if _, err := os.Stat(node.RuntimeFile(home)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime file after Close: %v, want it removed", err)
	}

	// Restart: the chain resumes where it was, with the transfer in it.
	n, stop = startNode(t, home, cfg)
	c = client.New(n.APIURL())
	st, err = c.Status(ctx)
	if err != nil {
		t.Fatalf("status after restart: %v", err)
	}
	if st.Height < height {
		t.Errorf("after restart the chain is at height %d, before it was at %d", st.Height, height)
	}
	if apph, _ := n.App().Height(); apph < res.Height {
		t.Errorf("after restart the app is at height %d, below the transfer's %d", apph, res.Height)
	}
	if got, err := c.Tx(ctx, hash); err != nil || got.Height != res.Height {
		t.Errorf("transfer after restart: %+v, %v; want it at height %d", got, err, res.Height)
	}
	if acct, err := c.Account(ctx, to.String()); err != nil || ustr(t, acct.Balance) != amount {
		t.Errorf("recipient after restart %+v, %v; want balance %d", acct, err, amount)
	}
	// And it makes new blocks.
	tx2 := &ledger.Tx{ChainID: st.ChainID, Nonce: 1, GasLimit: tx.GasLimit, GasPrice: tx.GasPrice, Msg: &ledger.Transfer{To: to, Amount: 1}}
	if err := tx2.Sign(demo); err != nil {
		t.Fatal(err)
	}
	res2, err := c.SubmitTx(ctx, tx2.Bytes(), true)
	if err != nil || res2.Code != 0 || res2.Height <= res.Height {
		t.Errorf("transfer after restart: %+v, %v", res2, err)
	}
	checkSupply(ctx, t, c)
	stop()
}

func httpGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// TestStartRefusesBadConfig: an invalid config fails before anything is
// opened, and a home without genesis fails without leaving a runtime file.
func TestStartRefusesBadConfig(t *testing.T) {
	home := t.TempDir()
	cfg := devnetConfig()
	cfg.Mode = "bogus"
	if _, err := node.Start(context.Background(), home, cfg, nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("Start with a bad mode: %v, want kind Invalid", err)
	}
	n, err := node.Start(context.Background(), home, devnetConfig(), nil)
	if err == nil {
		n.Close()
		t.Fatal("Start on a home with no genesis succeeded")
	}
	if _, err := os.Stat(node.RuntimeFile(home)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Start left a runtime file: %v", err)
	}
}

// TestCloseTwiceKeepsNextRuntimeFile: closing a stopped node again (a
// deferred Close after an explicit one) must not remove the runtime file of
// a node started since on the same home.
func TestCloseTwiceKeepsNextRuntimeFile(t *testing.T) {
	home := t.TempDir()
	cfg := devnetConfig()
	if _, err := node.InitDevnet(home, cfg, ""); err != nil {
		t.Fatal(err)
	}
	first, stopFirst := startNode(t, home, cfg)
	stopFirst()
	second, _ := startNode(t, home, cfg)
	if err := first.Close(); err != nil {
		t.Errorf("second Close of a stopped node: %v", err)
	}
	rt, err := node.ReadRuntime(home)
	if err != nil {
		t.Fatalf("runtime file of the running node after another node's second Close: %v", err)
	}
	if rt.API != second.APIURL() {
		t.Errorf("runtime file names API %s, want the running node's %s", rt.API, second.APIURL())
	}
}
