// Package node builds a Stratus node from a home folder: it reads the
// configuration, opens the state store, starts CometBFT in-process with the
// ledger as its application, and serves the REST API. It is the one package
// that wires the subsystems together; each of them knows nothing of the
// others.
//
// It also lays out homes: a devnet (one process, everything in it) and the
// files a node of a testnet or production network needs.
package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/stratus-cloud/stratus/errs"
)

// Modes of a home. In devnet and testnet homes keys have an empty passphrase
// unless STRATUS_PASSPHRASE says otherwise: development only.
const (
	ModeDevnet     = "devnet"
	ModeTestnet    = "testnet"
	ModeProduction = "production"
)

// Config is a node's configuration, read from <home>/config.toml. Flags
// override it.
type Config struct {
	Mode    string `toml:"mode"`
	ChainID string `toml:"chain_id"`
	Moniker string `toml:"moniker"`
	// Role is what this home runs: "validator"; "storage" for a home that
	// runs only storage providers (the ones in Storage, with their agents)
	// against the validator at Node; "compute" for one that runs only
	// compute providers (the ones in Compute) the same way; or "client" for
	// a home that only holds keys and talks to a node.
	Role      string          `toml:"role"`
	API       APIConfig       `toml:"api"`
	Consensus ConsensusConfig `toml:"consensus"`
	// Node is the API URL a client or storage home talks to.
	Node string `toml:"node,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// Prober, on a validator, probes providers and reports on the ledger.
	Prober ProberConfig `toml:"prober"`
	// Providers names keys in this home that run a provider on this node:
	// it acknowledges their leases and answers their health probes.
	Providers []string `toml:"providers,omitempty"`
	// Storage lists the storage providers this node runs, each serving the
	// shard API on its own port from its own folder. Their keys are in this
	// home, under their names.
	Storage []StorageConfig `toml:"storage,omitempty"`
	// Compute lists the compute providers this node runs, each serving
	// functions on its own port from its own folder. Their keys are in
	// this home, under their names.
	Compute []ComputeConfig `toml:"compute,omitempty"`
}

// Roles of a home.
const (
	RoleValidator = "validator"
	RoleStorage   = "storage"
	RoleCompute   = "compute"
	RoleClient    = "client"
)

// StorageConfig configures one storage provider run by a node: a
// [[storage]] table in config.toml.
type StorageConfig struct {
	// Name is the provider's key in this home.
	Name string `toml:"name"`
	// Listen is the shard API's host:port. http://Listen is the endpoint
	// the provider registers, so the port must stay the same across
	// restarts; port 0 picks a free one at each start.
	Listen string `toml:"listen"`
	// Dir holds the shards (Dir/shards) and the index of who stored them
	// (Dir/meta). A relative path is inside the home.
	Dir string `toml:"dir"`
	// Capacity is the most bytes of shards the provider keeps; 0 means no
	// limit. It should match the capacity the provider offers.
	Capacity int64 `toml:"capacity"`
	// GCInterval is how often shards nobody needs are collected; GCGrace
	// is how long a shard no live object uses is kept after its last put.
	// 0 means the defaults, 1m and 30m.
	GCInterval Duration `toml:"gc_interval"`
	GCGrace    Duration `toml:"gc_grace"`
}

// DefaultStorage is a storage provider's configuration with the default
// folder, <home>/storage/<name>, and collector settings.
func DefaultStorage(name, listen string, capacity int64) StorageConfig {
	return StorageConfig{Name: name, Listen: listen, Dir: filepath.Join("storage", name), Capacity: capacity,
		GCInterval: Duration(time.Minute), GCGrace: Duration(30 * time.Minute)}
}

// ComputeConfig configures one compute provider run by a node: a
// [[compute]] table in config.toml.
type ComputeConfig struct {
	// Name is the provider's key in this home.
	Name string `toml:"name"`
	// Listen is the function server's host:port. http://Listen is the
	// endpoint the provider registers, so the port must stay the same
	// across restarts; port 0 picks a free one at each start.
	Listen string `toml:"listen"`
	// Dir holds the modules and their compilation cache. A relative path
	// is inside the home.
	Dir string `toml:"dir"`
	// ReportEvery is how often the provider sends its usage reports, which
	// are also what the autoscaler sees of the load. 0, the default, means
	// every epoch_seconds of the functions module (60 s on a devnet).
	ReportEvery Duration `toml:"report_every,omitzero"`
}

// DefaultCompute is a compute provider's configuration with the default
// folder, <home>/compute/<name>.
func DefaultCompute(name, listen string) ComputeConfig {
	return ComputeConfig{Name: name, Listen: listen, Dir: filepath.Join("compute", name)}
}

// ProberConfig configures a validator's prober.
type ProberConfig struct {
	Enabled bool `toml:"enabled"`
	// Key signs the probe reports: the validator's operator key.
	Key string `toml:"key"`
}

// APIConfig configures the REST API.
type APIConfig struct {
	Listen string `toml:"listen"`
}

// ConsensusConfig is the part of CometBFT's configuration Stratus exposes.
type ConsensusConfig struct {
	P2PListen       string   `toml:"p2p_listen"`
	RPCListen       string   `toml:"rpc_listen"`
	PersistentPeers string   `toml:"persistent_peers"`
	TimeoutCommit   Duration `toml:"timeout_commit"`
	TimeoutPropose  Duration `toml:"timeout_propose"`
	// EmptyBlocksInterval: 0 makes a block at every height, even empty.
	EmptyBlocksInterval Duration `toml:"empty_blocks_interval"`
	// RetainBlocks, if positive, prunes CometBFT's blocks older than this
	// many heights. The ledger's state and transaction index are kept.
	RetainBlocks int64 `toml:"retain_blocks"`
}

// Duration is a time.Duration written as "500ms" in TOML.
type Duration time.Duration

// MarshalText writes the duration as Go does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "500ms", "2s" and the like.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig is the configuration of a devnet.
func DefaultConfig() Config {
	return Config{
		Mode:    ModeDevnet,
		ChainID: "stratus-devnet",
		Moniker: "devnet",
		Role:    "validator",
		API:     APIConfig{Listen: "127.0.0.1:7070"},
		Consensus: ConsensusConfig{
			P2PListen:      "127.0.0.1:26656",
			RPCListen:      "127.0.0.1:26657",
			TimeoutCommit:  Duration(250 * time.Millisecond),
			TimeoutPropose: Duration(1 * time.Second),
		},
		LogLevel: "info",
		Prober:   ProberConfig{Enabled: true, Key: OperatorKey},
	}
}

// Validate checks the configuration and says what to fix.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeDevnet, ModeTestnet, ModeProduction:
	default:
		return errs.E(errs.Invalid, "config: mode %q must be devnet, testnet or production", c.Mode)
	}
	switch c.Role {
	case RoleClient:
		return nil
	case RoleValidator, RoleStorage, RoleCompute:
	default:
		return errs.E(errs.Invalid, "config: role %q must be validator, storage, compute or client", c.Role)
	}
	if err := c.validateStorage(); err != nil {
		return err
	}
	if err := c.validateCompute(); err != nil {
		return err
	}
	if c.Role == RoleStorage || c.Role == RoleCompute {
		return nil
	}
	if c.ChainID == "" {
		return errs.E(errs.Invalid, "config: chain_id is empty")
	}
	for name, a := range map[string]string{"api.listen": c.API.Listen, "consensus.p2p_listen": c.Consensus.P2PListen, "consensus.rpc_listen": c.Consensus.RPCListen} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return errs.E(errs.Invalid, "config: %s %q is not host:port", name, a)
		}
	}
	if c.Consensus.TimeoutCommit < 0 || c.Consensus.TimeoutPropose < 0 || c.Consensus.EmptyBlocksInterval < 0 || c.Consensus.RetainBlocks < 0 {
		return errs.E(errs.Invalid, "config: consensus timeouts, empty_blocks_interval and retain_blocks must not be negative")
	}
	return nil
}

// validateStorage checks the [[storage]] tables, and what a storage home
// needs besides.
func (c Config) validateStorage() error {
	names := map[string]bool{}
	for i, s := range c.Storage {
		switch {
		case s.Name == "":
			return errs.E(errs.Invalid, "config: storage %d has no name: give the name of its key in this home", i)
		case names[s.Name]:
			return errs.E(errs.Invalid, "config: two storage providers are named %q: give each its own key", s.Name)
		case s.Dir == "":
			return errs.E(errs.Invalid, "config: storage %q has no dir: give the folder for its shards", s.Name)
		case s.Capacity < 0 || s.GCInterval < 0 || s.GCGrace < 0:
			return errs.E(errs.Invalid, "config: storage %q: capacity, gc_interval and gc_grace must not be negative", s.Name)
		}
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			return errs.E(errs.Invalid, "config: storage %q: listen %q is not host:port", s.Name, s.Listen)
		}
		names[s.Name] = true
	}
	if c.Role != RoleStorage {
		return nil
	}
	if c.Node == "" {
		return errs.E(errs.Invalid, "config: a storage home needs node, the API URL of a validator it reads the ledger from")
	}
	if len(c.Storage) == 0 {
		return errs.E(errs.Invalid, "config: a storage home runs no provider: add a [[storage]] table")
	}
	for _, p := range c.Providers {
		if !names[p] {
			return errs.E(errs.Invalid, "config: provider %q has no [[storage]] table, and a storage home has no API to answer its probes: add one or remove it from providers", p)
		}
	}
	return nil
}

// validateCompute checks the [[compute]] tables, and what a compute home
// needs besides.
func (c Config) validateCompute() error {
	names := map[string]bool{}
	for _, s := range c.Storage {
		names[s.Name] = true
	}
	for i, s := range c.Compute {
		switch {
		case s.Name == "":
			return errs.E(errs.Invalid, "config: compute %d has no name: give the name of its key in this home", i)
		case names[s.Name]:
			return errs.E(errs.Invalid, "config: two providers are named %q: give each its own key", s.Name)
		case s.Dir == "":
			return errs.E(errs.Invalid, "config: compute %q has no dir: give the folder for its modules", s.Name)
		case s.ReportEvery < 0:
			return errs.E(errs.Invalid, "config: compute %q: report_every must not be negative: leave it out for the chain's epoch", s.Name)
		}
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			return errs.E(errs.Invalid, "config: compute %q: listen %q is not host:port", s.Name, s.Listen)
		}
		names[s.Name] = true
	}
	if c.Role != RoleCompute {
		return nil
	}
	if c.Node == "" {
		return errs.E(errs.Invalid, "config: a compute home needs node, the API URL of a validator it reads the ledger from")
	}
	if len(c.Compute) == 0 {
		return errs.E(errs.Invalid, "config: a compute home runs no provider: add a [[compute]] table")
	}
	for _, p := range c.Providers {
		if !names[p] {
			return errs.E(errs.Invalid, "config: provider %q has no [[compute]] table, and a compute home has no API to answer its probes: add one or remove it from providers", p)
		}
	}
	return nil
}

// DevMode reports whether keys in this home may have an empty passphrase.
func (c Config) DevMode() bool { return c.Mode == ModeDevnet || c.Mode == ModeTestnet }

// Paths inside a home.
func ConfigFile(home string) string { return filepath.Join(home, "config.toml") }
func CometDir(home string) string   { return filepath.Join(home, "comet") }
func StateDir(home string) string   { return filepath.Join(home, "state") }
func KeysDir(home string) string    { return filepath.Join(home, "keys") }

// RuntimeFile is written by a running node: its pid and the addresses it
// actually listens on, so the CLI can find it.
func RuntimeFile(home string) string { return filepath.Join(home, "node.json") }

// PIDFile is the process id of a node started by `stratus testnet start`.
func PIDFile(home string) string { return filepath.Join(home, "stratus.pid") }

// LoadConfig reads <home>/config.toml. A missing file is a NotFound error.
func LoadConfig(home string) (Config, error) {
	cfg := DefaultConfig()
	md, err := toml.DecodeFile(ConfigFile(home), &cfg)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, errs.E(errs.NotFound, "no Stratus home at %s: start one with `stratus devnet --home %s`, or pass --home", home, home)
	}
	if err != nil {
		return cfg, errs.E(errs.Invalid, "config %s: %v", ConfigFile(home), err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return cfg, errs.E(errs.Invalid, "config %s: unknown settings %s", ConfigFile(home), strings.Join(keys, ", "))
	}
	return cfg, cfg.Validate()
}

// SaveConfig writes <home>/config.toml.
func SaveConfig(home string, cfg Config) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Stratus node configuration. Flags override these settings.\n")
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return err
	}
	return writeFileAtomic(ConfigFile(home), []byte(b.String()), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// FreePort returns a loopback address with a port that was free a moment
// ago. Only for tests and for homes laid out on one machine.
func FreePort() (string, error) {
	handedMu.Lock()
	defer handedMu.Unlock()
	return pickPort("127.0.0.1", handed)
}

// handed is every port FreePort has returned in this process, so that two
// calls (for one testnet's many ports) never return the same one.
var (
	handedMu sync.Mutex
	handed   = map[string]bool{}
)

// Ports picked for a node's configuration or start come from below Linux's
// default ephemeral range (32768–60999), at random. Between the pick and
// the listen another process may bind anything the system hands out for
// port 0, and the system hands out only ephemeral ports, so no such process
// can take a picked port; two pickers collide only if they draw the same
// one of 12,768.
const (
	pickLo = 20000
	pickHi = 32767
)

// pickPort returns host:port, a port free a moment ago and not in taken,
// and adds it to taken. After many tries it lets the system choose.
func pickPort(host string, taken map[string]bool) (string, error) {
	for range 256 {
		addr := net.JoinHostPort(host, strconv.Itoa(pickLo+rand.IntN(pickHi-pickLo+1)))
		if taken[addr] {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		taken[addr] = true
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	a := l.Addr().String()
	taken[a] = true
	return a, nil
}
