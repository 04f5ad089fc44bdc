package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// Genesis allocations of development networks.
const (
	DemoKey        = "demo"
	OperatorKey    = "operator"
	DemoFunds      = 1_000_000 * money.UstrPerSTR
	OperatorFunds  = 1_000 * money.UstrPerSTR
	TestnetChainID = "stratus-testnet"
)

// The devnet's built-in providers, run by the devnet process itself.
var devnetProviders = []struct {
	name     string
	class    string
	capacity uint64
}{
	{"storage0", market.ClassStorage, 1 << 40}, // 1 TiB
	{"compute0", market.ClassCompute, 64},      // 64 cu
}

// Funds of a devnet's built-in providers, and the collateral they lock.
const (
	ProviderFunds      = 10_000 * money.UstrPerSTR
	ProviderCollateral = 1_000 * money.UstrPerSTR
)

// Exists reports whether home has a config.
func Exists(home string) bool {
	_, err := os.Stat(ConfigFile(home))
	return err == nil
}

// InitDevnet lays out a devnet home: one validator, its operator key and a
// funded demo key, both encrypted with passphrase (empty is allowed here:
// development only). It does nothing if the home exists, and reports whether
// it created one.
func InitDevnet(home string, cfg Config, passphrase string) (bool, error) {
	return InitDevnetWith(home, cfg, passphrase, market.DefaultGenesis())
}

// InitDevnetWith is InitDevnet with the market's genesis section given, for
// tests that need short epochs. Its providers are replaced by the devnet's
// built-in ones.
func InitDevnetWith(home string, cfg Config, passphrase string, mg market.Genesis) (bool, error) {
	if Exists(home) {
		return false, nil
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return false, fmt.Errorf("create home %s: %w", home, err)
	}
	ks := identity.OpenKeystore(KeysDir(home))
	demo, err := createOrShow(ks, DemoKey, passphrase)
	if err != nil {
		return false, err
	}
	op, err := createOrShow(ks, OperatorKey, passphrase)
	if err != nil {
		return false, err
	}
	pub, _, err := ConsensusKeys(CometDir(home))
	if err != nil {
		return false, err
	}
	g := ledger.Genesis{
		Params: ledger.DefaultParams(),
		Accounts: []ledger.GenesisAccount{
			{Address: demo, Balance: DemoFunds},
			{Address: op, Balance: OperatorFunds},
		},
		Validators: []ledger.Validator{{Name: cfg.Moniker, Operator: op, ConsPubKey: pub, Power: 10}},
	}
	// The built-in providers' endpoints are on the API, so its port must be
	// known now.
	if cfg.API.Listen, err = resolvePort(cfg.API.Listen); err != nil {
		return false, err
	}
	mg.Providers = nil
	cfg.Providers = nil
	for _, dp := range devnetProviders {
		a, err := createOrShow(ks, dp.name, passphrase)
		if err != nil {
			return false, err
		}
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: a, Balance: ProviderFunds})
		mg.Providers = append(mg.Providers, market.GenesisProvider{Operator: a, RegisterProvider: market.RegisterProvider{
			Endpoint: "http://" + cfg.API.Listen + "/providers/" + dp.name, Region: "local",
			Offers:     []market.Offer{{Class: dp.class, Capacity: dp.capacity, Pricing: market.Rule{Kind: "reference", MultiplierBps: 10_000}}},
			Collateral: ProviderCollateral,
		}})
		cfg.Providers = append(cfg.Providers, dp.name)
	}
	if err := WriteGenesis([]string{CometDir(home)}, cfg.ChainID, g, map[string]any{"market": mg}, time.Now()); err != nil {
		return false, err
	}
	// The config goes last: its presence marks a complete home.
	return true, SaveConfig(home, cfg)
}

func createOrShow(ks *identity.Keystore, name, passphrase string) (identity.Address, error) {
	if info, err := ks.Show(name); err == nil {
		return identity.ParseDID(info.Address)
	}
	k, _, err := ks.Create(name, passphrase)
	if err != nil {
		return identity.Address{}, err
	}
	return k.Address(), nil
}

// TestnetNode describes one node home of a testnet.
type TestnetNode struct {
	Name string `json:"name"`
	Home string `json:"home"`
	Role string `json:"role"`
}

// TestnetNodes lists the node homes under dir, validators first, in order.
func TestnetNodes(dir string) ([]TestnetNode, error) {
	var out []TestnetNode
	for i := 0; ; i++ {
		name := fmt.Sprintf("validator%d", i)
		home := filepath.Join(dir, name)
		if !Exists(home) {
			break
		}
		out = append(out, TestnetNode{Name: name, Home: home, Role: "validator"})
	}
	if len(out) == 0 {
		return nil, errs.E(errs.NotFound, "no testnet in %s: create one with `stratus testnet init --validators 4 --dir %s`", dir, dir)
	}
	return out, nil
}

// ClientHome is the home of a testnet's client, with the funded demo key.
func ClientHome(dir string) string { return filepath.Join(dir, "client") }

// InitTestnet lays out a testnet of n validators under dir: one home per
// validator (validator0 ...) with loopback ports, a shared genesis, and a
// client home with a funded demo key that talks to validator0.
func InitTestnet(dir string, n int, passphrase string) ([]TestnetNode, error) {
	if n < 1 || n > 64 {
		return nil, fmt.Errorf("--validators must be between 1 and 64, not %d", n)
	}
	if Exists(filepath.Join(dir, "validator0")) || Exists(ClientHome(dir)) {
		return nil, fmt.Errorf("%s already holds a testnet: remove it or choose another --dir", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var (
		nodes  []TestnetNode
		cfgs   []Config
		peers  []string
		comets []string
		g      = ledger.Genesis{Params: ledger.DefaultParams()}
	)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("validator%d", i)
		home := filepath.Join(dir, name)
		op, err := createOrShow(identity.OpenKeystore(KeysDir(home)), OperatorKey, passphrase)
		if err != nil {
			return nil, err
		}
		pub, id, err := ConsensusKeys(CometDir(home))
		if err != nil {
			return nil, err
		}
		cfg := DefaultConfig()
		cfg.Mode, cfg.ChainID, cfg.Moniker = ModeTestnet, TestnetChainID, name
		for _, a := range []*string{&cfg.API.Listen, &cfg.Consensus.P2PListen, &cfg.Consensus.RPCListen} {
			if *a, err = FreePort(); err != nil {
				return nil, err
			}
		}
		peers = append(peers, id+"@"+cfg.Consensus.P2PListen)
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: op, Balance: OperatorFunds})
		g.Validators = append(g.Validators, ledger.Validator{Name: name, Operator: op, ConsPubKey: pub, Power: 10})
		nodes = append(nodes, TestnetNode{Name: name, Home: home, Role: "validator"})
		cfgs = append(cfgs, cfg)
		comets = append(comets, CometDir(home))
	}
	client := ClientHome(dir)
	demo, err := createOrShow(identity.OpenKeystore(KeysDir(client)), DemoKey, passphrase)
	if err != nil {
		return nil, err
	}
	g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: demo, Balance: DemoFunds})
	if err := WriteGenesis(comets, TestnetChainID, g, map[string]any{"market": market.DefaultGenesis()}, time.Now()); err != nil {
		return nil, err
	}
	for i, cfg := range cfgs {
		var others []string
		for j, p := range peers {
			if j != i {
				others = append(others, p)
			}
		}
		cfg.Consensus.PersistentPeers = strings.Join(others, ",")
		if err := SaveConfig(nodes[i].Home, cfg); err != nil {
			return nil, err
		}
	}
	ccfg := DefaultConfig()
	ccfg.Mode, ccfg.ChainID, ccfg.Role, ccfg.Moniker = ModeTestnet, TestnetChainID, "client", "client"
	ccfg.Node = "http://" + cfgs[0].API.Listen
	if err := SaveConfig(client, ccfg); err != nil {
		return nil, err
	}
	return nodes, nil
}

// ReadRuntime reads a running node's runtime file.
func ReadRuntime(home string) (Runtime, error) {
	var rt Runtime
	b, err := os.ReadFile(RuntimeFile(home))
	if errors.Is(err, os.ErrNotExist) {
		return rt, err
	}
	if err != nil {
		return rt, err
	}
	return rt, json.Unmarshal(b, &rt)
}

// DevnetSupply is the supply a new devnet's genesis mints.
func DevnetSupply() uint64 {
	return DemoFunds + OperatorFunds + uint64(len(devnetProviders))*ProviderFunds
}
