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
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/gov"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/tokens"
)

// Genesis allocations of development networks.
const (
	DemoKey        = "demo"
	OperatorKey    = "operator"
	DemoFunds      = 1_000_000 * money.UstrPerSTR
	OperatorFunds  = 1_000 * money.UstrPerSTR
	TestnetChainID = "stratus-testnet"
)

// StorageCapacity is what each built-in storage provider of a devnet or
// testnet offers, and its disk quota: 1 TiB.
const StorageCapacity = 1 << 40

// DevnetStorage is the number of storage providers a devnet runs, storage0
// and on: enough for the default 3+2 redundancy to put every shard of a
// segment on a provider of its own.
const DevnetStorage = 5

// DevnetCompute is the number of compute providers a devnet runs, compute0
// and on: enough for a deployment to scale out to 3 replicas, each on a
// provider of its own.
const DevnetCompute = 3

// DevnetComputeSpareBps is the price, in basis points of the reference
// price, of a devnet's compute providers after compute0. Being a little
// dearer, they never win a tie with compute0, so that a devnet's first
// compute lease, and every deployment's first replica, lands on compute0
// whatever the keys' addresses (which break ties otherwise); the others
// take the replicas a deployment scales out to.
const DevnetComputeSpareBps = 10_100

// The devnet's built-in providers, run by the devnet process itself: the
// storage providers, each a shard API on a port of its own, and the
// compute providers, each a function server on a port of its own.
var devnetProviders = devnetProvidersWith(DevnetStorage)

// devnetProvidersWith is devnetProviders with storage storage providers.
func devnetProvidersWith(storage int) []devnetProvider {
	var ps []devnetProvider
	for i := range storage {
		ps = append(ps, devnetProvider{fmt.Sprintf("storage%d", i), market.ClassStorage, StorageCapacity, referenceBps})
	}
	for i := range DevnetCompute {
		bps := uint64(referenceBps)
		if i > 0 {
			bps = DevnetComputeSpareBps
		}
		ps = append(ps, devnetProvider{fmt.Sprintf("compute%d", i), market.ClassCompute, ComputeCapacity, bps})
	}
	return ps
}

// referenceBps prices an offer at the reference price.
const referenceBps = 10_000

type devnetProvider struct {
	name     string
	class    string
	capacity uint64
	// bps is the offer's price in basis points of the reference price.
	bps uint64
}

// builtinProvider registers a provider of a devnet or testnet in the
// market's genesis: capacity at the reference price, with the usual
// collateral.
func builtinProvider(op identity.Address, endpoint, class string, capacity uint64) market.GenesisProvider {
	return pricedProvider(op, endpoint, class, capacity, referenceBps)
}

// pricedProvider is builtinProvider at bps of the reference price.
func pricedProvider(op identity.Address, endpoint, class string, capacity, bps uint64) market.GenesisProvider {
	return market.GenesisProvider{Operator: op, RegisterProvider: market.RegisterProvider{
		Endpoint: endpoint, Region: "local",
		Offers:     []market.Offer{{Class: class, Capacity: capacity, Pricing: market.Rule{Kind: "reference", MultiplierBps: bps}}},
		Collateral: ProviderCollateral,
	}}
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
	return InitDevnetGenesis(home, cfg, passphrase, mg, functions.DefaultGenesis())
}

// InitDevnetGenesis is InitDevnetWith with the functions module's genesis
// section given too, for tests that need short scaling windows or epochs.
func InitDevnetGenesis(home string, cfg Config, passphrase string, mg market.Genesis, fg functions.Genesis) (bool, error) {
	return InitDevnetModules(home, cfg, passphrase, ModuleGenesis{Market: mg, Functions: fg, Objects: objects.DefaultGenesis()})
}

// DefaultModuleGenesis is a devnet's genesis sections, as InitDevnet
// writes them.
func DefaultModuleGenesis() ModuleGenesis {
	return ModuleGenesis{Market: market.DefaultGenesis(), Functions: functions.DefaultGenesis(), Objects: objects.DefaultGenesis()}
}

// ModuleGenesis are the modules' sections of a devnet's genesis.
type ModuleGenesis struct {
	Market    market.Genesis
	Functions functions.Genesis
	Objects   objects.Genesis
	// Storage is how many built-in storage providers (storage0 …) the
	// devnet runs; 0 means DevnetStorage. Benchmarks and tests that take
	// providers away want more, to leave some to repair onto.
	Storage int
}

// InitDevnetModules is InitDevnet with every module's genesis section
// given, for tests that need short proof epochs too.
func InitDevnetModules(home string, cfg Config, passphrase string, mods ModuleGenesis) (bool, error) {
	mg, fg := mods.Market, mods.Functions
	if err := fg.Params.Validate(); err != nil {
		return false, err
	}
	if err := mods.Objects.Params.Validate(); err != nil {
		return false, err
	}
	providers := devnetProviders
	if mods.Storage != 0 {
		if mods.Storage < 1 || mods.Storage > MaxTestnetStorage {
			return false, errs.E(errs.Invalid, "a devnet runs 1 to %d storage providers, not %d", MaxTestnetStorage, mods.Storage)
		}
		providers = devnetProvidersWith(mods.Storage)
	}
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
	// The API's port is fixed now too, so that clients of the home find
	// the same one at each start (and homes made before the providers had
	// ports of their own registered endpoints on it).
	taken := map[string]bool{}
	if cfg.API.Listen, err = resolvePort(cfg.API.Listen, taken); err != nil {
		return false, err
	}
	mg.Providers = nil
	cfg.Providers, cfg.Storage, cfg.Compute = nil, nil, nil
	for _, dp := range providers {
		a, err := createOrShow(ks, dp.name, passphrase)
		if err != nil {
			return false, err
		}
		// Its own server, on a port fixed now like the API's.
		listen, err := freePortExcept("127.0.0.1", taken)
		if err != nil {
			return false, err
		}
		if dp.class == market.ClassStorage {
			cfg.Storage = append(cfg.Storage, DefaultStorage(dp.name, listen, int64(dp.capacity)))
		} else {
			cfg.Compute = append(cfg.Compute, DefaultCompute(dp.name, listen))
		}
		endpoint := "http://" + listen
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: a, Balance: ProviderFunds})
		mg.Providers = append(mg.Providers, pricedProvider(a, endpoint, dp.class, dp.capacity, dp.bps))
		cfg.Providers = append(cfg.Providers, dp.name)
	}
	if err := WriteGenesis([]string{CometDir(home)}, cfg.ChainID, g, genesisModules(mg, fg, mods.Objects), time.Now()); err != nil {
		return false, err
	}
	// The config goes last: its presence marks a complete home.
	return true, SaveConfig(home, cfg)
}

// genesisModules are the modules' sections of a devnet's or testnet's
// genesis.
func genesisModules(mg market.Genesis, fg functions.Genesis, og objects.Genesis) map[string]any {
	return map[string]any{"market": mg, "functions": fg, "objects": og, "tokens": tokens.DefaultGenesis(), "gov": gov.DefaultGenesis()}
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

// TestnetNodes lists the node homes under dir, in order: the validators,
// then the storage providers, then the compute providers.
func TestnetNodes(dir string) ([]TestnetNode, error) {
	var out []TestnetNode
	list := func(role string) {
		for i := 0; ; i++ {
			name := fmt.Sprintf("%s%d", role, i)
			home := filepath.Join(dir, name)
			if !Exists(home) {
				return
			}
			out = append(out, TestnetNode{Name: name, Home: home, Role: role})
		}
	}
	if list(RoleValidator); len(out) == 0 {
		return nil, errs.E(errs.NotFound, "no testnet in %s: create one with `stratus testnet init --validators 4 --dir %s`", dir, dir)
	}
	list(RoleStorage)
	list(RoleCompute)
	return out, nil
}

// ClientHome is the home of a testnet's client, with the funded demo key.
func ClientHome(dir string) string { return filepath.Join(dir, "client") }

// InitTestnet lays out a testnet of n validators under dir: one home per
// validator (validator0 ...) with loopback ports, a shared genesis, and a
// client home with a funded demo key that talks to validator0.
func InitTestnet(dir string, n int, passphrase string) ([]TestnetNode, error) {
	return InitTestnetWith(dir, n, 0, passphrase)
}

// MaxTestnetStorage bounds `testnet init --storage`, and
// MaxTestnetCompute `testnet init --compute`.
const (
	MaxTestnetStorage = 64
	MaxTestnetCompute = 64
)

// InitTestnetWith is InitTestnet with m storage-provider homes besides
// (storage0 ...). Each has a key of its own, funded and registered as a
// storage provider in the genesis (1 TiB at the reference price, with its
// endpoint on a loopback port of its own), and reads the ledger from a
// validator's API, the validators taken in turn.
func InitTestnetWith(dir string, n, m int, passphrase string) ([]TestnetNode, error) {
	return InitTestnetOf(dir, TestnetSize{Validators: n, Storage: m}, passphrase)
}

// TestnetSize is how many homes of each role a testnet has.
type TestnetSize struct {
	Validators, Storage, Compute int
	// Objects, if set, is the objects module's genesis section (its proof
	// and repair rules); nil takes the defaults.
	Objects *objects.Genesis
}

// InitTestnetOf lays out a testnet of size s under dir: the validators and
// storage providers as InitTestnetWith does, and s.Compute compute-provider
// homes (compute0 ...) besides, each with a key of its own, funded and
// registered as a compute provider in the genesis (ComputeCapacity cu at
// the reference price, with its function server on a loopback port of its
// own), reading the ledger from a validator's API, the validators taken in
// turn. Sizes out of range are refused before anything is written.
func InitTestnetOf(dir string, s TestnetSize, passphrase string) ([]TestnetNode, error) {
	n, m, k := s.Validators, s.Storage, s.Compute
	og := objects.DefaultGenesis()
	if s.Objects != nil {
		og = *s.Objects
		if err := og.Params.Validate(); err != nil {
			return nil, err
		}
	}
	if n < 1 || n > 64 {
		return nil, fmt.Errorf("--validators must be between 1 and 64, not %d", n)
	}
	if m < 0 || m > MaxTestnetStorage {
		return nil, fmt.Errorf("--storage must be between 0 and %d, not %d", MaxTestnetStorage, m)
	}
	if k < 0 || k > MaxTestnetCompute {
		return nil, fmt.Errorf("--compute must be between 0 and %d, not %d", MaxTestnetCompute, k)
	}
	if Exists(filepath.Join(dir, "validator0")) || Exists(filepath.Join(dir, "storage0")) || Exists(filepath.Join(dir, "compute0")) || Exists(ClientHome(dir)) {
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
	mg := market.DefaultGenesis()
	var scfgs []Config
	for i := 0; i < m; i++ {
		name := fmt.Sprintf("storage%d", i)
		home := filepath.Join(dir, name)
		op, err := createOrShow(identity.OpenKeystore(KeysDir(home)), name, passphrase)
		if err != nil {
			return nil, err
		}
		listen, err := FreePort()
		if err != nil {
			return nil, err
		}
		cfg := DefaultConfig()
		cfg.Mode, cfg.ChainID, cfg.Moniker, cfg.Role = ModeTestnet, TestnetChainID, name, RoleStorage
		cfg.Node = "http://" + cfgs[i%n].API.Listen
		cfg.Prober = ProberConfig{}
		cfg.API, cfg.Consensus = APIConfig{}, ConsensusConfig{} // it runs neither
		cfg.Providers = []string{name}
		cfg.Storage = []StorageConfig{DefaultStorage(name, listen, StorageCapacity)}
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: op, Balance: ProviderFunds})
		mg.Providers = append(mg.Providers, builtinProvider(op, "http://"+listen, market.ClassStorage, StorageCapacity))
		scfgs = append(scfgs, cfg)
		nodes = append(nodes, TestnetNode{Name: name, Home: home, Role: RoleStorage})
	}
	for i := 0; i < k; i++ {
		name := fmt.Sprintf("compute%d", i)
		home := filepath.Join(dir, name)
		op, err := createOrShow(identity.OpenKeystore(KeysDir(home)), name, passphrase)
		if err != nil {
			return nil, err
		}
		listen, err := FreePort()
		if err != nil {
			return nil, err
		}
		cfg := DefaultConfig()
		cfg.Mode, cfg.ChainID, cfg.Moniker, cfg.Role = ModeTestnet, TestnetChainID, name, RoleCompute
		cfg.Node = "http://" + cfgs[i%n].API.Listen
		cfg.Prober = ProberConfig{}
		cfg.API, cfg.Consensus = APIConfig{}, ConsensusConfig{} // it runs neither
		cfg.Providers = []string{name}
		cfg.Compute = []ComputeConfig{DefaultCompute(name, listen)}
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: op, Balance: ProviderFunds})
		mg.Providers = append(mg.Providers, builtinProvider(op, "http://"+listen, market.ClassCompute, ComputeCapacity))
		scfgs = append(scfgs, cfg)
		nodes = append(nodes, TestnetNode{Name: name, Home: home, Role: RoleCompute})
	}
	if err := WriteGenesis(comets, TestnetChainID, g, genesisModules(mg, functions.DefaultGenesis(), og), time.Now()); err != nil {
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
	for i, cfg := range scfgs {
		if err := SaveConfig(nodes[n+i].Home, cfg); err != nil {
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
