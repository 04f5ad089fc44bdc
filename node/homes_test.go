package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
	"github.com/stratus-cloud/stratus/node"
)

// readGenesis reads a home's CometBFT genesis and its app state.
func readGenesis(t *testing.T, home string) (*cmttypes.GenesisDoc, ledger.Genesis, []byte) {
	t.Helper()
	path := abci.GenesisFile(node.CometDir(home))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read genesis: %v", err)
	}
	doc, err := cmttypes.GenesisDocFromJSON(raw)
	if err != nil {
		t.Fatalf("genesis of %s: %v", home, err)
	}
	var g ledger.Genesis
	if err := json.Unmarshal(doc.AppState, &g); err != nil {
		t.Fatalf("genesis app_state of %s: %v", home, err)
	}
	if err := g.Validate(); err != nil {
		t.Errorf("genesis app_state of %s does not validate: %v", home, err)
	}
	return doc, g, raw
}

func keyAddress(t *testing.T, home, name string) identity.Address {
	t.Helper()
	info, err := identity.OpenKeystore(node.KeysDir(home)).Show(name)
	if err != nil {
		t.Fatalf("key %s in %s: %v", name, home, err)
	}
	a, err := identity.ParseDID(info.Address)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func allocation(g ledger.Genesis, a identity.Address) (uint64, bool) {
	for _, acct := range g.Accounts {
		if acct.Address == a {
			return acct.Balance, true
		}
	}
	return 0, false
}

// snapshotTree returns every file under dir with its contents.
func snapshotTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInitDevnet(t *testing.T) {
	home := filepath.Join(t.TempDir(), "devnet")
	cfg := node.DefaultConfig()
	cfg.Moniker = "my-devnet"
	created, err := node.InitDevnet(home, cfg, "")
	if err != nil || !created {
		t.Fatalf("InitDevnet = %v, %v; want true, nil", created, err)
	}
	if !node.Exists(home) {
		t.Fatal("no config after InitDevnet")
	}
	// The config is saved with the built-in providers, and the ports of
	// the API, of each storage provider's shard API and of each compute
	// provider's function server fixed.
	want := cfg
	want.Providers = []string{"storage0", "storage1", "storage2", "storage3", "storage4", "compute0", "compute1", "compute2"}
	got, err := node.LoadConfig(home)
	if err != nil {
		t.Fatalf("LoadConfig after InitDevnet: %v", err)
	}
	ports := map[string]bool{got.API.Listen: true}
	for i, s := range got.Storage {
		if want := node.DefaultStorage(fmt.Sprintf("storage%d", i), s.Listen, node.StorageCapacity); s != want {
			t.Errorf("storage %d = %+v, want %+v", i, s, want)
		}
		if !strings.HasPrefix(s.Listen, "127.0.0.1:") || strings.HasSuffix(s.Listen, ":0") || ports[s.Listen] {
			t.Errorf("storage %d listens on %q, want a loopback port of its own", i, s.Listen)
		}
		ports[s.Listen] = true
	}
	if len(got.Storage) != node.DevnetStorage {
		t.Errorf("config has %d storage providers, want %d", len(got.Storage), node.DevnetStorage)
	}
	want.Storage = got.Storage
	for i, c := range got.Compute {
		if want := node.DefaultCompute(fmt.Sprintf("compute%d", i), c.Listen); c != want {
			t.Errorf("compute %d = %+v, want %+v", i, c, want)
		}
		if !strings.HasPrefix(c.Listen, "127.0.0.1:") || strings.HasSuffix(c.Listen, ":0") || ports[c.Listen] {
			t.Errorf("compute %d listens on %q, want a loopback port of its own", i, c.Listen)
		}
		ports[c.Listen] = true
	}
	if len(got.Compute) != node.DevnetCompute {
		t.Errorf("config has %d compute providers, want %d", len(got.Compute), node.DevnetCompute)
	}
	want.Compute = got.Compute
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadConfig after InitDevnet = %+v; want %+v", got, want)
	}

	ks := identity.OpenKeystore(node.KeysDir(home))
	infos, err := ks.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{"compute0", "compute1", "compute2", node.DemoKey, node.OperatorKey, "storage0", "storage1", "storage2", "storage3", "storage4"}) {
		t.Errorf("keys %v, want compute0 to compute2, demo, operator and storage0 to storage4", names)
	}
	demoKey, err := ks.Load(node.DemoKey, "")
	if err != nil {
		t.Fatalf("load the demo key with an empty passphrase: %v", err)
	}
	demo, op := demoKey.Address(), keyAddress(t, home, node.OperatorKey)

	doc, g, genRaw := readGenesis(t, home)
	if doc.ChainID != cfg.ChainID || doc.InitialHeight != 1 {
		t.Errorf("genesis chain id %q initial height %d, want %q and 1", doc.ChainID, doc.InitialHeight, cfg.ChainID)
	}
	if bal, ok := allocation(g, demo); !ok || bal != node.DemoFunds {
		t.Errorf("demo allocation %d (%v), want %d", bal, ok, node.DemoFunds)
	}
	if bal, ok := allocation(g, op); !ok || bal != node.OperatorFunds {
		t.Errorf("operator allocation %d (%v), want %d", bal, ok, node.OperatorFunds)
	}
	pub, _, err := node.ConsensusKeys(node.CometDir(home))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Validators) != 1 || g.Validators[0].Operator != op || !bytes.Equal(g.Validators[0].ConsPubKey, pub) || g.Validators[0].Name != cfg.Moniker {
		t.Errorf("genesis validators %+v, want one named %s run by the operator with the home's consensus key", g.Validators, cfg.Moniker)
	}
	if len(doc.Validators) != 1 || !bytes.Equal(doc.Validators[0].PubKey.Bytes(), pub) || doc.Validators[0].Power != g.Validators[0].Power {
		t.Errorf("CometBFT genesis validators %+v do not match the ledger's %+v", doc.Validators, g.Validators)
	}

	before := snapshotTree(t, home)
	other := cfg
	other.ChainID = "something-else"
	created, err = node.InitDevnet(home, other, "")
	if err != nil || created {
		t.Fatalf("second InitDevnet = %v, %v; want false, nil", created, err)
	}
	after := snapshotTree(t, home)
	if !bytes.Equal([]byte(after[abci.GenesisFile(node.CometDir(home))]), genRaw) {
		t.Error("second InitDevnet changed the genesis file")
	}
	for p, v := range before {
		if after[p] != v {
			t.Errorf("second InitDevnet changed %s", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("second InitDevnet created %s", p)
		}
	}
}

func TestInitTestnet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "testnet")
	const n = 3
	nodes, err := node.InitTestnet(dir, n, "")
	if err != nil {
		t.Fatalf("InitTestnet: %v", err)
	}
	if len(nodes) != n {
		t.Fatalf("InitTestnet made %d nodes, want %d", len(nodes), n)
	}
	listed, err := node.TestnetNodes(dir)
	if err != nil || !slices.Equal(listed, nodes) {
		t.Errorf("TestnetNodes = %+v, %v; want %+v", listed, err, nodes)
	}

	ports := map[string]string{}
	var (
		cfgs    []node.Config
		ids     []string
		genesis []byte
		ops     []identity.Address
	)
	for i, tn := range nodes {
		want := node.TestnetNode{Name: fmt.Sprintf("validator%d", i), Home: filepath.Join(dir, fmt.Sprintf("validator%d", i)), Role: "validator"}
		if tn != want {
			t.Errorf("node %d = %+v, want %+v", i, tn, want)
		}
		cfg, err := node.LoadConfig(tn.Home)
		if err != nil {
			t.Fatalf("config of %s: %v", tn.Name, err)
		}
		if cfg.Mode != node.ModeTestnet || cfg.ChainID != node.TestnetChainID || cfg.Moniker != tn.Name || cfg.Role != "validator" {
			t.Errorf("%s: config %+v", tn.Name, cfg)
		}
		for what, addr := range map[string]string{"api": cfg.API.Listen, "p2p": cfg.Consensus.P2PListen, "rpc": cfg.Consensus.RPCListen} {
			if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
				t.Errorf("%s %s address %q is not a fixed loopback port", tn.Name, what, addr)
			}
			if prev, ok := ports[addr]; ok {
				t.Errorf("%s %s and %s share %s", tn.Name, what, prev, addr)
			}
			ports[addr] = tn.Name + " " + what
		}
		_, id, err := node.ConsensusKeys(node.CometDir(tn.Home))
		if err != nil {
			t.Fatal(err)
		}
		_, _, raw := readGenesis(t, tn.Home)
		if i == 0 {
			genesis = raw
		} else if !bytes.Equal(raw, genesis) {
			t.Errorf("%s's genesis differs from validator0's", tn.Name)
		}
		cfgs, ids = append(cfgs, cfg), append(ids, id)
		ops = append(ops, keyAddress(t, tn.Home, node.OperatorKey))
	}

	for i, cfg := range cfgs {
		var want []string
		for j := range cfgs {
			if j != i {
				want = append(want, ids[j]+"@"+cfgs[j].Consensus.P2PListen)
			}
		}
		got := strings.Split(cfg.Consensus.PersistentPeers, ",")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("validator%d persistent_peers %v, want %v", i, got, want)
		}
	}

	doc, g, _ := readGenesis(t, nodes[0].Home)
	if doc.ChainID != node.TestnetChainID || len(doc.Validators) != n || len(g.Validators) != n {
		t.Errorf("genesis: chain %q with %d CometBFT and %d ledger validators, want %q and %d", doc.ChainID, len(doc.Validators), len(g.Validators), node.TestnetChainID, n)
	}
	for i, op := range ops {
		if bal, ok := allocation(g, op); !ok || bal != node.OperatorFunds {
			t.Errorf("validator%d operator allocation %d (%v), want %d", i, bal, ok, node.OperatorFunds)
		}
		if i < len(g.Validators) && g.Validators[i].Operator != op {
			t.Errorf("genesis validator %d is run by %s, want validator%d's operator %s", i, g.Validators[i].Operator, i, op)
		}
	}

	client := node.ClientHome(dir)
	ccfg, err := node.LoadConfig(client)
	if err != nil {
		t.Fatalf("client config: %v", err)
	}
	if ccfg.Role != "client" || ccfg.ChainID != node.TestnetChainID {
		t.Errorf("client config %+v", ccfg)
	}
	u, err := url.Parse(ccfg.Node)
	if err != nil || u.Scheme != "http" || u.Host != cfgs[0].API.Listen {
		t.Errorf("client node %q, want http://%s (validator0's API)", ccfg.Node, cfgs[0].API.Listen)
	}
	demo, err := identity.OpenKeystore(node.KeysDir(client)).Load(node.DemoKey, "")
	if err != nil {
		t.Fatalf("client demo key: %v", err)
	}
	if bal, ok := allocation(g, demo.Address()); !ok || bal != node.DemoFunds {
		t.Errorf("demo allocation %d (%v), want %d", bal, ok, node.DemoFunds)
	}
	if len(g.Accounts) != n+1 {
		t.Errorf("genesis has %d accounts, want %d operators and the demo key", len(g.Accounts), n)
	}

	// A second init in the same folder is refused and changes nothing.
	before := snapshotTree(t, dir)
	if _, err := node.InitTestnet(dir, n, ""); err == nil {
		t.Error("second InitTestnet in the same folder succeeded")
	} else if !strings.Contains(err.Error(), "already") {
		t.Errorf("second InitTestnet: %q does not say the testnet exists", err)
	}
	if _, err := node.InitTestnet(dir, 1, ""); err == nil {
		t.Error("second InitTestnet of another size in the same folder succeeded")
	}
	after := snapshotTree(t, dir)
	if len(after) != len(before) {
		t.Errorf("refused InitTestnet changed the file count from %d to %d", len(before), len(after))
	}
	for p, v := range before {
		if after[p] != v {
			t.Errorf("refused InitTestnet changed %s", p)
		}
	}
}

func TestInitTestnetRefusesBadSize(t *testing.T) {
	for _, n := range []int{0, -1, 65} {
		dir := filepath.Join(t.TempDir(), "tn")
		if _, err := node.InitTestnet(dir, n, ""); err == nil {
			t.Errorf("InitTestnet with %d validators succeeded", n)
		} else if !strings.Contains(err.Error(), "validators") {
			t.Errorf("InitTestnet with %d validators: %q does not name --validators", n, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("InitTestnet with %d validators created %s", n, dir)
		}
	}
}

func TestTestnetNodesEmpty(t *testing.T) {
	dir := t.TempDir()
	_, err := node.TestnetNodes(dir)
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("TestnetNodes of an empty folder: %v (kind %s), want kind %s", err, errs.KindOf(err), errs.NotFound)
	}
	if !strings.Contains(err.Error(), "testnet init") {
		t.Errorf("TestnetNodes of an empty folder: %q does not say how to make one", err)
	}
}
